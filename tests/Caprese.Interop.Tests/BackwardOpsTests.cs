namespace Caprese.Interop.Tests;

/// <summary>
/// The training ops through the interop (shapes, one numeric check per op against the managed double-precision
/// references below, one error path each), on the CPU and, where present, on CUDA.
/// </summary>
public class BackwardOpsTests
{
    public static TheoryData<BackendKind> AllBackends() => new() { BackendKind.Cpu, BackendKind.Cuda };

    [Theory]
    [MemberData(nameof(AllBackends))]
    public void RmsNormBackward_MatchesReference(BackendKind backend)
    {
        const int m = 3, d = 40;
        const float eps = 1e-5f, offset = 1f;
        using var ctx = Backends.Open(backend);
        float[] x = TestUtil.Random(m * d, 101, 2f), w = TestUtil.Random(d, 102), dy = TestUtil.Random(m * d, 103);
        float[] wq = TestUtil.Quantize(w, DType.BF16);
        using var xb = ctx.Upload<float>(x, DType.F32, m, d);
        using var wb = TestUtil.UploadAs(ctx, w, DType.BF16, d);
        using var dyb = ctx.Upload<float>(dy, DType.F32, m, d);
        using var dxb = ctx.Allocate(DType.F32, m, d);
        ctx.RmsNormBackward(xb.Tensor, wb.Tensor, dyb.Tensor, eps, offset, dxb.Tensor);
        TestUtil.AssertClose(BackwardReference.RmsNorm(x, wq, dy, eps, offset, m, d), dxb.ToArray<float>(),
            Backends.Atol(backend), Backends.Rtol(backend));
    }

    [Fact]
    public void RmsNormBackward_WrongShape_Throws()
    {
        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        using var x = ctx.Allocate(DType.F32, 2, 8);
        using var w = ctx.Allocate(DType.F32, 8);
        using var dy = ctx.Allocate(DType.F32, 2, 7);
        using var dx = ctx.Allocate(DType.F32, 2, 8);
        var ex = Assert.Throws<CapreseException>(() => ctx.RmsNormBackward(x.Tensor, w.Tensor, dy.Tensor, 1e-5f, 0f, dx.Tensor));
        Assert.Equal(CapreseStatus.Shape, ex.Status);
        Assert.Equal("caprese_rmsnorm_backward", ex.Operation);
        Assert.Contains("dy [2, 7]", ex.NativeMessage);
    }

    [Theory]
    [InlineData(BackendKind.Cpu, RopeStyle.Interleaved)]
    [InlineData(BackendKind.Cpu, RopeStyle.HalfSplit)]
    [InlineData(BackendKind.Cuda, RopeStyle.Interleaved)]
    [InlineData(BackendKind.Cuda, RopeStyle.HalfSplit)]
    public void RopeBackward_IsTheInverseRotation(BackendKind backend, RopeStyle style)
    {
        const int m = 3, heads = 2, hd = 8, pos0 = 5;
        const float theta = 10000f;
        using var ctx = Backends.Open(backend);
        float[] g = TestUtil.Random(m * heads * hd, 104);
        using var gb = ctx.Upload<float>(g, DType.F32, m, heads, hd);
        ctx.RopeBackward(gb.Tensor, pos0, theta, null, style);
        TestUtil.AssertClose(BackwardReference.Rope(g, m, heads, hd, pos0, theta, style), gb.ToArray<float>(),
            Backends.Atol(backend), Backends.Rtol(backend));
        // Rope undoes it.
        ctx.Rope(gb.Tensor, pos0, theta, null, style);
        TestUtil.AssertClose(g, gb.ToArray<float>(), Backends.Atol(backend), Backends.Rtol(backend));
    }

    [Fact]
    public void RopeBackward_NegativePosition_IsOutOfRange()
    {
        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        using var x = ctx.Allocate(DType.F32, 1, 2, 8);
        var ex = Assert.Throws<CapreseException>(() => ctx.RopeBackward(x.Tensor, -1, 10000f, null, RopeStyle.HalfSplit));
        Assert.Equal(CapreseStatus.OutOfRange, ex.Status);
        Assert.StartsWith("pos0:", ex.NativeMessage);
    }

