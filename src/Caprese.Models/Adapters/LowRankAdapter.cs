namespace Caprese.Models.Adapters;

/// <summary>
/// Caprese's low-rank branch for one sparsified layer, parallel to the whole FFN:
/// y = FF̂(x) + x·L·R with x the FFN input (after the FFN norm), L [Dim, Rank] and R [Rank, Dim],
/// both row-major f32. R starts at zero so an untrained adapter leaves the sparse model unchanged.
/// </summary>
public sealed class LowRankAdapter
{
    /// <param name="layer">The transformer layer the adapter belongs to.</param>
    /// <param name="dim">Model dimension D.</param>
    /// <param name="rank">Rank r (1 .. D).</param>
    /// <param name="l">L [D, r] row-major; zeros when null.</param>
    /// <param name="r">R [r, D] row-major; zeros when null.</param>
    public LowRankAdapter(int layer, int dim, int rank, float[]? l = null, float[]? r = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(layer);
        ArgumentOutOfRangeException.ThrowIfLessThan(dim, 1);
        if (rank < 1 || rank > dim)
            throw new ArgumentOutOfRangeException(nameof(rank), rank, $"rank must be in 1..{dim} (the model dimension)");
        long n = (long)dim * rank;
        if (l is not null && l.Length != n)
            throw new ArgumentException($"L has {l.Length} values, expected {dim}x{rank} = {n}", nameof(l));
        if (r is not null && r.Length != n)
            throw new ArgumentException($"R has {r.Length} values, expected {rank}x{dim} = {n}", nameof(r));
        Layer = layer;
        Dim = dim;
        Rank = rank;
        L = l ?? new float[n];
        R = r ?? new float[n];
    }

    public int Layer { get; }
    public int Dim { get; }
    public int Rank { get; }

    /// <summary>L [Dim, Rank], row-major (x·L maps D → r).</summary>
    public float[] L { get; }

    /// <summary>R [Rank, Dim], row-major (maps r → D).</summary>
    public float[] R { get; }

    /// <summary>Extra parameters this adapter adds: 2·D·r.</summary>
    public long ParameterCount => 2L * Dim * Rank;

    /// <summary>
    /// The paper's initialisation: R = 0 (training starts from the sparse model), L ~ N(0, 1/D) so x·L has
    /// roughly the scale of x's entries.
    /// </summary>
    public static LowRankAdapter CreateInitial(int layer, int dim, int rank, Random rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var a = new LowRankAdapter(layer, dim, rank);
        float std = 1f / MathF.Sqrt(dim);
        for (int i = 0; i < a.L.Length; i++)
            a.L[i] = std * Gaussian(rng);
        return a;
    }

    /// <summary>y[m, :] += x[m, :]·L·R for each of the rows of x ([rows, D]); a plain host reference.</summary>
    public void AddTo(ReadOnlySpan<float> x, Span<float> y)
    {
        if (x.Length % Dim != 0 || y.Length != x.Length)
            throw new ArgumentException($"x and y must both be [rows, {Dim}]");
        Span<float> t = Rank <= 1024 ? stackalloc float[Rank] : new float[Rank];
        for (int row = 0; row < x.Length / Dim; row++)
        {
            var xr = x.Slice(row * Dim, Dim);
            var yr = y.Slice(row * Dim, Dim);
            t.Clear();
            for (int d = 0; d < Dim; d++)
            {
                float xv = xr[d];
                var lrow = L.AsSpan(d * Rank, Rank);
                for (int k = 0; k < Rank; k++)
                    t[k] += xv * lrow[k];
            }
            for (int k = 0; k < Rank; k++)
            {
                float tv = t[k];
                var rrow = R.AsSpan(k * Dim, Dim);
                for (int d = 0; d < Dim; d++)
                    yr[d] += tv * rrow[d];
            }
        }
    }

    public LowRankAdapter Clone() => new(Layer, Dim, Rank, (float[])L.Clone(), (float[])R.Clone());

    private static float Gaussian(Random rng)
    {
        // Box-Muller; 1 - NextDouble() keeps the log argument in (0, 1].
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2));
    }
}
