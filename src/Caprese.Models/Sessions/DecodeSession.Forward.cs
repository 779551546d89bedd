using Caprese.Interop;
using Caprese.Models.Sparsity;
using Caprese.Models.Transformer;

namespace Caprese.Models.Sessions;

/// <summary>
/// Receives one sparsified layer's FFN of a capturing decode step (<see cref="DecodeSession.DecodeCapturingFfn"/>):
/// its input xn (after the FFN norm), the dense output FF(xn) and the sparse output FF̂(xn) without adapter, each [Dim].
/// The spans are valid only during the call.
/// </summary>
internal delegate void FfnCaptureHandler(int layer, ReadOnlySpan<float> input, ReadOnlySpan<float> dense, ReadOnlySpan<float> sparse);

// The forward pass: every layer of the model over a chunk of rows, its FFNs as the pass kind and the policy decide.
public sealed partial class DecodeSession
{
    private IPrefillObserver? _observer;
    private DeviceBuffer? _captureSparse;
    private float[] _captureHost = [];

    /// <summary>
    /// Calibration from text: a dense prefill of <paramref name="tokens"/> at positions 0.. that hands every layer's
    /// pre-activation gate and linear inputs to <paramref name="observer"/>. No sparsity, no masking, and the policy's
    /// statistics are left alone; the keys are overwritten (prefill the prompt afterwards).
    /// </summary>
    internal void PrefillObserving(ReadOnlySpan<int> tokens, IPrefillObserver observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        _observer = observer;
        try
        {
            ForwardAt(tokens, 0, ForwardKind.Prefill, ForwardOutputs.Nothing);
        }
        finally
        {
            _observer = null;
        }
    }

    /// <summary>
    /// Stage-1 collection: feeds <paramref name="token"/> at <paramref name="pos"/> with every FFN dense (no sparsity,
    /// no adapter, no GRIFFIN re-selection) and hands each sparsified layer's FFN input, dense output and plain sparse
    /// output (the prompt's current selection or threshold) to <paramref name="capture"/>. Layers without a selection yet
    /// (no prefill) are not reported. The keys advance as in dense teacher-forced decoding.
    /// </summary>
    internal void DecodeCapturingFfn(int token, int pos, FfnCaptureHandler capture)
    {
        ArgumentNullException.ThrowIfNull(capture);
        if (SparseDecoder is null)
            throw new InvalidOperationException("capturing needs GRIFFIN or CATS sparsity to compare against");
        ForwardAt([token], pos, ForwardKind.Verify, ForwardOutputs.Nothing, capture);
    }

    // Forward without the "no gaps" rule: the model's own Prefill/DecodeStep(pos) have always let callers choose positions.
    internal ForwardResult ForwardAt(ReadOnlySpan<int> tokens, int pos0, ForwardKind kind, ForwardOutputs outputs, FfnCaptureHandler? capture = null)
    {
        using var _ = Enter();
        lock (_model.ForwardLock)
            return Run(tokens, pos0, kind, outputs, capture);
    }

    internal int ForwardSampleAt(ReadOnlySpan<int> tokens, int pos0, ForwardKind kind, SamplingParams sampling)
    {
        using var _ = Enter();
        lock (_model.ForwardLock)
        {
            // Classifying the last row (and copying nothing) leaves its logits in row 0 of the buffer.
            Run(tokens, pos0, kind, new ForwardOutputs(OutputRows.Last, Logits: false), null);
            var logits = _buffers.Logits.AsTensor(DType.F32, 1, Config.Vocab);
            _context.Sample(logits, sampling, _buffers.ArgmaxId.AsTensor(DType.I32, 1));
            Span<int> id = stackalloc int[1];
            _buffers.ArgmaxId.CopyTo(id);
            return id[0];
        }
    }

