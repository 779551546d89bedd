using Caprese.Interop;
using Caprese.Models.Adapters;
using Caprese.Models.Sparsity;
using Caprese.Models.Transformer;

namespace Caprese.Models.Training.EndToEnd;

/// <summary>
/// Stage 2 of Caprese distillation as an explicit forward and backward over <see cref="ITrainingOps"/>: the dense
/// teacher and the sparse + adapter student of one sequence, the MSE between their final hidden states (output
/// of the final RMSNorm) over the continuation rows, and its gradient with respect to every adapter's L and R.
/// Base weights are frozen. Llama, Qwen2 (q/k/v biases) and Gemma 2 (post-norms, (1 + w) norms, GELU-tanh,
/// embedding scale, attention soft-cap, sliding window) are all covered by the op set; the final logit soft-cap
/// does not enter a hidden-state loss.
/// <para>
/// Per call: (1) the teacher runs every row densely (positions 0 .. T-1), fills the per-layer K/V caches, observes
/// the prompt rows of each sparsified layer exactly as inference's prefill does (<see cref="GriffinSelector"/> over
/// act(x·Wg) ⊙ (x·Wu), <see cref="CatsCalibrator"/> over x·Wg) and keeps the target and its residual stream at the
/// first sparsified layer. (2) The student starts from that residual for the continuation rows (layers below the
/// first sparsified one are dense and adapter-free, so they are the teacher's) and overwrites the continuation rows
/// of the caches with its own K/V; the prompt rows are the teacher's, as in inference, and carry no gradient (they
/// do not depend on any adapter). Sparsified layers multiply the FFN intermediate by the 0/1 mask (constant in the
/// backward) and add x·L·R. (3) Backward runs from the loss down to the FFN of the first sparsified layer.
/// </para>
/// </summary>
public sealed class EndToEndGraph : IDisposable
{
    private readonly ITrainingOps _ops;
    private readonly List<TrainingTensor> _owned = [];
    private readonly LayerParameters[] _layers;
    private readonly AdapterState?[] _adapters;
    private readonly LayerSaved?[] _saved;
    private readonly TrainingTensor _embedding, _finalNorm;
    private readonly TrainingTensor? _invFreq;
    private readonly TrainingTensor[] _keys, _values;

    // Teacher scratch [MaxTokens, ·]; student scratch [MaxTokens - 1, ·].
    private readonly TrainingTensor _tx, _txn, _tq, _tatt, _tproj, _tproj2, _tgate, _tup;
    private readonly TrainingTensor _x, _xn, _att, _proj, _proj2, _hidden, _ffn, _adapterOut, _y, _target;
    private readonly TrainingTensor _dx, _dBranch, _dxn, _tmp, _dh, _dGate, _dUp, _dAtt, _dq, _dk, _dv;
    private readonly TrainingTensor _dt, _tT, _dtT, _dFT, _xnT, _gradL, _gradR;
    private float[] _maskStaging = [];
    private int _lastContinuation;

