namespace Caprese.Interop.Tests;

/// <summary>caprese_sparse_ffn through the interop against a managed reference built from the FFN definition.</summary>
public class SparseFfnTests
{
    private const int M = 2, D = 12, H = 20, R = 3;

    // y[m] = Σ_{j in active} act(x·wg_j)(x·wu_j) wd_j + Σ_e (x·eu_e) ed_e, with act from Reference.Gated.
    private static float[] ReferenceFfn(float[] x, float[] wg, float[] wu, float[] wdT, int[] active,
        float[]? eu, float[]? ed, Activation act)
    {
        var y = new float[M * D];
        for (int m = 0; m < M; m++)
        {
            var acc = new double[D];
            foreach (int j in active)
            {
                double g = 0, u = 0;
                for (int d = 0; d < D; d++) { g += x[m * D + d] * wg[j * D + d]; u += x[m * D + d] * wu[j * D + d]; }
                double h = Reference.Gated([(float)g], [(float)u], act)[0];
                for (int d = 0; d < D; d++) acc[d] += h * wdT[j * D + d];
            }
            for (int e = 0; eu is not null && ed is not null && e < R; e++)
            {
                double h = 0;
                for (int d = 0; d < D; d++) h += x[m * D + d] * eu[e * D + d];
                for (int d = 0; d < D; d++) acc[d] += h * ed[e * D + d];
            }
            for (int d = 0; d < D; d++) y[m * D + d] = (float)acc[d];
        }
        return y;
    }

    [Theory]
    [InlineData(BackendKind.Cpu, DType.F32, Activation.Silu)]
    [InlineData(BackendKind.Cpu, DType.F16, Activation.GeluTanh)]
    [InlineData(BackendKind.Cpu, DType.BF16, Activation.Silu)]
    [InlineData(BackendKind.Cuda, DType.F16, Activation.Silu)]
    public void IndicesWithExtras_MatchReference(BackendKind backend, DType wType, Activation act)
    {
        using var ctx = Backends.Open(backend);
        float[] x = TestUtil.Random(M * D, 11), wg = TestUtil.Random(H * D, 12), wu = TestUtil.Random(H * D, 13),
            wd = TestUtil.Random(H * D, 14), eu = TestUtil.Random(R * D, 15), ed = TestUtil.Random(R * D, 16);
        int[] active = [17, 3, 8, 0, 19, 11];
        using var xb = ctx.Upload<float>(x, DType.F32, M, D);
        using var gb = TestUtil.UploadAs(ctx, wg, wType, H, D);
        using var ub = TestUtil.UploadAs(ctx, wu, wType, H, D);
        using var db = TestUtil.UploadAs(ctx, wd, wType, H, D);
        using var eub = TestUtil.UploadAs(ctx, eu, wType, R, D);
        using var edb = TestUtil.UploadAs(ctx, ed, wType, R, D);
        using var ib = ctx.Upload<int>(active, DType.I32, active.Length);
        using var yb = ctx.Allocate(DType.F32, M, D);

        ctx.SparseFfn(xb.Tensor, gb.Tensor, ub.Tensor, db.Tensor, ib.Tensor, eub.Tensor, edb.Tensor, act,
            SparseSelection.Indices, 0f, yb.Tensor);
        float[] expected = ReferenceFfn(x, TestUtil.Quantize(wg, wType), TestUtil.Quantize(wu, wType),
            TestUtil.Quantize(wd, wType), active, TestUtil.Quantize(eu, wType), TestUtil.Quantize(ed, wType), act);
        TestUtil.AssertClose(expected, yb.ToArray<float>(), Backends.Atol(backend), Backends.Rtol(backend));
    }

    [Fact]
    public void AllSelection_EqualsEveryIndex()
    {
        using var ctx = Backends.Open(BackendKind.Cpu);
        float[] x = TestUtil.Random(M * D, 21), wg = TestUtil.Random(H * D, 22), wu = TestUtil.Random(H * D, 23),
            wd = TestUtil.Random(H * D, 24);
        using var xb = ctx.Upload<float>(x, DType.F32, M, D);
        using var gb = ctx.Upload<float>(wg, DType.F32, H, D);
        using var ub = ctx.Upload<float>(wu, DType.F32, H, D);
        using var db = ctx.Upload<float>(wd, DType.F32, H, D);
        using var yb = ctx.Allocate(DType.F32, M, D);
        ctx.SparseFfn(xb.Tensor, gb.Tensor, ub.Tensor, db.Tensor, null, null, null, Activation.Silu,
            SparseSelection.All, 0f, yb.Tensor);
        TestUtil.AssertClose(ReferenceFfn(x, wg, wu, wd, Enumerable.Range(0, H).ToArray(), null, null, Activation.Silu),
            yb.ToArray<float>());
    }

    [Fact]
    public void IndicesWithAllSelection_IsAnInvalidArgument()
    {
        using var ctx = Backends.Open(BackendKind.Cpu);
        using var xb = ctx.Allocate(DType.F32, M, D);
        using var wb = ctx.Allocate(DType.F32, H, D);
        using var ib = ctx.Upload<int>([1, 2], DType.I32, 2);
        using var yb = ctx.Allocate(DType.F32, M, D);
        var ex = Assert.ThrowsAny<CapreseException>(() => ctx.SparseFfn(xb.Tensor, wb.Tensor, wb.Tensor, wb.Tensor,
            ib.Tensor, null, null, Activation.Silu, SparseSelection.All, 0f, yb.Tensor));
        Assert.Equal("caprese_sparse_ffn", ex.Operation);
        Assert.Contains("indices", ex.Message);
    }
}