    private ForwardResult Run(ReadOnlySpan<int> tokens, int pos0, ForwardKind kind, ForwardOutputs outputs, FfnCaptureHandler? capture)
    {
        var c = Config;
        if (tokens.IsEmpty)
            throw new ArgumentException("at least one token is needed", nameof(tokens));
        if (!Enum.IsDefined(kind))
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown forward kind");
        if (!Enum.IsDefined(outputs.Rows))
            throw new ArgumentOutOfRangeException(nameof(outputs), outputs.Rows, "unknown output rows");
        if (pos0 < 0 || (long)pos0 + tokens.Length > c.MaxSeqLen)
            throw new ArgumentOutOfRangeException(nameof(pos0),
                $"positions {pos0}..{(long)pos0 + tokens.Length - 1} exceed the context of {c.MaxSeqLen}");
        if (kind == ForwardKind.Decode && tokens.Length > MaxDecodeRows)
            throw new ArgumentException($"a decode chunk holds at most {MaxDecodeRows} rows (the sparse FFN kernel's batch), not {tokens.Length}", nameof(tokens));
        foreach (int t in tokens)
            if ((uint)t >= (uint)c.Vocab)
                throw new ArgumentOutOfRangeException(nameof(tokens), t, $"token id outside 0..{c.Vocab - 1}");

        // Prefill feeds the statistics (unless calibrated on text); a decode chunk runs sparse, or dense while
        // observing when GRIFFIN re-selects; verification and capture are dense and observe nothing. A calibrating
        // prefill (_observer) only reports its activations.
        var state = capture is null && _observer is null ? _state : null;
        bool prefill = kind == ForwardKind.Prefill;
        if (prefill && pos0 == 0)
            state?.BeginPrompt();
        bool observe = state is not null && kind switch
        {
            ForwardKind.Prefill => state.ObservesPrefill,
            ForwardKind.Decode => state.BeginDecode(tokens.Length),
            _ => false,
        };
        bool sparse = kind == ForwardKind.Decode && !observe && state is not null;
        var inputs = kind == ForwardKind.Verify ? null : state;
        if (kind == ForwardKind.Decode && _useCudaGraphs)
        {
            if (tokens.Length == 1 && TryGraphStep(tokens[0], pos0, state, observe, capture, outputs, out var stepResult))
            {
                state?.EndPass(prefill, observe);
                Length = pos0 + 1;
                return stepResult;
            }
            if (tokens.Length > 1)
                _graphEager++;
        }

        int rows = tokens.Length;
        int returned = outputs.Rows switch { OutputRows.All => rows, OutputRows.Last => 1, _ => 0 };
        var logits = outputs.Logits && returned > 0 ? new float[checked(returned * c.Vocab)] : null;
        var argmax = outputs.Argmax && returned > 0 ? new int[returned] : null;
        var hidden = outputs.Hidden && returned > 0 ? new float[checked(returned * c.Dim)] : null;
        for (int start = 0; start < rows; start += _buffers.MaxRows)
        {
            int m = Math.Min(_buffers.MaxRows, rows - start);
            _observer?.BeginRows(pos0 + start, m);
            ForwardRows(tokens.Slice(start, m), pos0 + start, kind == ForwardKind.Decode, sparse ? state : null,
                observe ? state : null, inputs, capture);
            // Rows are classified while this chunk's residual stream is still in the buffers.
            int first = outputs.Rows == OutputRows.All ? start : rows - 1;
            for (int r = Math.Max(first, start); r < start + m && returned > 0; r += _buffers.LogitRows)
            {
                int k = Math.Min(_buffers.LogitRows, start + m - r);
                ClassifyRows(r - start, k);
                int at = r - (rows - returned);
                if (logits is not null)
                    _buffers.Logits.CopyTo(logits.AsSpan(at * c.Vocab, k * c.Vocab));
                if (hidden is not null)
                    _buffers.Normed.CopyTo(hidden.AsSpan(at * c.Dim, k * c.Dim));
                if (argmax is not null)
                {
                    _context.Argmax(_buffers.Logits.AsTensor(DType.F32, k, c.Vocab), _buffers.ArgmaxId.AsTensor(DType.I32, k));
                    _buffers.ArgmaxId.CopyTo(argmax.AsSpan(at, k));
                }
            }
        }
        state?.EndPass(prefill, observe);
        Length = pos0 + rows;
        return new ForwardResult(rows - returned, returned, c.Vocab, c.Dim, logits, argmax, hidden);
    }

