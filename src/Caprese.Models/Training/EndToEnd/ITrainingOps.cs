using Caprese.Interop;

namespace Caprese.Models.Training.EndToEnd;

/// <summary>
/// A row-major f32 matrix [Rows, Cols] owned by (or viewed through) one <see cref="ITrainingOps"/>.
/// Vectors are [1, n]. Ops that need heads take the head counts as arguments and read a row as
/// [heads, headDim]. A view (<see cref="Slice"/>) shares memory with its parent and owns nothing.
/// </summary>
public abstract class TrainingTensor : IDisposable
{
    protected TrainingTensor(int rows, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(cols, 1);
        Rows = rows;
        Cols = cols;
    }

    public int Rows { get; }
    public int Cols { get; }
    public long Length => (long)Rows * Cols;

    /// <summary>Rows [first, first + count) as a view over the same memory.</summary>
    public abstract TrainingTensor Slice(int first, int count);

    /// <summary>The same memory as [rows, cols] (equal element count); a view.</summary>
    public abstract TrainingTensor Reshape(int rows, int cols);

    public abstract void Dispose();

    protected void CheckSlice(int first, int count)
    {
        if (first < 0 || count < 1 || first + count > Rows)
            throw new ArgumentOutOfRangeException(nameof(count), $"rows {first}..{first + count - 1} outside [0, {Rows})");
    }

    protected void CheckReshape(int rows, int cols)
    {
        if ((long)rows * cols != Length)
            throw new ArgumentException($"cannot view [{Rows}, {Cols}] as [{rows}, {cols}]");
    }

    public override string ToString() => $"{GetType().Name}[{Rows}, {Cols}]";
}

/// <summary>RoPE arguments of the Rope op: theta, an optional inverse-frequency table [1, headDim/2], the pair layout.</summary>
public readonly record struct RopeSpec(int HeadDim, float Theta, TrainingTensor? InverseFrequencies, RopeStyle Style);

/// <summary>Head layout of an attention call: q and its gradient are [M, QueryHeads·HeadDim], the caches [S, KvHeads·HeadDim].</summary>
public readonly record struct AttentionShape(int QueryHeads, int KvHeads, int HeadDim);

/// <summary>AdamW hyper-parameters of one step (torch.optim.AdamW semantics; <c>Step</c> is 1-based).</summary>
public readonly record struct AdamParameters(float LearningRate, float Beta1, float Beta2, float Epsilon, float WeightDecay, int Step);

/// <summary>
/// The ops the stage-2 graph (<see cref="EndToEndGraph"/>) is written against: the forward ops of the inference
/// model and their gradients with the semantics of the native training ops (caprese.h, "training ops"),
/// plus a few elementwise helpers and the optimiser step. Every op overwrites its output unless stated.
/// <see cref="NativeTrainingOps"/> runs each op on a <see cref="CapreseContext"/>; the readable managed reference,
/// HostTrainingOps, lives with the tests (tests/Caprese.Models.TestSupport). Only <see cref="SumOfSquares"/>,
/// <see cref="Download"/> and the CATS mask (<see cref="ThresholdMask"/> where the backend has no such kernel) move
/// data to the host.
/// </summary>
public interface ITrainingOps : IDisposable
{
    /// <summary>Where the ops run, for reports ("host", "native Cpu", ...).</summary>
    string Name { get; }

    /// <summary>A zeroed [rows, cols] tensor.</summary>
    TrainingTensor Allocate(int rows, int cols);

    /// <summary>A frozen weight ([N, K] matrix or [K] vector, any weight dtype) of a model on <paramref name="source"/>, as f32 [rows, cols].
    /// May share memory with the model (never written).</summary>
    TrainingTensor Import(CapreseContext source, TensorDesc weight, int rows, int cols);

    void Upload(ReadOnlySpan<float> source, TrainingTensor destination);
    void Download(TrainingTensor source, Span<float> destination);
    void Copy(TrainingTensor source, TrainingTensor destination);
    void Zero(TrainingTensor tensor);

