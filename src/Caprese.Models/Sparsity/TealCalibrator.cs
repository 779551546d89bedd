namespace Caprese.Models.Sparsity;

/// <summary>The input of a layer's linear projections; q, k and v share one input, as do gate and up.</summary>
public enum TealSite
{
    /// <summary>The normed residual entering Wq, Wk, Wv.</summary>
    Attention = 0,
    /// <summary>The attention output entering Wo.</summary>
    Output = 1,
    /// <summary>The normed residual entering Wgate, Wup.</summary>
    Ffn = 2,
    /// <summary>act(x·Wg) ⊙ (x·Wu) entering Wdown.</summary>
    Down = 3,
}

/// <summary>
/// TEAL's threshold for one linear input: τ is the lower empirical <c>sparsity</c>-quantile of |x| over the
/// observed rows (exact sort, as <see cref="CatsCalibrator.Quantile"/>), so that fraction of input entries
/// falls below it. At most <see cref="CatsCalibrator.MaxRows"/> rows (or the constructor's cap), the first, are kept.
/// </summary>
public sealed class TealCalibrator
{
    private readonly List<float> _magnitudes = [];

    public TealCalibrator(int width, int maxRows = CatsCalibrator.MaxRows)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRows, 1);
        Width = width;
        RowCap = maxRows;
    }

    public int Width { get; }

    /// <summary>Rows kept at most.</summary>
    public int RowCap { get; }

    public int RowCount => _magnitudes.Count / Width;

    /// <summary>A copy of the magnitudes observed so far, in observation order (tests compare against it).</summary>
    internal float[] Magnitudes() => [.. _magnitudes];

    public void Reset() => _magnitudes.Clear();

    public void Observe(ReadOnlySpan<float> rows)
    {
        if (rows.Length % Width != 0)
            throw new ArgumentException($"{rows.Length} values are not whole rows of {Width}", nameof(rows));
        int n = Math.Min(rows.Length / Width, RowCap - RowCount);
        foreach (float v in rows[..(n * Width)])
            _magnitudes.Add(MathF.Abs(v));
    }

    public float Threshold(double sparsity) => CatsCalibrator.Quantile(_magnitudes.ToArray(), sparsity);

    /// <summary>Zeroes the entries with |x| &lt; τ (TEAL's magnitude mask).</summary>
    public static void Mask(Span<float> x, float tau)
    {
        for (int i = 0; i < x.Length; i++)
            if (MathF.Abs(x[i]) < tau)
                x[i] = 0f;
    }
}
