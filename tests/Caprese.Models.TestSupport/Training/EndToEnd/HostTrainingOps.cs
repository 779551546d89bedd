using Caprese.Interop;

namespace Caprese.Models.Training.EndToEnd;

/// <summary>
/// The training ops as plain managed loops over float arrays: the readable reference of every formula
/// (and what the gradient checks run on). Dot products and row reductions accumulate in double, results
/// are stored as f32. Rows of the larger ops are spread over threads; the arithmetic of a row does not
/// depend on that.
/// </summary>
public sealed class HostTrainingOps : ITrainingOps
{
    private static readonly double GeluScale = Math.Sqrt(2 / Math.PI);

    public string Name => "host";

    public TrainingTensor Allocate(int rows, int cols) => new HostTensor(new float[checked(rows * cols)], 0, rows, cols);

    public TrainingTensor Import(CapreseContext source, TensorDesc weight, int rows, int cols)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (weight.ElementCount != (long)rows * cols)
            throw new ArgumentException($"weight {weight} does not hold [{rows}, {cols}]");
        var t = new HostTensor(new float[checked(rows * cols)], 0, rows, cols);
        TrainingWeights.ReadF32(source, weight, t.Data);
        return t;
    }

    public void Upload(ReadOnlySpan<float> source, TrainingTensor destination)
    {
        var d = H(destination);
        if (source.Length != d.Length)
            throw new ArgumentException($"{source.Length} values for {d}");
        source.CopyTo(d.Span);
    }

    public void Download(TrainingTensor source, Span<float> destination)
    {
        var s = H(source);
        if (destination.Length != s.Length)
            throw new ArgumentException($"{destination.Length} values for {s}");
        s.Span.CopyTo(destination);
    }

    public void Copy(TrainingTensor source, TrainingTensor destination)
    {
        Same(source, destination);
        H(source).Span.CopyTo(H(destination).Span);
    }

    public void Zero(TrainingTensor tensor) => H(tensor).Span.Clear();

    public void Embedding(TrainingTensor table, ReadOnlySpan<int> ids, float scale, TrainingTensor output)
    {
        var t = H(table);
        var o = H(output);
        if (ids.Length != o.Rows || t.Cols != o.Cols)
            throw new ArgumentException("embedding shapes");
        for (int m = 0; m < ids.Length; m++)
        {
            if ((uint)ids[m] >= (uint)t.Rows)
                throw new ArgumentOutOfRangeException(nameof(ids), ids[m], "token id outside the table");
            var src = t.Row(ids[m]);
            var dst = o.Row(m);
            for (int j = 0; j < dst.Length; j++)
                dst[j] = src[j] * scale;
        }
    }

    public void Matmul(TrainingTensor x, TrainingTensor w, TrainingTensor? bias, TrainingTensor y)
    {
        var hx = H(x);
        var hw = H(w);
        var hy = H(y);
        var hb = bias is null ? null : H(bias);
        int m = hx.Rows, k = hx.Cols, n = hw.Rows;
        if (hw.Cols != k || hy.Rows != m || hy.Cols != n || (hb is not null && hb.Length != n))
            throw new ArgumentException($"matmul shapes x{hx}, w{hw}, y{hy}");
        ForRows(m, (long)n * k, row =>
        {
            var xr = hx.Row(row);
            var yr = hy.Row(row);
            for (int j = 0; j < n; j++)
                yr[j] = (float)(Dot(xr, hw.Row(j)) + (hb is null ? 0 : hb.Span[j]));
        });
    }

    public void Transpose(TrainingTensor x, TrainingTensor y)
    {
        var hx = H(x);
        var hy = H(y);
        if (hy.Rows != hx.Cols || hy.Cols != hx.Rows)
            throw new ArgumentException($"transpose shapes {hx} -> {hy}");
        for (int i = 0; i < hx.Rows; i++)
        {
            var xr = hx.Row(i);
            for (int j = 0; j < hx.Cols; j++)
                hy.Data[hy.Offset + j * hy.Cols + i] = xr[j];
        }
    }

    public void RmsNorm(TrainingTensor x, TrainingTensor w, float eps, float weightOffset, TrainingTensor y)
    {
        var hx = H(x);
        var hw = H(w).Span;
        var hy = H(y);
        Same(x, y);
        int d = hx.Cols;
        for (int r = 0; r < hx.Rows; r++)
        {
            var xr = hx.Row(r);
            var yr = hy.Row(r);
            float inv = (float)(1 / Math.Sqrt(Dot(xr, xr) / d + eps));
            for (int j = 0; j < d; j++)
                yr[j] = xr[j] * inv * (weightOffset + hw[j]);
        }
    }

    public void RmsNormBackward(TrainingTensor x, TrainingTensor w, TrainingTensor dy, float eps, float weightOffset, TrainingTensor dx)
    {
        // With r = 1/sqrt(mean(x²) + eps) and g = offset + w: dx_j = r g_j dy_j - x_j r³/D Σ_i dy_i g_i x_i.
        var hx = H(x);
        var hw = H(w).Span;
        var hdy = H(dy);
        var hdx = H(dx);
        Same(x, dy);
        Same(x, dx);
        int d = hx.Cols;
        var row = new double[d];
        for (int r = 0; r < hx.Rows; r++)
        {
            var xr = hx.Row(r);
            var dyr = hdy.Row(r);
            var dxr = hdx.Row(r);
            double rr = 1 / Math.Sqrt(Dot(xr, xr) / d + eps);
            double s = 0;
            for (int i = 0; i < d; i++)
                s += (double)dyr[i] * (weightOffset + hw[i]) * xr[i];
            for (int j = 0; j < d; j++)
                row[j] = rr * (weightOffset + hw[j]) * dyr[j] - xr[j] * rr * rr * rr / d * s;
            for (int j = 0; j < d; j++) // written after every read: dx may alias x or dy
                dxr[j] = (float)row[j];
        }
    }

    public void Rope(TrainingTensor x, int heads, int pos0, RopeSpec rope) => Rotate(x, heads, pos0, rope, inverse: false);

    public void RopeBackward(TrainingTensor x, int heads, int pos0, RopeSpec rope) => Rotate(x, heads, pos0, rope, inverse: true);

    // Rotates each pair by +angle (forward) or -angle (the transpose, i.e. the gradient); angles in double, cos/sin rounded to f32 as the kernels do.
    private static void Rotate(TrainingTensor x, int heads, int pos0, RopeSpec rope, bool inverse)
    {
        var hx = H(x);
        int hd = rope.HeadDim, half = hd / 2;
        if (hx.Cols != heads * hd)
            throw new ArgumentException($"rope: {hx} is not [M, {heads}·{hd}]");
        var freq = new double[half];
        var table = rope.InverseFrequencies is { } f ? H(f).Span : default;
        for (int i = 0; i < half; i++)
            freq[i] = table.IsEmpty ? Math.Pow(rope.Theta, -2.0 * i / hd) : table[i];
        bool interleaved = rope.Style == RopeStyle.Interleaved;
        for (int r = 0; r < hx.Rows; r++)
        {
            double pos = pos0 + r;
            var row = hx.Row(r);
            for (int i = 0; i < half; i++)
            {
                double angle = pos * freq[i];
                float c = (float)Math.Cos(angle), s = (float)Math.Sin(angle);
                if (inverse)
                    s = -s;
                for (int h = 0; h < heads; h++)
                {
                    int i0 = h * hd + (interleaved ? 2 * i : i);
                    int i1 = h * hd + (interleaved ? 2 * i + 1 : i + half);
                    float x0 = row[i0], x1 = row[i1];
                    row[i0] = x0 * c - x1 * s;
                    row[i1] = x0 * s + x1 * c;
                }
            }
        }
    }

    public void Attention(TrainingTensor q, TrainingTensor kCache, TrainingTensor vCache, AttentionShape shape, AttentionParams p, TrainingTensor output)
    {
        var hq = H(q);
        var hk = H(kCache);
        var hv = H(vCache);
        var ho = H(output);
        CheckAttention(hq, hk, hv, shape, p);
        Same(q, output);
        int hd = shape.HeadDim, group = shape.QueryHeads / shape.KvHeads;
        ForRows(hq.Rows, (long)(p.Pos0 + hq.Rows) * hq.Cols, m =>
        {
            var probs = new double[p.Pos0 + m + 1];
            var acc = new double[hd];
            for (int h = 0; h < shape.QueryHeads; h++)
            {
                int kvh = h / group;
                var qh = hq.Row(m).Slice(h * hd, hd);
                var (lo, hi) = Probabilities(qh, hk, kvh, hd, p, m, probs);
                Array.Clear(acc);
                for (int j = lo; j <= hi; j++)
                {
                    var v = hv.Row(j).Slice(kvh * hd, hd);
                    for (int i = 0; i < hd; i++)
                        acc[i] += probs[j] * v[i];
                }
                var o = ho.Row(m).Slice(h * hd, hd);
                for (int i = 0; i < hd; i++)
                    o[i] = (float)acc[i];
            }
        });
    }

    public void AttentionBackward(TrainingTensor q, TrainingTensor kCache, TrainingTensor vCache, AttentionShape shape, AttentionParams p,
        TrainingTensor dOut, TrainingTensor dq, TrainingTensor dk, TrainingTensor dv)
    {
        // With s_j = scale·q·k_j (soft-capped: c·tanh(s/c)), P = softmax(s) over the visible keys and o = Σ P_j v_j:
        // dv_j += P_j do; dP_j = do·v_j; ds_j = P_j (dP_j - Σ_i P_i dP_i) (· (1 - tanh²) under the cap);
        // dq += scale Σ_j ds_j k_j; dk_j += scale ds_j q.
        var hq = H(q);
        var hk = H(kCache);
        var hv = H(vCache);
        var hdo = H(dOut);
        var hdq = H(dq);
        var hdk = H(dk);
        var hdv = H(dv);
        CheckAttention(hq, hk, hv, shape, p);
        Same(q, dOut);
        Same(q, dq);
        Same(kCache, dk);
        Same(vCache, dv);
        int hd = shape.HeadDim, group = shape.QueryHeads / shape.KvHeads, rows = p.Pos0 + hq.Rows;
        // Accumulate in double, write once: dk and dv rows 0 .. Pos0 + M - 1 are overwritten.
        var dkAcc = new double[rows * hk.Cols];
        var dvAcc = new double[rows * hv.Cols];
        var probs = new double[rows];
        var dp = new double[rows];
        var dqAcc = new double[hd];
        for (int m = 0; m < hq.Rows; m++)
        {
            for (int h = 0; h < shape.QueryHeads; h++)
            {
                int kvh = h / group;
                var qh = hq.Row(m).Slice(h * hd, hd);
                var doh = hdo.Row(m).Slice(h * hd, hd);
                var (lo, hi) = Probabilities(qh, hk, kvh, hd, p, m, probs);
                double sum = 0;
                for (int j = lo; j <= hi; j++)
                {
                    dp[j] = Dot(doh, hv.Row(j).Slice(kvh * hd, hd));
                    sum += probs[j] * dp[j];
                }
                Array.Clear(dqAcc);
                for (int j = lo; j <= hi; j++)
                {
                    double ds = probs[j] * (dp[j] - sum);
                    if (p.Softcap > 0)
                    {
                        double t = Math.Tanh(RawScore(qh, hk, kvh, hd, j) * p.Scale / p.Softcap);
                        ds *= 1 - t * t;
                    }
                    ds *= p.Scale;
                    var k = hk.Row(j).Slice(kvh * hd, hd);
                    int baseIndex = j * hk.Cols + kvh * hd;
                    for (int i = 0; i < hd; i++)
                    {
                        dqAcc[i] += ds * k[i];
                        dkAcc[baseIndex + i] += ds * qh[i];
                        dvAcc[baseIndex + i] += probs[j] * doh[i];
                    }
                }
                var dqh = hdq.Row(m).Slice(h * hd, hd);
                for (int i = 0; i < hd; i++)
                    dqh[i] = (float)dqAcc[i];
            }
        }
        var dkRows = hdk.Span[..dkAcc.Length];
        var dvRows = hdv.Span[..dvAcc.Length];
        for (int i = 0; i < dkAcc.Length; i++)
        {
            dkRows[i] = (float)dkAcc[i];
            dvRows[i] = (float)dvAcc[i];
        }
    }

    // Softmax weights of query row m (position Pos0 + m) over its visible keys [lo, hi], written to probs[lo..hi].
    private static (int Lo, int Hi) Probabilities(ReadOnlySpan<float> q, HostTensor k, int kvh, int hd, AttentionParams p, int m, double[] probs)
    {
        int hi = p.Pos0 + m;
        int lo = p.SlidingWindow > 0 ? Math.Max(0, hi - p.SlidingWindow + 1) : 0;
        double max = double.NegativeInfinity;
        for (int j = lo; j <= hi; j++)
        {
            double s = Dot(q, k.Row(j).Slice(kvh * hd, hd)) * p.Scale;
            if (p.Softcap > 0)
                s = p.Softcap * Math.Tanh(s / p.Softcap);
            probs[j] = s;
            max = Math.Max(max, s);
        }
        double total = 0;
        for (int j = lo; j <= hi; j++)
            total += probs[j] = Math.Exp(probs[j] - max);
        for (int j = lo; j <= hi; j++)
            probs[j] /= total;
        return (lo, hi);
    }

    private static double RawScore(ReadOnlySpan<float> q, HostTensor k, int kvh, int hd, int j) => Dot(q, k.Row(j).Slice(kvh * hd, hd));

    private static void CheckAttention(HostTensor q, HostTensor k, HostTensor v, AttentionShape s, AttentionParams p)
    {
        if (s.QueryHeads % s.KvHeads != 0 || q.Cols != s.QueryHeads * s.HeadDim || k.Cols != s.KvHeads * s.HeadDim || v.Cols != k.Cols
            || k.Rows != v.Rows || p.Pos0 < 0 || p.Pos0 + q.Rows > k.Rows)
            throw new ArgumentException($"attention shapes q{q}, k{k}, v{v}, {s}, pos0 {p.Pos0}");
    }

    public void GatedActivation(TrainingTensor gate, TrainingTensor up, Activation act, TrainingTensor output)
    {
        Same(gate, up);
        Same(gate, output);
        var g = H(gate).Span;
        var u = H(up).Span;
        var o = H(output).Span;
        for (int i = 0; i < g.Length; i++)
            o[i] = (float)(Act(act, g[i]) * u[i]);
    }

    public void GatedActivationBackward(TrainingTensor gate, TrainingTensor up, TrainingTensor dOut, Activation act, TrainingTensor dGate, TrainingTensor dUp)
    {
        Same(gate, up);
        Same(gate, dOut);
        Same(gate, dGate);
        Same(gate, dUp);
        var g = H(gate).Span;
        var u = H(up).Span;
        var d = H(dOut).Span;
        var dg = H(dGate).Span;
        var du = H(dUp).Span;
        for (int i = 0; i < g.Length; i++)
        {
            double gi = g[i], ui = u[i], di = d[i]; // all read before either output is written (they may alias)
            dg[i] = (float)(di * ui * ActDerivative(act, gi));
            du[i] = (float)(di * Act(act, gi));
        }
    }

    public void Add(TrainingTensor a, TrainingTensor b, TrainingTensor output) => Axpby(1, a, 1, b, output);

    public void Axpby(float alpha, TrainingTensor a, float beta, TrainingTensor b, TrainingTensor output)
    {
        Same(a, b);
        Same(a, output);
        var sa = H(a).Span;
        var sb = H(b).Span;
        var so = H(output).Span;
        for (int i = 0; i < sa.Length; i++)
            so[i] = alpha * sa[i] + beta * sb[i];
    }

    public void Mul(TrainingTensor a, TrainingTensor b, TrainingTensor output)
    {
        Same(a, b);
        Same(a, output);
        var sa = H(a).Span;
        var sb = H(b).Span;
        var so = H(output).Span;
        for (int i = 0; i < sa.Length; i++)
            so[i] = sa[i] * sb[i];
    }

    public void ThresholdMask(TrainingTensor gate, Activation act, float tau, TrainingTensor mask)
    {
        Same(gate, mask);
        var g = H(gate).Span;
        var o = H(mask).Span;
        for (int i = 0; i < g.Length; i++)
            o[i] = MathF.Abs(Sparsity.HostActivation.Apply(act, g[i])) >= tau ? 1f : 0f;
    }

    public double SumOfSquares(TrainingTensor x)
    {
        var s = H(x).Span;
        return Dot(s, s);
    }

    public void AdamStep(TrainingTensor param, TrainingTensor grad, TrainingTensor m, TrainingTensor v, AdamParameters p)
    {
        Same(param, grad);
        Same(param, m);
        Same(param, v);
        ArgumentOutOfRangeException.ThrowIfLessThan(p.Step, 1);
        var w = H(param).Span;
        var g = H(grad).Span;
        var sm = H(m).Span;
        var sv = H(v).Span;
        double c1 = 1 - Math.Pow(p.Beta1, p.Step), c2 = 1 - Math.Pow(p.Beta2, p.Step);
        float stepSize = (float)(p.LearningRate / c1);
        float decay = 1 - p.LearningRate * p.WeightDecay;
        for (int i = 0; i < w.Length; i++)
        {
            sm[i] = p.Beta1 * sm[i] + (1 - p.Beta1) * g[i];
            sv[i] = p.Beta2 * sv[i] + (1 - p.Beta2) * g[i] * g[i];
            w[i] = w[i] * decay - stepSize * sm[i] / ((float)Math.Sqrt(sv[i] / c2) + p.Epsilon);
        }
    }

    public void Synchronize()
    {
    }

    public void Dispose()
    {
    }

    internal static double Act(Activation act, double g) => act switch
    {
        Activation.Silu => g / (1 + Math.Exp(-g)),
        Activation.GeluTanh => 0.5 * g * (1 + Math.Tanh(GeluScale * (g + 0.044715 * g * g * g))),
        _ => throw new ArgumentOutOfRangeException(nameof(act), act, null),
    };

    internal static double ActDerivative(Activation act, double g)
    {
        switch (act)
        {
            case Activation.Silu:
            {
                double s = 1 / (1 + Math.Exp(-g));
                return s * (1 + g * (1 - s));
            }
            case Activation.GeluTanh:
            {
                double t = Math.Tanh(GeluScale * (g + 0.044715 * g * g * g));
                return 0.5 * (1 + t) + 0.5 * g * (1 - t * t) * GeluScale * (1 + 3 * 0.044715 * g * g);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(act), act, null);
        }
    }

    private static double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++)
            s += (double)a[i] * b[i];
        return s;
    }

    // Runs body(row) for every row, in parallel when a row costs enough work to be worth a thread hop.
    private static void ForRows(int rows, long workPerRow, Action<int> body)
    {
        if (rows > 1 && rows * workPerRow >= 1 << 16)
            Parallel.For(0, rows, body);
        else
            for (int r = 0; r < rows; r++)
                body(r);
    }

    private static HostTensor H(TrainingTensor t) =>
        t as HostTensor ?? throw new ArgumentException($"{t} does not belong to the host ops");

    private static void Same(TrainingTensor a, TrainingTensor b)
    {
        if (a.Rows != b.Rows || a.Cols != b.Cols)
            throw new ArgumentException($"shapes differ: {a} vs {b}");
    }

    /// <summary>A window [Offset, Offset + Rows·Cols) of a float array.</summary>
    internal sealed class HostTensor(float[] data, int offset, int rows, int cols) : TrainingTensor(rows, cols)
    {
        public float[] Data { get; } = data;
        public int Offset { get; } = offset;
        public Span<float> Span => Data.AsSpan(Offset, (int)Length);
        public Span<float> Row(int r) => Data.AsSpan(Offset + r * Cols, Cols);

        public override TrainingTensor Slice(int first, int count)
        {
            CheckSlice(first, count);
            return new HostTensor(Data, Offset + first * Cols, count, Cols);
        }

        public override TrainingTensor Reshape(int rows, int cols)
        {
            CheckReshape(rows, cols);
            return new HostTensor(Data, Offset, rows, cols);
        }

        public override void Dispose()
        {
        }
    }
}
