namespace Caprese.Interop.Tests;

/// <summary>Every op through the interop, against the managed reference, on each backend.</summary>
public class OpsTests
{
    public static TheoryData<BackendKind, DType> WeightTypes() => new()
    {
        { BackendKind.Cpu, DType.F32 }, { BackendKind.Cpu, DType.F16 }, { BackendKind.Cpu, DType.BF16 },
        { BackendKind.Cuda, DType.F32 }, { BackendKind.Cuda, DType.F16 }, { BackendKind.Cuda, DType.BF16 },
    };

    [Theory]
    [MemberData(nameof(WeightTypes))]
    public void Matmul_MatchesReference(BackendKind backend, DType wType)
    {
        const int m = 3, n = 5, k = 17;
        using var ctx = Backends.Open(backend);
        float[] x = TestUtil.Random(m * k, 1), w = TestUtil.Random(n * k, 2), bias = TestUtil.Random(n, 3);
        using var xb = ctx.Upload<float>(x, DType.F32, m, k);
        using var wb = TestUtil.UploadAs(ctx, w, wType, n, k);
        using var bb = ctx.Upload<float>(bias, DType.F32, n);
        using var yb = ctx.Allocate(DType.F32, m, n);
        float[] wq = TestUtil.Quantize(w, wType);

        ctx.Matmul(xb.Tensor, wb.Tensor, bb.Tensor, yb.Tensor);
        TestUtil.AssertClose(Reference.Matmul(x, wq, bias, m, n, k), yb.ToArray<float>(), Backends.Atol(backend), Backends.Rtol(backend));

        ctx.Matmul(xb.Tensor, wb.Tensor, yb.Tensor);
        TestUtil.AssertClose(Reference.Matmul(x, wq, null, m, n, k), yb.ToArray<float>(), Backends.Atol(backend), Backends.Rtol(backend));
    }

    [Theory]
    [InlineData(BackendKind.Cpu, 0f)]
    [InlineData(BackendKind.Cpu, 1f)]
    [InlineData(BackendKind.Cuda, 0f)]
    [InlineData(BackendKind.Cuda, 1f)]
    public void RmsNorm_MatchesReference(BackendKind backend, float offset)
    {
        const int m = 4, d = 24;
        using var ctx = Backends.Open(backend);
        float[] x = TestUtil.Random(m * d, 4, 3f), w = TestUtil.Random(d, 5);
        using var xb = ctx.Upload<float>(x, DType.F32, m, d);
        using var wb = ctx.Upload<float>(w, DType.F32, d);
        using var yb = ctx.Allocate(DType.F32, m, d);
        ctx.RmsNorm(xb.Tensor, wb.Tensor, 1e-5f, offset, yb.Tensor);
        TestUtil.AssertClose(Reference.RmsNorm(x, w, 1e-5f, offset, m, d), yb.ToArray<float>(), Backends.Atol(backend), Backends.Rtol(backend));
    }

    [Theory]
    [InlineData(BackendKind.Cpu, RopeStyle.Interleaved, false)]
    [InlineData(BackendKind.Cpu, RopeStyle.HalfSplit, false)]
    [InlineData(BackendKind.Cpu, RopeStyle.HalfSplit, true)]
    [InlineData(BackendKind.Cuda, RopeStyle.Interleaved, false)]
    [InlineData(BackendKind.Cuda, RopeStyle.HalfSplit, false)]
    [InlineData(BackendKind.Cuda, RopeStyle.HalfSplit, true)]
    public void Rope_MatchesReference(BackendKind backend, RopeStyle style, bool withInvFreq)
    {
        const int m = 3, heads = 2, hd = 8, pos0 = 5;
        const float theta = 10000f;
        using var ctx = Backends.Open(backend);
        float[] x = TestUtil.Random(m * heads * hd, 6);
        float[]? invFreq = withInvFreq ? Enumerable.Range(0, hd / 2).Select(i => 0.5f / (i + 1)).ToArray() : null;
        using var xb = ctx.Upload<float>(x, DType.F32, m, heads, hd);
        using var fb = invFreq is null ? null : ctx.Upload<float>(invFreq, DType.F32, hd / 2);
        ctx.Rope(xb.Tensor, pos0, theta, fb?.Tensor, style);
        TestUtil.AssertClose(Reference.Rope(x, m, heads, hd, pos0, theta, invFreq, style), xb.ToArray<float>(), Backends.Atol(backend), Backends.Rtol(backend));
    }