    /// <param name="ops">Where every op runs.</param>
    /// <param name="source">The context <paramref name="weights"/> live in.</param>
    /// <param name="weights">The frozen base model.</param>
    /// <param name="sparsity">GRIFFIN (ρ = 0) or CATS over a layer range.</param>
    /// <param name="rank">Adapter rank.</param>
    /// <param name="maxTokens">Longest sequence (prompt + continuation); buffers are sized for it.</param>
    public EndToEndGraph(ITrainingOps ops, CapreseContext source, ModelWeights weights, SparsityOptions sparsity, int rank, int maxTokens)
    {
        ArgumentNullException.ThrowIfNull(ops);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(sparsity);
        var c = weights.Config;
        CheckSupported(c, sparsity);
        if (rank < 1 || rank > c.Dim)
            throw new ArgumentOutOfRangeException(nameof(rank), rank, $"adapter rank must be in 1..{c.Dim}");
        if (maxTokens < 2 || maxTokens > c.MaxSeqLen)
            throw new ArgumentOutOfRangeException(nameof(maxTokens), maxTokens, $"sequences must fit 2..{c.MaxSeqLen} tokens");
        _ops = ops;
        Config = c;
        Sparsity = sparsity;
        Rank = rank;
        MaxTokens = maxTokens;
        (FirstLayer, EndLayer) = sparsity.LayerRange(c.Layers);
        int d = c.Dim, h = c.HiddenDim, qd = c.QueryDim, kvd = c.KvDim, t = maxTokens, rows = maxTokens - 1;

        try
        {
            _embedding = Import(source, weights.TokenEmbedding, c.Vocab, d);
            _finalNorm = Import(source, weights.FinalNorm, 1, d);
            if (RopeFrequencies.For(c) is { } table)
            {
                _invFreq = Own(1, table.Length);
                ops.Upload(table, _invFreq);
            }
            _layers = new LayerParameters[c.Layers];
            _keys = new TrainingTensor[c.Layers];
            _values = new TrainingTensor[c.Layers];
            _saved = new LayerSaved?[c.Layers];
            _adapters = new AdapterState?[c.Layers];
            for (int l = 0; l < c.Layers; l++)
            {
                var w = weights.Layers[l];
                _layers[l] = new LayerParameters
                {
                    AttentionNorm = Import(source, w.AttentionNorm, 1, d),
                    Wq = Import(source, w.Wq, qd, d), Bq = ImportOptional(source, w.Bq, 1, qd),
                    Wk = Import(source, w.Wk, kvd, d), Bk = ImportOptional(source, w.Bk, 1, kvd),
                    Wv = Import(source, w.Wv, kvd, d), Bv = ImportOptional(source, w.Bv, 1, kvd),
                    Wo = Import(source, w.Wo, d, qd),
                    PostAttentionNorm = ImportOptional(source, w.PostAttentionNorm, 1, d),
                    FfnNorm = Import(source, w.FfnNorm, 1, d),
                    WGate = Import(source, w.WGate, h, d), WUp = Import(source, w.WUp, h, d), WDown = Import(source, w.WDown, d, h),
                    PostFfnNorm = ImportOptional(source, w.PostFfnNorm, 1, d),
                };
                _keys[l] = Own(t, kvd);
                _values[l] = Own(t, kvd);
                if (l < FirstLayer)
                    continue;
                // The backward needs x·W for the frozen W: the transposes, made once (layers from the first sparsified one only,
                // and no attention transposes for that layer: the backward stops at its FFN).
                var p = _layers[l];
                if (l > FirstLayer)
                {
                    p.WqT = TransposeOf(p.Wq);
                    p.WkT = TransposeOf(p.Wk);
                    p.WvT = TransposeOf(p.Wv);
                    p.WoT = TransposeOf(p.Wo);
                }
                p.WGateT = TransposeOf(p.WGate);
                p.WUpT = TransposeOf(p.WUp);
                p.WDownT = TransposeOf(p.WDown);
                bool sparse = l < EndLayer;
                _saved[l] = new LayerSaved
                {
                    XIn = Own(rows, d), Q = Own(rows, qd), XMid = Own(rows, d), Xn2 = Own(rows, d),
                    Gate = Own(rows, h), Up = Own(rows, h),
                    Mask = sparse ? Own(rows, h) : null,
                    T = sparse ? Own(rows, rank) : null,
                    AttentionOut = c.PostNorms ? Own(rows, d) : null,
                    FfnOut = c.PostNorms ? Own(rows, d) : null,
                };
                if (sparse)
                    _adapters[l] = new AdapterState
                    {
                        L = Own(d, rank), R = Own(rank, d), LT = Own(rank, d), RT = Own(d, rank),
                        GradL = Own(d, rank), GradR = Own(rank, d),
                        ML = Own(d, rank), VL = Own(d, rank), MR = Own(rank, d), VR = Own(rank, d),
                    };
            }

            _tx = Own(t, d); _txn = Own(t, d); _tq = Own(t, qd); _tatt = Own(t, qd); _tproj = Own(t, d); _tproj2 = Own(t, d);
            _tgate = Own(t, h); _tup = Own(t, h);
            _x = Own(rows, d); _xn = Own(rows, d); _att = Own(rows, qd); _proj = Own(rows, d); _proj2 = Own(rows, d);
            _hidden = Own(rows, h); _ffn = Own(rows, d); _adapterOut = Own(rows, d); _y = Own(rows, d); _target = Own(rows, d);
            _dx = Own(rows, d); _dBranch = Own(rows, d); _dxn = Own(rows, d); _tmp = Own(rows, d);
            _dh = Own(rows, h); _dGate = Own(rows, h); _dUp = Own(rows, h); _dAtt = Own(rows, qd); _dq = Own(rows, qd);
            _dk = Own(t, kvd); _dv = Own(t, kvd);
            _dt = Own(rows, rank); _tT = Own(rank, rows); _dtT = Own(rank, rows); _dFT = Own(d, rows); _xnT = Own(d, rows);
            _gradL = Own(d, rank); _gradR = Own(rank, d);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public ModelConfig Config { get; }
    public SparsityOptions Sparsity { get; }
    public int FirstLayer { get; }
    public int EndLayer { get; }
    public int Rank { get; }
    public int MaxTokens { get; }
    public ITrainingOps Ops => _ops;

    /// <summary>Throws <see cref="NotSupportedException"/> naming what stage 2 cannot train.</summary>
    public static void CheckSupported(ModelConfig config, SparsityOptions sparsity)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(sparsity);
        config.Validate();
        sparsity.Validate(config.Layers);
        if (sparsity.Method is not (SparsityMethod.Griffin or SparsityMethod.Cats))
            throw new NotSupportedException($"stage 2 trains adapters for GRIFFIN or CATS sparsity, not {sparsity.Method}");
        if (sparsity.GriffinReselectEvery != 0)
            throw new NotSupportedException(
                $"GRIFFIN re-selection every {sparsity.GriffinReselectEvery} decode steps changes the neuron set during decode; " +
                "stage 2 trains against the prompt's fixed selection (ρ = 0)");
        if (config.Family is not (ModelFamily.Llama or ModelFamily.Qwen2 or ModelFamily.Gemma2))
            throw new NotSupportedException($"model family {config.Family}");
    }

    // ------------------------------------------------------------------ adapters

    /// <summary>Copies the adapters' L and R into the graph (Adam moments and gradients are left as they are).</summary>
    public void LoadAdapters(AdapterSet adapters)
    {
        CheckAdapters(adapters);
        for (int l = FirstLayer; l < EndLayer; l++)
        {
            var a = adapters.ForLayer(l)!;
            var s = _adapters[l]!;
            _ops.Upload(a.L, s.L);
            _ops.Upload(a.R, s.R);
            RefreshTransposes(s);
        }
    }

    /// <summary>Writes the graph's L and R into the adapters' arrays (in place).</summary>
    public void StoreAdapters(AdapterSet adapters)
    {
        CheckAdapters(adapters);
        _ops.Synchronize();
        for (int l = FirstLayer; l < EndLayer; l++)
        {
            var a = adapters.ForLayer(l)!;
            _ops.Download(_adapters[l]!.L, a.L);
            _ops.Download(_adapters[l]!.R, a.R);
        }
    }

    /// <summary>Clears the gradient accumulators.</summary>
    public void ZeroGradients()
    {
        foreach (var s in _adapters)
        {
            if (s is null)
                continue;
            _ops.Zero(s.GradL);
            _ops.Zero(s.GradR);
        }
    }

    /// <summary>Clears the Adam moments (a fresh optimiser).</summary>
    public void ResetOptimizer()
    {
        foreach (var s in _adapters)
        {
            if (s is null)
                continue;
            _ops.Zero(s.ML);
            _ops.Zero(s.VL);
            _ops.Zero(s.MR);
            _ops.Zero(s.VR);
        }
    }

    /// <summary>The accumulated gradients of one sparsified layer's adapter: dL [D·r], dR [r·D].</summary>
    public (float[] L, float[] R) DownloadGradients(int layer)
    {
        var s = _adapters[layer] ?? throw new ArgumentOutOfRangeException(nameof(layer), layer, "not a sparsified layer");
        var gl = new float[s.GradL.Length];
        var gr = new float[s.GradR.Length];
        _ops.Download(s.GradL, gl);
        _ops.Download(s.GradR, gr);
        return (gl, gr);
    }

    /// <summary>One AdamW step of every adapter on the accumulated gradients.</summary>
    public void AdamStep(AdamParameters p)
    {
        foreach (var s in _adapters)
        {
            if (s is null)
                continue;
            _ops.AdamStep(s.L, s.GradL, s.ML, s.VL, p);
            _ops.AdamStep(s.R, s.GradR, s.MR, s.VR, p);
            RefreshTransposes(s);
        }
    }

    // ------------------------------------------------------------------ passes

    /// <summary>The masks inference would use for <paramref name="sequence"/> (a dense pass over its prompt).</summary>
    public SequenceMasks ComputeMasks(EndToEndSequence sequence)
    {
        CheckSequence(sequence);
        var masks = new SequenceMasks(Sparsity.Method, Config.Layers);
        Teacher(sequence.Tokens.AsSpan(0, sequence.PromptLength), sequence.PromptLength, masks, finalRows: false);
        return masks;
    }

    /// <summary>
    /// The dense model's final hidden states (after the final RMSNorm) of every row of <paramref name="tokens"/>
    /// (positions 0 ..), [T·D] row-major.
    /// </summary>
    public float[] DenseHidden(ReadOnlySpan<int> tokens)
    {
        if (tokens.Length < 1 || tokens.Length > MaxTokens)
            throw new ArgumentOutOfRangeException(nameof(tokens), tokens.Length, $"1..{MaxTokens} tokens");
        Teacher(tokens, tokens.Length, null, finalRows: false);
        var y = _txn.Slice(0, tokens.Length);
        _ops.RmsNorm(_tx.Slice(0, tokens.Length), _finalNorm, Config.NormEps, Config.NormWeightOffset, y);
        var result = new float[y.Length];
        _ops.Download(y, result);
        return result;
    }

    /// <summary>The stage-2 loss of one sequence: mean over continuation rows and dimensions of (student - teacher)².</summary>
    /// <param name="sequence">Prompt and continuation.</param>
    /// <param name="masks">Masks to use; null = computed from this sequence's prompt, as inference does.</param>
    public double Loss(EndToEndSequence sequence, SequenceMasks? masks = null) => Run(sequence, masks, gradientScale: null);

    /// <summary>
    /// Forward and backward of one sequence: adds <paramref name="gradientScale"/> · ∂loss/∂(L, R) to every adapter's
    /// gradient accumulator and returns the loss.
    /// </summary>
    public double AccumulateGradients(EndToEndSequence sequence, float gradientScale = 1f, SequenceMasks? masks = null) =>
        Run(sequence, masks, gradientScale);

    /// <summary>CATS: pins the row masks of the last student forward into <paramref name="masks"/> (see <see cref="SequenceMasks.RowMasks"/>).</summary>
    public void FreezeRowMasks(SequenceMasks masks)
    {
        ArgumentNullException.ThrowIfNull(masks);
        if (_lastContinuation == 0)
            throw new InvalidOperationException("no forward has run yet");
        for (int l = FirstLayer; l < EndLayer; l++)
        {
            var m = new float[_lastContinuation * Config.HiddenDim];
            _ops.Download(_saved[l]!.Mask!.Slice(0, _lastContinuation), m);
            masks.RowMasks[l] = m;
        }
    }

    private double Run(EndToEndSequence sequence, SequenceMasks? masks, float? gradientScale)
    {
        CheckSequence(sequence);
        int p = sequence.PromptLength, rows = sequence.ContinuationLength;
        if (masks is null)
            masks = new SequenceMasks(Sparsity.Method, Config.Layers);
        else if (masks.Method != Sparsity.Method)
            throw new ArgumentException($"masks are for {masks.Method}, the graph trains {Sparsity.Method}", nameof(masks));
        bool observe = !HasMasks(masks);
        Teacher(sequence.Tokens, p, observe ? masks : null, finalRows: true);
        Student(p, rows, masks);
        _lastContinuation = rows;

        // loss = Σ (y - target)² / (C·D); dL/dy = 2 (y - target) / (C·D).
        var y = _y.Slice(0, rows);
        _ops.Axpby(1, y, -1, _target.Slice(0, rows), y);
        double count = (double)rows * Config.Dim;
        double loss = _ops.SumOfSquares(y) / count;
        if (gradientScale is { } scale)
        {
            _ops.Axpby((float)(2 * scale / count), y, 0, y, y);
            Backward(p, rows, y);
        }
        return loss;
    }

    // Dense pass over tokens at positions 0..T-1; fills the caches. With masks, observes the first `prompt` rows of the
    // sparsified layers; with finalRows, keeps the student's starting residual and the target for rows prompt..T-1.
    private void Teacher(ReadOnlySpan<int> tokens, int prompt, SequenceMasks? masks, bool finalRows)
    {
        var c = Config;
        int t = tokens.Length, rows = t - prompt;
        var x = _tx.Slice(0, t);
        var xn = _txn.Slice(0, t);
        var q = _tq.Slice(0, t);
        var att = _tatt.Slice(0, t);
        var proj = _tproj.Slice(0, t);
        var proj2 = _tproj2.Slice(0, t);
        var gate = _tgate.Slice(0, t);
        var up = _tup.Slice(0, t);
        _ops.Embedding(_embedding, tokens, c.EmbeddingScale, x);
        for (int l = 0; l < c.Layers; l++)
        {
            if (finalRows && l == FirstLayer)
                _ops.Copy(x.Slice(prompt, rows), _x.Slice(0, rows));
            var w = _layers[l];
            Attention(l, x, xn, q, att, proj, proj2, pos0: 0);
            _ops.RmsNorm(x, w.FfnNorm, c.NormEps, c.NormWeightOffset, xn);
            _ops.Matmul(xn, w.WGate, null, gate);
            _ops.Matmul(xn, w.WUp, null, up);
            bool observe = masks is not null && l >= FirstLayer && l < EndLayer;
            if (observe && Sparsity.Method == SparsityMethod.Cats)
            {
                var calibrator = new CatsCalibrator(c.HiddenDim, c.Activation);
                calibrator.Observe(DownloadRows(gate, prompt));
                masks!.Thresholds[l] = calibrator.Threshold(Sparsity.Sparsity);
            }
            _ops.GatedActivation(gate, up, c.Activation, gate);
            if (observe && Sparsity.Method == SparsityMethod.Griffin)
            {
                var selector = new GriffinSelector(c.HiddenDim);
                selector.Observe(DownloadRows(gate, prompt));
                masks!.Kept[l] = selector.Select(GriffinSelector.KeptCount(c.HiddenDim, Sparsity.Sparsity));
            }
            _ops.Matmul(gate, w.WDown, null, proj);
            AddBranch(x, proj, w.PostFfnNorm, proj2);
        }
        if (finalRows)
            _ops.RmsNorm(x.Slice(prompt, rows), _finalNorm, c.NormEps, c.NormWeightOffset, _target.Slice(0, rows));
    }

    // The attention block for rows at positions pos0.. of x: x += [post-norm] Wo·attn(...); K/V rows pos0.. written into the caches.
    // Returns nothing; q holds the rotated queries afterwards, branch the pre-post-norm output.
    private void Attention(int l, TrainingTensor x, TrainingTensor xn, TrainingTensor q, TrainingTensor att, TrainingTensor branch,
        TrainingTensor scratch, int pos0)
    {
        var c = Config;
        var w = _layers[l];
        int m = x.Rows;
        _ops.RmsNorm(x, w.AttentionNorm, c.NormEps, c.NormWeightOffset, xn);
        _ops.Matmul(xn, w.Wq, w.Bq, q);
        var k = _keys[l].Slice(pos0, m);
        _ops.Matmul(xn, w.Wk, w.Bk, k);
        _ops.Matmul(xn, w.Wv, w.Bv, _values[l].Slice(pos0, m));
        _ops.Rope(q, c.Heads, pos0, Rope);
        _ops.Rope(k, c.KvHeads, pos0, Rope);
        _ops.Attention(q, _keys[l].Slice(0, pos0 + m), _values[l].Slice(0, pos0 + m), Shape, AttentionParamsOf(l, pos0), att);
        _ops.Matmul(att, w.Wo, null, branch);
        AddBranch(x, branch, w.PostAttentionNorm, scratch);
    }

    // x += branch, through the post-norm (into scratch) where the family has one.
    private void AddBranch(TrainingTensor x, TrainingTensor branch, TrainingTensor? postNorm, TrainingTensor scratch)
    {
        if (postNorm is not null)
        {
            _ops.RmsNorm(branch, postNorm, Config.NormEps, Config.NormWeightOffset, scratch);
            branch = scratch;
        }
        _ops.Add(x, branch, x);
    }

    // Sparse + adapter pass over the continuation rows (positions prompt..), from the teacher's residual at FirstLayer.
    private void Student(int prompt, int rows, SequenceMasks masks)
    {
        var c = Config;
        var x = _x.Slice(0, rows);
        var xn = _xn.Slice(0, rows);
        var att = _att.Slice(0, rows);
        var proj = _proj.Slice(0, rows);
        var proj2 = _proj2.Slice(0, rows);
        var hidden = _hidden.Slice(0, rows);
        var ffn = _ffn.Slice(0, rows);
        for (int l = FirstLayer; l < c.Layers; l++)
        {
            var w = _layers[l];
            var s = _saved[l]!;
            var q = s.Q.Slice(0, rows);
            _ops.Copy(x, s.XIn.Slice(0, rows));
            Attention(l, x, xn, q, att, c.PostNorms ? s.AttentionOut!.Slice(0, rows) : proj, proj2, prompt);

            var xMid = s.XMid.Slice(0, rows);
            var xn2 = s.Xn2.Slice(0, rows);
            var gate = s.Gate.Slice(0, rows);
            var up = s.Up.Slice(0, rows);
            _ops.Copy(x, xMid);
            _ops.RmsNorm(x, w.FfnNorm, c.NormEps, c.NormWeightOffset, xn2);
            _ops.Matmul(xn2, w.WGate, null, gate);
            _ops.Matmul(xn2, w.WUp, null, up);
            _ops.GatedActivation(gate, up, c.Activation, hidden);
            var branch = c.PostNorms ? s.FfnOut!.Slice(0, rows) : ffn;
            if (_adapters[l] is { } a)
            {
                var mask = s.Mask!.Slice(0, rows);
                FillMask(l, masks, gate, mask);
                _ops.Mul(hidden, mask, hidden);
                _ops.Matmul(hidden, w.WDown, null, branch);
                var t = s.T!.Slice(0, rows);
                _ops.Matmul(xn2, a.LT, null, t);            // t = xn2 · L
                _ops.Matmul(t, a.RT, null, _adapterOut.Slice(0, rows)); // t · R
                _ops.Add(branch, _adapterOut.Slice(0, rows), branch);
            }
            else
            {
                _ops.Matmul(hidden, w.WDown, null, branch);
            }
            AddBranch(x, branch, w.PostFfnNorm, proj2);
        }
        _ops.RmsNorm(x, _finalNorm, c.NormEps, c.NormWeightOffset, _y.Slice(0, rows));
    }

    private void FillMask(int l, SequenceMasks masks, TrainingTensor gate, TrainingTensor mask)
    {
        int h = Config.HiddenDim, n = (int)mask.Length;
        if (masks.Method == SparsityMethod.Cats)
        {
            if (masks.RowMasks[l] is { } pinned)
            {
                if (pinned.Length != n)
                    throw new ArgumentException($"pinned CATS mask of layer {l} has {pinned.Length} values, the sequence needs {n}");
                _ops.Upload(pinned, mask);
            }
            else
            {
                _ops.ThresholdMask(gate, Config.Activation, masks.Thresholds[l], mask);
            }
            return;
        }
        var kept = masks.Kept[l] ?? throw new InvalidOperationException($"no GRIFFIN selection for layer {l}");
        if (_maskStaging.Length < n)
            _maskStaging = new float[n];
        var staging = _maskStaging.AsSpan(0, n);
        staging.Clear();
        for (int r = 0; r < mask.Rows; r++)
            foreach (int j in kept)
                staging[r * h + j] = 1f;
        _ops.Upload(staging, mask);
    }

    // dy holds dLoss/d(final hidden) of the continuation rows.
    private void Backward(int prompt, int rows, TrainingTensor dy)
    {
        var c = Config;
        float eps = c.NormEps, off = c.NormWeightOffset;
        var dx = _dx.Slice(0, rows);
        var dBranch = _dBranch.Slice(0, rows);
        var dxn = _dxn.Slice(0, rows);
        var tmp = _tmp.Slice(0, rows);
        var dh = _dh.Slice(0, rows);
        var dGate = _dGate.Slice(0, rows);
        var dUp = _dUp.Slice(0, rows);
        var dAtt = _dAtt.Slice(0, rows);
        var dq = _dq.Slice(0, rows);
        int t = prompt + rows;

        // The residual stream's final value is the student's x (still in _x).
        _ops.RmsNormBackward(_x.Slice(0, rows), _finalNorm, dy, eps, off, dx);
        for (int l = c.Layers - 1; l >= FirstLayer; l--)
        {
            var w = _layers[l];
            var s = _saved[l]!;

            // FFN block: x_out = x_mid + [post-norm](FF̂(xn2) + xn2·L·R), xn2 = norm(x_mid).
            var dF = dx;
            if (w.PostFfnNorm is { } pn)
            {
                _ops.RmsNormBackward(s.FfnOut!.Slice(0, rows), pn, dx, eps, off, dBranch);
                dF = dBranch;
            }
            var xn2 = s.Xn2.Slice(0, rows);
            _ops.Matmul(dF, w.WDownT!, null, dh);
            if (s.Mask is { } mask)
                _ops.Mul(dh, mask.Slice(0, rows), dh);
            _ops.GatedActivationBackward(s.Gate.Slice(0, rows), s.Up.Slice(0, rows), dh, c.Activation, dGate, dUp);
            _ops.Matmul(dGate, w.WGateT!, null, dxn);
            _ops.Matmul(dUp, w.WUpT!, null, tmp);
            _ops.Add(dxn, tmp, dxn);
            if (_adapters[l] is { } a)
                AdapterBackward(a, s.T!.Slice(0, rows), xn2, dF, dxn, tmp, rows);
            _ops.RmsNormBackward(s.XMid.Slice(0, rows), w.FfnNorm, dxn, eps, off, tmp);
            _ops.Add(dx, tmp, dx);
            if (l == FirstLayer)
                break; // nothing below has parameters

            // Attention block: x_mid = x_in + [post-norm](Wo·attn(rope(Wq xn1 + bq), K, V)), xn1 = norm(x_in).
            var dP = dx;
            if (w.PostAttentionNorm is { } pa)
            {
                _ops.RmsNormBackward(s.AttentionOut!.Slice(0, rows), pa, dx, eps, off, dBranch);
                dP = dBranch;
            }
            _ops.Matmul(dP, w.WoT!, null, dAtt);
            var dk = _dk.Slice(0, t);
            var dv = _dv.Slice(0, t);
            _ops.AttentionBackward(s.Q.Slice(0, rows), _keys[l].Slice(0, t), _values[l].Slice(0, t), Shape, AttentionParamsOf(l, prompt),
                dAtt, dq, dk, dv);
            // Only the continuation rows' keys and values depend on parameters; the prompt rows' gradients are dropped.
            var dkRows = _dk.Slice(prompt, rows);
            var dvRows = _dv.Slice(prompt, rows);
            _ops.RopeBackward(dq, c.Heads, prompt, Rope);
            _ops.RopeBackward(dkRows, c.KvHeads, prompt, Rope);
            _ops.Matmul(dq, w.WqT!, null, dxn);
            _ops.Matmul(dkRows, w.WkT!, null, tmp);
            _ops.Add(dxn, tmp, dxn);
            _ops.Matmul(dvRows, w.WvT!, null, tmp);
            _ops.Add(dxn, tmp, dxn);
            _ops.RmsNormBackward(s.XIn.Slice(0, rows), w.AttentionNorm, dxn, eps, off, tmp);
            _ops.Add(dx, tmp, dx);
        }
    }

    // Adapter branch out = t·R with t = xn2·L: dR += tᵀ·dF, dt = dF·Rᵀ, dL += xn2ᵀ·dt, dxn2 += dt·Lᵀ.
    private void AdapterBackward(AdapterState a, TrainingTensor t, TrainingTensor xn2, TrainingTensor dF, TrainingTensor dxn, TrainingTensor tmp, int rows)
    {
        var tT = Leading(_tT, Rank, rows);
        var dFT = Leading(_dFT, Config.Dim, rows);
        var xnT = Leading(_xnT, Config.Dim, rows);
        var dtT = Leading(_dtT, Rank, rows);
        var dt = _dt.Slice(0, rows);

        _ops.Transpose(t, tT);
        _ops.Transpose(dF, dFT);
        _ops.Matmul(tT, dFT, null, _gradR);
        _ops.Add(a.GradR, _gradR, a.GradR);

        _ops.Matmul(dF, a.R, null, dt);
        _ops.Transpose(dt, dtT);
        _ops.Transpose(xn2, xnT);
        _ops.Matmul(xnT, dtT, null, _gradL);
        _ops.Add(a.GradL, _gradL, a.GradL);

        _ops.Matmul(dt, a.L, null, tmp);
        _ops.Add(dxn, tmp, dxn);
    }

    // ------------------------------------------------------------------ helpers

    private RopeSpec Rope => new(Config.HeadDim, Config.RopeTheta, _invFreq, Config.RopeStyle);

    private AttentionShape Shape => new(Config.Heads, Config.KvHeads, Config.HeadDim);

    private AttentionParams AttentionParamsOf(int layer, int pos0) =>
        new(pos0, Config.WindowOf(layer), Config.EffectiveAttentionScale, Config.AttentionSoftcap);

    private bool HasMasks(SequenceMasks masks)
    {
        for (int l = FirstLayer; l < EndLayer; l++)
            if (masks.Method == SparsityMethod.Griffin ? masks.Kept[l] is null : masks.RowMasks[l] is null && masks.Thresholds[l] == 0)
                return false;
        return true;
    }

    // The first rows·cols elements of a buffer as a [rows, cols] view (for transposes of a partly used [·, MaxTokens - 1] buffer).
    private static TrainingTensor Leading(TrainingTensor buffer, int rows, int cols) =>
        buffer.Reshape(checked((int)buffer.Length), 1).Slice(0, rows * cols).Reshape(rows, cols);

    private float[] DownloadRows(TrainingTensor t, int rows)
    {
        var host = new float[rows * t.Cols];
        _ops.Download(t.Slice(0, rows), host);
        return host;
    }

    private void RefreshTransposes(AdapterState s)
    {
        _ops.Transpose(s.L, s.LT);
        _ops.Transpose(s.R, s.RT);
    }

    private void CheckAdapters(AdapterSet adapters)
    {
        ArgumentNullException.ThrowIfNull(adapters);
        if (adapters.LayerCount != Config.Layers || adapters.Dim != Config.Dim || adapters.Rank != Rank)
            throw new ArgumentException($"adapters are {adapters.LayerCount} layers, D {adapters.Dim}, rank {adapters.Rank}; the graph {Config.Layers}, {Config.Dim}, {Rank}");
        var (first, end) = adapters.Sparsity.LayerRange(Config.Layers);
        if (first != FirstLayer || end != EndLayer)
            throw new ArgumentException($"adapters cover layers {first}..{end - 1}, the graph sparsifies {FirstLayer}..{EndLayer - 1}");
    }

    private void CheckSequence(EndToEndSequence sequence)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        if (sequence.Length > MaxTokens)
            throw new ArgumentException($"sequence of {sequence.Length} tokens exceeds the graph's {MaxTokens}", nameof(sequence));
        foreach (int id in sequence.Tokens)
            if ((uint)id >= (uint)Config.Vocab)
                throw new ArgumentOutOfRangeException(nameof(sequence), id, $"token id outside 0..{Config.Vocab - 1}");
    }