    [Theory]
    [InlineData(BackendKind.Cpu, Activation.Silu)]
    [InlineData(BackendKind.Cpu, Activation.GeluTanh)]
    [InlineData(BackendKind.Cuda, Activation.Silu)]
    [InlineData(BackendKind.Cuda, Activation.GeluTanh)]
    public void GatedActivationBackward_MatchesReference(BackendKind backend, Activation act)
    {
        const int m = 2, h = 33;
        using var ctx = Backends.Open(backend);
        float[] gate = TestUtil.Random(m * h, 105, 4f), up = TestUtil.Random(m * h, 106), dOut = TestUtil.Random(m * h, 107);
        using var gb = ctx.Upload<float>(gate, DType.F32, m, h);
        using var ub = ctx.Upload<float>(up, DType.F32, m, h);
        using var db = ctx.Upload<float>(dOut, DType.F32, m, h);
        using var dgb = ctx.Allocate(DType.F32, m, h);
        using var dub = ctx.Allocate(DType.F32, m, h);
        ctx.GatedActivationBackward(gb.Tensor, ub.Tensor, db.Tensor, act, dgb.Tensor, dub.Tensor);
        var (dGate, dUp) = BackwardReference.Gated(gate, up, dOut, act);
        TestUtil.AssertClose(dGate, dgb.ToArray<float>(), Backends.Atol(backend), Backends.Rtol(backend));
        TestUtil.AssertClose(dUp, dub.ToArray<float>(), Backends.Atol(backend), Backends.Rtol(backend));
    }

    [Fact]
    public void GatedActivationBackward_SameOutputTwice_IsRejected()
    {
        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        using var a = ctx.Allocate(DType.F32, 2, 8);
        using var b = ctx.Allocate(DType.F32, 2, 8);
        using var c = ctx.Allocate(DType.F32, 2, 8);
        using var o = ctx.Allocate(DType.F32, 2, 8);
        var ex = Assert.Throws<CapreseException>(() =>
            ctx.GatedActivationBackward(a.Tensor, b.Tensor, c.Tensor, Activation.Silu, o.Tensor, o.Tensor));
        Assert.Equal(CapreseStatus.InvalidArgument, ex.Status);
        Assert.StartsWith("dup:", ex.NativeMessage);
    }

    [Theory]
    [InlineData(BackendKind.Cpu, 0, 0f)]
    [InlineData(BackendKind.Cpu, 3, 0.5f)]
    [InlineData(BackendKind.Cuda, 0, 0f)]
    [InlineData(BackendKind.Cuda, 3, 0.5f)]
    public void AttentionBackward_MatchesReference(BackendKind backend, int slidingWindow, float softcap)
    {
        const int m = 2, hq = 4, hkv = 2, hd = 8, s = 10, pos0 = 4;
        const float sentinel = 9f;
        using var ctx = Backends.Open(backend);
        float[] q = TestUtil.Random(m * hq * hd, 108), k = TestUtil.Random(s * hkv * hd, 109), v = TestUtil.Random(s * hkv * hd, 110);
        float[] dOut = TestUtil.Random(m * hq * hd, 111);
        var p = new AttentionParams(pos0, slidingWindow, 1f / MathF.Sqrt(hd), softcap);
        using var qb = ctx.Upload<float>(q, DType.F32, m, hq, hd);
        using var kb = ctx.Upload<float>(k, DType.F32, s, hkv, hd);
        using var vb = ctx.Upload<float>(v, DType.F32, s, hkv, hd);
        using var db = ctx.Upload<float>(dOut, DType.F32, m, hq, hd);
        using var dqb = ctx.Allocate(DType.F32, m, hq, hd);
        using var dkb = ctx.Upload<float>(Enumerable.Repeat(sentinel, s * hkv * hd).ToArray(), DType.F32, s, hkv, hd);
        using var dvb = ctx.Upload<float>(Enumerable.Repeat(sentinel, s * hkv * hd).ToArray(), DType.F32, s, hkv, hd);
        ctx.AttentionBackward(qb.Tensor, kb.Tensor, vb.Tensor, p, db.Tensor, dqb.Tensor, dkb.Tensor, dvb.Tensor);
        var (dq, dk, dv) = BackwardReference.Attention(q, k, v, dOut, m, hq, hkv, hd, s, p);
        for (int i = (pos0 + m) * hkv * hd; i < s * hkv * hd; i++) dk[i] = dv[i] = sentinel; // rows past pos0 + M untouched
        TestUtil.AssertClose(dq, dqb.ToArray<float>(), Backends.Atol(backend), Backends.Rtol(backend));
        TestUtil.AssertClose(dk, dkb.ToArray<float>(), Backends.Atol(backend), Backends.Rtol(backend));
        TestUtil.AssertClose(dv, dvb.ToArray<float>(), Backends.Atol(backend), Backends.Rtol(backend));
    }