    [Theory]
    [InlineData(BackendKind.Cpu, 0, 0f)]
    [InlineData(BackendKind.Cpu, 3, 0f)]
    [InlineData(BackendKind.Cpu, 0, 0.5f)]
    [InlineData(BackendKind.Cuda, 0, 0f)]
    [InlineData(BackendKind.Cuda, 3, 0f)]
    [InlineData(BackendKind.Cuda, 0, 0.5f)]
    public void Attention_MatchesReference(BackendKind backend, int slidingWindow, float softcap)
    {
        const int m = 2, hq = 4, hkv = 2, hd = 8, s = 10, pos0 = 4;
        using var ctx = Backends.Open(backend);
        float[] q = TestUtil.Random(m * hq * hd, 7), k = TestUtil.Random(s * hkv * hd, 8), v = TestUtil.Random(s * hkv * hd, 9);
        var p = new AttentionParams(pos0, slidingWindow, 1f / MathF.Sqrt(hd), softcap);
        using var qb = ctx.Upload<float>(q, DType.F32, m, hq, hd);
        using var kb = ctx.Upload<float>(k, DType.F32, s, hkv, hd);
        using var vb = ctx.Upload<float>(v, DType.F32, s, hkv, hd);
        using var ob = ctx.Allocate(DType.F32, m, hq, hd);
        ctx.Attention(qb.Tensor, kb.Tensor, vb.Tensor, p, ob.Tensor);
        TestUtil.AssertClose(Reference.Attention(q, k, v, m, hq, hkv, hd, p), ob.ToArray<float>(), Backends.Atol(backend), Backends.Rtol(backend));
    }

    [Theory]
    [InlineData(BackendKind.Cpu, Activation.Silu)]
    [InlineData(BackendKind.Cpu, Activation.GeluTanh)]
    [InlineData(BackendKind.Cuda, Activation.Silu)]
    [InlineData(BackendKind.Cuda, Activation.GeluTanh)]
    public void GatedActivation_MatchesReference_InPlace(BackendKind backend, Activation act)
    {
        const int m = 2, h = 33;
        using var ctx = Backends.Open(backend);
        float[] gate = TestUtil.Random(m * h, 10, 4f), up = TestUtil.Random(m * h, 11);
        using var gb = ctx.Upload<float>(gate, DType.F32, m, h);
        using var ub = ctx.Upload<float>(up, DType.F32, m, h);
        ctx.GatedActivation(gb.Tensor, ub.Tensor, act, gb.Tensor); // out aliases gate
        TestUtil.AssertClose(Reference.Gated(gate, up, act), gb.ToArray<float>(), Backends.Atol(backend), Backends.Rtol(backend));
    }

    [Theory]
    [InlineData(BackendKind.Cpu)]
    [InlineData(BackendKind.Cuda)]
    public void Add_IsResidualAdd(BackendKind backend)
    {
        using var ctx = Backends.Open(backend);
        float[] a = TestUtil.Random(40, 12), b = TestUtil.Random(40, 13);
        using var ab = ctx.Upload<float>(a, DType.F32, 4, 10);
        using var bb = ctx.Upload<float>(b, DType.F32, 4, 10);
        ctx.Add(ab.Tensor, bb.Tensor, ab.Tensor);
        TestUtil.AssertClose(a.Zip(b, (x, y) => x + y).ToArray(), ab.ToArray<float>(), 1e-6f, 0f);
    }

