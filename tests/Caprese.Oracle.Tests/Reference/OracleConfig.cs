using Caprese.Models.Formats.HuggingFace;

namespace Caprese.Oracle.Tests.Reference;

/// <summary>How the two halves of each rotated pair are laid out in a head.</summary>
public enum RopeLayout
{
    /// <summary>Pairs (2i, 2i+1): Meta's original layout, kept by llama2.c and GGUF.</summary>
    InterleavedPairs,
    /// <summary>Pairs (i, i + D/2): Hugging Face checkpoints (their q/k rows are permuted).</summary>
    HalfSplit,
}

public enum FfnActivation
{
    Silu,
    /// <summary>GELU with the tanh approximation (Gemma's gelu_pytorch_tanh).</summary>
    GeluTanh,
}

/// <summary>
/// Everything the reference decoder needs, independent of the runtime's own config type so that
/// a mistake in one is not silently shared by the other.
/// </summary>
public sealed record OracleConfig
{
    public required int Hidden { get; init; }
    public required int Intermediate { get; init; }
    public required int Layers { get; init; }
    public required int Heads { get; init; }
    public required int KvHeads { get; init; }
    public required int HeadDim { get; init; }
    public required int Vocab { get; init; }
    public double NormEps { get; init; } = 1e-5;
    public double RopeTheta { get; init; } = 10000;
    public RopeLayout Rope { get; init; } = RopeLayout.HalfSplit;

    /// <summary>Per-pair rotation frequencies (HeadDim / 2 of them); null = theta^(-2i/D).</summary>
    public double[]? InverseFrequencies { get; init; }

    public bool QkvBias { get; init; }
    public FfnActivation Activation { get; init; } = FfnActivation.Silu;

    /// <summary>Multiplies the token embedding (Gemma: sqrt(hidden)).</summary>
    public double EmbeddingScale { get; init; } = 1;

    /// <summary>RMSNorm multiplies by (1 + w) instead of w (Gemma).</summary>
    public bool NormAddsOne { get; init; }

    /// <summary>Gemma 2's extra norms: on the attention output and on the FFN output, before each residual add.</summary>
    public bool SandwichNorms { get; init; }

    /// <summary>Scale of q·k; null = 1/sqrt(HeadDim).</summary>
    public double? AttentionScale { get; init; }

    public double? AttentionSoftcap { get; init; }
    public double? FinalLogitSoftcap { get; init; }

    /// <summary>Window per layer (0 = full causal): a query at i sees keys j with i - W &lt; j ≤ i.</summary>
    public int[]? LayerWindows { get; init; }

    public bool TiedEmbeddings { get; init; } = true;

    public int WindowOf(int layer) => LayerWindows is { } w ? w[layer] : 0;

    public double EffectiveAttentionScale => AttentionScale ?? 1 / Math.Sqrt(HeadDim);

    public double[] Frequencies() => InverseFrequencies ?? DefaultFrequencies(HeadDim, RopeTheta);

    public static double[] DefaultFrequencies(int headDim, double theta) =>
        Enumerable.Range(0, headDim / 2).Select(i => Math.Pow(theta, -2.0 * i / headDim)).ToArray();

    /// <summary>
    /// Llama 3.1 "llama3" scaling, from its definition: wavelengths shorter than
    /// original/high_freq_factor keep their frequency, longer than original/low_freq_factor are
    /// divided by factor, and the band between blends the two linearly in original/wavelength.
    /// </summary>
    public static double[] Llama3Frequencies(int headDim, double theta, double factor, double lowFreqFactor,
        double highFreqFactor, int originalMaxPositions)
    {
        double shortest = originalMaxPositions / highFreqFactor; // below: unchanged
        double longest = originalMaxPositions / lowFreqFactor;   // above: fully scaled
        return DefaultFrequencies(headDim, theta).Select(f =>
        {
            double wavelength = 2 * Math.PI / f;
            if (wavelength < shortest)
                return f;
            if (wavelength > longest)
                return f / factor;
            double t = (originalMaxPositions / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
            return (1 - t) * f / factor + t * f;
        }).ToArray();
    }

    /// <summary>The reference reading of a Hugging Face config.json for Llama, Qwen2 and Gemma 2.</summary>
    public static OracleConfig FromHf(HfConfig c)
    {
        int headDim = c.HeadDim;
        double[]? freqs = null;
        if (c.RopeScaling is { } s && s.RopeType != "default")
        {
            if (s.RopeType != "llama3")
                throw new NotSupportedException($"rope_scaling type {s.RopeType}");
            freqs = Llama3Frequencies(headDim, c.RopeTheta, s.Factor, s.LowFreqFactor!.Value, s.HighFreqFactor!.Value,
                s.OriginalMaxPositionEmbeddings!.Value);
        }
        var baseConfig = new OracleConfig
        {
            Hidden = c.HiddenSize,
            Intermediate = c.IntermediateSize,
            Layers = c.NumHiddenLayers,
            Heads = c.NumAttentionHeads,
            KvHeads = c.NumKeyValueHeads,
            HeadDim = headDim,
            Vocab = c.VocabSize,
            NormEps = c.RmsNormEps,
            RopeTheta = c.RopeTheta,
            Rope = RopeLayout.HalfSplit,
            InverseFrequencies = freqs,
            TiedEmbeddings = c.TieWordEmbeddings,
            Activation = c.HiddenAct switch
            {
                "silu" or "swish" => FfnActivation.Silu,
                "gelu_pytorch_tanh" or "gelu_tanh" => FfnActivation.GeluTanh,
                var a => throw new NotSupportedException($"activation {a}"),
            },
        };
        return c.ModelType switch
        {
            "llama" => baseConfig with { QkvBias = c.AttentionBias },
            // Qwen2's use_sliding_window also depends on max_window_layers, which we do not model.
            "qwen2" when c.SlidingWindow is not null => throw new NotSupportedException("Qwen2 with use_sliding_window"),
            "qwen2" => baseConfig with { QkvBias = true },
            "gemma2" => baseConfig with
            {
                EmbeddingScale = Math.Sqrt(c.HiddenSize),
                NormAddsOne = true,
                SandwichNorms = true,
                AttentionScale = 1 / Math.Sqrt(c.QueryPreAttnScalar ?? headDim),
                AttentionSoftcap = c.AttnLogitSoftcapping,
                FinalLogitSoftcap = c.FinalLogitSoftcapping,
                // Gemma 2 alternates: even layers use the sliding window, odd layers attend globally.
                LayerWindows = c.SlidingWindow is { } w
                    ? Enumerable.Range(0, c.NumHiddenLayers).Select(l => l % 2 == 0 ? w : 0).ToArray()
                    : null,
            },
            var t => throw new NotSupportedException($"model_type {t}"),
        };
    }
}
