using Caprese.Models.Training.Stage1;

namespace Caprese.Models.Tests.Training.Stage1;

public sealed class ReducedRankRegressionTests
{
    [Fact]
    public void NoiselessRankRDataIsRecoveredExactly()
    {
        var (x, t, w) = Data(rows: 400, dim: 12, rank: 3, noise: 0, seed: 1);
        var s = ReducedRankRegression.Solve(x, t, 12, 3);
        Assert.True(s.Loss < 1e-10, $"loss {s.Loss}");
        var lr = Product(s.L, s.R, 12, 3);
        Assert.True(lr.Zip(w).Max(p => Math.Abs(p.First - p.Second)) < 1e-4);
        Assert.True(s.SingularValues[3] < 1e-6 * s.SingularValues[0]); // nothing beyond rank 3
    }

    [Fact]
    public void FullRankEqualsTheNormalEquations()
    {
        int d = 8;
        var (x, t, _) = Data(rows: 200, dim: d, rank: 8, noise: 0.3, seed: 2);
        var s = ReducedRankRegression.Solve(x, t, d, d);
        // B = (XᵀX)⁻¹XᵀT by Gauss-Jordan elimination, independent of the solver's Cholesky and Jacobi.
        var b = NormalEquations(x, t, d);
        var lr = Product(s.L, s.R, d, d);
        Assert.True(lr.Zip(b).Max(p => Math.Abs(p.First - p.Second)) < 1e-4);
        Assert.Equal(s.FullRankLoss, s.Loss, 1e-9);
    }

    [Fact]
    public void NoisyLowRankOptimumBeatsEveryAlternatingLeastSquaresRun()
    {
        // ALS from random starts converges to a local optimum of the same problem; the closed form is the global one.
        int d = 10, rank = 3;
        var (x, t, w) = Data(rows: 300, dim: d, rank: 4, noise: 0.2, seed: 3);
        var s = ReducedRankRegression.Solve(x, t, d, rank);
        Assert.True(s.Loss >= s.FullRankLoss - 1e-12);
        Assert.True(s.Loss <= ReducedRankRegression.Loss(x, t, d, TruncatedTruthL(w, d, rank), TruncatedTruthR(w, d, rank), rank) + 1e-12);
        for (int seed = 0; seed < 4; seed++)
        {
            var (l, r) = AlternatingLeastSquares(x, t, d, rank, seed, iterations: 300);
            double als = ReducedRankRegression.Loss(x, t, d, l, r, rank);
            Assert.True(s.Loss <= als * (1 + 1e-6), $"closed form {s.Loss} vs ALS {als}");
            Assert.True(als <= s.Loss * 1.001, $"ALS {als} did not reach the optimum {s.Loss}");
        }
    }

