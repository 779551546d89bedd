namespace Caprese.Interop.Tests;

/// <summary>
/// The bindings of the position-on-the-device ops (bitwise equal to the by-value ops on one backend) and of graph
/// capture: refused on the CPU with NotSupported, replayed at new positions on the CUDA backend (or its simulator).
/// </summary>
public class PositionAndGraphTests
{
    [Theory]
    [InlineData(BackendKind.Cpu)]
    [InlineData(BackendKind.Cuda)]
    public void RopeAt_AttentionAt_WriteRowsAt_EqualTheByValueOps(BackendKind backend)
    {
        const int m = 1, hq = 4, hkv = 2, hd = 8, s = 12, pos = 7;
        using var ctx = Backends.Open(backend);
        float[] q = TestUtil.Random(m * hq * hd, 1), k = TestUtil.Random(s * hkv * hd, 2), v = TestUtil.Random(s * hkv * hd, 3);
        float[] kNew = TestUtil.Random(m * hkv * hd, 4);
        using var posb = ctx.Upload<int>(new[] { pos }, DType.I32, 1);
        using var q1 = ctx.Upload<float>(q, DType.F32, m, hq, hd);
        using var q2 = ctx.Upload<float>(q, DType.F32, m, hq, hd);
        using var kb = ctx.Upload<float>(k, DType.F32, s, hkv, hd);
        using var vb = ctx.Upload<float>(v, DType.F32, s, hkv, hd);
        using var knb = ctx.Upload<float>(kNew, DType.F32, m, hkv, hd);
        using var o1 = ctx.Allocate(DType.F32, m, hq, hd);
        using var o2 = ctx.Allocate(DType.F32, m, hq, hd);

        ctx.WriteRowsAt(knb.Tensor, posb.Tensor, kb.Tensor);
        float[] want = (float[])k.Clone();
        Array.Copy(kNew, 0, want, pos * hkv * hd, kNew.Length);
        Assert.Equal(want, kb.ToArray<float>());

        ctx.Rope(q1.Tensor, pos, 10000f, null, RopeStyle.HalfSplit);
        ctx.RopeAt(q2.Tensor, posb.Tensor, 10000f, null, RopeStyle.HalfSplit);
        Assert.Equal(q1.ToArray<float>(), q2.ToArray<float>());

        ctx.Attention(q1.Tensor, kb.Tensor, vb.Tensor, new AttentionParams(pos, 0, 0.35f, 0f), o1.Tensor);
        ctx.AttentionAt(q2.Tensor, kb.Tensor, vb.Tensor, new AttentionParams(0, 0, 0.35f, 0f), posb.Tensor, o2.Tensor);
        Assert.Equal(o1.ToArray<float>(), o2.ToArray<float>());
    }

    [Fact]
    public void Graphs_OnTheCpu_AreRefusedAsNotSupported()
    {
        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        var ex = Assert.Throws<CapreseException>(() => ctx.BeginGraphCapture());
        Assert.Equal(CapreseStatus.NotSupported, ex.Status);
        Assert.Contains("CUDA", ex.NativeMessage, StringComparison.Ordinal);
        ctx.ReserveScratch(1 << 20);  // accepted, nothing to reserve
    }

    [Fact]
    public void Graph_ReplaysRopeAtNewPositions()
    {
        using var ctx = Backends.Open(BackendKind.Cuda);
        const int heads = 2, hd = 8;
        float[] x = TestUtil.Random(heads * hd, 5);
        using var posb = ctx.Allocate(DType.I32, 1);
        using var xb = ctx.Allocate(DType.F32, 1, heads, hd);
        using var eager = ctx.Allocate(DType.F32, 1, heads, hd);
        ctx.BeginGraphCapture();
        ctx.RopeAt(xb.Tensor, posb.Tensor, 10000f, null, RopeStyle.Interleaved);
        using CapreseGraph graph = ctx.EndGraphCapture();
        foreach (int pos in new[] { 3, 250 })
        {
            posb.CopyFrom<int>(new[] { pos });
            xb.CopyFrom<float>(x);
            eager.CopyFrom<float>(x);
            ctx.Launch(graph);
            ctx.Rope(eager.Tensor, pos, 10000f, null, RopeStyle.Interleaved);
            Assert.Equal(eager.ToArray<float>(), xb.ToArray<float>());
        }
    }
}
