using Caprese.Models.MathReasoning;

namespace Caprese.Models.Tests.MathReasoning;

public sealed class WilsonIntervalTests
{
    // Reference values: the Wilson score interval at z = 1.96 (e.g. R's prop.test(correct = FALSE), statsmodels' proportion_confint(method="wilson")).
    [Theory]
    [InlineData(45, 50, 0.7864, 0.9565)]
    [InlineData(0, 10, 0.0, 0.2775)]
    [InlineData(10, 10, 0.7225, 1.0)]
    [InlineData(5, 10, 0.2366, 0.7634)]
    [InlineData(1, 1, 0.2065, 1.0)]
    [InlineData(660, 1319, 0.4734, 0.5273)]
    public void MatchesKnownValues(int correct, int n, double lower, double upper)
    {
        var (lo, hi) = WilsonInterval.Compute(correct, n);
        Assert.Equal(lower, lo, 4);
        Assert.Equal(upper, hi, 4);
    }

    [Fact]
    public void AllWrongOrAllRightTouchZeroOrOneExactly()
    {
        Assert.Equal(0.0, WilsonInterval.Compute(0, 6).Lower);
        Assert.Equal(1.0, WilsonInterval.Compute(6, 6).Upper);
    }

    [Fact]
    public void RefusesImpossibleCounts()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => WilsonInterval.Compute(0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => WilsonInterval.Compute(6, 5));
        Assert.Throws<ArgumentOutOfRangeException>(() => WilsonInterval.Compute(-1, 5));
        Assert.Throws<ArgumentOutOfRangeException>(() => WilsonInterval.Compute(1, 5, z: 0));
    }
}
