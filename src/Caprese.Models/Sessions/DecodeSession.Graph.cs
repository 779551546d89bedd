using Caprese.Interop;
using Caprese.Models.Sparsity;

namespace Caprese.Models.Sessions;

/// <summary>
/// How a session's one-row decode steps ran while <see cref="DecodeSession.UseCudaGraphs"/> was on. A step is replayed
/// from the captured graph, or is the warm-up (run eagerly in the graph's form, sizing the backend's scratch) or the
/// capture (recorded, then replayed) of a new graph, or falls back to the eager ops: observing steps (GRIFFIN's every
/// ρ-th token), TEAL's host-side masks, multi-row chunks and passes other than decode.
/// </summary>
/// <param name="Replayed">Steps launched from a captured graph (captures included).</param>
/// <param name="Captured">Graphs captured: one per policy state (a new prompt's selection or thresholds) after its warm-up.</param>
/// <param name="WarmUps">Steps run eagerly in the graph's form, before a capture.</param>
/// <param name="Eager">Decode passes that could not use a graph and ran the eager ops (a multi-row chunk counts once).</param>
public sealed record DecodeGraphStatistics(long Replayed, long Captured, long WarmUps, long Eager);

// One-row decode steps as a CUDA graph. Everything that differs between steps is in device memory: the token id and the
// position (_stepIo, one host-to-device copy per step), read by the embedding and by the *_at ops (RoPE, the cache
// writes, attention). Every other pointer of the step is fixed for the session's life (buffers, cache, weights; the
// sparse policy's buffers for a given graph version), and the argmax id is the one value read back.
public sealed partial class DecodeSession
{
    /// <summary>Environment switch for new sessions on a device backend: CAPRESE_CUDA_GRAPHS=1.</summary>
    public const string CudaGraphsVariable = "CAPRESE_CUDA_GRAPHS";

    private bool _useCudaGraphs;
    private CapreseGraph? _graph;
    private bool _graphWarm;           // the graph's form ran once eagerly for (_graphState, _graphVersion)
    private object? _graphState;       // the policy state the warm-up / capture was made under
    private long _graphVersion;
    private DeviceBuffer? _stepIo;     // [token id, position] i32
    private DeviceBuffer? _keyRow, _valueRow;  // [1, KvDim]: the step's new key and value before the cache write
    private long _graphReplays, _graphCaptures, _graphWarmUps, _graphEager;

    /// <summary>
    /// Runs one-row decode steps as a captured CUDA graph (one launch per token instead of ~15 per layer) where the step
    /// allows it, with exactly the eager ops' results. Off by default; on for new sessions on a device backend when
    /// CAPRESE_CUDA_GRAPHS=1. Only device backends have graphs: turning it on for a CPU session throws.
    /// </summary>
    public bool UseCudaGraphs
    {
        get => _useCudaGraphs;
        set
        {
            using var _ = Enter();
            if (value && !_context.Backend.UsesDeviceMemory())
                throw new NotSupportedException($"CUDA graphs need a device backend (cuda or cuda-sim); this session runs on {_context.Backend}");
            lock (_model.ForwardLock)
            {
                _useCudaGraphs = value;
                if (!value)
                    DropGraph();
            }
        }
    }

    /// <summary>How decode steps ran since the session was created (see <see cref="DecodeGraphStatistics"/>).</summary>
    public DecodeGraphStatistics GraphStatistics => new(_graphReplays, _graphCaptures, _graphWarmUps, _graphEager);

    private static bool GraphsRequestedByEnvironment() => Environment.GetEnvironmentVariable(CudaGraphsVariable) == "1";

    // A one-row decode step through the graph, or false (and nothing done) when the eager path must run it.
    private bool TryGraphStep(int token, int pos, IFfnPolicyState? state, bool observe, FfnCaptureHandler? capture, ForwardOutputs outputs,
        out ForwardResult result)
    {
        result = null!;
        if (!_useCudaGraphs)
            return false;
        long version = 0;
        if (capture is not null || _observer is not null || observe || (state is not null && !state.TryGetDecodeGraphVersion(out version)))
        {
            _graphEager++;
            return false;
        }

        var c = Config;
        _stepIo ??= _context.Allocate(DType.I32, 2);
        _keyRow ??= _context.Allocate(DType.F32, 1, c.KvDim);
        _valueRow ??= _context.Allocate(DType.F32, 1, c.KvDim);
        _stepIo.CopyFrom<int>([token, pos]);

        if (_graphWarm && (!ReferenceEquals(_graphState, state) || _graphVersion != version))
            DropGraph();
        if (!_graphWarm)
        {
            // The first step under this state runs the graph's ops eagerly: their scratch is allocated now, not during
            // the capture (where it cannot be), and this step's result is already there.
            EnqueueGraphStep(state);
            _graphWarm = true;
            _graphState = state;
            _graphVersion = version;
            _graphWarmUps++;
        }
        else
        {
            if (_graph is null)
            {
                _context.BeginGraphCapture();
                try
                {
                    EnqueueGraphStep(state);
                }
                catch
                {
                    try
                    {
                        _context.EndGraphCapture().Dispose();
                    }
                    catch (CapreseException)
                    {
                        // the op's own error is the one to report
                    }
                    throw;
                }
                _graph = _context.EndGraphCapture();
                _graphCaptures++;
            }
            _context.Launch(_graph);
            _graphReplays++;
        }

        int returned = outputs.Rows == OutputRows.None ? 0 : 1;
        float[]? logits = null, hidden = null;
        int[]? argmax = null;
        if (returned > 0 && outputs.Logits)
        {
            logits = new float[c.Vocab];
            _buffers.Logits.CopyTo(logits.AsSpan());
        }
        if (returned > 0 && outputs.Hidden)
        {
            hidden = new float[c.Dim];
            _buffers.Normed.CopyTo(hidden.AsSpan());
        }
        if (returned > 0 && outputs.Argmax)
        {
            argmax = new int[1];
            _buffers.ArgmaxId.CopyTo(argmax.AsSpan());
        }
        result = new ForwardResult(1 - returned, returned, c.Vocab, c.Dim, logits, argmax, hidden);
        return true;
    }

