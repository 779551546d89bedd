using Caprese.Interop;
using Caprese.Models.Sparsity;
using Caprese.Models.Transformer;

namespace Caprese.Models.Sessions;

/// <summary>
/// One sequence over a shared <see cref="TransformerModel"/>: its KV cache, how many positions hold keys
/// (<see cref="Length"/>), its FFN policy and that policy's per-prompt state (GRIFFIN's selection, CATS's τ), and the
/// scratch buffers of its forward passes. Many sessions run over one model without a second copy of the weights; the
/// model serialises their passes (one backend context), so sessions on different threads are safe. One session is one
/// sequence: calling it from two threads at once throws.
/// A session can be rolled back to an earlier length (speculative decoding discards rejected drafts) and snapshotted.
/// </summary>
public sealed partial class DecodeSession : IDisposable
{
    /// <summary>Rows of one decode chunk: the fused sparse FFN kernel's batch limit.</summary>
    public const int MaxDecodeRows = AdapterScratch.MaxRows;

    /// <summary>Rows classified per classifier call; longer passes asking for every row are classified in chunks.</summary>
    public const int LogitRowsPerCall = 16;

    private readonly TransformerModel _model;
    private readonly CapreseContext _context;
    private readonly ActivationBuffers _buffers;
    private IFfnPolicyState? _state;
    private int _busy;
    private bool _disposed;

    internal DecodeSession(TransformerModel model, FfnPolicy policy)
    {
        _model = model;
        _context = model.Context;
        Cache = new KvCache(_context, model.Config);
        try
        {
            _buffers = new ActivationBuffers(_context, model.Config, model.MaxBatchRows, Math.Min(LogitRowsPerCall, model.MaxBatchRows));
            Policy = FfnPolicy.Dense;
            SetPolicy(policy);
            _useCudaGraphs = GraphsRequestedByEnvironment() && _context.Backend.UsesDeviceMemory();
        }
        catch
        {
            _buffers?.Dispose();
            Cache.Dispose();
            throw;
        }
    }

    public TransformerModel Model => _model;
    public ModelConfig Config => _model.Config;

    /// <summary>This session's keys and values, [MaxSeqLen] positions per layer.</summary>
    public KvCache Cache { get; }

    /// <summary>Positions 0 .. Length − 1 hold keys and values; the next token goes to position Length.</summary>
    public int Length { get; private set; }

    /// <summary>How decode passes run the FFN.</summary>
    public FfnPolicy Policy { get; private set; }

    /// <summary>GRIFFIN's or CATS's state (selections, thresholds), or null for other policies.</summary>
    public SparseFfnDecoder? SparseDecoder => _state as SparseFfnDecoder;

    /// <summary>TEAL's thresholds, or null unless the policy is TEAL.</summary>
    public TealMasker? Teal => _state as TealMasker;

    /// <summary>
    /// Switches the FFN policy. Its per-prompt state starts empty, so set it before the prompt's prefill (GRIFFIN and
    /// CATS take their statistics from it); the keys and values stay.
    /// </summary>
    /// <exception cref="ArgumentException">The policy does not fit the model (the message says how).</exception>
    public void SetPolicy(FfnPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        policy.Validate(Config);
        using var _ = Enter();
        IFfnPolicyState? state = null;
        try
        {
            lock (_model.ForwardLock)
            {
                state = policy.Method.CreateState(_context, _model, policy.Sparsity);
                if (state is SparseFfnDecoder sparse && policy.Adapters is not null)
                    sparse.SetAdapters(policy.Adapters, policy.AdapterForm);
            }
        }
        catch
        {
            state?.Dispose();
            throw;
        }
        lock (_model.ForwardLock)
            DropGraph();  // it points into the old state's buffers
        _state?.Dispose();
        _state = state;
        Policy = policy;
    }

    /// <summary>
    /// Runs <paramref name="tokens"/> at positions <paramref name="pos0"/>.. (at most <see cref="Length"/>: an earlier
    /// position rewrites the sequence from there) and returns what <paramref name="outputs"/> asks for. Afterwards
    /// <see cref="Length"/> is pos0 + tokens.Length.
    /// </summary>
    /// <exception cref="ArgumentException">No tokens, a token id outside the vocabulary, or too many rows for a decode chunk.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The positions skip past <see cref="Length"/> or exceed the context.</exception>
    public ForwardResult Forward(ReadOnlySpan<int> tokens, int pos0, ForwardKind kind, ForwardOutputs outputs)
    {
        CheckNoGap(pos0);
        return ForwardAt(tokens, pos0, kind, outputs);
    }

