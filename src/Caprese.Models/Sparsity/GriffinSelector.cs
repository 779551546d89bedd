namespace Caprese.Models.Sparsity;

/// <summary>
/// GRIFFIN's flocking score for one layer: over the observed rows z of Z = act(X·Wg) ⊙ (X·Wu),
/// s_j = ‖(z / ‖z‖₂)_j over rows‖₂. Squared scores accumulate in double, so the result does not
/// depend on how the prompt was chunked. Rows with ‖z‖ = 0 contribute nothing.
/// </summary>
public sealed class GriffinSelector
{
    private readonly double[] _squaredScores;

    public GriffinSelector(int hidden)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(hidden, 1);
        _squaredScores = new double[hidden];
    }

    public int Hidden => _squaredScores.Length;

    /// <summary>Rows observed since the last <see cref="Reset"/>.</summary>
    public int RowCount { get; private set; }

    public void Reset()
    {
        Array.Clear(_squaredScores);
        RowCount = 0;
    }

    /// <summary>Adds rows [rows.Length / Hidden, Hidden] of Z.</summary>
    public void Observe(ReadOnlySpan<float> rows)
    {
        int h = Hidden;
        if (rows.Length % h != 0)
            throw new ArgumentException($"{rows.Length} values are not whole rows of {h}", nameof(rows));
        for (int start = 0; start < rows.Length; start += h)
        {
            var z = rows.Slice(start, h);
            double norm2 = 0;
            foreach (float v in z)
                norm2 += (double)v * v;
            RowCount++;
            if (norm2 == 0)
                continue;
            for (int j = 0; j < h; j++)
                _squaredScores[j] += (double)z[j] * z[j] / norm2;
        }
    }

    /// <summary>A copy of the accumulated squared scores (a session snapshot).</summary>
    internal double[] CaptureScores() => (double[])_squaredScores.Clone();

    /// <summary>Puts back scores from <see cref="CaptureScores"/> together with the row count they cover.</summary>
    internal void RestoreScores(double[] squaredScores, int rowCount)
    {
        if (squaredScores.Length != _squaredScores.Length)
            throw new ArgumentException($"{squaredScores.Length} scores for {Hidden} neurons", nameof(squaredScores));
        squaredScores.CopyTo(_squaredScores, 0);
        RowCount = rowCount;
    }

    /// <summary>s_j for every neuron.</summary>
    public double[] Scores() => [.. _squaredScores.Select(Math.Sqrt)];

    /// <summary>k = round((1 - sparsity) · H), at least 1 (half away from zero).</summary>
    public static int KeptCount(int hidden, double sparsity) =>
        Math.Clamp((int)Math.Round((1 - sparsity) * hidden, MidpointRounding.AwayFromZero), 1, hidden);

    /// <summary>The k highest-scoring neurons in ascending index order; ties go to the lower index.</summary>
    public int[] Select(int k)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(k, Hidden);
        int[] kept = [.. Enumerable.Range(0, Hidden).OrderByDescending(j => _squaredScores[j]).ThenBy(j => j).Take(k)];
        Array.Sort(kept);
        return kept;
    }
}
