using Caprese.Interop;
using Caprese.Models.Formats;
using Caprese.Models.Loading;
using Caprese.Models.Weights;

namespace Caprese.Models.Transformer;

/// <summary>The weights of one transformer layer on the backend. Optional tensors are null when the config has no use for them.</summary>
public sealed record LayerWeights(
    TensorDesc AttentionNorm,
    TensorDesc Wq, TensorDesc? Bq,
    TensorDesc Wk, TensorDesc? Bk,
    TensorDesc Wv, TensorDesc? Bv,
    TensorDesc Wo,
    TensorDesc? PostAttentionNorm,
    TensorDesc FfnNorm,
    TensorDesc WGate, TensorDesc WUp, TensorDesc WDown,
    TensorDesc? PostFfnNorm);

/// <summary>
/// All weights of a model on one <see cref="CapreseContext"/>. Matrices and the embedding table are stored as
/// <see cref="MatrixType"/>; norms and biases stay f32. A tensor whose file already holds that type is used in place
/// on the CPU backend (the mapped file stays open while the weights live; no copy, no extra memory) and copied
/// byte for byte to device backends. Other tensors are converted tensor by tensor through a bounded staging array,
/// so a memory-mapped checkpoint is never copied whole on the host.
/// </summary>
public sealed class ModelWeights : IDisposable
{
    /// <summary>Elements converted per staging round (16 MiB of f32).</summary>
    private const int StagingElements = 1 << 22;

    private readonly List<DeviceBuffer> _buffers = [];
    private readonly List<IDisposable> _fileLeases = [];
    private long _inPlaceBytes;

    private ModelWeights(ModelConfig config, DType matrixType)
    {
        Config = config;
        MatrixType = matrixType;
    }

    public ModelConfig Config { get; }

    /// <summary>Storage type of the matrices and the embedding table.</summary>
    public DType MatrixType { get; }

    public TensorDesc TokenEmbedding { get; private set; }
    public IReadOnlyList<LayerWeights> Layers { get; private set; } = [];
    public TensorDesc FinalNorm { get; private set; }

    /// <summary>The output projection [Vocab, Dim]; the embedding table when tied.</summary>
    public TensorDesc Classifier { get; private set; }

    /// <summary>Total bytes of weight storage on the backend (buffers plus tensors used in place in the mapped file).</summary>
    public long Bytes => _buffers.Sum(b => b.Bytes) + _inPlaceBytes;

    /// <summary>Bytes of the weights used in place in the memory-mapped file (CPU backend, stored type = <see cref="MatrixType"/>).</summary>
    public long InPlaceBytes => _inPlaceBytes;

    /// <summary>
    /// Weight bytes one decode step reads: everything but the embedding table, of which only
    /// one row is gathered (unless it is tied, when the classifier streams it whole). This is
    /// the numerator of the memory roofline.
    /// </summary>
    public long BytesReadPerToken =>
        Classifier.Data == TokenEmbedding.Data ? Bytes : Bytes - TokenEmbedding.ByteSize + TokenEmbedding.ByteSize / Config.Vocab;

    /// <summary>
    /// Uploads every tensor <paramref name="config"/> requires from <paramref name="source"/>.
    /// </summary>
    /// <param name="context">The backend context the weights live on.</param>
    /// <param name="source">Where the tensors come from.</param>
    /// <param name="config">The shape every tensor is checked against.</param>
    /// <param name="matrixType">Storage type of the matrices; null keeps the file's (see <see cref="StoredMatrixType"/>).</param>
    /// <param name="progress">Fraction of elements uploaded.</param>
    /// <param name="cancellationToken">Checked between tensors.</param>
    /// <exception cref="ModelFormatException">A tensor is missing or its shape disagrees with the config; names the file and tensor.</exception>
    public static ModelWeights Upload(CapreseContext context, IWeightSource source, ModelConfig config, DType? matrixType = DType.F32,
        IProgress<float>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        var type = matrixType ?? StoredMatrixType(source, config);
        return Upload(context, source, config, type, progress, cancellationToken);
    }