    [Fact]
    public void AttentionBackward_GradientOverInput_IsRejected()
    {
        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        using var q = ctx.Allocate(DType.F32, 2, 4, 8);
        using var k = ctx.Allocate(DType.F32, 6, 2, 8);
        using var v = ctx.Allocate(DType.F32, 6, 2, 8);
        using var d = ctx.Allocate(DType.F32, 2, 4, 8);
        using var dq = ctx.Allocate(DType.F32, 2, 4, 8);
        using var dv = ctx.Allocate(DType.F32, 6, 2, 8);
        var p = new AttentionParams(1, 0, 0.35f, 0f);
        var ex = Assert.Throws<CapreseException>(() =>
            ctx.AttentionBackward(q.Tensor, k.Tensor, v.Tensor, p, d.Tensor, dq.Tensor, k.Tensor, dv.Tensor));
        Assert.Equal(CapreseStatus.InvalidArgument, ex.Status);
        Assert.StartsWith("dk:", ex.NativeMessage);
        Assert.Contains("k_cache", ex.NativeMessage);
    }

    [Theory]
    [MemberData(nameof(AllBackends))]
    public void Transpose_MatchesReference(BackendKind backend)
    {
        const int m = 37, n = 5;
        using var ctx = Backends.Open(backend);
        float[] x = TestUtil.Random(m * n, 112);
        using var xb = ctx.Upload<float>(x, DType.F32, m, n);
        using var yb = ctx.Allocate(DType.F32, n, m);
        ctx.Transpose(xb.Tensor, yb.Tensor);
        var want = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) want[j * m + i] = x[i * n + j];
        Assert.Equal(want, yb.ToArray<float>());
    }

    [Fact]
    public void Transpose_WrongOutputShape_Throws()
    {
        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        using var x = ctx.Allocate(DType.F32, 3, 5);
        using var y = ctx.Allocate(DType.F32, 3, 5);
        var ex = Assert.Throws<CapreseException>(() => ctx.Transpose(x.Tensor, y.Tensor));
        Assert.Equal(CapreseStatus.Shape, ex.Status);
        Assert.Contains("transpose", ex.NativeMessage);
    }

    [Theory]
    [MemberData(nameof(AllBackends))]
    public void Axpby_InPlace_MatchesReference(BackendKind backend)
    {
        using var ctx = Backends.Open(backend);
        float[] a = TestUtil.Random(40, 113), b = TestUtil.Random(40, 114);
        using var ab = ctx.Upload<float>(a, DType.F32, 4, 10);
        using var bb = ctx.Upload<float>(b, DType.F32, 4, 10);
        ctx.Axpby(0.5f, ab.Tensor, -2f, bb.Tensor, ab.Tensor);
        TestUtil.AssertClose(a.Zip(b, (x, y) => 0.5f * x - 2f * y).ToArray(), ab.ToArray<float>(), 1e-6f, 1e-6f);
    }

    [Fact]
    public void Axpby_NonFiniteAlpha_Throws()
    {
        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        using var a = ctx.Allocate(DType.F32, 4);
        var ex = Assert.Throws<CapreseException>(() => ctx.Axpby(float.NaN, a.Tensor, 1f, a.Tensor, a.Tensor));
        Assert.Equal(CapreseStatus.InvalidArgument, ex.Status);
        Assert.StartsWith("alpha:", ex.NativeMessage);
    }

    [Theory]
    [MemberData(nameof(AllBackends))]
    public void Mul_MatchesReference(BackendKind backend)
    {
        using var ctx = Backends.Open(backend);
        float[] a = TestUtil.Random(33, 115), b = TestUtil.Random(33, 116);
        using var ab = ctx.Upload<float>(a, DType.F32, 33);
        using var bb = ctx.Upload<float>(b, DType.F32, 33);
        using var ob = ctx.Allocate(DType.F32, 33);
        ctx.Mul(ab.Tensor, bb.Tensor, ob.Tensor);
        Assert.Equal(a.Zip(b, (x, y) => x * y).ToArray(), ob.ToArray<float>());
    }

    [Fact]
    public void Mul_WrongDType_Throws()
    {
        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        using var a = ctx.Allocate(DType.F32, 4);
        using var b = ctx.Allocate(DType.F16, 4);
        using var o = ctx.Allocate(DType.F32, 4);
        var ex = Assert.Throws<CapreseException>(() => ctx.Mul(a.Tensor, b.Tensor, o.Tensor));
        Assert.Equal(CapreseStatus.DType, ex.Status);
        Assert.StartsWith("b:", ex.NativeMessage);
    }

    [Theory]
    [MemberData(nameof(AllBackends))]
    public void AdamStep_MatchesScalarReference(BackendKind backend)
    {
        const int n = 50;
        const float lr = 1e-2f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.1f;
        using var ctx = Backends.Open(backend);
        float[] param = TestUtil.Random(n, 117);
        using var pb = ctx.Upload<float>(param, DType.F32, n);
        using var gb = ctx.Allocate(DType.F32, n);
        using var mb = ctx.Allocate(DType.F32, n);
        using var vb = ctx.Allocate(DType.F32, n);
        double[] p = Array.ConvertAll(param, f => (double)f), m = new double[n], v = new double[n];
        for (int step = 1; step <= 4; step++)
        {
            float[] g = TestUtil.Random(n, 200 + step, 0.5f);
            gb.CopyFrom<float>(g);
            ctx.AdamStep(pb.Tensor, gb.Tensor, mb.Tensor, vb.Tensor, lr, b1, b2, eps, wd, step);
            for (int i = 0; i < n; i++)
            {
                p[i] *= 1 - (double)lr * wd;
                m[i] = b1 * m[i] + (1 - (double)b1) * g[i];
                v[i] = b2 * v[i] + (1 - (double)b2) * g[i] * (double)g[i];
                double mHat = m[i] / (1 - Math.Pow(b1, step)), vHat = v[i] / (1 - Math.Pow(b2, step));
                p[i] -= lr * mHat / (Math.Sqrt(vHat) + eps);
            }
        }
        TestUtil.AssertClose(Array.ConvertAll(p, x => (float)x), pb.ToArray<float>(), 2e-6f, 0f);
    }

    [Fact]
    public void AdamStep_StepZero_Throws()
    {
        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        using var p = ctx.Allocate(DType.F32, 4);
        using var g = ctx.Allocate(DType.F32, 4);
        using var m = ctx.Allocate(DType.F32, 4);
        using var v = ctx.Allocate(DType.F32, 4);
        var ex = Assert.Throws<CapreseException>(() =>
            ctx.AdamStep(p.Tensor, g.Tensor, m.Tensor, v.Tensor, 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 0));
        Assert.Equal(CapreseStatus.InvalidArgument, ex.Status);
        Assert.Equal("caprese_adam_step", ex.Operation);
        Assert.StartsWith("step:", ex.NativeMessage);
    }
}

