namespace Caprese.Models.Training.Stage1;

/// <summary>The rank-r least-squares optimum of stage 1 for one layer.</summary>
/// <param name="L">[Dim, Rank] row-major.</param>
/// <param name="R">[Rank, Dim] row-major (orthonormal rows).</param>
/// <param name="Rank">r.</param>
/// <param name="Loss">Mean squared error ‖T − X·L·R‖² / (N·D) on the data solved for.</param>
/// <param name="FullRankLoss">The same for the unconstrained least-squares fit X·B (a lower bound for any rank).</param>
/// <param name="SingularValues">Singular values of the fitted values X·B, descending (how much each added rank can still gain).</param>
public sealed record RrrSolution(float[] L, float[] R, int Rank, double Loss, double FullRankLoss, double[] SingularValues);

/// <summary>
/// Closed-form reduced-rank regression: min over L [D, r], R [r, D] of ‖T − X·L·R‖². The unconstrained least-squares
/// fit is B = (XᵀX + λI)⁻¹XᵀT (λ a tiny ridge relative to the mean diagonal, for rank-deficient X); the best rank-r fit
/// projects the fitted values X·B on their top-r right singular directions V_r (Eckart-Young applied to X·B, which is
/// orthogonal to the residual T − X·B): L = B·V_r, R = V_rᵀ. Everything in double; only D×D matrices besides one
/// pass over the data for the Gram matrices and one for the losses.
/// </summary>
public static class ReducedRankRegression
{
    /// <summary>λ = ridge · trace(XᵀX) / D; small enough to leave well-conditioned problems unchanged to ~1e-8.</summary>
    public const double DefaultRelativeRidge = 1e-8;

    /// <param name="x">X [N, D] row-major.</param>
    /// <param name="t">T [N, D] row-major.</param>
    /// <param name="dim">D.</param>
    /// <param name="rank">r, 1..D.</param>
    /// <param name="relativeRidge">λ relative to the mean diagonal of XᵀX.</param>
    public static RrrSolution Solve(ReadOnlySpan<float> x, ReadOnlySpan<float> t, int dim, int rank, double relativeRidge = DefaultRelativeRidge)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dim, 1);
        if (rank < 1 || rank > dim)
            throw new ArgumentOutOfRangeException(nameof(rank), rank, $"rank must be in 1..{dim}");
        if (x.Length == 0 || x.Length % dim != 0 || t.Length != x.Length)
            throw new ArgumentException($"x ({x.Length}) and t ({t.Length}) must both be [rows >= 1, {dim}]");
        ArgumentOutOfRangeException.ThrowIfNegative(relativeRidge);
        int d = dim;

        var (gram, cross) = GramMatrices(x, t, d);
        double trace = 0;
        for (int i = 0; i < d; i++)
            trace += gram[i * d + i];
        double lambda = relativeRidge * trace / d + 1e-300;
        var a = (double[])gram.Clone();
        for (int i = 0; i < d; i++)
            a[i * d + i] += lambda;
        var b = Cholesky.Solve(a, cross, d, d);

        // (X·B)ᵀ(X·B) = Bᵀ·G·B; its top eigenvectors are X·B's top right singular vectors.
        var gb = Multiply(gram, b, d, d, d);
        var fittedGram = MultiplyTransposedLeft(b, gb, d, d, d);
        var (values, vectors) = SymmetricEigen.Decompose(fittedGram, d);

        var l = new float[d * rank];
        var r = new float[rank * d];
        for (int i = 0; i < d; i++)
            for (int k = 0; k < rank; k++)
            {
                double sum = 0;
                for (int j = 0; j < d; j++)
                    sum += b[i * d + j] * vectors[j * d + k];
                l[i * rank + k] = (float)sum;
            }
        for (int k = 0; k < rank; k++)
            for (int j = 0; j < d; j++)
                r[k * d + j] = (float)vectors[j * d + k];

        double loss = Loss(x, t, d, l, r, rank);
        double fullRank = LossOfFull(x, t, d, b);
        return new RrrSolution(l, r, rank, loss, fullRank, [.. values.Select(v => Math.Sqrt(Math.Max(0, v)))]);
    }

    /// <summary>‖T − X·L·R‖² / (N·D), accumulated in double.</summary>
    public static double Loss(ReadOnlySpan<float> x, ReadOnlySpan<float> t, int dim, ReadOnlySpan<float> l, ReadOnlySpan<float> r, int rank)
    {
        int rows = x.Length / dim;
        var low = new double[rank];
        double sum = 0;
        for (int n = 0; n < rows; n++)
        {
            var xr = x.Slice(n * dim, dim);
            Array.Clear(low);
            for (int i = 0; i < dim; i++)
                for (int k = 0; k < rank; k++)
                    low[k] += (double)xr[i] * l[i * rank + k];
            for (int j = 0; j < dim; j++)
            {
                double y = 0;
                for (int k = 0; k < rank; k++)
                    y += low[k] * r[k * dim + j];
                double e = t[n * dim + j] - y;
                sum += e * e;
            }
        }
        return sum / ((double)rows * dim);
    }

    private static double LossOfFull(ReadOnlySpan<float> x, ReadOnlySpan<float> t, int d, double[] b)
    {
        int rows = x.Length / d;
        double sum = 0;
        var y = new double[d];
        for (int n = 0; n < rows; n++)
        {
            Array.Clear(y);
            for (int i = 0; i < d; i++)
            {
                double xi = x[n * d + i];
                for (int j = 0; j < d; j++)
                    y[j] += xi * b[i * d + j];
            }
            for (int j = 0; j < d; j++)
            {
                double e = t[n * d + j] - y[j];
                sum += e * e;
            }
        }
        return sum / ((double)rows * d);
    }

    // XᵀX and XᵀT (D×D) in one pass over the rows.
    private static (double[] Gram, double[] Cross) GramMatrices(ReadOnlySpan<float> x, ReadOnlySpan<float> t, int d)
    {
        var gram = new double[d * d];
        var cross = new double[d * d];
        int rows = x.Length / d;
        for (int n = 0; n < rows; n++)
        {
            var xr = x.Slice(n * d, d);
            var tr = t.Slice(n * d, d);
            for (int i = 0; i < d; i++)
            {
                double xi = xr[i];
                if (xi == 0)
                    continue;
                for (int j = i; j < d; j++)
                    gram[i * d + j] += xi * xr[j];
                for (int j = 0; j < d; j++)
                    cross[i * d + j] += xi * tr[j];
            }
        }
        for (int i = 0; i < d; i++)
            for (int j = 0; j < i; j++)
                gram[i * d + j] = gram[j * d + i];
        return (gram, cross);
    }

    // [m, k] · [k, n]
    private static double[] Multiply(double[] a, double[] b, int m, int k, int n)
    {
        var c = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int p = 0; p < k; p++)
            {
                double aip = a[i * k + p];
                for (int j = 0; j < n; j++)
                    c[i * n + j] += aip * b[p * n + j];
            }
        return c;
    }

    // aᵀ · b with a [k, m], b [k, n]
    private static double[] MultiplyTransposedLeft(double[] a, double[] b, int k, int m, int n)
    {
        var c = new double[m * n];
        for (int p = 0; p < k; p++)
            for (int i = 0; i < m; i++)
            {
                double api = a[p * m + i];
                for (int j = 0; j < n; j++)
                    c[i * n + j] += api * b[p * n + j];
            }
        return c;
    }
}
