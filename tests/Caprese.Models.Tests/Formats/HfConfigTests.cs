using Caprese.Models.Formats.HuggingFace;
using Caprese.Models.Loading;
using Caprese.Models.Tests.Support;

namespace Caprese.Models.Tests.Formats;

public sealed class HfConfigTests
{
    private const string Llama31Json = """
        {
          "architectures": ["LlamaForCausalLM"],
          "attention_bias": false,
          "attention_dropout": 0.0,
          "bos_token_id": 128000,
          "eos_token_id": [128001, 128008, 128009],
          "hidden_act": "silu",
          "hidden_size": 4096,
          "initializer_range": 0.02,
          "intermediate_size": 14336,
          "max_position_embeddings": 131072,
          "mlp_bias": false,
          "model_type": "llama",
          "num_attention_heads": 32,
          "num_hidden_layers": 32,
          "num_key_value_heads": 8,
          "pretraining_tp": 1,
          "rms_norm_eps": 1e-05,
          "rope_scaling": {
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
            "rope_type": "llama3"
          },
          "rope_theta": 500000.0,
          "tie_word_embeddings": false,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.43.0.dev0",
          "use_cache": true,
          "vocab_size": 128256
        }
        """;

    private const string Qwen2Json = """
        {
          "architectures": ["Qwen2ForCausalLM"],
          "attention_dropout": 0.0,
          "bos_token_id": 151643,
          "eos_token_id": 151645,
          "hidden_act": "silu",
          "hidden_size": 896,
          "initializer_range": 0.02,
          "intermediate_size": 4864,
          "max_position_embeddings": 32768,
          "max_window_layers": 21,
          "model_type": "qwen2",
          "num_attention_heads": 14,
          "num_hidden_layers": 24,
          "num_key_value_heads": 2,
          "rms_norm_eps": 1e-06,
          "rope_theta": 1000000.0,
          "sliding_window": 32768,
          "tie_word_embeddings": true,
          "torch_dtype": "bfloat16",
          "use_cache": true,
          "use_sliding_window": false,
          "vocab_size": 151936
        }
        """;

    private const string Gemma2Json = """
        {
          "architectures": ["Gemma2ForCausalLM"],
          "attention_bias": false,
          "attn_logit_softcapping": 50.0,
          "bos_token_id": 2,
          "cache_implementation": "hybrid",
          "eos_token_id": [1, 107],
          "final_logit_softcapping": 30.0,
          "head_dim": 256,
          "hidden_act": "gelu_pytorch_tanh",
          "hidden_activation": "gelu_pytorch_tanh",
          "hidden_size": 2304,
          "intermediate_size": 9216,
          "max_position_embeddings": 8192,
          "model_type": "gemma2",
          "num_attention_heads": 8,
          "num_hidden_layers": 26,
          "num_key_value_heads": 4,
          "pad_token_id": 0,
          "query_pre_attn_scalar": 256,
          "rms_norm_eps": 1e-06,
          "rope_theta": 10000.0,
          "sliding_window": 4096,
          "torch_dtype": "float32",
          "vocab_size": 256000
        }
        """;

    [Fact]
    public void Llama31()
    {
        var c = HfConfig.Parse(Llama31Json, "llama/config.json");
        Assert.Equal("llama", c.ModelType);
        Assert.Equal(["LlamaForCausalLM"], c.Architectures);
        Assert.Equal((4096, 14336, 32, 32, 8), (c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers, c.NumAttentionHeads, c.NumKeyValueHeads));
        Assert.Equal(128, c.HeadDim);
        Assert.Null(c.HeadDimOverride);
        Assert.Equal(128256, c.VocabSize);
        Assert.Equal(131072, c.MaxPositionEmbeddings);
        Assert.Equal(1e-5, c.RmsNormEps);
        Assert.Equal(500000.0, c.RopeTheta);
        Assert.Equal(new HfRopeScaling("llama3", 8.0, 1.0, 4.0, 8192), c.RopeScaling);
        Assert.False(c.TieWordEmbeddings);
        Assert.Equal("silu", c.HiddenAct);
        Assert.False(c.AttentionBias);
        Assert.Equal(128000, c.BosTokenId);
        Assert.Equal([128001, 128008, 128009], c.EosTokenIds);
        Assert.Equal("bfloat16", c.TorchDtype);
        Assert.Null(c.SlidingWindow);
        Assert.Null(c.FinalLogitSoftcapping);
    }