    /// <summary><see cref="Forward(ReadOnlySpan{int}, int, ForwardKind, ForwardOutputs)"/> at position <see cref="Length"/>.</summary>
    public ForwardResult Append(ReadOnlySpan<int> tokens, ForwardKind kind, ForwardOutputs outputs) =>
        Forward(tokens, Length, kind, outputs);

    /// <summary>Runs the tokens and draws the next token from the last row on the backend (only the id comes back).</summary>
    public int ForwardSample(ReadOnlySpan<int> tokens, int pos0, ForwardKind kind, SamplingParams sampling)
    {
        CheckNoGap(pos0);
        return ForwardSampleAt(tokens, pos0, kind, sampling);
    }

    // The public passes start at most at Length: a later position would attend to keys never written.
    private void CheckNoGap(int pos0)
    {
        if (pos0 > Length)
            throw new ArgumentOutOfRangeException(nameof(pos0), pos0,
                $"position {pos0} would skip positions {Length}..{pos0 - 1}, which hold no keys (the session's length is {Length})");
    }

    /// <summary>
    /// Forgets positions <paramref name="length"/> and later (their keys are overwritten by the next pass). The
    /// policy's state stays: a policy whose decode steps change it (GRIFFIN with ρ &gt; 0) needs <see cref="Snapshot"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is negative or beyond <see cref="Length"/>.</exception>
    /// <exception cref="InvalidOperationException">The policy's decode steps change its state.</exception>
    public void Rollback(int length)
    {
        if (length < 0 || length > Length)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"a rollback goes back to 0..{Length}");
        if (length < Length && _state?.ChangesDuringDecode == true)
            throw new InvalidOperationException(
                "GRIFFIN with re-selection (ρ > 0) changes its selection during decode; roll back with Snapshot/Restore, or use ρ = 0");
        Length = length;
    }

    /// <summary>The session's length and policy state, to <see cref="Restore"/> later (the keys before that length must not be rewritten in between).</summary>
    public SessionSnapshot Snapshot()
    {
        using var _ = Enter();
        return new SessionSnapshot(this, Length, Policy, _state?.CaptureState());
    }

    /// <summary>Goes back to <paramref name="snapshot"/>, taken of this session with its current policy.</summary>
    public void Restore(SessionSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        if (!ReferenceEquals(snapshot.Session, this))
            throw new ArgumentException("the snapshot belongs to another session", nameof(snapshot));
        if (!ReferenceEquals(snapshot.Policy, Policy))
            throw new ArgumentException("the session's policy changed since the snapshot", nameof(snapshot));
        if (snapshot.Length > Length)
            throw new ArgumentException($"the snapshot's length {snapshot.Length} is beyond the session's {Length}: the keys in between were discarded", nameof(snapshot));
        using var _ = Enter();
        lock (_model.ForwardLock)
            _state?.RestoreState(snapshot.PolicyState);
        Length = snapshot.Length;
    }

    /// <summary>Empties the sequence (the next prefill at 0 starts a new prompt).</summary>
    public void Reset()
    {
        using var _ = Enter();
        lock (_model.ForwardLock)
            _state?.BeginPrompt();
        Length = 0;
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
            throw new InvalidOperationException("the session is running a forward pass on another thread; dispose it after that returns");
        _disposed = true;
        lock (_model.ForwardLock)
        {
            DisposeGraphResources();  // before the buffers and the cache its kernels point into
            _state?.Dispose();
            _buffers.Dispose();
            Cache.Dispose();
        }
        _model.OnSessionDisposed(this);
    }

    // One sequence, one thread at a time: a second caller is told, never silently interleaved.
    private Claim Enter()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
            throw new InvalidOperationException(
                "this session is already in use on another thread: a session is one sequence; create a session per concurrent sequence (TransformerModel.CreateSession)");
        return new Claim(this);
    }

    private readonly struct Claim(DecodeSession session) : IDisposable
    {
        public void Dispose() => Volatile.Write(ref session._busy, 0);
    }
}

/// <summary>A <see cref="DecodeSession"/>'s length and FFN-policy state at one moment.</summary>
public sealed class SessionSnapshot
{
    internal SessionSnapshot(DecodeSession session, int length, FfnPolicy policy, object? policyState)
    {
        Session = session;
        Length = length;
        Policy = policy;
        PolicyState = policyState;
    }

    internal DecodeSession Session { get; }
    internal FfnPolicy Policy { get; }
    internal object? PolicyState { get; }

    /// <summary>The session's length when taken.</summary>
    public int Length { get; }
}