/// <summary>Managed double-precision gradients of the forward ops, written from the formulas.</summary>
internal static class BackwardReference
{
    public static float[] RmsNorm(float[] x, float[] w, float[] dy, float eps, float offset, int m, int d)
    {
        var dx = new float[m * d];
        for (int r = 0; r < m; r++)
        {
            double ss = 0, dot = 0;
            for (int j = 0; j < d; j++)
            {
                ss += (double)x[r * d + j] * x[r * d + j];
                dot += (double)dy[r * d + j] * (offset + w[j]) * x[r * d + j];
            }
            double inv = 1.0 / Math.Sqrt(ss / d + eps);
            for (int j = 0; j < d; j++)
                dx[r * d + j] = (float)(inv * (offset + w[j]) * dy[r * d + j] - x[r * d + j] * inv * inv * inv * dot / d);
        }
        return dx;
    }

    public static float[] Rope(float[] g, int m, int heads, int hd, int pos0, float theta, RopeStyle style)
    {
        var o = (float[])g.Clone();
        int half = hd / 2;
        for (int r = 0; r < m; r++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < half; i++)
                {
                    double a = (pos0 + r) * Math.Pow(theta, -2.0 * i / hd);
                    int b = (r * heads + h) * hd;
                    int i0 = b + (style == RopeStyle.Interleaved ? 2 * i : i);
                    int i1 = b + (style == RopeStyle.Interleaved ? 2 * i + 1 : i + half);
                    o[i0] = (float)(g[i0] * Math.Cos(a) + g[i1] * Math.Sin(a));
                    o[i1] = (float)(-g[i0] * Math.Sin(a) + g[i1] * Math.Cos(a));
                }
        return o;
    }

