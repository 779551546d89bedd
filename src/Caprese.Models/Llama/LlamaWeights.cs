using System.Buffers;
using System.Runtime.InteropServices;
using Caprese.Interop;
using Caprese.Models.Loading;

namespace Caprese.Models.Llama;

/// <summary>
/// The weights of a Llama model in buffers of one <see cref="CapreseContext"/>. Each stacked
/// per-layer tensor lives in one buffer; layers are views into it. Matrices (and the embedding
/// table) can be converted to f16 or bf16 on upload; norm weights always stay f32.
/// </summary>
public sealed class LlamaWeights : IDisposable
{
    private readonly List<DeviceBuffer> _buffers = [];
    private readonly DeviceBuffer _wq, _wk, _wv, _wo, _w1, _w2, _w3, _rmsAtt, _rmsFfn;

    private LlamaWeights(LlamaConfig config, DType matrixType, Func<string, DType, DeviceBuffer> upload)
    {
        Config = config;
        MatrixType = matrixType;
        try
        {
            DeviceBuffer Up(string name, DType t)
            {
                var b = upload(name, t);
                _buffers.Add(b);
                return b;
            }

            TokenEmbedding = Up(TensorNames.TokenEmbedding, matrixType).AsTensor(matrixType, config.Vocab, config.Dim);
            _rmsAtt = Up(TensorNames.RmsAttention, DType.F32);
            _wq = Up(TensorNames.Wq, matrixType);
            _wk = Up(TensorNames.Wk, matrixType);
            _wv = Up(TensorNames.Wv, matrixType);
            _wo = Up(TensorNames.Wo, matrixType);
            _rmsFfn = Up(TensorNames.RmsFfn, DType.F32);
            _w1 = Up(TensorNames.W1Gate, matrixType);
            _w2 = Up(TensorNames.W2Down, matrixType);
            _w3 = Up(TensorNames.W3Up, matrixType);
            RmsFinal = Up(TensorNames.RmsFinal, DType.F32).AsTensor(DType.F32, config.Dim);
            Classifier = config.TiedEmbeddings
                ? TokenEmbedding
                : Up(TensorNames.Classifier, matrixType).AsTensor(matrixType, config.Vocab, config.Dim);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public LlamaConfig Config { get; }

    /// <summary>Storage type of the matrices and the embedding table.</summary>
    public DType MatrixType { get; }

    public TensorDesc TokenEmbedding { get; }
    public TensorDesc RmsFinal { get; }

    /// <summary>The output projection [Vocab, Dim]; the embedding table when tied.</summary>
    public TensorDesc Classifier { get; }

    public TensorDesc RmsAttention(int layer) => LayerView(_rmsAtt, DType.F32, layer, Config.Dim);
    public TensorDesc RmsFfn(int layer) => LayerView(_rmsFfn, DType.F32, layer, Config.Dim);
    public TensorDesc Wq(int layer) => LayerView(_wq, MatrixType, layer, Config.Dim, Config.Dim);
    public TensorDesc Wk(int layer) => LayerView(_wk, MatrixType, layer, Config.KvDim, Config.Dim);
    public TensorDesc Wv(int layer) => LayerView(_wv, MatrixType, layer, Config.KvDim, Config.Dim);
    public TensorDesc Wo(int layer) => LayerView(_wo, MatrixType, layer, Config.Dim, Config.Dim);
    public TensorDesc WGate(int layer) => LayerView(_w1, MatrixType, layer, Config.HiddenDim, Config.Dim);
    public TensorDesc WDown(int layer) => LayerView(_w2, MatrixType, layer, Config.Dim, Config.HiddenDim);
    public TensorDesc WUp(int layer) => LayerView(_w3, MatrixType, layer, Config.HiddenDim, Config.Dim);

    /// <summary>Total bytes of weight storage on the backend.</summary>
    public long Bytes => _buffers.Sum(b => b.Bytes);

    /// <summary>Uploads every tensor of <paramref name="checkpoint"/>, one layer at a time so that
    /// conversion needs only a layer-sized staging array.</summary>
    public static LlamaWeights Upload(CapreseContext context, Llama2cCheckpoint checkpoint, LlamaConfig config,
        DType matrixType = DType.F32, IProgress<float>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(checkpoint);
        if (matrixType is not (DType.F32 or DType.F16 or DType.BF16))
            throw new ArgumentOutOfRangeException(nameof(matrixType), matrixType, "weights are f32, f16 or bf16");

        long totalBytes = checkpoint.Tensors.Sum(t => t.ByteSize);
        long doneBytes = 0;
        DeviceBuffer UploadTensor(string name, DType type)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var info = checkpoint.Info(name);
            long elements = info.ElementCount;
            var buffer = context.Allocate(checked(elements * type.SizeInBytes()));
            try
            {
                int layers = info.Shape.Length == 3 ? (int)info.Shape[0] : 1;
                for (int l = 0; l < layers; l++)
                {
                    var src = info.Shape.Length == 3 ? checkpoint.Layer(name, l) : checkpoint.Tensor(name);
                    CopyConverted(buffer, checked((long)l * src.Length * type.SizeInBytes()), src, type);
                    doneBytes += (long)src.Length * sizeof(float);
                    progress?.Report((float)doneBytes / totalBytes);
                }
            }
            catch
            {
                buffer.Dispose();
                throw;
            }
            return buffer;
        }

        var weights = new LlamaWeights(config, matrixType, UploadTensor);
        progress?.Report(1f);
        return weights;
    }

    public void Dispose()
    {
        foreach (var b in _buffers)
            b.Dispose();
        _buffers.Clear();
    }

    private static TensorDesc LayerView(DeviceBuffer buffer, DType type, int layer, params long[] shape)
    {
        long layerBytes = shape.Aggregate((long)type.SizeInBytes(), (a, b) => a * b);
        return buffer.AsTensor(layer * layerBytes, type, shape);
    }

    private static void CopyConverted(DeviceBuffer buffer, long byteOffset, ReadOnlySpan<float> src, DType type)
    {
        if (type == DType.F32)
        {
            buffer.CopyFrom(src, byteOffset);
            return;
        }
        var staging = ArrayPool<ushort>.Shared.Rent(src.Length);
        try
        {
            var dst = staging.AsSpan(0, src.Length);
            if (type == DType.F16)
                for (int i = 0; i < src.Length; i++)
                    dst[i] = BitConverter.HalfToUInt16Bits((Half)src[i]);
            else
                for (int i = 0; i < src.Length; i++)
                    dst[i] = FloatToBFloat16(src[i]);
            buffer.CopyFrom<ushort>(dst, byteOffset);
        }
        finally
        {
            ArrayPool<ushort>.Shared.Return(staging);
        }
    }

    /// <summary>Round to nearest even, NaN kept a (quiet) NaN.</summary>
    internal static ushort FloatToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
            return (ushort)((bits >> 16) | 0x40);
        uint roundingBias = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }
}