    [Fact]
    public void Qwen2()
    {
        var c = HfConfig.Parse(Qwen2Json, "qwen/config.json");
        Assert.Equal("qwen2", c.ModelType);
        Assert.Equal((896, 14, 2, 64), (c.HiddenSize, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim));
        Assert.Equal(1e6, c.RopeTheta);
        Assert.True(c.TieWordEmbeddings);
        Assert.True(c.AttentionBias); // Qwen2's q/k/v biases
        Assert.Null(c.SlidingWindow); // use_sliding_window is false
        Assert.Null(c.RopeScaling);
        Assert.Equal([151645], c.EosTokenIds);
    }

    [Fact]
    public void Gemma2()
    {
        var c = HfConfig.Parse(Gemma2Json, "gemma/config.json");
        Assert.Equal("gemma2", c.ModelType);
        Assert.Equal(256, c.HeadDim); // stated, not 2304 / 8
        Assert.Equal(256.0, c.QueryPreAttnScalar);
        Assert.Equal(50.0, c.AttnLogitSoftcapping);
        Assert.Equal(30.0, c.FinalLogitSoftcapping);
        Assert.Equal(4096, c.SlidingWindow);
        Assert.Equal("gelu_pytorch_tanh", c.HiddenAct);
        Assert.True(c.TieWordEmbeddings); // Gemma's default when the field is absent
        Assert.Equal(2, c.BosTokenId);
        Assert.Equal([1, 107], c.EosTokenIds);
        Assert.Equal(0, c.PadTokenId);
    }

    [Fact]
    public void LoadFromDirectory()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("config.json"), Qwen2Json);
        var c = HfConfig.Load(dir.Path);
        Assert.Equal(dir.File("config.json"), c.FilePath);
        Assert.Equal(24, c.NumHiddenLayers);
    }

    [Theory]
    [InlineData("hidden_size")]
    [InlineData("num_attention_heads")]
    [InlineData("vocab_size")]
    [InlineData("model_type")]
    [InlineData("intermediate_size")]
    [InlineData("num_hidden_layers")]
    public void MissingRequiredFieldIsNamed(string field)
    {
        var json = System.Text.RegularExpressions.Regex.Replace(Llama31Json, $"\"{field}\": [^,\n]+,?", "");
        Assert.DoesNotContain($"\"{field}\"", json);
        var ex = Assert.Throws<ModelFormatException>(() => HfConfig.Parse(json, "broken/config.json"));
        Assert.Equal("broken/config.json", ex.FilePath);
        Assert.Equal(field, ex.Item);
        Assert.Contains("missing", ex.Message);
    }

    [Fact]
    public void WrongTypesAndRangesAreNamed()
    {
        Assert.Equal("hidden_size", Assert.Throws<ModelFormatException>(() => HfConfig.Parse(Llama31Json.Replace("\"hidden_size\": 4096", "\"hidden_size\": \"4096\""), "c")).Item);
        Assert.Equal("num_key_value_heads", Assert.Throws<ModelFormatException>(() => HfConfig.Parse(Llama31Json.Replace("\"num_key_value_heads\": 8", "\"num_key_value_heads\": 5"), "c")).Item);
        Assert.Equal("vocab_size", Assert.Throws<ModelFormatException>(() => HfConfig.Parse(Llama31Json.Replace("\"vocab_size\": 128256", "\"vocab_size\": -1"), "c")).Item);
        Assert.Equal("rope_scaling.low_freq_factor", Assert.Throws<ModelFormatException>(() => HfConfig.Parse(Llama31Json.Replace("\"low_freq_factor\": 1.0,", ""), "c")).Item);
        Assert.Contains("invalid JSON", Assert.Throws<ModelFormatException>(() => HfConfig.Parse("{\"model_type\": ", "c")).Message);
    }

    [Fact]
    public void ByteOrderMarkIsAccepted()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("config.json"), [0xEF, 0xBB, 0xBF, .. System.Text.Encoding.UTF8.GetBytes(Gemma2Json)]);
        Assert.Equal(26, HfConfig.Load(dir.File("config.json")).NumHiddenLayers);
    }

    [Fact]
    public void DefaultsForOptionalFields()
    {
        var c = HfConfig.Parse("""{"model_type": "llama", "hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 5, "num_attention_heads": 8, "vocab_size": 512}""", "min");
        Assert.Equal(8, c.NumKeyValueHeads);
        Assert.Equal(8, c.HeadDim);
        Assert.Equal(2048, c.MaxPositionEmbeddings);
        Assert.Equal(1e-6, c.RmsNormEps);
        Assert.Equal(10000.0, c.RopeTheta);
        Assert.False(c.TieWordEmbeddings);
        Assert.Empty(c.EosTokenIds);
        Assert.Null(c.BosTokenId);
    }
}
