using Caprese.Interop;
using Caprese.Models.Tests.Support;
using Caprese.Models.Transformer;

namespace Caprese.Models.Tests.Transformer;

/// <summary>Tiny random models of every family: batched prefill equals step-by-step decoding, across
/// positions past Gemma 2's sliding window, and each quirk visibly changes the output.</summary>
public sealed class SyntheticFamilyTests
{
    public static TheoryData<ModelFamily> Families => [ModelFamily.Llama, ModelFamily.Qwen2, ModelFamily.Gemma2];

    private static readonly int[] Prompt = [3, 17, 42, 5, 9, 63, 0, 28, 11, 50, 7, 33]; // 12 > the tiny Gemma window of 5

    [Theory]
    [MemberData(nameof(Families))]
    public void PrefillEqualsStepByStepDecode(ModelFamily family)
    {
        using var loaded = Make(ModelPresets.Tiny(family), seed: 11);
        var model = loaded.Model;
        var batched = model.Prefill(Prompt, 0);
        float[] stepped = [];
        for (int pos = 0; pos < Prompt.Length; pos++)
            stepped = model.DecodeStep(Prompt[pos], pos);
        Logits.AssertClose(batched, stepped);
        Assert.Contains(batched, v => Math.Abs(v) > 1e-2f); // not a degenerate all-zero model
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void ChunkedPrefillEqualsOneBatch(ModelFamily family)
    {
        var config = ModelPresets.Tiny(family);
        using var whole = Make(config, seed: 5);
        using var chunked = Make(config, seed: 5, o: new ModelLoadOptions(MaxBatchRows: 4));
        Logits.AssertClose(whole.Model.Prefill(Prompt, 0), chunked.Model.Prefill(Prompt, 0));
    }

    [Fact]
    public void SeedsAreReproducibleAndDistinct()
    {
        var config = ModelPresets.Tiny(ModelFamily.Llama);
        using var a = Make(config, seed: 1);
        using var b = Make(config, seed: 1);
        using var c = Make(config, seed: 2);
        Assert.Equal(a.Model.Prefill(Prompt, 0), b.Model.Prefill(Prompt, 0));
        Assert.NotEqual(a.Model.Prefill(Prompt, 0), c.Model.Prefill(Prompt, 0));
    }

    [Fact]
    public void GemmaSoftcapBoundsTheLogits()
    {
        var config = ModelPresets.Tiny(ModelFamily.Gemma2) with { FinalLogitSoftcap = 0.5f };
        using var loaded = Make(config, seed: 3);
        Assert.All(loaded.Model.Prefill(Prompt, 0), v => Assert.InRange(v, -0.5f, 0.5f));
    }

    [Fact]
    public void SlidingWindowChangesOnlyPositionsPastIt()
    {
        var local = ModelPresets.Tiny(ModelFamily.Gemma2);
        var global = local with { SlidingWindow = 0 };
        using var a = Make(local, seed: 4);
        using var b = Make(global, seed: 4);
        // Within the window both see every key.
        Logits.AssertClose(a.Model.Prefill(Prompt.AsSpan(0, local.SlidingWindow), 0), b.Model.Prefill(Prompt.AsSpan(0, local.SlidingWindow), 0), 1e-5f, 1e-5f);
        Assert.NotEqual(a.Model.Prefill(Prompt, 0), b.Model.Prefill(Prompt, 0));
    }

    [Theory]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    public void HalfPrecisionWeightsStayClose(DType type)
    {
        var config = ModelPresets.Tiny(ModelFamily.Qwen2);
        using var f32 = Make(config, seed: 8);
        using var half = Make(config, seed: 8, type);
        Assert.Equal(type, half.Model.Weights.MatrixType);
        Logits.AssertClose(f32.Model.Prefill(Prompt, 0), half.Model.Prefill(Prompt, 0), 0.1f, 0.05f);
    }

    [Fact]
    public void PresetsDescribeTheRealShapes()
    {
        Assert.Equal(8_030_261_248, ParameterCount(ModelPresets.Llama31_8B));
        Assert.Equal(70_553_706_496, ParameterCount(ModelPresets.Llama31_70B));
        Assert.Equal(14_770_033_664, ParameterCount(ModelPresets.Qwen25_14B));
        foreach (var c in new[] { ModelPresets.Llama31_8B, ModelPresets.Llama31_70B, ModelPresets.Qwen25_14B, ModelPresets.Gemma2_9B })
            c.Validate();
    }

    private static LoadedModel Make(ModelConfig c, int seed, DType type = DType.F32, ModelLoadOptions? o = null) =>
        SyntheticModel.Create(c, seed, type, o, null, TestContext.Current.CancellationToken);

    private static long ParameterCount(ModelConfig c) =>
        SyntheticModel.WeightNames(c).Sum(w => w.Shape.Aggregate(1L, (a, b) => a * b));
}