    [Fact]
    public void JacobiDecomposesASymmetricMatrix()
    {
        int n = 9;
        var rng = new Random(4);
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++)
                a[i * n + j] = a[j * n + i] = rng.NextDouble() * 2 - 1;
        var (values, vectors) = SymmetricEigen.Decompose(a, n);
        for (int c = 0; c < n; c++)
            for (int i = 0; i < n; i++)
            {
                double av = 0;
                for (int k = 0; k < n; k++)
                    av += a[i * n + k] * vectors[k * n + c];
                Assert.Equal(values[c] * vectors[i * n + c], av, 1e-10);
            }
        for (int c = 0; c < n; c++)
            for (int e = 0; e < n; e++)
                Assert.Equal(c == e ? 1 : 0, Enumerable.Range(0, n).Sum(i => vectors[i * n + c] * vectors[i * n + e]), 1e-10);
        Assert.True(values.Zip(values.Skip(1)).All(p => p.First >= p.Second));
    }

    // X ~ U(-1, 1) [rows, dim]; W = A·B of the given rank; T = X·W + noise.
    internal static (float[] X, float[] T, double[] W) Data(int rows, int dim, int rank, double noise, int seed)
    {
        var rng = new Random(seed);
        double U() => rng.NextDouble() * 2 - 1;
        var a = Enumerable.Range(0, dim * rank).Select(_ => U()).ToArray();
        var b = Enumerable.Range(0, rank * dim).Select(_ => U()).ToArray();
        var w = new double[dim * dim];
        for (int i = 0; i < dim; i++)
            for (int j = 0; j < dim; j++)
                for (int k = 0; k < rank; k++)
                    w[i * dim + j] += a[i * rank + k] * b[k * dim + j];
        var x = Enumerable.Range(0, rows * dim).Select(_ => (float)U()).ToArray();
        var t = new float[rows * dim];
        for (int n = 0; n < rows; n++)
            for (int j = 0; j < dim; j++)
            {
                double y = noise * U();
                for (int i = 0; i < dim; i++)
                    y += x[n * dim + i] * w[i * dim + j];
                t[n * dim + j] = (float)y;
            }
        return (x, t, w);
    }

    private static double[] Product(float[] l, float[] r, int d, int rank)
    {
        var p = new double[d * d];
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
                for (int k = 0; k < rank; k++)
                    p[i * d + j] += (double)l[i * rank + k] * r[k * d + j];
        return p;
    }

    private static double[] NormalEquations(float[] x, float[] t, int d)
    {
        int rows = x.Length / d;
        var m = new double[d, 2 * d];
        for (int n = 0; n < rows; n++)
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++)
                {
                    m[i, j] += (double)x[n * d + i] * x[n * d + j];
                    m[i, d + j] += (double)x[n * d + i] * t[n * d + j];
                }
        for (int c = 0; c < d; c++)
        {
            int pivot = Enumerable.Range(c, d - c).MaxBy(r => Math.Abs(m[r, c]));
            for (int k = 0; k < 2 * d; k++)
                (m[c, k], m[pivot, k]) = (m[pivot, k], m[c, k]);
            double p = m[c, c];
            for (int k = 0; k < 2 * d; k++)
                m[c, k] /= p;
            for (int r = 0; r < d; r++)
                if (r != c)
                {
                    double f = m[r, c];
                    for (int k = 0; k < 2 * d; k++)
                        m[r, k] -= f * m[c, k];
                }
        }
        var b = new double[d * d];
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
                b[i * d + j] = m[i, d + j];
        return b;
    }

    // A rank-r baseline from the true W: its first r columns' directions (any rank-r candidate bounds the optimum).
    private static float[] TruncatedTruthL(double[] w, int d, int rank)
    {
        var l = new float[d * rank];
        for (int i = 0; i < d; i++)
            for (int k = 0; k < rank; k++)
                l[i * rank + k] = (float)w[i * d + k];
        return l;
    }

    private static float[] TruncatedTruthR(double[] w, int d, int rank)
    {
        var r = new float[rank * d];
        for (int k = 0; k < rank; k++)
            r[k * d + k] = 1;
        return r;
    }

    // Alternates exact least-squares solves for R (given L) and L (given R).
    private static (float[] L, float[] R) AlternatingLeastSquares(float[] x, float[] t, int d, int rank, int seed, int iterations)
    {
        var rng = new Random(seed);
        var l = Enumerable.Range(0, d * rank).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var r = new float[rank * d];
        for (int it = 0; it < iterations; it++)
        {
            // R = argmin ‖T − Z·R‖ with Z = X·L [N, r]: R = (ZᵀZ)⁻¹ZᵀT.
            r = SolveR(Multiply(x, l, d, rank), t, d, rank);
            // L = argmin ‖T − X L R‖ with R fixed: solve (XᵀX) L (R Rᵀ) = XᵀT Rᵀ via vec: done by gradient-free normal equations.
            l = SolveL(x, t, r, d, rank);
        }
        return (l, r);
    }

    private static float[] Multiply(float[] x, float[] l, int d, int rank)
    {
        int rows = x.Length / d;
        var z = new float[rows * rank];
        for (int n = 0; n < rows; n++)
            for (int k = 0; k < rank; k++)
            {
                double s = 0;
                for (int i = 0; i < d; i++)
                    s += (double)x[n * d + i] * l[i * rank + k];
                z[n * rank + k] = (float)s;
            }
        return z;
    }

    private static float[] SolveR(float[] z, float[] t, int d, int rank)
    {
        int rows = z.Length / rank;
        var ztz = new double[rank * rank];
        var ztt = new double[rank * d];
        for (int n = 0; n < rows; n++)
            for (int a = 0; a < rank; a++)
            {
                for (int b = 0; b < rank; b++)
                    ztz[a * rank + b] += (double)z[n * rank + a] * z[n * rank + b];
                for (int j = 0; j < d; j++)
                    ztt[a * d + j] += (double)z[n * rank + a] * t[n * d + j];
            }
        return [.. Cholesky.Solve(ztz, ztt, rank, d).Select(v => (float)v)];
    }

    // With R fixed and R Rᵀ = S: the optimum L solves XᵀX · L · S = XᵀT · Rᵀ; both Gram matrices are small.
    private static float[] SolveL(float[] x, float[] t, float[] r, int d, int rank)
    {
        int rows = x.Length / d;
        var xtx = new double[d * d];
        var xtt = new double[d * d];
        for (int n = 0; n < rows; n++)
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++)
                {
                    xtx[i * d + j] += (double)x[n * d + i] * x[n * d + j];
                    xtt[i * d + j] += (double)x[n * d + i] * t[n * d + j];
                }
        var rhs = new double[d * rank];
        for (int i = 0; i < d; i++)
            for (int k = 0; k < rank; k++)
                for (int j = 0; j < d; j++)
                    rhs[i * rank + k] += xtt[i * d + j] * r[k * d + j];
        var y = Cholesky.Solve(xtx, rhs, d, rank); // Y = L·S
        var s = new double[rank * rank];
        for (int a = 0; a < rank; a++)
            for (int b = 0; b < rank; b++)
                for (int j = 0; j < d; j++)
                    s[a * rank + b] += (double)r[a * d + j] * r[b * d + j];
        // L = Y·S⁻¹ = (S⁻¹·Yᵀ)ᵀ (S symmetric).
        var yt = new double[rank * d];
        for (int i = 0; i < d; i++)
            for (int k = 0; k < rank; k++)
                yt[k * d + i] = y[i * rank + k];
        var lt = Cholesky.Solve(s, yt, rank, d);
        var l = new float[d * rank];
        for (int i = 0; i < d; i++)
            for (int k = 0; k < rank; k++)
                l[i * rank + k] = (float)lt[k * d + i];
        return l;
    }
}
