namespace Caprese.Models.Weights;

/// <summary>llama.cpp GGUF tensor names (blk.N.attn_q.weight, ...).</summary>
public static class GgufWeightNames
{
    public static string Of(WeightId id)
    {
        string p = $"blk.{id.Layer}.";
        return id.Role switch
        {
            WeightRole.TokenEmbedding => "token_embd.weight",
            WeightRole.AttentionNorm => p + "attn_norm.weight",
            WeightRole.QueryWeight => p + "attn_q.weight",
            WeightRole.QueryBias => p + "attn_q.bias",
            WeightRole.KeyWeight => p + "attn_k.weight",
            WeightRole.KeyBias => p + "attn_k.bias",
            WeightRole.ValueWeight => p + "attn_v.weight",
            WeightRole.ValueBias => p + "attn_v.bias",
            WeightRole.OutputProjection => p + "attn_output.weight",
            WeightRole.PostAttentionNorm => p + "post_attention_norm.weight",
            WeightRole.FfnNorm => p + "ffn_norm.weight",
            WeightRole.GateWeight => p + "ffn_gate.weight",
            WeightRole.UpWeight => p + "ffn_up.weight",
            WeightRole.DownWeight => p + "ffn_down.weight",
            WeightRole.PostFfnNorm => p + "post_ffw_norm.weight",
            WeightRole.FinalNorm => "output_norm.weight",
            WeightRole.Classifier => "output.weight",
            _ => throw new ArgumentOutOfRangeException(nameof(id), id, null),
        };
    }
}
