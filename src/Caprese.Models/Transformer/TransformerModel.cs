using Caprese.Interop;
using Caprese.Models.Adapters;
using Caprese.Models.Sessions;
using Caprese.Models.Sparsity;

namespace Caprese.Models.Transformer;

/// <summary>
/// A decoder-only transformer (Llama, Qwen2, Gemma 2) running on a <see cref="CapreseContext"/> through the interop ops
/// only; every family difference is a field of <see cref="ModelConfig"/>. The model is what sequences share: config,
/// uploaded weights and data derived from them once (transposed down projections for the sparse FFN). Each sequence is a
/// <see cref="DecodeSession"/> (<see cref="CreateSession"/>) with its own KV cache, position and FFN policy; the model
/// runs one session's forward pass at a time, since its backend context is single-threaded.
/// </summary>
/// <remarks>
/// The model also keeps one built-in session for the calls that predate sessions (<see cref="Prefill(ReadOnlySpan{int}, int)"/>,
/// <see cref="DecodeStep(int, int)"/>, <see cref="SetSparsity"/>, <see cref="SetAdapters"/>): convenient for one sequence
/// at a time, and what stage-1 collection and calibration use. Concurrent sequences use sessions.
/// </remarks>
public sealed class TransformerModel : IDisposable
{
    public const int DefaultMaxBatchRows = 256;

    private readonly DeviceBuffer? _invFreq;
    private readonly bool _ownsWeights;
    private readonly DeviceBuffer?[] _transposedDown;
    private readonly HashSet<DecodeSession> _sessions = [];
    private DecodeSession? _builtIn;
    private bool _disposed;

