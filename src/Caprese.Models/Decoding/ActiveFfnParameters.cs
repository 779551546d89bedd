using Caprese.Interop;
using Caprese.Models.Sessions;
using Caprese.Models.Transformer;

namespace Caprese.Models.Decoding;

/// <summary>
/// FFN parameters a decode step reads, and per generated token for a decoding run: the FFN share of
/// <see cref="WeightTraffic"/>, counted in parameters instead of bytes.
/// </summary>
/// <remarks>
/// A step of a policy reads, per sparsified layer, what <see cref="WeightTraffic.SparseStepBytes"/>
/// counts: GRIFFIN 3·k·D, CATS H·D + 2·k·D (k = kept neurons), TEAL all 3·H·D (dense matmuls today), plus 2·D·r for an
/// adapter of rank r; every other layer 3·H·D. It is derived from WeightTraffic (the step's bytes minus the dense step's,
/// over the element size, plus the dense FFN) so the two can never disagree. A dense pass (verification, correction)
/// counts the dense FFN once however many rows it runs, as <see cref="WeightTraffic.EffectiveDensity"/> does.
/// </remarks>
public static class ActiveFfnParameters
{
    /// <summary>FFN parameters of one dense step: 3·H·D per layer (gate, up, down).</summary>
    public static long DenseStep(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return checked(3L * config.HiddenDim * config.Dim * config.Layers);
    }

    /// <summary>FFN parameters (adapters included) one decode step of <paramref name="policy"/> reads.</summary>
    /// <exception cref="ArgumentException">The policy does not fit the model.</exception>
    public static long Step(ModelConfig config, FfnPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(policy);
        const DType unit = DType.F32; // any weight type: the difference is divided by its size
        long extraBytes = WeightTraffic.SparseStepBytes(config, unit, policy.Sparsity, policy.Adapters?.Rank ?? 0)
                          - WeightTraffic.DenseStepBytes(config, unit);
        return DenseStep(config) + extraBytes / unit.SizeInBytes();
    }

    /// <summary>
    /// FFN parameters read per token chosen by decoding: (draft steps · <see cref="Step"/>(draft) + dense passes ·
    /// <see cref="DenseStep"/>) / tokens. Null when the run chose no token.
    /// </summary>
    public static double? PerToken(DecodingStats stats, ModelConfig config, FfnPolicy draft)
    {
        if (stats.Tokens == 0)
            return null;
        double read = stats.DraftSteps * (double)Step(config, draft) + stats.DensePasses * (double)DenseStep(config);
        return read / stats.Tokens;
    }
}
