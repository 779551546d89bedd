using System.Text.Json;
using System.Text.Json.Nodes;
using Caprese.Oracle.Tests.Reference;

namespace Caprese.Oracle.Tests.HuggingFace;

/// <summary>
/// One small random-weight model of a family, described once and turned into both a Hugging Face
/// config.json (for the runtime) and an <see cref="OracleConfig"/> (for the oracle) — the oracle
/// does not read the config through the runtime's parser.
/// </summary>
public sealed record FamilyCase
{
    public required string Name { get; init; }
    public required string ModelType { get; init; }
    public required string Architecture { get; init; }
    public int Hidden { get; init; } = 64;
    public int Intermediate { get; init; } = 112;
    public int Layers { get; init; } = 3;
    public int Heads { get; init; } = 4;
    public int KvHeads { get; init; } = 2;
    /// <summary>Written as head_dim only when set (Gemma 2's differs from hidden / heads).</summary>
    public int? HeadDim { get; init; }
    public int Vocab { get; init; } = 320;
    public int MaxPositions { get; init; } = 128;
    public double Eps { get; init; } = 1e-5;
    public double Theta { get; init; } = 10000;
    public bool Tied { get; init; } = true;
    public bool AttentionBias { get; init; }
    public string Activation { get; init; } = "silu";
    public (double Factor, double Low, double High, int Original)? Llama3Scaling { get; init; }
    public double? QueryPreAttnScalar { get; init; }
    public double? AttnSoftcap { get; init; }
    public double? FinalSoftcap { get; init; }
    public int? SlidingWindow { get; init; }
    public int Seed { get; init; } = 1;

    public int EffectiveHeadDim => HeadDim ?? Hidden / Heads;

    public override string ToString() => Name;

    public static IReadOnlyList<FamilyCase> All { get; } =
    [
        // Llama 2: no scaling, untied lm_head (the untied-embedding case).
        new() { Name = "llama2-untied", ModelType = "llama", Architecture = "LlamaForCausalLM", Tied = false, Seed = 11 },
        // Llama 3.1: theta 500000 and "llama3" scaling whose bands (16..64 tokens of wavelength)
        // put one frequency in each regime: kept, blended, divided by the factor.
        new()
        {
            Name = "llama3.1-rope-scaling", ModelType = "llama", Architecture = "LlamaForCausalLM", Theta = 500000,
            Llama3Scaling = (8.0, 1.0, 4.0, 64), Tied = true, Seed = 12,
        },
        // Qwen2: biases on q/k/v, eps 1e-6, theta 1e6.
        new()
        {
            Name = "qwen2-bias", ModelType = "qwen2", Architecture = "Qwen2ForCausalLM", AttentionBias = true,
            Eps = 1e-6, Theta = 1000000, Tied = true, Seed = 13,
        },
        // Gemma 2: GELU-tanh, √D embedding scale, (1+w) norms, sandwich norms, head_dim ≠ hidden/heads,
        // query_pre_attn_scalar ≠ head_dim, both soft-caps small enough to bend the values, and a
        // 4-token window on even layers, shorter than the 12-token prompt.
        new()
        {
            Name = "gemma2-all-quirks", ModelType = "gemma2", Architecture = "Gemma2ForCausalLM", Layers = 4, HeadDim = 24,
            Activation = "gelu_pytorch_tanh", Eps = 1e-6, QueryPreAttnScalar = 32, AttnSoftcap = 3.0,
            FinalSoftcap = 4.0, SlidingWindow = 4, Tied = true, Seed = 14,
        },
    ];

    public OracleConfig ToOracle()
    {
        int d = EffectiveHeadDim;
        bool gemma = ModelType == "gemma2";
        return new OracleConfig
        {
            Hidden = Hidden,
            Intermediate = Intermediate,
            Layers = Layers,
            Heads = Heads,
            KvHeads = KvHeads,
            HeadDim = d,
            Vocab = Vocab,
            NormEps = Eps,
            RopeTheta = Theta,
            Rope = RopeLayout.HalfSplit,
            InverseFrequencies = Llama3Scaling is { } s
                ? OracleConfig.Llama3Frequencies(d, Theta, s.Factor, s.Low, s.High, s.Original)
                : null,
            QkvBias = AttentionBias,
            Activation = Activation == "silu" ? FfnActivation.Silu : FfnActivation.GeluTanh,
            EmbeddingScale = gemma ? Math.Sqrt(Hidden) : 1,
            NormAddsOne = gemma,
            SandwichNorms = gemma,
            AttentionScale = QueryPreAttnScalar is { } qs ? 1 / Math.Sqrt(qs) : null,
            AttentionSoftcap = AttnSoftcap,
            FinalLogitSoftcap = FinalSoftcap,
            LayerWindows = SlidingWindow is { } w ? Enumerable.Range(0, Layers).Select(l => l % 2 == 0 ? w : 0).ToArray() : null,
            TiedEmbeddings = Tied,
        };
    }

    public string ConfigJson()
    {
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray(Architecture),
            ["model_type"] = ModelType,
            ["hidden_size"] = Hidden,
            ["intermediate_size"] = Intermediate,
            ["num_hidden_layers"] = Layers,
            ["num_attention_heads"] = Heads,
            ["num_key_value_heads"] = KvHeads,
            ["vocab_size"] = Vocab,
            ["max_position_embeddings"] = MaxPositions,
            ["rms_norm_eps"] = Eps,
            ["rope_theta"] = Theta,
            ["tie_word_embeddings"] = Tied,
            ["bos_token_id"] = 1,
            ["eos_token_id"] = 2,
            ["torch_dtype"] = "float32",
        };
        if (HeadDim is { } hd)
            o["head_dim"] = hd;
        if (ModelType == "gemma2")
        {
            o["hidden_activation"] = Activation;
            o["query_pre_attn_scalar"] = QueryPreAttnScalar;
            o["attn_logit_softcapping"] = AttnSoftcap;
            o["final_logit_softcapping"] = FinalSoftcap;
            o["sliding_window"] = SlidingWindow;
        }
        else
        {
            o["hidden_act"] = Activation;
        }
        if (ModelType == "llama")
            o["attention_bias"] = AttentionBias;
        if (ModelType == "qwen2")
        {
            o["use_sliding_window"] = false;
            o["sliding_window"] = 4096;
        }
        o["rope_scaling"] = Llama3Scaling is { } s
            ? new JsonObject
            {
                ["rope_type"] = "llama3",
                ["factor"] = s.Factor,
                ["low_freq_factor"] = s.Low,
                ["high_freq_factor"] = s.High,
                ["original_max_position_embeddings"] = s.Original,
            }
            : null;
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}