    // All transformer layers for rows at positions pos0 .. pos0 + M - 1; the residual stream ends in Residual.
    // sparse: the policy runs the sparsified FFNs; observe: dense FFNs feed its statistics; inputs: TEAL's mask/observe hook.
    private void ForwardRows(ReadOnlySpan<int> tokens, int pos0, bool decode, IFfnPolicyState? sparse, IFfnPolicyState? observe,
        IFfnPolicyState? inputs, FfnCaptureHandler? capture)
    {
        var c = Config;
        var b = _buffers;
        var w0 = _model.Weights;
        int m = tokens.Length;
        var ctx = _context;
        TensorDesc? invFreq = _model.InverseFrequencies;

        b.TokenIds.CopyFrom(tokens);
        var ids = b.TokenIds.AsTensor(DType.I32, m);
        var x = b.Residual.AsTensor(DType.F32, m, c.Dim);
        var xn = b.Normed.AsTensor(DType.F32, m, c.Dim);
        var q = b.Query.AsTensor(DType.F32, m, c.QueryDim);
        var qHeads = b.Query.AsTensor(DType.F32, m, c.Heads, c.HeadDim);
        var att = b.Attended.AsTensor(DType.F32, m, c.Heads, c.HeadDim);
        var attFlat = b.Attended.AsTensor(DType.F32, m, c.QueryDim);
        var proj = b.Projected.AsTensor(DType.F32, m, c.Dim);
        var gate = b.Gate.AsTensor(DType.F32, m, c.HiddenDim);
        var up = b.Up.AsTensor(DType.F32, m, c.HiddenDim);

        ctx.Embedding(w0.TokenEmbedding, ids, c.EmbeddingScale, x);
        for (int l = 0; l < c.Layers; l++)
        {
            var w = w0.Layers[l];

            // Attention block: x += [PostNorm] Wo · attn(rope(Wq xn + bq), cache(rope(Wk xn + bk)), cache(Wv xn + bv)).
            ctx.RmsNorm(x, w.AttentionNorm, c.NormEps, c.NormWeightOffset, xn);
            LinearInput(l, TealSite.Attention, b.Normed, m, inputs, decode);
            ctx.Matmul(xn, w.Wq, w.Bq, q);
            ctx.Matmul(xn, w.Wk, w.Bk, Cache.KeyRows(l, pos0, m));
            ctx.Matmul(xn, w.Wv, w.Bv, Cache.ValueRows(l, pos0, m));
            ctx.Rope(qHeads, pos0, c.RopeTheta, invFreq, c.RopeStyle);
            ctx.Rope(Cache.KeyRowsByHead(l, pos0, m), pos0, c.RopeTheta, invFreq, c.RopeStyle);
            var attention = new AttentionParams(pos0, c.WindowOf(l), c.EffectiveAttentionScale, c.AttentionSoftcap);
            ctx.Attention(qHeads, Cache.Keys(l), Cache.Values(l), attention, att);
            LinearInput(l, TealSite.Output, b.Attended, m, inputs, decode);
            ctx.Matmul(attFlat, w.Wo, null, proj);
            AddToResidual(x, proj, w.PostAttentionNorm, xn);

            // Gated FFN block: x += [PostNorm] Wdown · (act(Wgate xn) ⊙ Wup xn).
            ctx.RmsNorm(x, w.FfnNorm, c.NormEps, c.NormWeightOffset, xn);
            LinearInput(l, TealSite.Ffn, b.Normed, m, inputs, decode);
            if (!(sparse is not null && sparse.TryRunFfn(l, xn, proj)))
                DenseFfn(l, w, m, xn, gate, up, proj, observe is not null && observe.IsSparse(l) ? observe : null, inputs, decode);
            if (capture is not null && SparseDecoder!.IsSparse(l))
                CaptureFfn(l, xn, proj, capture);
            AddToResidual(x, proj, w.PostFfnNorm, xn);
        }
    }

