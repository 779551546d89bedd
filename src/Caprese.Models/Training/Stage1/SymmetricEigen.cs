namespace Caprese.Models.Training.Stage1;

/// <summary>
/// Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations, in double. Simple and accurate to working
/// precision (every rotation is orthogonal); cost is O(n³) per sweep with typically 6-10 sweeps, fine for the
/// D×D Gram matrices of stage 1 (D = 64: instant; D = 4096: minutes).
/// </summary>
public static class SymmetricEigen
{
    /// <summary>
    /// Eigenvalues in descending order and the matching eigenvectors as the columns of an n×n row-major matrix.
    /// Only the upper triangle of <paramref name="matrix"/> (n×n row-major) is trusted.
    /// </summary>
    public static (double[] Values, double[] Vectors) Decompose(ReadOnlySpan<double> matrix, int n, int maxSweeps = 100)
    {
        if (matrix.Length != (long)n * n)
            throw new ArgumentException($"{matrix.Length} values are not an {n}x{n} matrix", nameof(matrix));
        var a = new double[matrix.Length];
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++)
                a[i * n + j] = a[j * n + i] = matrix[i * n + j];
        var v = new double[a.Length];
        for (int i = 0; i < n; i++)
            v[i * n + i] = 1;

        for (int sweep = 0; sweep < maxSweeps; sweep++)
        {
            double off = 0, diag = 0;
            for (int i = 0; i < n; i++)
            {
                diag += a[i * n + i] * a[i * n + i];
                for (int j = i + 1; j < n; j++)
                    off += a[i * n + j] * a[i * n + j];
            }
            if (off <= 1e-30 * diag || off == 0)
                break;
            for (int p = 0; p < n - 1; p++)
                for (int q = p + 1; q < n; q++)
                    Rotate(a, v, n, p, q);
        }

        var values = new double[n];
        for (int i = 0; i < n; i++)
            values[i] = a[i * n + i];
        int[] order = [.. Enumerable.Range(0, n).OrderByDescending(i => values[i])];
        var sortedValues = order.Select(i => values[i]).ToArray();
        var sortedVectors = new double[v.Length];
        for (int row = 0; row < n; row++)
            for (int c = 0; c < n; c++)
                sortedVectors[row * n + c] = v[row * n + order[c]];
        return (sortedValues, sortedVectors);
    }

    // Zeroes a[p, q] with the rotation of Numerical Recipes' jacobi (stable tangent formula), applied to a and v.
    private static void Rotate(double[] a, double[] v, int n, int p, int q)
    {
        double apq = a[p * n + q];
        if (apq == 0)
            return;
        double app = a[p * n + p], aqq = a[q * n + q];
        double theta = (aqq - app) / (2 * apq);
        double t = Math.Sign(theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
        if (theta == 0)
            t = 1;
        double c = 1 / Math.Sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < n; k++)
        {
            double akp = a[k * n + p], akq = a[k * n + q];
            a[k * n + p] = c * akp - s * akq;
            a[k * n + q] = s * akp + c * akq;
        }
        for (int k = 0; k < n; k++)
        {
            double apk = a[p * n + k], aqk = a[q * n + k];
            a[p * n + k] = c * apk - s * aqk;
            a[q * n + k] = s * apk + c * aqk;
        }
        for (int k = 0; k < n; k++)
        {
            double vkp = v[k * n + p], vkq = v[k * n + q];
            v[k * n + p] = c * vkp - s * vkq;
            v[k * n + q] = s * vkp + c * vkq;
        }
    }
}
