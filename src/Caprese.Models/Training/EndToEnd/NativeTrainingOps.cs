using Caprese.Interop;

namespace Caprese.Models.Training.EndToEnd;

/// <summary>
/// The training ops on a <see cref="CapreseContext"/> (CPU backend, or CUDA): every tensor is a buffer of the context and
/// every op one native call (caprese.h, forward and "training ops"), so a training step runs on the device. What comes
/// back to the host: the scalar loss (<see cref="SumOfSquares"/>, a 1×n·n×1 matmul), the prompt rows the sparsity
/// statistics are built from (GRIFFIN/CATS selection is host code, as in inference), and the CATS continuation masks:
/// there is no threshold kernel yet, so <see cref="ThresholdMask"/> downloads x·Wg, thresholds it and uploads the mask.
/// Weights of a model on the same context in f32 are used in place (never written); others are converted to f32 once.
/// </summary>
public sealed class NativeTrainingOps : ITrainingOps
{
    private readonly CapreseContext _context;
    private readonly bool _ownsContext;
    private DeviceBuffer? _ids;
    private DeviceBuffer? _scalar;
    private float[] _staging = [];

    /// <param name="context">The context to run on; the ops do not dispose it unless <paramref name="ownsContext"/>.</param>
    /// <param name="ownsContext">Dispose the context with the ops.</param>
    public NativeTrainingOps(CapreseContext context, bool ownsContext = false)
    {
        ArgumentNullException.ThrowIfNull(context);
        _context = context;
        _ownsContext = ownsContext;
    }

    public CapreseContext Context => _context;

    public string Name => $"native {_context.Backend}";

    private CopyKind ToBackend => _context.Backend.HostToBackend();
    private CopyKind ToHost => _context.Backend.BackendToHost();
    private CopyKind OnBackend => _context.Backend.WithinBackend();

    public TrainingTensor Allocate(int rows, int cols)
    {
        var buffer = _context.Allocate(DType.F32, rows, cols);
        return new NativeTensor(buffer.Tensor, buffer, rows, cols);
    }