    // proj = Wdown · (act(Wgate xn) ⊙ Wup xn); observed rows go to the policy's statistics (before or after the activation).
    private void DenseFfn(int layer, LayerWeights w, int m, TensorDesc xn, TensorDesc gate, TensorDesc up, TensorDesc proj,
        IFfnPolicyState? observe, IFfnPolicyState? inputs, bool decode)
    {
        var ctx = _context;
        ctx.Matmul(xn, w.WGate, null, gate);
        ctx.Matmul(xn, w.WUp, null, up);
        if (observe is { ObservesPreActivation: true })
            observe.ObserveFfn(layer, _buffers.Gate, m);
        _observer?.ObserveGate(layer, _buffers.Gate);
        ctx.GatedActivation(gate, up, Config.Activation, gate);
        if (observe is { ObservesPreActivation: false })
            observe.ObserveFfn(layer, _buffers.Gate, m);
        LinearInput(layer, TealSite.Down, _buffers.Gate, m, inputs, decode);
        ctx.Matmul(gate, w.WDown, null, proj);
    }

    // One row: xn and the dense output as they are, the plain sparse FFN of the same xn into a scratch row.
    private void CaptureFfn(int layer, TensorDesc xn, TensorDesc dense, FfnCaptureHandler capture)
    {
        int d = Config.Dim;
        _captureSparse ??= _context.Allocate(DType.F32, 1, d);
        if (!SparseDecoder!.TryDecodeWithoutAdapter(layer, xn, _captureSparse.Tensor))
            return;
        if (_captureHost.Length < 3 * d)
            _captureHost = new float[3 * d];
        var host = _captureHost.AsSpan(0, 3 * d);
        _buffers.Normed.CopyTo(host[..d]);
        _buffers.Projected.CopyTo(host.Slice(d, d));
        _captureSparse.CopyTo(host.Slice(2 * d, d));
        capture(layer, host[..d], host.Slice(d, d), host.Slice(2 * d, d));
    }

    // A linear input: the calibration observer sees it, or the policy may mask (decode) or observe (prefill) it.
    private void LinearInput(int layer, TealSite site, DeviceBuffer input, int m, IFfnPolicyState? inputs, bool decode)
    {
        if (_observer is not null)
            _observer.ObserveInput(layer, site, input);
        else
            inputs?.OnLinearInput(layer, site, input, m, decode);
    }

    // x += branch, normalised first where the family has a post-norm (Gemma 2); scratch is free to overwrite.
    private void AddToResidual(TensorDesc x, TensorDesc branch, TensorDesc? postNorm, TensorDesc scratch)
    {
        if (postNorm is { } norm)
        {
            _context.RmsNorm(branch, norm, Config.NormEps, Config.NormWeightOffset, scratch);
            branch = scratch;
        }
        _context.Add(x, branch, x);
    }

    // Rows row0 .. row0 + k - 1 of the chunk in Residual: final norm into Normed rows 0..k-1, classifier into Logits.
    private void ClassifyRows(int row0, int k)
    {
        var c = Config;
        var x = _buffers.Residual.AsTensor(DType.F32, _buffers.MaxRows, c.Dim).WithOffsetRows(row0, k);
        var xn = _buffers.Normed.AsTensor(DType.F32, k, c.Dim);
        var logits = _buffers.Logits.AsTensor(DType.F32, k, c.Vocab);
        _context.RmsNorm(x, _model.Weights.FinalNorm, c.NormEps, c.NormWeightOffset, xn);
        _context.Matmul(xn, _model.Weights.Classifier, null, logits);
        if (c.FinalLogitSoftcap > 0)
            _context.Softcap(logits, c.FinalLogitSoftcap, logits);
    }
}
