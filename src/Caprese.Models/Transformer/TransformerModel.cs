using Caprese.Interop;
using Caprese.Models.Adapters;
using Caprese.Models.Sparsity;

namespace Caprese.Models.Transformer;

/// <summary>
/// Receives one sparsified layer's FFN of a capturing decode step (<see cref="TransformerModel.DecodeStepCapturingFfn"/>):
/// its input xn (after the FFN norm), the dense output FF(xn) and the sparse output FF̂(xn) without adapter, each [Dim].
/// The spans are valid only during the call.
/// </summary>
internal delegate void FfnCaptureHandler(int layer, ReadOnlySpan<float> input, ReadOnlySpan<float> dense, ReadOnlySpan<float> sparse);

/// <summary>
/// A decoder-only transformer (Llama, Qwen2, Gemma 2) running on a <see cref="CapreseContext"/>
/// through the interop ops only; every family difference is a field of <see cref="ModelConfig"/>.
/// <see cref="Prefill(ReadOnlySpan{int}, int)"/> pushes all prompt rows through each layer as
/// one batch (in chunks of at most <see cref="MaxBatchRows"/> rows); <see cref="DecodeStep(int, int)"/>
/// is the same pass with one row. K and V projections write straight into the cache rows.
/// </summary>
public sealed class TransformerModel : IDisposable
{
    public const int DefaultMaxBatchRows = 256;

    private readonly CapreseContext _context;
    private readonly ActivationBuffers _buffers;
    private readonly DeviceBuffer? _invFreq;
    private readonly bool _ownsWeights;
    private SparseFfnDecoder? _sparse;
    private TealMasker? _teal;
    private IPrefillObserver? _observer;
    private AdapterSet? _adapters;
    private AdapterForm _adapterForm;
    private DeviceBuffer? _captureSparse;
    private float[] _captureHost = [];
    // One KV cache and one set of activation buffers: a second forward or sequence while one
    // runs would silently corrupt both, so they are refused (see ClaimSequence).
    private int _forwardRunning;
    private int _sequenceClaimed;

