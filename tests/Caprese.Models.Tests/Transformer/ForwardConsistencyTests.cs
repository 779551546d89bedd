using Caprese.Interop;
using Caprese.Models.Tests.Support;

namespace Caprese.Models.Tests.Transformer;

/// <summary>Batched prefill and token-by-token decoding are the same computation; only float
/// summation order may differ. Tolerance: |a - b| &lt;= 1e-3 + 1e-3 |b| per logit (logits here are O(10)).</summary>
public sealed class ForwardConsistencyTests
{
    private const float Atol = 1e-3f, Rtol = 1e-3f;
    private static readonly int[] Prompt = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315];

    [Theory]
    [InlineData(BackendKind.Cpu)]
    [InlineData(BackendKind.Cuda)]
    public void PrefillLastRowEqualsStepByStepDecode(BackendKind backend)
    {
        using var loaded = StoriesModel.LoadStories(backend);
        var model = loaded.Model;
        var batched = model.Prefill(Prompt, 0);

        float[] stepped = [];
        for (int pos = 0; pos < Prompt.Length; pos++)
            stepped = model.DecodeStep(Prompt[pos], pos);

        AssertClose(stepped, batched);
    }

    [Fact]
    public void ChunkedPrefillEqualsOneBatch()
    {
        using var whole = StoriesModel.LoadStories();
        using var chunked = StoriesModel.LoadStories(maxBatchRows: 5);
        Assert.Equal(5, chunked.Model.MaxBatchRows);
        AssertClose(whole.Model.Prefill(Prompt, 0), chunked.Model.Prefill(Prompt, 0));
    }

    [Fact]
    public void PrefillCanContinueAtAnOffset()
    {
        using var loaded = StoriesModel.LoadStories();
        var model = loaded.Model;
        var whole = model.Prefill(Prompt, 0);
        model.Prefill(Prompt.AsSpan(0, 7), 0);
        AssertClose(whole, model.Prefill(Prompt.AsSpan(7), 7));
    }

    [Theory]
    [InlineData(DType.F16, 0.05f)]
    [InlineData(DType.BF16, 0.3f)]
    public void HalfPrecisionWeightsStayCloseToF32(DType type, float tolerance)
    {
        using var f32 = StoriesModel.LoadStories();
        using var half = StoriesModel.LoadStories(weights: type);
        Assert.Equal(type, half.Model.Weights.MatrixType);
        var expected = f32.Model.Prefill(Prompt, 0);
        var actual = half.Model.Prefill(Prompt, 0);
        float worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(worst <= tolerance, $"{type}: max |logit difference| {worst} > {tolerance}");
    }

    [Fact]
    public void BadPositionsAndTokensAreRejectedBeforeAnyOp()
    {
        using var loaded = StoriesModel.LoadStories();
        var model = loaded.Model;
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = model.DecodeStep(1, -1); });
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = model.DecodeStep(1, model.Config.MaxSeqLen); });
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = model.DecodeStep(512, 0); });
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = model.DecodeStep(-3, 0); });
        Assert.Throws<ArgumentException>(() => { _ = model.Prefill([], 0); });
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            float diff = Math.Abs(expected[i] - actual[i]);
            Assert.True(diff <= Atol + Rtol * Math.Abs(expected[i]), $"logit {i}: {actual[i]} vs {expected[i]} (diff {diff})");
        }
    }
}
