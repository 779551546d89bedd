using Caprese.Models.Formats.HuggingFace;
using Caprese.Models.Generation;
using Caprese.Models.Loading;
using Caprese.Models.Tests.Support;
using Caprese.Models.Transformer;

namespace Caprese.Models.Tests.Loading;

/// <summary>
/// Round trip: random weights written as a sharded HF checkpoint and loaded through ModelLoader must give
/// the logits of the same weights handed over in memory (an internal consistency check of naming, shapes,
/// config mapping and sharding; an independent oracle lives in Caprese.Oracle.Tests).
/// </summary>
public sealed class HuggingFaceLoaderTests
{
    public static TheoryData<ModelFamily> Families => [ModelFamily.Llama, ModelFamily.Qwen2, ModelFamily.Gemma2];

    private static readonly int[] Prompt = [1, 9, 33, 60, 2, 17, 44, 8];

    [Theory]
    [MemberData(nameof(Families))]
    public void ShardedCheckpointMatchesInMemoryWeights(ModelFamily family)
    {
        var config = ModelPresets.Tiny(family);
        var weights = SyntheticModel.RandomWeights(config, seed: 21);
        using var dir = new TempDirectory();
        HfCheckpointWriter.Write(dir.Path, config, weights);

        using var fromDisk = ModelLoader.Load(dir.Path, null, TestContext.Current.CancellationToken);
        using var inMemory = SyntheticModel.FromWeights(config, weights);

        var c = fromDisk.Config;
        Assert.Equal((config.Family, config.QkvBias, config.PostNorms, config.TiedEmbeddings, config.RopeStyle, config.RopeScaling, config.SlidingWindow),
            (c.Family, c.QkvBias, c.PostNorms, c.TiedEmbeddings, c.RopeStyle, c.RopeScaling, c.SlidingWindow));
        Assert.False(fromDisk.HasTokenizer);
        Logits.AssertClose(inMemory.Model.Prefill(Prompt, 0), fromDisk.Model.Prefill(Prompt, 0), 1e-5f, 1e-5f);
    }

    [Fact]
    public void DirectoryWithTokenizerJsonGeneratesText()
    {
        var config = ModelPresets.Tiny(ModelFamily.Llama);
        using var dir = new TempDirectory();
        HfCheckpointWriter.Write(dir.Path, config, SyntheticModel.RandomWeights(config, seed: 3));
        TokenizerJsonWriter.HelloWorld(dir.Path);
        using var loaded = ModelLoader.Load(dir.Path, null, TestContext.Current.CancellationToken);
        Assert.Equal(dir.File("tokenizer.json"), loaded.TokenizerPath);
        Assert.Equal([1, 13, 17], loaded.Tokenizer.Encode("hello world")); // BOS from config.json (no post-processor)

        var result = loaded.Generator.Generate("hello world", new GenerationOptions(MaxTokens: 12), TestContext.Current.CancellationToken);
        Assert.Equal(result.Text, loaded.Tokenizer.Decode(result.GeneratedTokens.ToArray()));
        Assert.True(result.GeneratedTokens.Count > 0);
    }

    [Fact]
    public void Gemma2ConfigMapsEveryQuirk()
    {
        var hf = HfConfig.Parse("""
            { "model_type": "gemma2", "hidden_size": 3584, "intermediate_size": 14336, "num_hidden_layers": 42,
              "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 256, "vocab_size": 256000,
              "max_position_embeddings": 8192, "rms_norm_eps": 1e-06, "rope_theta": 10000.0,
              "hidden_activation": "gelu_pytorch_tanh", "query_pre_attn_scalar": 256, "attn_logit_softcapping": 50.0,
              "final_logit_softcapping": 30.0, "sliding_window": 4096 }
            """, "gemma2.json");
        var c = HfConfigMapping.ToModelConfig(hf);
        Assert.Equal(ModelPresets.Gemma2_9B with { MaxSeqLen = 8192 }, c);
        Assert.Equal(1f / 16, c.EffectiveAttentionScale);
        Assert.Equal([4096, 0, 4096], new[] { c.WindowOf(0), c.WindowOf(1), c.WindowOf(2) });
    }

    [Fact]
    public void Llama31ConfigMapsRopeScaling()
    {
        var hf = HfConfig.Parse("""
            { "model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
              "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 131072,
              "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "hidden_act": "silu", "tie_word_embeddings": false,
              "rope_scaling": { "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                "original_max_position_embeddings": 8192, "rope_type": "llama3" } }
            """, "llama31.json");
        Assert.Equal(ModelPresets.Llama31_8B with { MaxSeqLen = 131072 }, HfConfigMapping.ToModelConfig(hf));
    }