    /// <param name="context">The context <paramref name="weights"/> live in; the model runs every op on it.</param>
    /// <param name="weights">Uploaded weights.</param>
    /// <param name="maxBatchRows">Rows per prefill batch; 0 = min(MaxSeqLen, <see cref="DefaultMaxBatchRows"/>).</param>
    /// <param name="ownsWeights">Dispose <paramref name="weights"/> with the model.</param>
    public TransformerModel(CapreseContext context, ModelWeights weights, int maxBatchRows = 0, bool ownsWeights = false)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBatchRows);
        _context = context;
        Weights = weights;
        Config = weights.Config;
        MaxBatchRows = Math.Min(Config.MaxSeqLen, maxBatchRows == 0 ? DefaultMaxBatchRows : maxBatchRows);
        Cache = new KvCache(context, Config);
        try
        {
            _buffers = new ActivationBuffers(context, Config, MaxBatchRows);
            if (RopeFrequencies.For(Config) is { } table)
                _invFreq = context.Upload<float>(table, DType.F32, table.Length);
        }
        catch
        {
            _buffers?.Dispose();
            Cache.Dispose();
            throw;
        }
        _ownsWeights = ownsWeights;
    }

    public ModelConfig Config { get; }
    public ModelWeights Weights { get; }
    public KvCache Cache { get; }
    public int MaxBatchRows { get; }
    public BackendKind Backend => _context.Backend;

    /// <summary>The context the model runs on (training runs its own products there too).</summary>
    internal CapreseContext Context => _context;

    /// <summary>The contextual sparsity decode steps use (<see cref="SparsityOptions.Dense"/> when none).</summary>
    public SparsityOptions Sparsity => _sparse?.Options ?? _teal?.Options ?? SparsityOptions.Dense;

    /// <summary>The sparse decode state (selections, thresholds), or null when decoding densely.</summary>
    public SparseFfnDecoder? SparseDecoder => _sparse;

    /// <summary>TEAL's thresholds, or null unless TEAL is on.</summary>
    public TealMasker? Teal => _teal;

    /// <summary>
    /// Switches decode to contextual sparsity (null or <see cref="SparsityMethod.None"/>: dense). Prefill stays
    /// dense and supplies the statistics, so call this before the prompt's prefill; with
    /// <see cref="SparsityOptions.Calibration"/> (CATS, TEAL) decode uses its fixed thresholds instead and prefills
    /// calibrate nothing. GRIFFIN and CATS build the transposed down projections of the sparsified layers now (see
    /// TransposedDownWeights for the memory cost).
    /// TEAL only masks inputs on the host (<see cref="TealMasker"/>): quality evaluation, not speed.
    /// </summary>
    /// <remarks>
    /// Adapters set with <see cref="SetAdapters"/> stay when the new sparsity is the one they were trained for (same
    /// method, level and layers; ρ and the GRIFFIN path may change) and are dropped otherwise: an adapter repairs one
    /// particular sparse FFN, and a silent mismatch would only make decode worse. <see cref="Adapters"/> tells which.
    /// </remarks>
    public void SetSparsity(SparsityOptions? options)
    {
        options?.Validate(Config.Layers);
        _sparse?.Dispose();
        _sparse = null;
        _teal = null;
        if (options is { Method: SparsityMethod.Teal })
            _teal = new TealMasker(Config, options);
        else if (options is { Method: not SparsityMethod.None })
            _sparse = new SparseFfnDecoder(_context, Weights, options);

        if (_adapters is not null && _sparse is not null && _adapters.MismatchWith(Config, _sparse.Options) is null)
            _sparse.SetAdapters(_adapters, _adapterForm);
        else
            _adapters = null;
    }

    /// <summary>The low-rank adapters decode applies, or null.</summary>
    public AdapterSet? Adapters => _adapters;

    /// <summary>How <see cref="Adapters"/> run (meaningful only when there are adapters).</summary>
    public AdapterForm AdapterForm => _adapterForm;

    /// <summary>
    /// Adds Caprese's low-rank adapters to the sparse FFN of every sparsified layer (null removes them). They apply only
    /// where the FFN runs sparse: decode steps of the sparsified layers. Prefill is dense and gets none, and neither do
    /// GRIFFIN's dense re-selection steps (every ρ-th) or decode steps before any prefill. Call after
    /// <see cref="SetSparsity"/>; the adapters must have been trained for exactly that sparsity.
    /// </summary>
    /// <exception cref="ArgumentException">The adapters do not fit the model or its current sparsity (the message says how).</exception>
    public void SetAdapters(AdapterSet? adapters, AdapterForm form = AdapterForm.Merged)
    {
        if (!Enum.IsDefined(form))
            throw new ArgumentOutOfRangeException(nameof(form), form, "unknown adapter form");
        if (adapters is not null)
        {
            if (adapters.MismatchWith(Config, Sparsity) is { } problem)
                throw new ArgumentException(problem, nameof(adapters));
            _sparse!.SetAdapters(adapters, form);
        }
        else
        {
            _sparse?.SetAdapters(null, form);
        }
        _adapters = adapters;
        _adapterForm = form;
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
        Forward(tokens, pos0, decode: false);
        CopyLogits(logits);
    }

    /// <summary>Prefill, then the argmax of the last row's logits computed on the backend.</summary>
    public int PrefillArgmax(ReadOnlySpan<int> tokens, int pos0)
    {
        Forward(tokens, pos0, decode: false);
        return DeviceArgmax();
    }

    /// <summary>
    /// Prefill, then a draw from the last row's logits made on the backend (<see cref="CapreseContext.Sample"/>):
    /// only the id comes back, and the draw is the same on every backend for the same parameters.
    /// </summary>
    public int PrefillSample(ReadOnlySpan<int> tokens, int pos0, SamplingParams sampling)
    {
        Forward(tokens, pos0, decode: false);
        return DeviceSample(sampling);
    }

    /// <summary>Feeds <paramref name="token"/> at position <paramref name="pos"/>; returns the next-token logits.</summary>
    public float[] DecodeStep(int token, int pos)
    {
        var logits = new float[Config.Vocab];
        DecodeStep(token, pos, logits);
        return logits;
    }

    public void DecodeStep(int token, int pos, Span<float> logits)
    {
        Forward([token], pos, decode: true);
        CopyLogits(logits);
    }

    /// <summary>A decode step whose greedy choice is made on the backend: only 4 bytes come back.</summary>
    public int DecodeStepArgmax(int token, int pos)
    {
        Forward([token], pos, decode: true);
        return DeviceArgmax();
    }

    /// <summary>A decode step whose sampled choice is made on the backend: only 4 bytes come back.</summary>
    public int DecodeStepSample(int token, int pos, SamplingParams sampling)
    {
        Forward([token], pos, decode: true);
        return DeviceSample(sampling);
    }

    /// <summary>
    /// Calibration from text: a dense prefill of <paramref name="tokens"/> at positions 0.. that hands every layer's
    /// pre-activation gate and linear inputs to <paramref name="observer"/>. No sparsity, no masking, and the decode
    /// statistics of the current prompt are left alone; the KV cache is overwritten (prefill the prompt afterwards).
    /// </summary>
    internal void PrefillObserving(ReadOnlySpan<int> tokens, IPrefillObserver observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        _observer = observer;
        try
        {
            Forward(tokens, 0, decode: false);
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
    /// (no prefill) are not reported. Returns nothing: only the captured rows matter, and the KV cache advances as in
    /// dense teacher-forced decoding.
    /// </summary>
    internal void DecodeStepCapturingFfn(int token, int pos, FfnCaptureHandler capture)
    {
        ArgumentNullException.ThrowIfNull(capture);
        if (_sparse is null)
            throw new InvalidOperationException("capturing needs GRIFFIN or CATS sparsity (SetSparsity) to compare against");
        Forward([token], pos, decode: true, capture);
    }

    /// <summary>
    /// Claims the model's single KV cache for one sequence until the returned handle is disposed. A generation
    /// holds it from its prefill to its last token, so a second generation on the same model while one runs
    /// (another thread, or two streams consumed in turn) throws instead of overwriting the first one's cache.
    /// </summary>
    /// <exception cref="InvalidOperationException">another sequence holds the model.</exception>
    internal IDisposable ClaimSequence()
    {
        if (Interlocked.CompareExchange(ref _sequenceClaimed, 1, 0) != 0)
            throw new InvalidOperationException(
                "this model is already generating another sequence and has one KV cache: wait for that generation " +
                "to finish (or dispose its stream), or load the model a second time for a concurrent sequence");
        return new SequenceClaim(this);
    }

    private sealed class SequenceClaim(TransformerModel model) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
                Volatile.Write(ref model._sequenceClaimed, 0);
        }
    }

    public void Dispose()
    {
        _sparse?.Dispose();
        _captureSparse?.Dispose();
        _invFreq?.Dispose();
        _buffers.Dispose();
        Cache.Dispose();
        if (_ownsWeights)
            Weights.Dispose();
    }

    // decode: one row whose sparsified layers run the sparse FFN; otherwise a dense prefill that feeds the statistics.
    private void Forward(ReadOnlySpan<int> tokens, int pos0, bool decode, FfnCaptureHandler? capture = null)
    {
        if (Interlocked.CompareExchange(ref _forwardRunning, 1, 0) != 0)
            throw new InvalidOperationException(
                "another thread is running a forward pass of this model: a model has one KV cache and one set of " +
                "activation buffers, so calls on it must not overlap (load the model once per concurrent sequence)");
        try
        {
            ForwardUnguarded(tokens, pos0, decode, capture);
        }
        finally
        {
            Volatile.Write(ref _forwardRunning, 0);
        }
    }

    private void ForwardUnguarded(ReadOnlySpan<int> tokens, int pos0, bool decode, FfnCaptureHandler? capture)
    {
        if (tokens.IsEmpty)
            throw new ArgumentException("at least one token is needed", nameof(tokens));
        if (pos0 < 0 || (long)pos0 + tokens.Length > Config.MaxSeqLen)
            throw new ArgumentOutOfRangeException(nameof(pos0),
                $"positions {pos0}..{(long)pos0 + tokens.Length - 1} exceed the context of {Config.MaxSeqLen}");
        foreach (int t in tokens)
            if ((uint)t >= (uint)Config.Vocab)
                throw new ArgumentOutOfRangeException(nameof(tokens), t, $"token id outside 0..{Config.Vocab - 1}");

        // A decode step either runs sparse or (GRIFFIN's every ρ-th step) densely while observing, then re-selects.
        // A capturing step (stage-1 collection) is dense everywhere and leaves the statistics alone.
        // A calibrating prefill (_observer) only reports its activations; a calibrated decoder observes no prefill.
        bool observe = capture is null && _observer is null && (decode ? _sparse?.BeginDecodeStep() == true : _sparse?.ObservesPrefill == true);
        if (!decode && pos0 == 0 && _observer is null)
        {
            _sparse?.BeginPrompt();
            _teal?.BeginPrompt();
        }
        int lastRows = 0;
        for (int start = 0; start < tokens.Length; start += MaxBatchRows)
        {
            lastRows = Math.Min(MaxBatchRows, tokens.Length - start);
            bool sparse = decode && !observe && capture is null && _sparse is not null;
            _observer?.BeginRows(pos0 + start, lastRows);
            ForwardRows(tokens.Slice(start, lastRows), pos0 + start, decode, sparse, observe, capture);
        }
        if (observe)
            _sparse!.SelectFromStatistics();
        if (!decode && _observer is null)
            _teal?.EndPrefill();
        FinalNormAndClassify(lastRows - 1);
    }

    // All transformer layers for rows at positions pos0 .. pos0 + M - 1; the residual stream ends in Residual.
    private void ForwardRows(ReadOnlySpan<int> tokens, int pos0, bool decode, bool sparse, bool observe, FfnCaptureHandler? capture)
    {
        var c = Config;
        var b = _buffers;
        int m = tokens.Length;
        var ctx = _context;
        TensorDesc? invFreq = _invFreq?.Tensor;

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

        ctx.Embedding(Weights.TokenEmbedding, ids, c.EmbeddingScale, x);
        for (int l = 0; l < c.Layers; l++)
        {
            var w = Weights.Layers[l];

            // Attention block: x += [PostNorm] Wo · attn(rope(Wq xn + bq), cache(rope(Wk xn + bk)), cache(Wv xn + bv)).
            ctx.RmsNorm(x, w.AttentionNorm, c.NormEps, c.NormWeightOffset, xn);
            ApplyTeal(l, TealSite.Attention, b.Normed, m, decode);
            ctx.Matmul(xn, w.Wq, w.Bq, q);
            ctx.Matmul(xn, w.Wk, w.Bk, Cache.KeyRows(l, pos0, m));
            ctx.Matmul(xn, w.Wv, w.Bv, Cache.ValueRows(l, pos0, m));
            ctx.Rope(qHeads, pos0, c.RopeTheta, invFreq, c.RopeStyle);
            ctx.Rope(Cache.KeyRowsByHead(l, pos0, m), pos0, c.RopeTheta, invFreq, c.RopeStyle);
            var attention = new AttentionParams(pos0, c.WindowOf(l), c.EffectiveAttentionScale, c.AttentionSoftcap);
            ctx.Attention(qHeads, Cache.Keys(l), Cache.Values(l), attention, att);
            ApplyTeal(l, TealSite.Output, b.Attended, m, decode);
            ctx.Matmul(attFlat, w.Wo, null, proj);
            AddToResidual(x, proj, w.PostAttentionNorm, xn);

            // Gated FFN block: x += [PostNorm] Wdown · (act(Wgate xn) ⊙ Wup xn).
            ctx.RmsNorm(x, w.FfnNorm, c.NormEps, c.NormWeightOffset, xn);
            ApplyTeal(l, TealSite.Ffn, b.Normed, m, decode);
            if (!(sparse && _sparse!.TryDecode(l, xn, proj)))
                DenseFfn(l, w, m, xn, gate, up, proj, observe && _sparse!.IsSparse(l), decode);
            if (capture is not null && _sparse!.IsSparse(l))
                CaptureFfn(l, xn, proj, capture);
            AddToResidual(x, proj, w.PostFfnNorm, xn);
        }
    }

    // proj = Wdown · (act(Wgate xn) ⊙ Wup xn); observed rows go to the sparsity statistics (gate before and after the activation).
    private void DenseFfn(int layer, LayerWeights w, int m, TensorDesc xn, TensorDesc gate, TensorDesc up, TensorDesc proj, bool observe, bool decode)
    {
        var ctx = _context;
        ctx.Matmul(xn, w.WGate, null, gate);
        ctx.Matmul(xn, w.WUp, null, up);
        if (observe && _sparse!.NeedsPreActivation)
            _sparse.Observe(layer, _buffers.Gate, m, preActivation: true);
        _observer?.ObserveGate(layer, _buffers.Gate);
        ctx.GatedActivation(gate, up, Config.Activation, gate);
        if (observe && !_sparse!.NeedsPreActivation)
            _sparse.Observe(layer, _buffers.Gate, m, preActivation: false);
        ApplyTeal(layer, TealSite.Down, _buffers.Gate, m, decode);
        ctx.Matmul(gate, w.WDown, null, proj);
    }

    // One row: xn and the dense output as they are, the plain sparse FFN of the same xn into a scratch row.
    private void CaptureFfn(int layer, TensorDesc xn, TensorDesc dense, FfnCaptureHandler capture)
    {
        int d = Config.Dim;
        _captureSparse ??= _context.Allocate(DType.F32, 1, d);
        if (!_sparse!.TryDecodeWithoutAdapter(layer, xn, _captureSparse.Tensor))
            return;
        if (_captureHost.Length < 3 * d)
            _captureHost = new float[3 * d];
        var host = _captureHost.AsSpan(0, 3 * d);
        _buffers.Normed.CopyTo(host[..d]);
        _buffers.Projected.CopyTo(host.Slice(d, d));
        _captureSparse.CopyTo(host.Slice(2 * d, d));
        capture(layer, host[..d], host.Slice(d, d), host.Slice(2 * d, d));
    }

    // TEAL: prefill rows feed the thresholds, decode rows are masked in place.
    private void ApplyTeal(int layer, TealSite site, DeviceBuffer input, int m, bool decode)
    {
        if (_observer is not null)
        {
            _observer.ObserveInput(layer, site, input);
            return;
        }
        if (_teal is null)
            return;
        if (decode)
            _teal.Mask(layer, site, input, m);
        else
            _teal.Observe(layer, site, input, m);
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

    // Only the last row feeds the next token, so only it is normalised and classified.
    private void FinalNormAndClassify(int lastRow)
    {
        var c = Config;
        var x = _buffers.Residual.AsTensor(DType.F32, _buffers.MaxRows, c.Dim).WithOffsetRows(lastRow, 1);
        var xn = _buffers.Normed.AsTensor(DType.F32, 1, c.Dim);
        var logits = _buffers.Logits.Tensor;
        _context.RmsNorm(x, Weights.FinalNorm, c.NormEps, c.NormWeightOffset, xn);
        _context.Matmul(xn, Weights.Classifier, null, logits);
        if (c.FinalLogitSoftcap > 0)
            _context.Softcap(logits, c.FinalLogitSoftcap, logits);
    }

    private void CopyLogits(Span<float> logits)
    {
        if (logits.Length != Config.Vocab)
            throw new ArgumentException($"logits span has {logits.Length} entries, the vocabulary {Config.Vocab}", nameof(logits));
        _buffers.Logits.CopyTo(logits);
    }

    private int DeviceSample(SamplingParams sampling)
    {
        _context.Sample(_buffers.Logits.Tensor, sampling, _buffers.ArgmaxId.Tensor);
        Span<int> id = stackalloc int[1];
        _buffers.ArgmaxId.CopyTo(id);
        return id[0];
    }

    private int DeviceArgmax()
    {
        _context.Argmax(_buffers.Logits.Tensor, _buffers.ArgmaxId.Tensor);
        Span<int> id = stackalloc int[1];
        _buffers.ArgmaxId.CopyTo(id);
        return id[0];
    }
}
