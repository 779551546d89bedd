using Caprese.Models.Decoding.Judge;

namespace Caprese.Models.Tests.Decoding.Judge;

public sealed class JudgeHeadTests
{
    [Fact]
    public void LogitIsTheDotProductPlusBiasAccumulatedInDouble()
    {
        var head = new JudgeHead([2f, -1f, 0.5f], 0.25f);
        Assert.Equal(3, head.Dim);
        Assert.Equal(2f * 3 - 1f * 4 + 0.5f * 8 + 0.25f, head.Logit([3f, 4f, 8f]));

        // A float running sum loses the 1 next to 1e8 and returns 0; the double sum keeps it.
        var cancelling = new JudgeHead([1f, 1f, 1f], 0f);
        Assert.Equal(1f, cancelling.Logit([1e8f, 1f, -1e8f]));
    }

    [Fact]
    public void ProbabilityIsAStableSigmoid()
    {
        var head = new JudgeHead([1f], 0f);
        Assert.Equal(0.5f, head.Probability([0f]));
        Assert.Equal(1 / (1 + Math.Exp(-2)), head.Probability([2f]), 6);
        Assert.Equal(Math.Exp(-3) / (1 + Math.Exp(-3)), head.Probability([-3f]), 6);
        // e^1000 overflows; the stable form must still give 0 and 1, never NaN.
        Assert.Equal(1f, head.Probability([1000f]));
        Assert.Equal(0f, head.Probability([-1000f]));
        Assert.Equal(0.0, JudgeHead.Sigmoid(double.NegativeInfinity));
        Assert.Equal(1.0, JudgeHead.Sigmoid(double.PositiveInfinity));
        Assert.True(JudgeHead.Sigmoid(-700) > 0);
        for (double x = -30; x <= 30; x += 0.7)
            Assert.Equal(1.0, JudgeHead.Sigmoid(x) + JudgeHead.Sigmoid(-x), 12);
    }

    [Fact]
    public void AcceptsComparesTheProbabilityWithTheThreshold()
    {
        var head = new JudgeHead([1f], 0f);
        Assert.True(head.Accepts([0.1f], 0.5));
        Assert.False(head.Accepts([0f], 0.5)); // strictly greater
        Assert.False(head.Accepts([-0.1f], 0.5));
        Assert.True(head.Accepts([3f], 0.9));
        Assert.False(head.Accepts([2f], 0.9));
        Assert.False(head.Accepts([float.NaN], 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => head.Accepts([1f], 1.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => head.Accepts([1f], double.NaN));
    }

    [Fact]
    public void WrongLengthsAndNonFiniteParametersAreRejected()
    {
        var head = new JudgeHead([1f, 2f], 0f);
        var e = Assert.Throws<ArgumentException>(() => head.Logit([1f, 2f, 3f]));
        Assert.Contains("3 elements", e.Message);
        Assert.Contains("reads 2", e.Message);
        Assert.Throws<ArgumentException>(() => head.Probability([1f]));

        Assert.Contains("weight 1", Assert.Throws<ArgumentException>(() => new JudgeHead([0f, float.NaN], 0f)).Message);
        Assert.Contains("weight 0", Assert.Throws<ArgumentException>(() => new JudgeHead([float.NegativeInfinity], 0f)).Message);
        Assert.Contains("bias", Assert.Throws<ArgumentException>(() => new JudgeHead([1f], float.PositiveInfinity)).Message);
        Assert.Throws<ArgumentException>(() => new JudgeHead([], 0f));
    }

    [Fact]
    public void TheHeadKeepsItsOwnCopyOfTheWeights()
    {
        float[] weights = [1f, 2f];
        var head = new JudgeHead(weights, 0f);
        weights[0] = 100f;
        Assert.Equal([1f, 2f], head.Weights.ToArray());
    }
}