    [Theory]
    [InlineData(BackendKind.Cpu)]
    [InlineData(BackendKind.Cuda)]
    public void Softmax_MatchesReference(BackendKind backend)
    {
        const int m = 3, n = 50;
        using var ctx = Backends.Open(backend);
        float[] x = TestUtil.Random(m * n, 14, 5f);
        using var xb = ctx.Upload<float>(x, DType.F32, m, n);
        using var yb = ctx.Allocate(DType.F32, m, n);
        ctx.Softmax(xb.Tensor, 0.7f, yb.Tensor);
        float[] y = yb.ToArray<float>();
        TestUtil.AssertClose(Reference.Softmax(x, m, n, 0.7f), y, Backends.Atol(backend) / 10, Backends.Rtol(backend));
        for (int i = 0; i < m; i++) Assert.Equal(1.0, y.Skip(i * n).Take(n).Sum(v => (double)v), 4);
    }

    [Theory]
    [InlineData(BackendKind.Cpu)]
    [InlineData(BackendKind.Cuda)]
    public void Softcap_MatchesReference(BackendKind backend)
    {
        using var ctx = Backends.Open(backend);
        float[] x = TestUtil.Random(64, 15, 100f);
        using var xb = ctx.Upload<float>(x, DType.F32, 2, 32);
        ctx.Softcap(xb.Tensor, 30f, xb.Tensor);
        TestUtil.AssertClose(Reference.Softcap(x, 30f), xb.ToArray<float>(), Backends.Atol(backend), Backends.Rtol(backend));
    }

    [Theory]
    [InlineData(BackendKind.Cpu)]
    [InlineData(BackendKind.Cuda)]
    public void Argmax_TakesFirstOnTies(BackendKind backend)
    {
        const int m = 3, n = 7;
        using var ctx = Backends.Open(backend);
        float[] x = TestUtil.Random(m * n, 16);
        x[0 * n + 2] = 5f; x[0 * n + 5] = 5f; // tie: index 2 wins
        x[2 * n + 6] = 9f;
        using var xb = ctx.Upload<float>(x, DType.F32, m, n);
        using var ob = ctx.Allocate(DType.I32, m);
        ctx.Argmax(xb.Tensor, ob.Tensor);
        int[] got = ob.ToArray<int>();
        Assert.Equal(Reference.Argmax(x, m, n), got);
        Assert.Equal(2, got[0]);
        Assert.Equal(6, got[2]);
    }

    [Theory]
    [MemberData(nameof(WeightTypes))]
    public void Embedding_MatchesReference(BackendKind backend, DType tableType)
    {
        const int v = 11, d = 6;
        using var ctx = Backends.Open(backend);
        float[] table = TestUtil.Random(v * d, 17);
        int[] ids = [3, 0, 10, 3];
        using var tb = TestUtil.UploadAs(ctx, table, tableType, v, d);
        using var ib = ctx.Upload<int>(ids, DType.I32, ids.Length);
        using var ob = ctx.Allocate(DType.F32, ids.Length, d);
        ctx.Embedding(tb.Tensor, ib.Tensor, 2.5f, ob.Tensor);
        ctx.Synchronize();
        TestUtil.AssertClose(Reference.Embedding(TestUtil.Quantize(table, tableType), ids, d, 2.5f), ob.ToArray<float>(), 1e-6f, 1e-6f);
    }

    [Theory]
    [InlineData(BackendKind.Cpu)]
    [InlineData(BackendKind.Cuda)]
    public void WithOffsetRows_WritesIntoTheRightCacheRows(BackendKind backend)
    {
        // A decode step writes its K projection into row `pos` of a [S, D] cache.
        const int s = 6, d = 4, k = 3, pos = 4;
        using var ctx = Backends.Open(backend);
        float[] x = TestUtil.Random(k, 18), w = TestUtil.Random(d * k, 19);
        using var xb = ctx.Upload<float>(x, DType.F32, 1, k);
        using var wb = ctx.Upload<float>(w, DType.F32, d, k);
        using var cache = ctx.Allocate(DType.F32, s, d);
        ctx.Matmul(xb.Tensor, wb.Tensor, null, cache.Tensor.WithOffsetRows(pos, 1));
        float[] all = cache.ToArray<float>();
        float[] expected = new float[s * d];
        Reference.Matmul(x, w, null, 1, d, k).CopyTo(expected, pos * d);
        TestUtil.AssertClose(expected, all, Backends.Atol(backend), Backends.Rtol(backend));
    }

