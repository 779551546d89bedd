namespace Caprese.Models.Training.Stage1;

/// <summary>Solves A·X = B for symmetric positive definite A (n×n) by Cholesky factorisation, in double.</summary>
public static class Cholesky
{
    /// <param name="a">A [n, n] row-major (not modified).</param>
    /// <param name="b">B [n, m] row-major.</param>
    /// <param name="n">Rows and columns of A.</param>
    /// <param name="m">Columns of B.</param>
    /// <exception cref="ArgumentException">A is not positive definite (a pivot ≤ 0).</exception>
    public static double[] Solve(double[] a, double[] b, int n, int m)
    {
        if (a.Length != n * n || b.Length != n * m)
            throw new ArgumentException($"A must be [{n}, {n}] and B [{n}, {m}]");
        var f = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
            {
                double s = a[i * n + j];
                for (int k = 0; k < j; k++)
                    s -= f[i * n + k] * f[j * n + k];
                if (i == j)
                {
                    if (!(s > 0))
                        throw new ArgumentException($"matrix is not positive definite (pivot {i} is {s})", nameof(a));
                    f[i * n + i] = Math.Sqrt(s);
                }
                else
                {
                    f[i * n + j] = s / f[j * n + j];
                }
            }
        var x = (double[])b.Clone();
        for (int c = 0; c < m; c++)
        {
            for (int i = 0; i < n; i++) // forward: F·y = b
            {
                double s = x[i * m + c];
                for (int k = 0; k < i; k++)
                    s -= f[i * n + k] * x[k * m + c];
                x[i * m + c] = s / f[i * n + i];
            }
            for (int i = n - 1; i >= 0; i--) // back: Fᵀ·x = y
            {
                double s = x[i * m + c];
                for (int k = i + 1; k < n; k++)
                    s -= f[k * n + i] * x[k * m + c];
                x[i * m + c] = s / f[i * n + i];
            }
        }
        return x;
    }
}