    /// <summary>output[m, :] = table[ids[m], :] · scale.</summary>
    void Embedding(TrainingTensor table, ReadOnlySpan<int> ids, float scale, TrainingTensor output);

    /// <summary>y[M, N] = x[M, K] · w[N, K]ᵀ (+ bias[1, N]).</summary>
    void Matmul(TrainingTensor x, TrainingTensor w, TrainingTensor? bias, TrainingTensor y);

    /// <summary>y[N, M] = x[M, N]ᵀ.</summary>
    void Transpose(TrainingTensor x, TrainingTensor y);

    /// <summary>y = x / sqrt(mean(x²) + eps) · (weightOffset + w) row-wise; w [1, D].</summary>
    void RmsNorm(TrainingTensor x, TrainingTensor w, float eps, float weightOffset, TrainingTensor y);

    /// <summary>dx of <see cref="RmsNorm"/> (weight frozen); dx may alias x or dy.</summary>
    void RmsNormBackward(TrainingTensor x, TrainingTensor w, TrainingTensor dy, float eps, float weightOffset, TrainingTensor dx);

    /// <summary>In-place rotary embedding of x [M, heads·headDim]; row m at position pos0 + m.</summary>
    void Rope(TrainingTensor x, int heads, int pos0, RopeSpec rope);

    /// <summary>The inverse rotation of <see cref="Rope"/>, in place (its gradient).</summary>
    void RopeBackward(TrainingTensor x, int heads, int pos0, RopeSpec rope);

    /// <summary>Causal GQA attention of q [M, Hq·hd] (row m at p.Pos0 + m) over cache rows 0 .. Pos0 + M - 1.</summary>
    void Attention(TrainingTensor q, TrainingTensor kCache, TrainingTensor vCache, AttentionShape shape, AttentionParams p, TrainingTensor output);

    /// <summary>Gradients of <see cref="Attention"/>: dq overwritten; dk, dv [S, Hkv·hd] rows 0 .. Pos0 + M - 1 overwritten.</summary>
    void AttentionBackward(TrainingTensor q, TrainingTensor kCache, TrainingTensor vCache, AttentionShape shape, AttentionParams p,
        TrainingTensor dOut, TrainingTensor dq, TrainingTensor dk, TrainingTensor dv);

    /// <summary>output = act(gate) ⊙ up.</summary>
    void GatedActivation(TrainingTensor gate, TrainingTensor up, Activation act, TrainingTensor output);

    /// <summary>dGate = dOut ⊙ up ⊙ act'(gate), dUp = dOut ⊙ act(gate) (gate is the pre-activation).</summary>
    void GatedActivationBackward(TrainingTensor gate, TrainingTensor up, TrainingTensor dOut, Activation act, TrainingTensor dGate, TrainingTensor dUp);

    void Add(TrainingTensor a, TrainingTensor b, TrainingTensor output);

    /// <summary>output = alpha·a + beta·b.</summary>
    void Axpby(float alpha, TrainingTensor a, float beta, TrainingTensor b, TrainingTensor output);

    void Mul(TrainingTensor a, TrainingTensor b, TrainingTensor output);

    /// <summary>CATS: mask = 1 where |act(gate)| ≥ tau, else 0 (gate is the pre-activation).</summary>
    void ThresholdMask(TrainingTensor gate, Activation act, float tau, TrainingTensor mask);

    /// <summary>Σ x² (the scalar loss; the one value that comes back every step).</summary>
    double SumOfSquares(TrainingTensor x);

    /// <summary>One AdamW step on param with grad; m, v are its moment buffers (zero at the start).</summary>
    void AdamStep(TrainingTensor param, TrainingTensor grad, TrainingTensor m, TrainingTensor v, AdamParameters p);

    /// <summary>Waits for queued work (no-op on the host).</summary>
    void Synchronize();
}