    [Theory]
    [InlineData(BackendKind.Cpu)]
    [InlineData(BackendKind.Cuda)]
    public void Events_MeasureNonNegativeTime(BackendKind backend)
    {
        using var ctx = Backends.Open(backend);
        using var start = ctx.CreateEvent();
        using var end = ctx.CreateEvent();
        using var buf = ctx.Allocate(DType.F32, 256, 256);
        ctx.Record(start);
        ctx.Softcap(buf.Tensor, 1f, buf.Tensor);
        ctx.Record(end);
        end.Synchronize();
        Assert.True(CapreseContext.ElapsedMilliseconds(start, end) >= 0f);
    }

    [Theory]
    [InlineData(BackendKind.Cpu)]
    [InlineData(BackendKind.Cuda)]
    public void Buffers_CopyWithOffsetsAndClear(BackendKind backend)
    {
        using var ctx = Backends.Open(backend);
        using var buf = ctx.Allocate(64);
        Assert.All(buf.ToArray<byte>(), b => Assert.Equal(0, b)); // zero-initialised
        buf.CopyFrom<int>([1, 2, 3], byteOffset: 8);
        var back = new int[3];
        buf.CopyTo<int>(back, byteOffset: 8);
        Assert.Equal([1, 2, 3], back);
        int[] all = buf.ToArray<int>();
        Assert.Equal([0, 0, 1, 2, 3, 0], all[..6]);
        TensorDesc t = buf.AsTensor(8, DType.I32, 3);
        Assert.Equal(buf.Pointer + 8, t.Data);
        buf.Clear();
        Assert.All(buf.ToArray<int>(), v => Assert.Equal(0, v));

        using var other = ctx.Allocate(64);
        ctx.Copy(other.Pointer, buf.Pointer + 0, 64, ctx.Backend.WithinBackend());
        ctx.Memset(other.Pointer, 0x01, 4);
        Assert.Equal(0x01010101, other.ToArray<int>()[0]);
    }

    [Fact]
    public void SmallPipeline_EmbeddingNormMatmulArgmax()
    {
        // Embedding -> RMSNorm -> tied LM head -> argmax: the shape of one greedy decode step.
        const int v = 9, d = 8;
        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        float[] table = TestUtil.Random(v * d, 20), norm = Enumerable.Repeat(1f, d).ToArray();
        using var tb = ctx.Upload<float>(table, DType.F32, v, d);
        using var nb = ctx.Upload<float>(norm, DType.F32, d);
        using var ids = ctx.Upload<int>([4, 7], DType.I32, 2);
        using var h = ctx.Allocate(DType.F32, 2, d);
        using var logits = ctx.Allocate(DType.F32, 2, v);
        using var next = ctx.Allocate(DType.I32, 2);
        ctx.Embedding(tb.Tensor, ids.Tensor, 1f, h.Tensor);
        ctx.RmsNorm(h.Tensor, nb.Tensor, 1e-6f, 0f, h.Tensor);
        ctx.Matmul(h.Tensor, tb.Tensor, null, logits.Tensor);
        ctx.Argmax(logits.Tensor, next.Tensor);

        float[] hx = Reference.RmsNorm(Reference.Embedding(table, [4, 7], d, 1f), norm, 1e-6f, 0f, 2, d);
        Assert.Equal(Reference.Argmax(Reference.Matmul(hx, table, null, 2, v, d), 2, v), next.ToArray<int>());
    }
}
