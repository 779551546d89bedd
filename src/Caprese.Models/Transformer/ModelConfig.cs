using Caprese.Interop;

namespace Caprese.Models.Transformer;

/// <summary>The model families whose quirks <see cref="ModelConfig"/> describes.</summary>
public enum ModelFamily
{
    /// <summary>Llama 2 / 3.x and llama2.c checkpoints.</summary>
    Llama,
    /// <summary>Qwen2 / Qwen2.5: q, k, v projections carry biases.</summary>
    Qwen2,
    /// <summary>Gemma 2: GELU-tanh, scaled embeddings, four norms per layer, soft-capping, sliding window.</summary>
    Gemma2,
}

/// <summary>Which layers use <see cref="ModelConfig.SlidingWindow"/>.</summary>
public enum SlidingWindowLayers
{
    /// <summary>Every layer.</summary>
    All,
    /// <summary>Layers 0, 2, 4, ... (Gemma 2: transformers makes layer i local when i % 2 == 0; odd layers are global).</summary>
    Even,
}

/// <summary>
/// Llama 3.1 "llama3" RoPE frequency scaling: wavelengths longer than
/// OriginalMaxPositions / LowFreqFactor are divided by Factor, shorter than
/// OriginalMaxPositions / HighFreqFactor are kept, and the band between is interpolated.
/// </summary>
public sealed record Llama3RopeScaling(double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalMaxPositions);

/// <summary>
/// Shape and family quirks of a decoder-only transformer, as data: the forward pass reads
/// these fields and has no per-family branches.
/// </summary>
public sealed record ModelConfig
{
    public ModelFamily Family { get; init; } = ModelFamily.Llama;

    /// <summary>Residual width (hidden_size).</summary>
    public required int Dim { get; init; }

    /// <summary>FFN intermediate width.</summary>
    public required int HiddenDim { get; init; }

    public required int Layers { get; init; }
    public required int Heads { get; init; }
    public required int KvHeads { get; init; }

    /// <summary>Per-head width; not necessarily Dim / Heads (Gemma 2).</summary>
    public required int HeadDim { get; init; }

    public required int Vocab { get; init; }

    /// <summary>Positions the KV cache holds (the usable context of this instance).</summary>
    public required int MaxSeqLen { get; init; }

    public float NormEps { get; init; } = 1e-5f;

    /// <summary>RMSNorm multiplies by (NormWeightOffset + w): 1 for Gemma 2, whose weights are stored as w - 1.</summary>
    public float NormWeightOffset { get; init; }

    public float RopeTheta { get; init; } = 10000f;

    /// <summary>Interleaved for llama2.c / GGUF (Meta layout), half-split for Hugging Face checkpoints.</summary>
    public RopeStyle RopeStyle { get; init; } = RopeStyle.Interleaved;

    /// <summary>Llama 3.1 frequency scaling; null = plain theta^(-2i/d).</summary>
    public Llama3RopeScaling? RopeScaling { get; init; }

    /// <summary>
    /// Per-pair divisors of the default frequencies, as GGUF files of Llama 3.1 store them
    /// (tensor rope_freqs.weight); null = none. Ignored when <see cref="RopeScaling"/> is set.
    /// </summary>
    public IReadOnlyList<float>? RopeFrequencyFactors { get; init; }

    public Activation Activation { get; init; } = Activation.Silu;

    /// <summary>The output projection is the embedding table.</summary>
    public bool TiedEmbeddings { get; init; } = true;

    /// <summary>q, k and v projections have biases (Qwen2).</summary>
    public bool QkvBias { get; init; }

    /// <summary>Embeddings are multiplied by this (Gemma 2: sqrt(Dim)).</summary>
    public float EmbeddingScale { get; init; } = 1f;

    /// <summary>Extra RMSNorms on the attention and FFN outputs before the residual add (Gemma 2).</summary>
    public bool PostNorms { get; init; }

    /// <summary>Multiplier of q·k; null = 1/sqrt(HeadDim). Gemma 2: query_pre_attn_scalar^-0.5.</summary>
    public float? AttentionScale { get; init; }

    /// <summary>Attention logit soft-cap (0 = off).</summary>
    public float AttentionSoftcap { get; init; }

    /// <summary>Final logit soft-cap (0 = off).</summary>
    public float FinalLogitSoftcap { get; init; }

    /// <summary>Keys a query sees at most, itself included (0 = unlimited).</summary>
    public int SlidingWindow { get; init; }

    public SlidingWindowLayers SlidingWindowLayers { get; init; } = SlidingWindowLayers.All;

    public int QueryDim => Heads * HeadDim;
    public int KvDim => KvHeads * HeadDim;
    public float EffectiveAttentionScale => AttentionScale ?? 1f / MathF.Sqrt(HeadDim);

    /// <summary>The attention window of <paramref name="layer"/> (0 = unlimited).</summary>
    public int WindowOf(int layer) =>
        SlidingWindow > 0 && (SlidingWindowLayers == SlidingWindowLayers.All || layer % 2 == 0) ? SlidingWindow : 0;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first inconsistent field.</summary>
    public void Validate()
    {
        static void Positive(int v, string name)
        {
            if (v <= 0) throw new ArgumentException($"{name} must be > 0 (got {v})", name);
        }
        Positive(Dim, nameof(Dim));
        Positive(HiddenDim, nameof(HiddenDim));
        Positive(Layers, nameof(Layers));
        Positive(Heads, nameof(Heads));
        Positive(KvHeads, nameof(KvHeads));
        Positive(HeadDim, nameof(HeadDim));
        Positive(Vocab, nameof(Vocab));
        Positive(MaxSeqLen, nameof(MaxSeqLen));
        if (Heads % KvHeads != 0)
            throw new ArgumentException($"KvHeads {KvHeads} does not divide Heads {Heads}", nameof(KvHeads));
        if (HeadDim % 2 != 0)
            throw new ArgumentException($"HeadDim {HeadDim} is odd; RoPE rotates pairs", nameof(HeadDim));
        if (!(NormEps > 0) || !(RopeTheta > 0))
            throw new ArgumentException("NormEps and RopeTheta must be > 0");
        if (SlidingWindow < 0 || AttentionSoftcap < 0 || FinalLogitSoftcap < 0)
            throw new ArgumentException("SlidingWindow and soft-caps must be >= 0 (0 = off)");
        if (RopeFrequencyFactors is { } f && (f.Count != HeadDim / 2 || f.Any(x => !(x > 0))))
            throw new ArgumentException($"RopeFrequencyFactors needs HeadDim / 2 = {HeadDim / 2} positive values (got {f.Count})", nameof(RopeFrequencyFactors));
        if (RopeScaling is { } s && !(s.Factor > 0 && s.LowFreqFactor > 0 && s.HighFreqFactor > s.LowFreqFactor && s.OriginalMaxPositions > 0))
            throw new ArgumentException($"RopeScaling {s} needs Factor > 0, 0 < LowFreqFactor < HighFreqFactor and OriginalMaxPositions > 0", nameof(RopeScaling));
    }
}
