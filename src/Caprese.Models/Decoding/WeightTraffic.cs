using Caprese.Interop;
using Caprese.Models.Sparsity;
using Caprese.Models.Transformer;

namespace Caprese.Models.Decoding;

/// <summary>
/// Weight bytes a decode step reads, the quantity batch-1 decode is bound by, and the "effective density" of a
/// speculative or Sirius-style decoder: the weight bytes it reads per generated token relative to plain dense decode.
/// </summary>
/// <remarks>
/// Only weights count: the KV cache, activations and per-prompt work (GRIFFIN's selection and compaction, CATS and
/// TEAL calibration) are left out. Matrices and the embedding table are stored in the weight dtype, norms and biases
/// in f32 (as <see cref="ModelWeights"/> uploads them). The embedding lookup reads one row; with tied embeddings the
/// classifier streams the whole table and the row is not counted again (the rule of
/// <see cref="ModelWeights.BytesReadPerToken"/>, which these numbers equal for a dense model).
/// </remarks>
public static class WeightTraffic
{
    /// <summary>
    /// Weight bytes of one dense decode step: every layer's attention (q, k, v, o and their biases) and FFN (gate,
    /// up, down), all norms, the classifier, and one embedding row.
    /// </summary>
    /// <param name="config">The model's shape.</param>
    /// <param name="weightType">Storage type of the matrices: f32, f16 or bf16.</param>
    /// <exception cref="ArgumentException">The config is inconsistent.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="weightType"/> is not a weight type.</exception>
    /// <exception cref="OverflowException">The count does not fit a long.</exception>
    public static long DenseStepBytes(ModelConfig config, DType weightType)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        long s = MatrixElementSize(weightType);
        long f32 = DType.F32.SizeInBytes();
        checked
        {
            long d = config.Dim, q = config.QueryDim, kv = config.KvDim;
            long attentionMatrices = (q * d + 2 * kv * d + d * q) * s;
            long vectors = (2 * d + (config.PostNorms ? 2 * d : 0) + (config.QkvBias ? q + 2 * kv : 0)) * f32;
            long layer = attentionMatrices + DenseFfnBytes(config, s) + vectors;

            long classifier = config.Vocab * d * s;
            long embeddingRow = config.TiedEmbeddings ? 0 : d * s; // tied: the classifier already streams the table
            return config.Layers * layer + d * f32 + classifier + embeddingRow;
        }
    }

    /// <summary>
    /// Weight bytes of one sparse decode step with <paramref name="options"/>: the dense step with the FFN matrices
    /// of each sparsified layer replaced by what its method reads.
    /// </summary>
    /// <remarks>
    /// With k = round((1 − sparsity)·H) neurons kept (<see cref="GriffinSelector.KeptCount"/>):
    /// <list type="bullet">
    /// <item>GRIFFIN reads the k kept rows of w_gate, w_up and w_down_t: 3·k·D elements (gather and compact read the
    /// same rows; compaction is a per-prompt copy and not counted).</item>
    /// <item>CATS reads all of w_gate (the threshold needs every gate activation) and the active rows of w_up and
    /// w_down_t: H·D + 2·k·D. This is the ideal at the target sparsity; the number of active neurons varies from token
    /// to token around k.</item>
    /// <item>TEAL counts as dense: today it masks inputs on the host and runs the dense matmuls, which read every
    /// weight (there is no sparse-input kernel yet).</item>
    /// <item>An adapter of rank r adds Lᵀ [r, D] and R [r, D] in the weight dtype, 2·D·r elements, per sparsified
    /// layer (merged or unmerged, the branch reads the same bytes).</item>
    /// </list>
    /// GRIFFIN's dense re-selection steps (every ρ-th, <see cref="SparsityOptions.GriffinReselectEvery"/>) are dense
    /// steps: count them with <see cref="DenseStepBytes"/>.
    /// </remarks>
    /// <param name="config">The model's shape.</param>
    /// <param name="weightType">Storage type of the matrices: f32, f16 or bf16.</param>
    /// <param name="options">The sparsity setting; <see cref="SparsityOptions.Dense"/> gives the dense step.</param>
    /// <param name="adapterRank">Rank of Caprese's adapters on the sparsified layers; 0 = none.</param>
    /// <exception cref="ArgumentException">Adapters without GRIFFIN or CATS (they ride on the sparse FFN), or an
    /// inconsistent config.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A field of <paramref name="options"/> is out of range for the
    /// model, <paramref name="adapterRank"/> is negative, or <paramref name="weightType"/> is not a weight type.</exception>
    /// <exception cref="OverflowException">The count does not fit a long.</exception>
    public static long SparseStepBytes(ModelConfig config, DType weightType, SparsityOptions options, int adapterRank)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(adapterRank);
        long dense = DenseStepBytes(config, weightType);
        var (first, end) = options.LayerRange(config.Layers); // validates the options against the model
        bool sparseFfn = options.Method is SparsityMethod.Griffin or SparsityMethod.Cats;
        if (adapterRank > 0 && !sparseFfn)
            throw new ArgumentException($"adapters ride on GRIFFIN or CATS sparse FFNs, not on {options.Method}", nameof(adapterRank));
        if (!sparseFfn)
            return dense; // None, or TEAL: host masking, dense matmuls

        long s = MatrixElementSize(weightType);
        checked
        {
            long d = config.Dim, h = config.HiddenDim;
            long kept = GriffinSelector.KeptCount(config.HiddenDim, options.Sparsity);
            long sparseFfnBytes = options.Method == SparsityMethod.Griffin
                ? 3 * kept * d * s
                : (h * d + 2 * kept * d) * s;
            long adapterBytes = 2 * d * adapterRank * s;
            long layers = end - first;
            return dense + layers * (sparseFfnBytes + adapterBytes - DenseFfnBytes(config, s));
        }
    }

    /// <summary>
    /// Weight bytes read per generated token relative to dense decode:
    /// (draftSteps·sparseStepBytes + densePasses·denseStepBytes) / (generatedTokens·denseStepBytes).
    /// Plain dense decode is 1; speculative decoding with a sparse draft is below 1 when the draft's savings
    /// outweigh the verification passes.
    /// </summary>
    /// <remarks>
    /// A dense pass counts one dense step however many rows it runs: decode at small batch is memory-bound, so a
    /// verification (or Sirius correction) pass over k ≤ 16 rows reads the weights once, like a single-token step.
    /// The 16 is the row limit of the sparse FFN kernel and of the chunks these decoders verify; past it the
    /// assumption weakens as the pass turns compute-bound.
    /// </remarks>
    /// <param name="draftSteps">Single-token sparse (draft) decode steps run.</param>
    /// <param name="sparseStepBytes">Weight bytes of one of them (<see cref="SparseStepBytes"/>).</param>
    /// <param name="densePasses">Dense passes run: verification passes and any dense single-token steps.</param>
    /// <param name="denseStepBytes">Weight bytes of one dense pass (<see cref="DenseStepBytes"/>), &gt; 0.</param>
    /// <param name="generatedTokens">Tokens emitted, &gt; 0.</param>
    /// <exception cref="ArgumentOutOfRangeException">A count is negative, or a denominator term is 0.</exception>
    /// <exception cref="OverflowException">A product does not fit a long.</exception>
    public static double EffectiveDensity(long draftSteps, long sparseStepBytes, long densePasses, long denseStepBytes, long generatedTokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(draftSteps);
        ArgumentOutOfRangeException.ThrowIfNegative(sparseStepBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(densePasses);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(denseStepBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(generatedTokens);
        checked
        {
            long read = draftSteps * sparseStepBytes + densePasses * denseStepBytes;
            long baseline = generatedTokens * denseStepBytes;
            return (double)read / baseline;
        }
    }

    /// <summary>
    /// Weight bytes per generated token of draft-then-verify decoding at an expected (or measured) number of tokens
    /// per round: (γ·draftStepBytes + denseStepBytes) / E. A round is γ draft steps and one dense pass over γ + 1 rows,
    /// counted as one read of the weights (see <see cref="EffectiveDensity"/>), and emits E tokens.
    /// </summary>
    /// <remarks>
    /// The fractional form of <see cref="EffectiveDensity"/> for projections, where E is an average advance length
    /// (<see cref="DecodingStats.AverageAdvance"/>) or <see cref="DraftVerifyCost.TokensPerRound"/> rather than a count.
    /// </remarks>
    /// <param name="draftStepBytes">Weight bytes of one draft step (<see cref="SparseStepBytes"/>), ≥ 0.</param>
    /// <param name="denseStepBytes">Weight bytes of one dense pass (<see cref="DenseStepBytes"/>), &gt; 0.</param>
    /// <param name="draftLength">γ, drafts per round, ≥ 1.</param>
    /// <param name="tokensPerRound">E, tokens emitted per round, in [1, γ + 1].</param>
    /// <exception cref="ArgumentOutOfRangeException">A byte count or γ out of range, or E outside [1, γ + 1] (or NaN).</exception>
    public static double DraftVerifyBytesPerToken(long draftStepBytes, long denseStepBytes, int draftLength, double tokensPerRound)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(draftStepBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(denseStepBytes);
        ArgumentOutOfRangeException.ThrowIfLessThan(draftLength, 1);
        if (!(tokensPerRound >= 1 && tokensPerRound <= draftLength + 1))
            throw new ArgumentOutOfRangeException(nameof(tokensPerRound), tokensPerRound,
                $"a round of {draftLength} draft(s) emits between 1 and {draftLength + 1} tokens");
        return ((double)draftLength * draftStepBytes + denseStepBytes) / tokensPerRound;
    }

    private static long DenseFfnBytes(ModelConfig config, long elementSize) =>
        checked(3L * config.HiddenDim * config.Dim * elementSize);

    private static long MatrixElementSize(DType weightType) => weightType is DType.F32 or DType.F16 or DType.BF16
        ? weightType.SizeInBytes()
        : throw new ArgumentOutOfRangeException(nameof(weightType), weightType, "weights are f32, f16 or bf16");
}

/// <summary>Effective density of a run on a given model and draft policy (<see cref="WeightTraffic.EffectiveDensity"/>).</summary>
public static class DecodingCost
{
    /// <summary>
    /// Weight bytes read per token chosen by decoding, relative to dense decoding: <see cref="DecodingStats.DraftSteps"/>
    /// at the cost of a <paramref name="draft"/> step, <see cref="DecodingStats.DensePasses"/> at the cost of a dense step.
    /// NaN when the run chose no token.
    /// </summary>
    public static double EffectiveDensity(this DecodingStats stats, Transformer.TransformerModel model, Sessions.FfnPolicy draft)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(draft);
        if (stats.Tokens == 0)
            return double.NaN;
        var dtype = model.Weights.Layers[0].WGate.DType;
        long dense = WeightTraffic.DenseStepBytes(model.Config, dtype);
        long sparse = WeightTraffic.SparseStepBytes(model.Config, dtype, draft.Sparsity, draft.Adapters?.Rank ?? 0);
        return WeightTraffic.EffectiveDensity(stats.DraftSteps, sparse, stats.DensePasses, dense, stats.Tokens);
    }
}