    private TrainingTensor Own(int rows, int cols)
    {
        var t = _ops.Allocate(rows, cols);
        _owned.Add(t);
        return t;
    }

    private TrainingTensor Import(CapreseContext source, TensorDesc weight, int rows, int cols)
    {
        var t = _ops.Import(source, weight, rows, cols);
        _owned.Add(t);
        return t;
    }

    private TrainingTensor? ImportOptional(CapreseContext source, TensorDesc? weight, int rows, int cols) =>
        weight is { } w ? Import(source, w, rows, cols) : null;

    private TrainingTensor TransposeOf(TrainingTensor w)
    {
        var t = Own(w.Cols, w.Rows);
        _ops.Transpose(w, t);
        return t;
    }

    public void Dispose()
    {
        foreach (var t in _owned)
            t.Dispose();
        _owned.Clear();
    }

    private sealed class LayerParameters
    {
        public required TrainingTensor AttentionNorm, Wq, Wk, Wv, Wo, FfnNorm, WGate, WUp, WDown;
        public TrainingTensor? Bq, Bk, Bv, PostAttentionNorm, PostFfnNorm;
        public TrainingTensor? WqT, WkT, WvT, WoT, WGateT, WUpT, WDownT;
    }

    private sealed class LayerSaved
    {
        public required TrainingTensor XIn, Q, XMid, Xn2, Gate, Up;
        public TrainingTensor? Mask, T, AttentionOut, FfnOut;
    }

    private sealed class AdapterState
    {
        public required TrainingTensor L, R, LT, RT, GradL, GradR, ML, VL, MR, VR;
    }
}