    // ForwardRows for one row plus ClassifyRows and argmax, in the form a graph can replay: the token and the position
    // are read from _stepIo on the device, new keys and values go through _keyRow/_valueRow into the cache at *pos.
    // Bitwise the eager step's results (the *_at ops equal the by-value ops; the products do not depend on where they write).
    private void EnqueueGraphStep(IFfnPolicyState? sparse)
    {
        var c = Config;
        var b = _buffers;
        var w0 = _model.Weights;
        var ctx = _context;
        TensorDesc? invFreq = _model.InverseFrequencies;

        var ids = _stepIo!.AsTensor(DType.I32, 1);
        var pos = _stepIo.AsTensor(sizeof(int), DType.I32, 1);
        var x = b.Residual.AsTensor(DType.F32, 1, c.Dim);
        var xn = b.Normed.AsTensor(DType.F32, 1, c.Dim);
        var q = b.Query.AsTensor(DType.F32, 1, c.QueryDim);
        var qHeads = b.Query.AsTensor(DType.F32, 1, c.Heads, c.HeadDim);
        var att = b.Attended.AsTensor(DType.F32, 1, c.Heads, c.HeadDim);
        var attFlat = b.Attended.AsTensor(DType.F32, 1, c.QueryDim);
        var proj = b.Projected.AsTensor(DType.F32, 1, c.Dim);
        var gate = b.Gate.AsTensor(DType.F32, 1, c.HiddenDim);
        var up = b.Up.AsTensor(DType.F32, 1, c.HiddenDim);
        var k = _keyRow!.AsTensor(DType.F32, 1, c.KvDim);
        var kHeads = _keyRow.AsTensor(DType.F32, 1, c.KvHeads, c.HeadDim);
        var v = _valueRow!.AsTensor(DType.F32, 1, c.KvDim);
        var vHeads = _valueRow.AsTensor(DType.F32, 1, c.KvHeads, c.HeadDim);

        ctx.Embedding(w0.TokenEmbedding, ids, c.EmbeddingScale, x);
        for (int l = 0; l < c.Layers; l++)
        {
            var w = w0.Layers[l];
            ctx.RmsNorm(x, w.AttentionNorm, c.NormEps, c.NormWeightOffset, xn);
            ctx.Matmul(xn, w.Wq, w.Bq, q);
            ctx.Matmul(xn, w.Wk, w.Bk, k);
            ctx.Matmul(xn, w.Wv, w.Bv, v);
            ctx.RopeAt(qHeads, pos, c.RopeTheta, invFreq, c.RopeStyle);
            ctx.RopeAt(kHeads, pos, c.RopeTheta, invFreq, c.RopeStyle);
            ctx.WriteRowsAt(kHeads, pos, Cache.Keys(l));
            ctx.WriteRowsAt(vHeads, pos, Cache.Values(l));
            var attention = new AttentionParams(0, c.WindowOf(l), c.EffectiveAttentionScale, c.AttentionSoftcap);
            ctx.AttentionAt(qHeads, Cache.Keys(l), Cache.Values(l), attention, pos, att);
            ctx.Matmul(attFlat, w.Wo, null, proj);
            AddToResidual(x, proj, w.PostAttentionNorm, xn);

            ctx.RmsNorm(x, w.FfnNorm, c.NormEps, c.NormWeightOffset, xn);
            if (!(sparse is not null && sparse.TryRunFfn(l, xn, proj)))
                DenseFfn(l, w, 1, xn, gate, up, proj, null, null, decode: true);
            AddToResidual(x, proj, w.PostFfnNorm, xn);
        }
        ClassifyRows(0, 1);
        ctx.Argmax(b.Logits.AsTensor(DType.F32, 1, c.Vocab), b.ArgmaxId.AsTensor(DType.I32, 1));
    }

    private void DropGraph()
    {
        _graph?.Dispose();
        _graph = null;
        _graphWarm = false;
        _graphState = null;
    }

    private void DisposeGraphResources()
    {
        DropGraph();
        _stepIo?.Dispose();
        _keyRow?.Dispose();
        _valueRow?.Dispose();
    }
}