    [Fact]
    public void ConfigOrShardPathsLoadTheirDirectoryAndContextLengthSizesTheCache()
    {
        var config = ModelPresets.Tiny(ModelFamily.Qwen2);
        using var dir = new TempDirectory();
        HfCheckpointWriter.Write(dir.Path, config, SyntheticModel.RandomWeights(config, seed: 1));
        var ct = TestContext.Current.CancellationToken;
        using var viaConfig = ModelLoader.Load(dir.File("config.json"), new ModelLoadOptions(ContextLength: 16), ct);
        Assert.Equal(dir.Path, viaConfig.ModelPath);
        Assert.Equal(16, viaConfig.Config.MaxSeqLen);
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = viaConfig.Model.DecodeStep(1, 16); });
        using var viaShard = ModelLoader.Load(dir.File("model-00002-of-00002.safetensors"), null, ct);
        Assert.Equal(config.MaxSeqLen, viaShard.Config.MaxSeqLen);
    }

    [Fact]
    public void DirectoryWithoutConfigIsAFileNotFound()
    {
        using var dir = new TempDirectory();
        Assert.Throws<FileNotFoundException>(() => ModelLoader.Load(dir.Path, null, TestContext.Current.CancellationToken));
    }

    [Fact]
    public void MissingTensorNamesTheIndexAndTensor()
    {
        var config = ModelPresets.Tiny(ModelFamily.Qwen2);
        var weights = SyntheticModel.RandomWeights(config, seed: 1);
        weights.Remove("model.layers.1.self_attn.k_proj.bias");
        using var dir = new TempDirectory();
        HfCheckpointWriter.Write(dir.Path, config, weights);
        var ex = Assert.Throws<ModelFormatException>(() => ModelLoader.Load(dir.Path, null, TestContext.Current.CancellationToken));
        Assert.Equal(dir.File("model.safetensors.index.json"), ex.FilePath);
        Assert.Contains("model.layers.1.self_attn.k_proj.bias", ex.Message);
    }

    [Fact]
    public void WrongShapeNamesTheShardAndTensor()
    {
        var config = ModelPresets.Tiny(ModelFamily.Llama);
        var weights = SyntheticModel.RandomWeights(config, seed: 1);
        const string name = "model.layers.0.mlp.down_proj.weight";
        using var dir = new TempDirectory();
        // Same element count, transposed shape.
        HfCheckpointWriter.Write(dir.Path, config, weights, editShape: (n, s) => n == name ? [s[1], s[0]] : s);
        var ex = Assert.Throws<ModelFormatException>(() => ModelLoader.Load(dir.Path, null, TestContext.Current.CancellationToken));
        Assert.EndsWith(".safetensors", ex.FilePath);
        Assert.Contains(name, ex.Message);
        Assert.Contains("[48, 32]", ex.Message);
    }

    [Fact]
    public void ConfigThatDisagreesWithTheTensorsIsReported()
    {
        var config = ModelPresets.Tiny(ModelFamily.Gemma2);
        var weights = SyntheticModel.RandomWeights(config, seed: 1);
        using var dir = new TempDirectory();
        HfCheckpointWriter.Write(dir.Path, config, weights, editConfig: j => j["intermediate_size"] = 64);
        var ex = Assert.Throws<ModelFormatException>(() => ModelLoader.Load(dir.Path, null, TestContext.Current.CancellationToken));
        Assert.Contains("model.layers.0.mlp.gate_proj.weight", ex.Message);
        Assert.Contains("model config", ex.Message);
    }

    [Fact]
    public void UnsupportedSettingsAreErrorsNotIgnored()
    {
        var config = ModelPresets.Tiny(ModelFamily.Llama);
        var weights = SyntheticModel.RandomWeights(config, seed: 1);
        using var dir = new TempDirectory();
        HfCheckpointWriter.Write(dir.Path, config, weights, editConfig: j => j["rope_scaling"] = new Dictionary<string, object> { ["rope_type"] = "yarn", ["factor"] = 4.0 });
        var ex = Assert.Throws<ModelFormatException>(() => ModelLoader.Load(dir.Path, null, TestContext.Current.CancellationToken));
        Assert.Equal(dir.File("config.json"), ex.FilePath);
        Assert.Contains("yarn", ex.Message);
    }

    [Fact]
    public void InMemoryWeightsWithAMissingArrayNameIt()
    {
        var config = ModelPresets.Tiny(ModelFamily.Gemma2);
        var weights = SyntheticModel.RandomWeights(config, seed: 1);
        weights.Remove("model.layers.2.post_feedforward_layernorm.weight");
        var ex = Assert.Throws<ModelFormatException>(() => SyntheticModel.FromWeights(config, weights));
        Assert.Contains("model.layers.2.post_feedforward_layernorm.weight", ex.Message);
    }
}