    /// <summary>
    /// The matrix type a checkpoint is stored in: the one f32, f16 or bf16 type of all its matrices (and the embedding
    /// table); f32 when the types are mixed with f32 or f16 with bf16 (so nothing is rounded); the half type present,
    /// else f16, when the rest is quantised (Q8_0: f16 holds its values to within f16 rounding, at half the memory of
    /// f32); f32 for sources without stored bytes (synthetic or in-memory weights).
    /// </summary>
    public static DType StoredMatrixType(IWeightSource source, ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(config);
        var types = new HashSet<DType>();
        bool quantised = false;
        foreach (var spec in WeightLayout.Required(config).Where(s => s.Id.IsMatrix))
        {
            switch (source.Find(spec.Id))
            {
                case IStoredWeightTensor { Stored: { } stored }: types.Add(stored.Type); break;
                case IStoredWeightTensor: quantised = true; break;
                default: return DType.F32;
            }
        }
        if (types.Contains(DType.F32) || types.Count > 1)
            return DType.F32;
        return types.Count == 1 ? types.Single() : quantised ? DType.F16 : DType.F32;
    }

    private static ModelWeights Upload(CapreseContext context, IWeightSource source, ModelConfig config, DType matrixType,
        IProgress<float>? progress, CancellationToken cancellationToken)
    {
        if (matrixType is not (DType.F32 or DType.F16 or DType.BF16))
            throw new ArgumentOutOfRangeException(nameof(matrixType), matrixType, "weights are f32, f16 or bf16");

        // Check everything before allocating anything: a bad checkpoint fails fast and names the first problem.
        var specs = WeightLayout.Required(config);
        var tensors = specs.Select(s => (Spec: s, Tensor: Resolve(source, s))).ToList();
        long totalElements = specs.Sum(s => s.ElementCount);

        var weights = new ModelWeights(config, matrixType);
        try
        {
            long largestRow = specs.Max(s => s.Shape[^1]);
            int stagingLength = (int)Math.Min(Math.Max(StagingElements, largestRow), specs.Max(s => s.ElementCount));
            var staging = new Lazy<float[]>(() => new float[stagingLength]);
            var uploaded = new Dictionary<WeightId, TensorDesc>();
            long done = 0;
            foreach (var (spec, tensor) in tensors)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var type = spec.Id.IsMatrix ? matrixType : DType.F32;
                uploaded[spec.Id] = weights.UploadTensor(context, tensor, spec, type, staging);
                done += spec.ElementCount;
                progress?.Report((float)done / totalElements);
            }
            weights.Assign(uploaded);
        }
        catch
        {
            weights.Dispose();
            throw;
        }
        progress?.Report(1f);
        return weights;
    }

    public void Dispose()
    {
        foreach (var b in _buffers)
            b.Dispose();
        _buffers.Clear();
        foreach (var lease in _fileLeases)
            lease.Dispose();
        _fileLeases.Clear();
        _inPlaceBytes = 0;
    }

    private static IWeightTensor Resolve(IWeightSource source, WeightSpec spec)
    {
        var tensor = source.Find(spec.Id)
            ?? throw new ModelFormatException(source.SourcePath, $"tensor '{source.NameOf(spec.Id)}'", "missing (the model config requires it)");
        if (!tensor.Shape.SequenceEqual(spec.Shape))
            throw new ModelFormatException(tensor.FilePath, $"tensor '{tensor.Name}'",
                $"shape [{string.Join(", ", tensor.Shape)}] does not match [{string.Join(", ", spec.Shape)}] implied by the model config");
        return tensor;
    }

    private TensorDesc UploadTensor(CapreseContext context, IWeightTensor tensor, WeightSpec spec, DType type, Lazy<float[]> stagingArray)
    {
        if (tensor is IStoredWeightTensor { Stored: { } stored } && stored.Type == type
            && stored.ByteLength == checked(spec.ElementCount * type.SizeInBytes()))
            return UploadStored(context, stored, spec, type);
        var staging = stagingArray.Value;
        var buffer = context.Allocate(type, spec.Shape);
        _buffers.Add(buffer);
        long rowElements = spec.Shape[^1];
        // Whole rows per round (quantised blocks never straddle a row).
        long rowsPerRound = Math.Max(1, staging.Length / rowElements);
        ushort[]? halves = type == DType.F32 ? null : new ushort[(int)Math.Min(staging.Length, spec.ElementCount)];
        for (long first = 0; first < spec.ElementCount; first += rowsPerRound * rowElements)
        {
            int n = (int)Math.Min(rowsPerRound * rowElements, spec.ElementCount - first);
            var chunk = staging.AsSpan(0, n);
            ReadChecked(tensor, first, chunk);
            long byteOffset = first * type.SizeInBytes();
            if (halves is null)
            {
                buffer.CopyFrom<float>(chunk, byteOffset);
                continue;
            }
            var dst = halves.AsSpan(0, n);
            if (type == DType.F16)
                TensorConvert.F32ToF16(chunk, System.Runtime.InteropServices.MemoryMarshal.Cast<ushort, Half>(dst));
            else
                TensorConvert.F32ToBF16(chunk, dst);
            buffer.CopyFrom<ushort>(dst, byteOffset);
        }
        return buffer.Tensor;
    }

    // Bytes already in the target type: used in place on the CPU (kernels need element alignment, which GGUF's
    // 32-byte data alignment and llama2.c's f32 layout give; safetensors offsets usually do), else copied as they are.
    private unsafe TensorDesc UploadStored(CapreseContext context, StoredTensorData stored, WeightSpec spec, DType type)
    {
        if (context.Backend == BackendKind.Cpu && stored.Pointer % type.SizeInBytes() == 0)
        {
            _fileLeases.Add(stored.File.Retain());
            _inPlaceBytes += stored.ByteLength;
            return TensorDesc.Create(stored.Pointer, type, spec.Shape);
        }
        var buffer = context.Allocate(type, spec.Shape);
        _buffers.Add(buffer);
        const int chunk = 1 << 28;
        for (long offset = 0; offset < stored.ByteLength; offset += chunk)
        {
            int n = (int)Math.Min(chunk, stored.ByteLength - offset);
            buffer.CopyFrom(new ReadOnlySpan<byte>((byte*)stored.Pointer + offset, n), offset);
        }
        return buffer.Tensor;
    }

    private static void ReadChecked(IWeightTensor tensor, long first, Span<float> chunk)
    {
        try
        {
            tensor.Read(first, chunk);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            throw new ModelFormatException(tensor.FilePath, $"tensor '{tensor.Name}'", e.Message);
        }
    }

    private void Assign(Dictionary<WeightId, TensorDesc> t)
    {
        TensorDesc? Opt(WeightRole role, int layer) => t.TryGetValue(new WeightId(role, layer), out var d) ? d : null;
        TensorDesc Req(WeightRole role, int layer = -1) => t[new WeightId(role, layer)];

        TokenEmbedding = Req(WeightRole.TokenEmbedding);
        FinalNorm = Req(WeightRole.FinalNorm);
        Classifier = Config.TiedEmbeddings ? TokenEmbedding : Req(WeightRole.Classifier);
        Layers = Enumerable.Range(0, Config.Layers).Select(l => new LayerWeights(
            Req(WeightRole.AttentionNorm, l),
            Req(WeightRole.QueryWeight, l), Opt(WeightRole.QueryBias, l),
            Req(WeightRole.KeyWeight, l), Opt(WeightRole.KeyBias, l),
            Req(WeightRole.ValueWeight, l), Opt(WeightRole.ValueBias, l),
            Req(WeightRole.OutputProjection, l),
            Opt(WeightRole.PostAttentionNorm, l),
            Req(WeightRole.FfnNorm, l),
            Req(WeightRole.GateWeight, l), Req(WeightRole.UpWeight, l), Req(WeightRole.DownWeight, l),
            Opt(WeightRole.PostFfnNorm, l))).ToList();
    }
}
