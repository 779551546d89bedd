namespace Caprese.Models.Tests.Decoding;

/// <summary>Pearson's chi-square goodness-of-fit test of observed token counts against a distribution.</summary>
internal static class ChiSquare
{
    /// <summary>The significance level of <see cref="Fits"/>: a correct sampler fails one test in a thousand (the seeds are fixed, so a given test either always passes or always fails).</summary>
    public const double Alpha = 0.001;

    // Upper 0.1% points of the chi-square distribution, degrees of freedom 1..12 (standard tables).
    private static readonly double[] CriticalAtAlpha =
        [10.828, 13.816, 16.266, 18.467, 20.515, 22.458, 24.322, 26.124, 27.877, 29.588, 31.264, 32.909];

    /// <summary>
    /// The statistic Σ (observed − expected)² / expected over the tokens with positive probability and its degrees of
    /// freedom (those tokens − 1). A count on a zero-probability token makes the statistic +∞: no sampling noise
    /// explains it.
    /// </summary>
    public static (double Statistic, int DegreesOfFreedom) Statistic(long[] counts, IReadOnlyList<double> probabilities)
    {
        Assert.Equal(probabilities.Count, counts.Length);
        long n = counts.Sum();
        double statistic = 0;
        int categories = 0;
        for (int i = 0; i < counts.Length; i++)
        {
            if (probabilities[i] <= 0)
            {
                if (counts[i] > 0)
                    return (double.PositiveInfinity, Math.Max(1, categories - 1));
                continue;
            }
            double expected = n * probabilities[i];
            Assert.True(expected >= 5, $"token {i} expects only {expected:F1} draws: too few for the chi-square approximation");
            statistic += (counts[i] - expected) * (counts[i] - expected) / expected;
            categories++;
        }
        return (statistic, categories - 1);
    }

    public static double Critical(int degreesOfFreedom) => CriticalAtAlpha[degreesOfFreedom - 1];

    /// <summary>Whether the counts are consistent with <paramref name="probabilities"/> at <see cref="Alpha"/>.</summary>
    public static bool Fits(long[] counts, IReadOnlyList<double> probabilities, out string report)
    {
        var (statistic, df) = Statistic(counts, probabilities);
        double critical = Critical(df);
        report = $"chi2 = {statistic:F2}, df = {df}, critical({Alpha}) = {critical}; counts [{string.Join(", ", counts)}], " +
                 $"expected [{string.Join(", ", probabilities.Select(p => (p * counts.Sum()).ToString("F0")))}]";
        return statistic < critical;
    }

    public static double[] ToDouble(ReadOnlySpan<float> probabilities)
    {
        var result = new double[probabilities.Length];
        for (int i = 0; i < result.Length; i++)
            result[i] = probabilities[i];
        return result;
    }
}