    public static (float[] DGate, float[] DUp) Gated(float[] gate, float[] up, float[] dOut, Activation act)
    {
        var dg = new float[gate.Length];
        var du = new float[gate.Length];
        for (int i = 0; i < gate.Length; i++)
        {
            double x = gate[i], a, da;
            if (act == Activation.Silu)
            {
                double s = 1 / (1 + Math.Exp(-x));
                a = x * s;
                da = s * (1 + x * (1 - s));
            }
            else
            {
                double k = Math.Sqrt(2 / Math.PI), t = Math.Tanh(k * (x + 0.044715 * x * x * x));
                a = 0.5 * x * (1 + t);
                da = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x);
            }
            dg[i] = (float)(dOut[i] * up[i] * da);
            du[i] = (float)(dOut[i] * a);
        }
        return (dg, du);
    }

    public static (float[] Dq, float[] Dk, float[] Dv) Attention(float[] q, float[] k, float[] v, float[] dOut,
        int m, int hq, int hkv, int hd, int s, AttentionParams p)
    {
        var dq = new double[m * hq * hd];
        var dk = new double[s * hkv * hd];
        var dv = new double[s * hkv * hd];
        int group = hq / hkv;
        for (int r = 0; r < m; r++)
            for (int h = 0; h < hq; h++)
            {
                int pos = p.Pos0 + r, kh = h / group, lo = p.SlidingWindow > 0 ? Math.Max(0, pos - p.SlidingWindow + 1) : 0;
                int qo = (r * hq + h) * hd;
                var raw = new double[pos + 1];
                var c = new double[pos + 1];
                var pr = new double[pos + 1];
                var dp = new double[pos + 1];
                double max = double.NegativeInfinity;
                for (int t = lo; t <= pos; t++)
                {
                    double sc = 0, dd = 0;
                    for (int d = 0; d < hd; d++)
                    {
                        sc += (double)q[qo + d] * k[(t * hkv + kh) * hd + d];
                        dd += (double)dOut[qo + d] * v[(t * hkv + kh) * hd + d];
                    }
                    raw[t] = sc * p.Scale;
                    c[t] = p.Softcap > 0 ? p.Softcap * Math.Tanh(raw[t] / p.Softcap) : raw[t];
                    dp[t] = dd;
                    max = Math.Max(max, c[t]);
                }
                double sum = 0, dsum = 0;
                for (int t = lo; t <= pos; t++) sum += pr[t] = Math.Exp(c[t] - max);
                for (int t = lo; t <= pos; t++) dsum += (pr[t] /= sum) * dp[t];
                for (int t = lo; t <= pos; t++)
                {
                    double ds = pr[t] * (dp[t] - dsum);
                    if (p.Softcap > 0) ds *= 1 - Math.Pow(Math.Tanh(raw[t] / p.Softcap), 2);
                    for (int d = 0; d < hd; d++)
                    {
                        int ko = (t * hkv + kh) * hd + d;
                        dq[qo + d] += p.Scale * ds * k[ko];
                        dk[ko] += p.Scale * ds * q[qo + d];
                        dv[ko] += pr[t] * dOut[qo + d];
                    }
                }
            }
        static float[] F(double[] a) => Array.ConvertAll(a, x => (float)x);
        return (F(dq), F(dk), F(dv));
    }
}
