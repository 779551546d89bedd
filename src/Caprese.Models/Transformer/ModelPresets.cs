using Caprese.Interop;

namespace Caprese.Models.Transformer;

/// <summary>
/// Shapes of well-known checkpoints (config only, no weights) for synthetic models and
/// benchmarks, and tiny shapes for tests. MaxSeqLen is the KV-cache size to allocate, kept
/// modest here (the real models accept longer contexts); change it with <c>with { MaxSeqLen = n }</c>,
/// and use <c>with { Layers = n }</c> to instantiate fewer layers.
/// </summary>
public static class ModelPresets
{
    private const int DefaultContext = 4096;

    /// <summary>The presets by their command-line names (`caprese bench --preset ...`).</summary>
    public static IReadOnlyDictionary<string, Func<ModelConfig>> ByName { get; } = new Dictionary<string, Func<ModelConfig>>
    {
        ["llama-3.1-8b"] = () => Llama31_8B,
        ["llama-3.1-70b"] = () => Llama31_70B,
        ["qwen2.5-14b"] = () => Qwen25_14B,
        ["gemma-2-9b"] = () => Gemma2_9B,
        ["tinyllama-1.1b"] = () => TinyLlama11B,
        ["llama2-110m"] = () => Llama2_110M,
        ["tiny-llama"] = () => Tiny(ModelFamily.Llama),
        ["tiny-qwen2"] = () => Tiny(ModelFamily.Qwen2),
        ["tiny-gemma2"] = () => Tiny(ModelFamily.Gemma2),
    };

    public static ModelConfig Llama31_8B => Llama31(dim: 4096, hidden: 14336, layers: 32, heads: 32);

    public static ModelConfig Llama31_70B => Llama31(dim: 8192, hidden: 28672, layers: 80, heads: 64);

    /// <summary>TinyLlama-1.1B: the Llama 2 architecture at 1B scale (22 layers, 32 query and 4 KV heads of 64).</summary>
    public static ModelConfig TinyLlama11B => Llama31_8B with
    {
        Dim = 2048, HiddenDim = 5632, Layers = 22, Heads = 32, KvHeads = 4, HeadDim = 64, Vocab = 32000,
        RopeTheta = 10000f, RopeScaling = null, MaxSeqLen = 2048,
    };

    /// <summary>llama2.c's 110M model (dim 768, 12 layers, 12 heads, hidden 2048, vocab 32000): small matrices
    /// (1.2 MB per f16 attention projection), where per-call costs of a decode step show. Tied embeddings, as there.</summary>
    public static ModelConfig Llama2_110M => TinyLlama11B with
    {
        Dim = 768, HiddenDim = 2048, Layers = 12, Heads = 12, KvHeads = 12, HeadDim = 64, MaxSeqLen = 1024, TiedEmbeddings = true,
    };

    public static ModelConfig Qwen25_14B => new()
    {
        Family = ModelFamily.Qwen2,
        Dim = 5120, HiddenDim = 13824, Layers = 48, Heads = 40, KvHeads = 8, HeadDim = 128,
        Vocab = 152064, MaxSeqLen = DefaultContext,
        NormEps = 1e-5f, RopeTheta = 1_000_000f, RopeStyle = RopeStyle.HalfSplit,
        TiedEmbeddings = false, QkvBias = true,
    };

    public static ModelConfig Gemma2_9B => Gemma2(dim: 3584, hidden: 14336, layers: 42, heads: 16, kvHeads: 8, headDim: 256,
        vocab: 256000, window: 4096, maxSeqLen: DefaultContext);

    /// <summary>A few-thousand-parameter model of <paramref name="family"/> that still exercises every quirk
    /// of the family (GQA, head_dim != dim / heads for Gemma 2, a window shorter than the context).</summary>
    public static ModelConfig Tiny(ModelFamily family) => family switch
    {
        ModelFamily.Llama => Llama31(dim: 32, hidden: 48, layers: 2, heads: 4) with
        {
            KvHeads = 2, Vocab = 64, MaxSeqLen = 64,
            // original_max_position_embeddings small enough that all three frequency bands occur at head_dim 8.
            RopeScaling = new Llama3RopeScaling(8, 1, 4, 128), RopeTheta = 10000f,
        },
        ModelFamily.Qwen2 => Qwen25_14B with
        {
            Dim = 32, HiddenDim = 48, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 8, Vocab = 64, MaxSeqLen = 64, RopeTheta = 10000f,
        },
        ModelFamily.Gemma2 => Gemma2(dim: 32, hidden: 48, layers: 3, heads: 4, kvHeads: 2, headDim: 12, vocab: 64, window: 5, maxSeqLen: 64),
        _ => throw new ArgumentOutOfRangeException(nameof(family), family, null),
    };

    private static ModelConfig Llama31(int dim, int hidden, int layers, int heads) => new()
    {
        Family = ModelFamily.Llama,
        Dim = dim, HiddenDim = hidden, Layers = layers, Heads = heads, KvHeads = 8, HeadDim = dim / heads,
        Vocab = 128256, MaxSeqLen = DefaultContext,
        NormEps = 1e-5f, RopeTheta = 500_000f, RopeStyle = RopeStyle.HalfSplit,
        RopeScaling = new Llama3RopeScaling(Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192),
        TiedEmbeddings = false,
    };

    private static ModelConfig Gemma2(int dim, int hidden, int layers, int heads, int kvHeads, int headDim, int vocab, int window, int maxSeqLen) => new()
    {
        Family = ModelFamily.Gemma2,
        Dim = dim, HiddenDim = hidden, Layers = layers, Heads = heads, KvHeads = kvHeads, HeadDim = headDim,
        Vocab = vocab, MaxSeqLen = maxSeqLen,
        NormEps = 1e-6f, NormWeightOffset = 1f, RopeTheta = 10000f, RopeStyle = RopeStyle.HalfSplit,
        Activation = Activation.GeluTanh, TiedEmbeddings = true,
        EmbeddingScale = MathF.Sqrt(dim), PostNorms = true,
        AttentionScale = 1f / MathF.Sqrt(headDim), // query_pre_attn_scalar = head_dim in the released Gemma 2 configs
        AttentionSoftcap = 50f, FinalLogitSoftcap = 30f,
        SlidingWindow = window, SlidingWindowLayers = SlidingWindowLayers.Even,
    };
}
