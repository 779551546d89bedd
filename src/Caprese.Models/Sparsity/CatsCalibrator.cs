using Caprese.Interop;

namespace Caprese.Models.Sparsity;

/// <summary>
/// CATS threshold for one layer: τ is the lower empirical <c>sparsity</c>-quantile of |act(x·Wg)| over the
/// observed calibration rows (all H entries of each row), found by an exact sort: τ = v[⌊sparsity · n⌋] of
/// the n sorted magnitudes, so at most that fraction of them lies strictly below τ; sparsity 0 gives τ = 0
/// (every neuron kept). At most <see cref="MaxRows"/> rows (or the constructor's cap) are kept, the first ones, to
/// bound host memory.
/// </summary>
public sealed class CatsCalibrator
{
    /// <summary>Calibration rows kept per layer: 512 rows of a 14336-wide FFN are 29 MB of floats.</summary>
    public const int MaxRows = 512;

    private readonly List<float> _magnitudes = [];

    public CatsCalibrator(int hidden, Activation activation, int maxRows = MaxRows)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(hidden, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRows, 1);
        Hidden = hidden;
        Activation = activation;
        RowCap = maxRows;
    }

    public int Hidden { get; }
    public Activation Activation { get; }

    /// <summary>Rows kept at most (<see cref="MaxRows"/> unless the constructor said otherwise).</summary>
    public int RowCap { get; }

    public int RowCount => _magnitudes.Count / Hidden;

    /// <summary>A copy of the magnitudes observed so far, in observation order (tests compare against it).</summary>
    internal float[] Magnitudes() => [.. _magnitudes];

    public void Reset() => _magnitudes.Clear();

    /// <summary>Adds pre-activation gate rows g = x·Wg ([rows.Length / Hidden, Hidden]).</summary>
    public void Observe(ReadOnlySpan<float> gateRows)
    {
        if (gateRows.Length % Hidden != 0)
            throw new ArgumentException($"{gateRows.Length} values are not whole rows of {Hidden}", nameof(gateRows));
        int rows = Math.Min(gateRows.Length / Hidden, RowCap - RowCount);
        foreach (float g in gateRows[..(rows * Hidden)])
            _magnitudes.Add(MathF.Abs(HostActivation.Apply(Activation, g)));
    }

    /// <summary>τ for <paramref name="sparsity"/>; 0 when nothing was observed.</summary>
    public float Threshold(double sparsity) => Quantile(_magnitudes.ToArray(), sparsity);

    /// <summary>The lower empirical quantile v[⌊q · n⌋] of <paramref name="values"/> (sorted in place); 0 for q = 0 or no values.</summary>
    public static float Quantile(float[] values, double q)
    {
        if (!(q >= 0 && q < 1))
            throw new ArgumentOutOfRangeException(nameof(q), q, "quantile must be in [0, 1)");
        int index = (int)Math.Floor(q * values.Length);
        if (index == 0)
            return 0f;
        Array.Sort(values);
        return values[index];
    }
}
