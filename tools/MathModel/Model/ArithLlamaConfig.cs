using System.Text.Json.Nodes;

namespace Caprese.MathModel.Model;

/// <summary>The shape of the arithmetic model: a Llama (RMSNorm, RoPE, gated SiLU FFN, grouped-query attention).</summary>
public sealed record ArithLlamaConfig(
    int VocabSize,
    int Hidden = 256,
    int Layers = 6,
    int Heads = 8,
    int KvHeads = 4,
    int Intermediate = 1024,
    int MaxPositions = 512,
    double RopeTheta = 10000,
    double NormEps = 1e-5)
{
    public int HeadDim => Hidden / Heads;

    public long ParameterCount =>
        (long)VocabSize * Hidden // tied embeddings
        + Layers * ((long)Hidden * Hidden * 2 + (long)Hidden * KvHeads * HeadDim * 2 + 3L * Hidden * Intermediate + 2L * Hidden)
        + Hidden;

    /// <summary>config.json in Hugging Face's Llama form, with the ids of &lt;s&gt; and &lt;/s&gt;.</summary>
    public JsonObject ToHfConfig(int bosId, int eosId) => new()
    {
        ["architectures"] = new JsonArray("LlamaForCausalLM"),
        ["model_type"] = "llama",
        ["vocab_size"] = VocabSize,
        ["hidden_size"] = Hidden,
        ["intermediate_size"] = Intermediate,
        ["num_hidden_layers"] = Layers,
        ["num_attention_heads"] = Heads,
        ["num_key_value_heads"] = KvHeads,
        ["head_dim"] = HeadDim,
        ["hidden_act"] = "silu",
        ["max_position_embeddings"] = MaxPositions,
        ["rms_norm_eps"] = NormEps,
        ["rope_theta"] = RopeTheta,
        ["tie_word_embeddings"] = true,
        ["attention_bias"] = false,
        ["bos_token_id"] = bosId,
        ["eos_token_id"] = eosId,
        ["torch_dtype"] = "float32",
    };
}
