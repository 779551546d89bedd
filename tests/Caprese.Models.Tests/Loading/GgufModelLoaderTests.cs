using Caprese.Interop;
using Caprese.Models.Loading;
using Caprese.Models.Tests.Support;
using Caprese.Models.Transformer;
using Caprese.Models.Weights;

namespace Caprese.Models.Tests.Loading;

/// <summary>GGUF model files: name mapping, config keys, f16/q8_0 conversion, rope_freqs, and errors naming file and tensor.</summary>
public sealed class GgufModelLoaderTests
{
    private static readonly int[] Prompt = [1, 9, 33, 60, 2, 17, 44, 8];

    // GGUF llama models use Meta's interleaved pairs; qwen2 rotates halves.
    private static ModelConfig Config(ModelFamily family) => ModelPresets.Tiny(family) with
    {
        RopeScaling = null,
        HiddenDim = 64, // q8_0 rows are whole 32-element blocks
        RopeStyle = family == ModelFamily.Llama ? RopeStyle.Interleaved : RopeStyle.HalfSplit,
    };

    [Theory]
    [InlineData(ModelFamily.Llama)]
    [InlineData(ModelFamily.Qwen2)]
    public void MixedTypeGgufMatchesInMemoryWeights(ModelFamily family)
    {
        var config = Config(family);
        var weights = SyntheticModel.RandomWeights(config, seed: 9);
        // Matrices of layer 0 as q8_0, of layer 1 as f16, the rest f32.
        uint TypeOf(string name) => name.StartsWith("blk.0.") && !name.Contains("norm") && !name.EndsWith(".bias") ? GgufModelWriter.Q8_0
            : name.StartsWith("blk.1.") && !name.Contains("norm") && !name.EndsWith(".bias") ? GgufModelWriter.F16 : GgufModelWriter.F32;
        using var dir = new TempDirectory();
        var path = dir.File("tiny.gguf");
        File.WriteAllBytes(path, GgufModelWriter.Build(config, weights, TypeOf));

        // What the file really holds after quantisation, in HF naming.
        var stored = WeightLayout.Required(config).ToDictionary(s => HfWeightNames.Of(s.Id, config),
            s => GgufModelWriter.RoundTrip(weights[HfWeightNames.Of(s.Id, config)], TypeOf(GgufWeightNames.Of(s.Id))));

        using var fromFile = ModelLoader.Load(path, null, TestContext.Current.CancellationToken);
        using var inMemory = SyntheticModel.FromWeights(config, stored);
        Assert.Equal(config with { MaxSeqLen = fromFile.Config.MaxSeqLen }, fromFile.Config);
        Assert.False(fromFile.HasTokenizer);
        Logits.AssertClose(inMemory.Model.Prefill(Prompt, 0), fromFile.Model.Prefill(Prompt, 0), 1e-5f, 1e-5f);
    }

    [Fact]
    public void RopeFreqsTensorDividesTheFrequencies()
    {
        var config = Config(ModelFamily.Llama);
        var weights = SyntheticModel.RandomWeights(config, seed: 2);
        float[] factors = [1f, 1.5f, 4f, 8f];
        using var dir = new TempDirectory();
        var path = dir.File("scaled.gguf");
        File.WriteAllBytes(path, GgufModelWriter.Build(config, weights, ropeFactors: factors));
        using var fromFile = ModelLoader.Load(path, null, TestContext.Current.CancellationToken);
        Assert.Equal(factors, fromFile.Config.RopeFrequencyFactors);
        using var inMemory = SyntheticModel.FromWeights(config with { RopeFrequencyFactors = factors }, weights);
        using var unscaled = SyntheticModel.FromWeights(config, weights);
        Logits.AssertClose(inMemory.Model.Prefill(Prompt, 0), fromFile.Model.Prefill(Prompt, 0), 1e-5f, 1e-5f);
        Assert.NotEqual(unscaled.Model.Prefill(Prompt, 0), fromFile.Model.Prefill(Prompt, 0));
    }

    [Fact]
    public void MissingTensorNamesFileAndTensor()
    {
        var config = Config(ModelFamily.Qwen2);
        using var dir = new TempDirectory();
        var path = dir.File("missing.gguf");
        File.WriteAllBytes(path, GgufModelWriter.Build(config, SyntheticModel.RandomWeights(config, 1), skip: n => n == "blk.1.attn_v.bias"));
        var ex = Assert.Throws<ModelFormatException>(() => ModelLoader.Load(path, null, TestContext.Current.CancellationToken));
        Assert.Equal(path, ex.FilePath);
        Assert.Contains("blk.1.attn_v.bias", ex.Message);
    }

    [Fact]
    public void MetadataThatDisagreesWithTheTensorsNamesTheTensor()
    {
        var config = Config(ModelFamily.Llama);
        using var dir = new TempDirectory();
        var path = dir.File("mismatch.gguf");
        File.WriteAllBytes(path, GgufModelWriter.Build(config, SyntheticModel.RandomWeights(config, 1), feedForwardLengthOverride: 40));
        var ex = Assert.Throws<ModelFormatException>(() => ModelLoader.Load(path, null, TestContext.Current.CancellationToken));
        Assert.Equal(path, ex.FilePath);
        Assert.Contains("blk.0.ffn_gate.weight", ex.Message);
        Assert.Contains("[40, 32]", ex.Message);
    }

    [Fact]
    public void Gpt2StyleTokenizerIsByteLevelBpe()
    {
        string[] tokens = ["<|begin|>", "<|end|>", "h", "e", "l", "o", "w", "r", "d", "Ġ", "he", "ll", "hell", "hello", "Ġw", "or", "Ġwor", "Ġworld", "ld"];
        var b = new Formats.GgufBuilder();
        b.AddString("tokenizer.ggml.model", "gpt2");
        b.AddString("tokenizer.ggml.pre", "llama-bpe");
        b.AddStringArray("tokenizer.ggml.tokens", tokens);
        b.AddInt32Array("tokenizer.ggml.token_type", [3, 3, .. Enumerable.Repeat(1, tokens.Length - 2)]);
        b.AddStringArray("tokenizer.ggml.merges", ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"]);
        b.AddUInt32("tokenizer.ggml.bos_token_id", 0);
        b.AddUInt32("tokenizer.ggml.eos_token_id", 1);
        using var dir = new TempDirectory();
        var path = dir.File("tok.gguf");
        File.WriteAllBytes(path, b.Build());
        using var gguf = Models.Formats.Gguf.GgufFile.Open(path);
        var tok = GgufModelReader.Tokenizer(gguf)!;
        Assert.Equal([0, 13, 17], tok.Encode("hello world"));
        Assert.Equal("hello world", tok.Decode([0, 13, 17, 1]));
        Assert.Equal([1], tok.EosIds);
    }

    [Fact]
    public void UnsupportedArchitectureIsNamed()
    {
        var b = new Formats.GgufBuilder();
        b.AddString("general.architecture", "mamba");
        using var dir = new TempDirectory();
        var path = dir.File("mamba.gguf");
        File.WriteAllBytes(path, b.Build());
        var ex = Assert.Throws<ModelFormatException>(() => ModelLoader.Load(path, null, TestContext.Current.CancellationToken));
        Assert.Contains("mamba", ex.Message);
    }
}
