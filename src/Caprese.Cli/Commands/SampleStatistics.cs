namespace Caprese.Cli.Commands;

/// <summary>Order statistics of a benchmark's timed samples.</summary>
internal static class SampleStatistics
{
    /// <summary>
    /// The q-quantile by linear interpolation between order statistics (the median of an even count is the mean of the
    /// middle two).
    /// </summary>
    public static double Quantile(IReadOnlyList<double> values, double q)
    {
        if (values.Count == 0)
            throw new ArgumentException("no samples", nameof(values));
        var sorted = values.Order().ToArray();
        double at = q * (sorted.Length - 1);
        int lo = (int)Math.Floor(at), hi = (int)Math.Ceiling(at);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
    }
}
