namespace Caprese.Oracle.Tests.Support;

/// <summary>Logit comparison with a tolerance scaled by the logits' magnitude.</summary>
internal static class Compare
{
    /// <summary>Largest |actual - expected| divided by max(1, max |expected|).</summary>
    public static double ScaledMaxError(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = 1, worst = 0;
        for (int i = 0; i < expected.Length; i++)
            scale = Math.Max(scale, Math.Abs(expected[i]));
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.False(float.IsNaN(actual[i]), $"logit {i} is NaN");
            worst = Math.Max(worst, Math.Abs(actual[i] - expected[i]));
        }
        return worst / scale;
    }

    public static void Logits(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double tolerance, string what)
    {
        double err = ScaledMaxError(actual, expected);
        TestContext.Current.TestOutputHelper?.WriteLine($"{what}: scaled max error {err:E2} (tolerance {tolerance:E0})");
        Assert.True(err <= tolerance, $"{what}: scaled max error {err:E3} exceeds {tolerance:E1}");
    }
}
