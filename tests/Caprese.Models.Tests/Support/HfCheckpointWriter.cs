using System.Text.Json;
using Caprese.Models.Formats.Safetensors;
using Caprese.Models.Transformer;

namespace Caprese.Models.Tests.Support;

/// <summary>Writes a Hugging Face checkpoint directory (config.json, two safetensors shards and their index) for a config and weights.</summary>
internal static class HfCheckpointWriter
{
    public static void Write(string directory, ModelConfig c, IReadOnlyDictionary<string, float[]> weights,
        Action<Dictionary<string, object?>>? editConfig = null, Func<string, long[], long[]>? editShape = null)
    {
        var config = ConfigJson(c);
        editConfig?.Invoke(config);
        File.WriteAllText(Path.Combine(directory, "config.json"), JsonSerializer.Serialize(config));

        var names = SyntheticModel.WeightNames(c).Where(w => weights.ContainsKey(w.Name)).ToList();
        int half = names.Count / 2;
        var shards = new[] { ("model-00001-of-00002.safetensors", names[..half]), ("model-00002-of-00002.safetensors", names[half..]) };
        var weightMap = new Dictionary<string, string>();
        foreach (var (file, list) in shards)
        {
            SafetensorsWriter.Write(Path.Combine(directory, file),
                list.Select(w => SafetensorsTensorData.FromFloats(w.Name, editShape?.Invoke(w.Name, w.Shape) ?? w.Shape, weights[w.Name])));
            foreach (var w in list)
                weightMap[w.Name] = file;
        }
        var index = new Dictionary<string, object>
        {
            ["metadata"] = new Dictionary<string, object> { ["total_size"] = names.Sum(w => weights[w.Name].LongLength * 4) },
            ["weight_map"] = weightMap,
        };
        File.WriteAllText(Path.Combine(directory, "model.safetensors.index.json"), JsonSerializer.Serialize(index));
    }

    /// <summary>config.json as transformers writes it for the family.</summary>
    public static Dictionary<string, object?> ConfigJson(ModelConfig c)
    {
        var j = new Dictionary<string, object?>
        {
            ["model_type"] = c.Family switch { ModelFamily.Qwen2 => "qwen2", ModelFamily.Gemma2 => "gemma2", _ => "llama" },
            ["hidden_size"] = c.Dim,
            ["intermediate_size"] = c.HiddenDim,
            ["num_hidden_layers"] = c.Layers,
            ["num_attention_heads"] = c.Heads,
            ["num_key_value_heads"] = c.KvHeads,
            ["head_dim"] = c.HeadDim,
            ["vocab_size"] = c.Vocab,
            ["max_position_embeddings"] = c.MaxSeqLen,
            ["rms_norm_eps"] = (double)c.NormEps,
            ["rope_theta"] = (double)c.RopeTheta,
            ["tie_word_embeddings"] = c.TiedEmbeddings,
            ["bos_token_id"] = 1,
            ["eos_token_id"] = 2,
            ["torch_dtype"] = "float32",
        };
        if (c.RopeScaling is { } s)
            j["rope_scaling"] = new Dictionary<string, object>
            {
                ["rope_type"] = "llama3", ["factor"] = s.Factor, ["low_freq_factor"] = s.LowFreqFactor,
                ["high_freq_factor"] = s.HighFreqFactor, ["original_max_position_embeddings"] = s.OriginalMaxPositions,
            };
        if (c.Family == ModelFamily.Gemma2)
        {
            j["hidden_activation"] = "gelu_pytorch_tanh";
            j["query_pre_attn_scalar"] = 1.0 / ((double)c.EffectiveAttentionScale * c.EffectiveAttentionScale);
            j["attn_logit_softcapping"] = (double)c.AttentionSoftcap;
            j["final_logit_softcapping"] = (double)c.FinalLogitSoftcap;
            j["sliding_window"] = c.SlidingWindow;
        }
        else
            j["hidden_act"] = "silu";
        return j;
    }
}
