using Caprese.Models.Transformer;

namespace Caprese.Models.Weights;

/// <summary>
/// Hugging Face transformers tensor names. Beware the one false friend: in Llama and Qwen2,
/// post_attention_layernorm is the norm before the FFN; in Gemma 2 it normalises the attention
/// output and pre_feedforward_layernorm is the FFN's input norm.
/// </summary>
public static class HfWeightNames
{
    public static string Of(WeightId id, ModelConfig config)
    {
        string p = $"model.layers.{id.Layer}.";
        return id.Role switch
        {
            WeightRole.TokenEmbedding => "model.embed_tokens.weight",
            WeightRole.AttentionNorm => p + "input_layernorm.weight",
            WeightRole.QueryWeight => p + "self_attn.q_proj.weight",
            WeightRole.QueryBias => p + "self_attn.q_proj.bias",
            WeightRole.KeyWeight => p + "self_attn.k_proj.weight",
            WeightRole.KeyBias => p + "self_attn.k_proj.bias",
            WeightRole.ValueWeight => p + "self_attn.v_proj.weight",
            WeightRole.ValueBias => p + "self_attn.v_proj.bias",
            WeightRole.OutputProjection => p + "self_attn.o_proj.weight",
            WeightRole.PostAttentionNorm => p + "post_attention_layernorm.weight",
            WeightRole.FfnNorm => p + (config.PostNorms ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight"),
            WeightRole.GateWeight => p + "mlp.gate_proj.weight",
            WeightRole.UpWeight => p + "mlp.up_proj.weight",
            WeightRole.DownWeight => p + "mlp.down_proj.weight",
            WeightRole.PostFfnNorm => p + "post_feedforward_layernorm.weight",
            WeightRole.FinalNorm => "model.norm.weight",
            WeightRole.Classifier => "lm_head.weight",
            _ => throw new ArgumentOutOfRangeException(nameof(id), id, null),
        };
    }
}