    public TrainingTensor Import(CapreseContext source, TensorDesc weight, int rows, int cols)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (weight.ElementCount != (long)rows * cols)
            throw new ArgumentException($"weight {weight} does not hold [{rows}, {cols}]");
        if (ReferenceEquals(source, _context) && weight.DType == DType.F32)
            return new NativeTensor(weight.Reshape(rows, cols), null, rows, cols);
        var host = new float[checked(rows * cols)];
        TrainingWeights.ReadF32(source, weight, host);
        var t = Allocate(rows, cols);
        Upload(host, t);
        return t;
    }

    public unsafe void Upload(ReadOnlySpan<float> source, TrainingTensor destination)
    {
        var d = N(destination);
        if (source.Length != d.Length)
            throw new ArgumentException($"{source.Length} values for {d}");
        fixed (float* p = source)
            _context.Copy(d.Desc.Data, (nint)p, d.Desc.ByteSize, ToBackend);
    }

    public unsafe void Download(TrainingTensor source, Span<float> destination)
    {
        var s = N(source);
        if (destination.Length != s.Length)
            throw new ArgumentException($"{destination.Length} values for {s}");
        fixed (float* p = destination)
            _context.Copy((nint)p, s.Desc.Data, s.Desc.ByteSize, ToHost);
    }

    public void Copy(TrainingTensor source, TrainingTensor destination)
    {
        var s = N(source);
        var d = N(destination);
        if (s.Rows != d.Rows || s.Cols != d.Cols)
            throw new ArgumentException($"copy {s} -> {d}");
        _context.Copy(d.Desc.Data, s.Desc.Data, s.Desc.ByteSize, OnBackend);
    }

    public void Zero(TrainingTensor tensor)
    {
        var t = N(tensor);
        _context.Memset(t.Desc.Data, 0, t.Desc.ByteSize);
    }

    public void Embedding(TrainingTensor table, ReadOnlySpan<int> ids, float scale, TrainingTensor output)
    {
        if (_ids is null || _ids.Bytes < (long)ids.Length * sizeof(int))
        {
            _ids?.Dispose();
            _ids = _context.Allocate(DType.I32, Math.Max(ids.Length, 64));
        }
        _ids.CopyFrom(ids);
        _context.Embedding(N(table).Desc, _ids.AsTensor(DType.I32, ids.Length), scale, N(output).Desc);
    }

    public void Matmul(TrainingTensor x, TrainingTensor w, TrainingTensor? bias, TrainingTensor y) =>
        _context.Matmul(N(x).Desc, N(w).Desc, bias is null ? null : Vector(bias), N(y).Desc);

    public void Transpose(TrainingTensor x, TrainingTensor y) => _context.Transpose(N(x).Desc, N(y).Desc);

    public void RmsNorm(TrainingTensor x, TrainingTensor w, float eps, float weightOffset, TrainingTensor y) =>
        _context.RmsNorm(N(x).Desc, Vector(w), eps, weightOffset, N(y).Desc);

    public void RmsNormBackward(TrainingTensor x, TrainingTensor w, TrainingTensor dy, float eps, float weightOffset, TrainingTensor dx) =>
        _context.RmsNormBackward(N(x).Desc, Vector(w), N(dy).Desc, eps, weightOffset, N(dx).Desc);

    public void Rope(TrainingTensor x, int heads, int pos0, RopeSpec rope) =>
        _context.Rope(Heads(x, heads, rope.HeadDim), pos0, rope.Theta, rope.InverseFrequencies is { } f ? Vector(f) : null, rope.Style);

    public void RopeBackward(TrainingTensor x, int heads, int pos0, RopeSpec rope) =>
        _context.RopeBackward(Heads(x, heads, rope.HeadDim), pos0, rope.Theta, rope.InverseFrequencies is { } f ? Vector(f) : null, rope.Style);

    public void Attention(TrainingTensor q, TrainingTensor kCache, TrainingTensor vCache, AttentionShape shape, AttentionParams p, TrainingTensor output) =>
        _context.Attention(Heads(q, shape.QueryHeads, shape.HeadDim), Heads(kCache, shape.KvHeads, shape.HeadDim),
            Heads(vCache, shape.KvHeads, shape.HeadDim), p, Heads(output, shape.QueryHeads, shape.HeadDim));

    public void AttentionBackward(TrainingTensor q, TrainingTensor kCache, TrainingTensor vCache, AttentionShape shape, AttentionParams p,
        TrainingTensor dOut, TrainingTensor dq, TrainingTensor dk, TrainingTensor dv) =>
        _context.AttentionBackward(Heads(q, shape.QueryHeads, shape.HeadDim), Heads(kCache, shape.KvHeads, shape.HeadDim),
            Heads(vCache, shape.KvHeads, shape.HeadDim), p, Heads(dOut, shape.QueryHeads, shape.HeadDim),
            Heads(dq, shape.QueryHeads, shape.HeadDim), Heads(dk, shape.KvHeads, shape.HeadDim), Heads(dv, shape.KvHeads, shape.HeadDim));

    public void GatedActivation(TrainingTensor gate, TrainingTensor up, Activation act, TrainingTensor output) =>
        _context.GatedActivation(N(gate).Desc, N(up).Desc, act, N(output).Desc);

    public void GatedActivationBackward(TrainingTensor gate, TrainingTensor up, TrainingTensor dOut, Activation act, TrainingTensor dGate, TrainingTensor dUp) =>
        _context.GatedActivationBackward(N(gate).Desc, N(up).Desc, N(dOut).Desc, act, N(dGate).Desc, N(dUp).Desc);

    public void Add(TrainingTensor a, TrainingTensor b, TrainingTensor output) => _context.Add(N(a).Desc, N(b).Desc, N(output).Desc);

    public void Axpby(float alpha, TrainingTensor a, float beta, TrainingTensor b, TrainingTensor output) =>
        _context.Axpby(alpha, N(a).Desc, beta, N(b).Desc, N(output).Desc);

    public void Mul(TrainingTensor a, TrainingTensor b, TrainingTensor output) => _context.Mul(N(a).Desc, N(b).Desc, N(output).Desc);

    /// <summary>No native threshold kernel exists: x·Wg comes to the host, the mask goes back (the one per-step round trip of CATS).</summary>
    public void ThresholdMask(TrainingTensor gate, Activation act, float tau, TrainingTensor mask)
    {
        int n = checked((int)gate.Length);
        if (mask.Length != n)
            throw new ArgumentException($"mask {mask} for gate {gate}");
        if (_staging.Length < n)
            _staging = new float[n];
        var s = _staging.AsSpan(0, n);
        Download(gate, s);
        for (int i = 0; i < s.Length; i++)
            s[i] = MathF.Abs(Sparsity.HostActivation.Apply(act, s[i])) >= tau ? 1f : 0f;
        Upload(s, mask);
    }

    public double SumOfSquares(TrainingTensor x)
    {
        var row = N(x).Desc.Reshape(1, x.Length);
        _scalar ??= _context.Allocate(DType.F32, 1, 1);
        _context.Matmul(row, row, null, _scalar.Tensor);
        Span<float> value = stackalloc float[1];
        _scalar.CopyTo(value);
        return value[0];
    }

    public void AdamStep(TrainingTensor param, TrainingTensor grad, TrainingTensor m, TrainingTensor v, AdamParameters p) =>
        _context.AdamStep(N(param).Desc, N(grad).Desc, N(m).Desc, N(v).Desc, p.LearningRate, p.Beta1, p.Beta2, p.Epsilon, p.WeightDecay, p.Step);

    public void Synchronize() => _context.Synchronize();

    public void Dispose()
    {
        _ids?.Dispose();
        _scalar?.Dispose();
        _ids = null;
        _scalar = null;
        if (_ownsContext)
            _context.Dispose();
    }

    private static TensorDesc Vector(TrainingTensor t) => N(t).Desc.Reshape(t.Length);

    private static TensorDesc Heads(TrainingTensor t, int heads, int headDim)
    {
        if (t.Cols != heads * headDim)
            throw new ArgumentException($"{t} is not [M, {heads}·{headDim}]");
        return N(t).Desc.Reshape(t.Rows, heads, headDim);
    }

    private static NativeTensor N(TrainingTensor t) =>
        t as NativeTensor ?? throw new ArgumentException($"{t} does not belong to the native ops");

    /// <summary>An f32 [rows, cols] tensor in the context's memory; owns its buffer unless it is a view or a borrowed weight.</summary>
    internal sealed class NativeTensor(TensorDesc desc, DeviceBuffer? owner, int rows, int cols) : TrainingTensor(rows, cols)
    {
        public TensorDesc Desc { get; } = desc;

        public override TrainingTensor Slice(int first, int count)
        {
            CheckSlice(first, count);
            return new NativeTensor(Desc.WithOffsetRows(first, count), null, count, Cols);
        }

        public override TrainingTensor Reshape(int rows, int cols)
        {
            CheckReshape(rows, cols);
            return new NativeTensor(Desc.Reshape(rows, cols), null, rows, cols);
        }

        public override void Dispose() => owner?.Dispose();
    }
}
