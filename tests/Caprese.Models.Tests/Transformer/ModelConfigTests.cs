using Caprese.Models.Transformer;
using Caprese.Models.Weights;

namespace Caprese.Models.Tests.Transformer;

public sealed class ModelConfigTests
{
    [Fact]
    public void InconsistentShapesAreRejected()
    {
        var ok = ModelPresets.Tiny(ModelFamily.Llama);
        ok.Validate();
        Assert.Throws<ArgumentException>(() => (ok with { KvHeads = 3 }).Validate());
        Assert.Throws<ArgumentException>(() => (ok with { HeadDim = 7 }).Validate());
        Assert.Throws<ArgumentException>(() => (ok with { Layers = 0 }).Validate());
        Assert.Throws<ArgumentException>(() => (ok with { RopeFrequencyFactors = [1f, 2f] }).Validate());
        Assert.Throws<ArgumentException>(() => (ok with { RopeScaling = new Llama3RopeScaling(8, 4, 1, 8192) }).Validate());
    }

    [Fact]
    public void GemmaHasFourNormsPerLayerAndQwenHasBiases()
    {
        var gemma = SyntheticModel.WeightNames(ModelPresets.Tiny(ModelFamily.Gemma2)).Select(w => w.Name).ToList();
        Assert.Equal(4, gemma.Count(n => n.StartsWith("model.layers.0.") && n.EndsWith("norm.weight")));
        Assert.Contains("model.layers.0.pre_feedforward_layernorm.weight", gemma);
        Assert.DoesNotContain("lm_head.weight", gemma);

        var qwen = SyntheticModel.WeightNames(ModelPresets.Tiny(ModelFamily.Qwen2)).Select(w => w.Name).ToList();
        Assert.Contains("model.layers.1.self_attn.v_proj.bias", qwen);
        Assert.DoesNotContain("model.layers.1.self_attn.o_proj.bias", qwen);
        Assert.Contains("lm_head.weight", qwen);
    }

    [Fact]
    public void SyntheticWeightsDoNotDependOnHowTheyAreRead()
    {
        var config = ModelPresets.Tiny(ModelFamily.Qwen2);
        var source = new SyntheticWeightSource(config, seed: 4);
        var tensor = source.Find(new WeightId(WeightRole.GateWeight, 1))!;
        var whole = new float[48 * 32];
        tensor.Read(0, whole);
        var pieces = new float[whole.Length];
        for (int first = 0; first < whole.Length; first += 32 * 5)
            tensor.Read(first, pieces.AsSpan(first, Math.Min(32 * 5, whole.Length - first)));
        Assert.Equal(whole, pieces);
        float bound = MathF.Sqrt(3f / 32);
        Assert.All(whole, v => Assert.InRange(v, -bound, bound));
    }
}