    /// <param name="context">The context <paramref name="weights"/> live in; the model runs every op on it.</param>
    /// <param name="weights">Uploaded weights.</param>
    /// <param name="maxBatchRows">Rows per prefill batch; 0 = min(MaxSeqLen, <see cref="DefaultMaxBatchRows"/>).</param>
    /// <param name="ownsWeights">Dispose <paramref name="weights"/> with the model.</param>
    public TransformerModel(CapreseContext context, ModelWeights weights, int maxBatchRows = 0, bool ownsWeights = false)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBatchRows);
        Context = context;
        Weights = weights;
        Config = weights.Config;
        MaxBatchRows = Math.Min(Config.MaxSeqLen, maxBatchRows == 0 ? DefaultMaxBatchRows : maxBatchRows);
        _transposedDown = new DeviceBuffer?[Config.Layers];
        try
        {
            if (RopeFrequencies.For(Config) is { } table)
                _invFreq = context.Upload<float>(table, DType.F32, table.Length);
        }
        catch
        {
            _invFreq?.Dispose();
            throw;
        }
        _ownsWeights = ownsWeights;
    }

    public ModelConfig Config { get; }
    public ModelWeights Weights { get; }
    public int MaxBatchRows { get; }
    public BackendKind Backend => Context.Backend;

    /// <summary>The context the model runs on (training runs its own products there too).</summary>
    internal CapreseContext Context { get; }

    /// <summary>Held for every forward pass and every change of shared state: one pass at a time on the context.</summary>
    internal object ForwardLock { get; } = new();

    internal TensorDesc? InverseFrequencies => _invFreq?.Tensor;

    /// <summary>
    /// A new sequence over this model with its own KV cache (MaxSeqLen positions) and scratch buffers; the weights are
    /// shared. Dispose it when done (the model disposes the ones still open).
    /// </summary>
    /// <exception cref="ArgumentException">The policy does not fit the model.</exception>
    public DecodeSession CreateSession(FfnPolicy? policy = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var session = new DecodeSession(this, policy ?? FfnPolicy.Dense);
        lock (_sessions)
            _sessions.Add(session);
        return session;
    }

    /// <summary>
    /// Layer <paramref name="layer"/>'s down projection transposed to [H, D], as the sparse FFN kernel reads it: made on
    /// first use and shared by every session (see TransposedDownWeights for the memory cost). Call under <see cref="ForwardLock"/>.
    /// </summary>
    internal DeviceBuffer TransposedDown(int layer) =>
        _transposedDown[layer] ??= TransposedDownWeights.Create(Context, Weights.Layers[layer].WDown);

    internal void OnSessionDisposed(DecodeSession session)
    {
        lock (_sessions)
            _sessions.Remove(session);
    }

    // ---- The built-in session (one sequence at a time, positions chosen by the caller) ----

    /// <summary>The built-in session's KV cache.</summary>
    public KvCache Cache => BuiltInSession.Cache;

    /// <summary>The built-in session's decode policy.</summary>
    public FfnPolicy Policy => BuiltInPolicy;

    /// <summary>The contextual sparsity the built-in session's decode steps use (<see cref="SparsityOptions.Dense"/> when none).</summary>
    public SparsityOptions Sparsity => BuiltInPolicy.Sparsity;

    /// <summary>The built-in session's sparse decode state (selections, thresholds), or null when it decodes densely.</summary>
    public SparseFfnDecoder? SparseDecoder => Volatile.Read(ref _builtIn)?.SparseDecoder;

    /// <summary>TEAL's thresholds, or null unless TEAL is on.</summary>
    public TealMasker? Teal => Volatile.Read(ref _builtIn)?.Teal;

    /// <summary>
    /// The built-in session (what Prefill, DecodeStep and SetSparsity act on), made on first use so that code using only
    /// its own sessions (generators, servers) does not pay for a second KV cache.
    /// </summary>
    internal DecodeSession BuiltInSession
    {
        get
        {
            if (Volatile.Read(ref _builtIn) is { } session)
                return session;
            lock (_sessions)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                return _builtIn ??= CreateSession();
            }
        }
    }

    // The built-in session's policy without creating it.
    private FfnPolicy BuiltInPolicy => Volatile.Read(ref _builtIn)?.Policy ?? FfnPolicy.Dense;

    /// <summary>
    /// Switches the built-in session's decode to contextual sparsity (null or <see cref="SparsityMethod.None"/>: dense).
    /// Prefill stays dense and supplies the statistics, so call this before the prompt's prefill; with
    /// <see cref="SparsityOptions.Calibration"/> (CATS, TEAL) decode uses its fixed thresholds instead.
    /// </summary>
    /// <remarks>
    /// Adapters set with <see cref="SetAdapters"/> stay when the new sparsity is the one they were trained for (same
    /// method, level and layers; ρ and the GRIFFIN path may change) and are dropped otherwise: an adapter repairs one
    /// particular sparse FFN, and a silent mismatch would only make decode worse. <see cref="Adapters"/> tells which.
    /// </remarks>
    public void SetSparsity(SparsityOptions? options)
    {
        var sparsity = options ?? SparsityOptions.Dense;
        sparsity.Validate(Config.Layers);
        var adapters = Adapters;
        bool keep = adapters is not null && FfnMethods.Of(sparsity.Method).TakesAdapters && adapters.MismatchWith(Config, sparsity) is null;
        BuiltInSession.SetPolicy(new FfnPolicy(sparsity, keep ? adapters : null, AdapterForm));
    }

    /// <summary>The low-rank adapters the built-in session's decode applies, or null.</summary>
    public AdapterSet? Adapters => BuiltInPolicy.Adapters;

    /// <summary>How <see cref="Adapters"/> run (meaningful only when there are adapters).</summary>
    public AdapterForm AdapterForm => BuiltInPolicy.AdapterForm;

    /// <summary>
    /// Adds Caprese's low-rank adapters to the sparse FFN of every sparsified layer (null removes them). They apply only
    /// where the FFN runs sparse: decode steps of the sparsified layers. Call after <see cref="SetSparsity"/>; the
    /// adapters must have been trained for exactly that sparsity.
    /// </summary>
    /// <exception cref="ArgumentException">The adapters do not fit the model or its current sparsity (the message says how).</exception>
    public void SetAdapters(AdapterSet? adapters, AdapterForm form = AdapterForm.Merged)
    {
        if (!Enum.IsDefined(form))
            throw new ArgumentOutOfRangeException(nameof(form), form, "unknown adapter form");
        if (adapters?.MismatchWith(Config, Sparsity) is { } problem)
            throw new ArgumentException(problem, nameof(adapters));
        BuiltInSession.SetPolicy(new FfnPolicy(Sparsity, adapters, form));
    }

    /// <summary>Runs the prompt at positions pos0.. and returns the logits of its last row.</summary>
    public float[] Prefill(ReadOnlySpan<int> tokens, int pos0)
    {
        var logits = new float[Config.Vocab];
        Prefill(tokens, pos0, logits);
        return logits;
    }

    public void Prefill(ReadOnlySpan<int> tokens, int pos0, Span<float> logits)
    {
        CheckLogits(logits);
        BuiltInSession.ForwardAt(tokens, pos0, ForwardKind.Prefill, ForwardOutputs.LastLogits).Logits(0).CopyTo(logits);
    }

    /// <summary>Prefill, then the argmax of the last row's logits computed on the backend.</summary>
    public int PrefillArgmax(ReadOnlySpan<int> tokens, int pos0) =>
        BuiltInSession.ForwardAt(tokens, pos0, ForwardKind.Prefill, ForwardOutputs.LastArgmax).Argmax(0);

    /// <summary>
    /// Prefill, then a draw from the last row's logits made on the backend (<see cref="CapreseContext.Sample"/>):
    /// only the id comes back, and the draw is the same on every backend for the same parameters.
    /// </summary>
    public int PrefillSample(ReadOnlySpan<int> tokens, int pos0, SamplingParams sampling) =>
        BuiltInSession.ForwardSampleAt(tokens, pos0, ForwardKind.Prefill, sampling);

    /// <summary>Feeds <paramref name="token"/> at position <paramref name="pos"/>; returns the next-token logits.</summary>
    public float[] DecodeStep(int token, int pos)
    {
        var logits = new float[Config.Vocab];
        DecodeStep(token, pos, logits);
        return logits;
    }

    public void DecodeStep(int token, int pos, Span<float> logits)
    {
        CheckLogits(logits);
        BuiltInSession.ForwardAt([token], pos, ForwardKind.Decode, ForwardOutputs.LastLogits).Logits(0).CopyTo(logits);
    }

    /// <summary>A decode step whose greedy choice is made on the backend: only 4 bytes come back.</summary>
    public int DecodeStepArgmax(int token, int pos) =>
        BuiltInSession.ForwardAt([token], pos, ForwardKind.Decode, ForwardOutputs.LastArgmax).Argmax(0);

    /// <summary>A decode step whose sampled choice is made on the backend: only 4 bytes come back.</summary>
    public int DecodeStepSample(int token, int pos, SamplingParams sampling) =>
        BuiltInSession.ForwardSampleAt([token], pos, ForwardKind.Decode, sampling);

    /// <summary>Stage-1 collection on the built-in session (see <see cref="DecodeSession.DecodeCapturingFfn"/>).</summary>
    internal void DecodeStepCapturingFfn(int token, int pos, FfnCaptureHandler capture) => BuiltInSession.DecodeCapturingFfn(token, pos, capture);

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        DecodeSession[] open;
        lock (_sessions)
            open = [.. _sessions];
        foreach (var session in open)
            session.Dispose();
        lock (ForwardLock)
        {
            foreach (var buffer in _transposedDown)
                buffer?.Dispose();
            _invFreq?.Dispose();
        }
        if (_ownsWeights)
            Weights.Dispose();
    }

    private void CheckLogits(Span<float> logits)
    {
        if (logits.Length != Config.Vocab)
            throw new ArgumentException($"logits span has {logits.Length} entries, the vocabulary {Config.Vocab}", nameof(logits));
    }
}
