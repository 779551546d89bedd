namespace Caprese.Models.MathReasoning;

/// <summary>
/// The Wilson score interval of a binomial proportion: unlike p ± z·√(p(1−p)/n) it stays inside [0, 1] and keeps its
/// coverage near 0 and 1 and for small n, where an accuracy of 0/20 or 20/20 would otherwise get a zero-width interval.
/// </summary>
public static class WilsonInterval
{
    /// <summary>z of a two-sided 95% interval.</summary>
    public const double Z95 = 1.959963984540054;

    /// <summary>
    /// (p̂ + z²/2n ± z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n) with p̂ = successes / trials.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">No trials, successes outside [0, trials], or z not positive.</exception>
    public static (double Lower, double Upper) Compute(int successes, int trials, double z = Z95)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(trials, 1);
        if (successes < 0 || successes > trials)
            throw new ArgumentOutOfRangeException(nameof(successes), successes, $"must be in 0..{trials}");
        if (!(z > 0 && double.IsFinite(z)))
            throw new ArgumentOutOfRangeException(nameof(z), z, "must be positive and finite");
        double n = trials, p = successes / n, z2 = z * z;
        double denominator = 1 + z2 / n;
        double centre = (p + z2 / (2 * n)) / denominator;
        double half = z * Math.Sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator;
        // At p = 0 or 1 one end is exactly 0 or 1 in exact arithmetic; rounding would leave 1e-17 or so.
        return (successes == 0 ? 0 : Math.Max(0, centre - half), successes == trials ? 1 : Math.Min(1, centre + half));
    }
}
