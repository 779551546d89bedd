namespace Caprese.Interop.Tests;

/// <summary>Straightforward managed versions of the ops (double accumulation) to check the native ones.</summary>
internal static class Reference
{
    public static float[] Matmul(float[] x, float[] w, float[]? bias, int m, int n, int k)
    {
        var y = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = bias?[j] ?? 0;
                for (int t = 0; t < k; t++) s += (double)x[i * k + t] * w[j * k + t];
                y[i * n + j] = (float)s;
            }
        return y;
    }

    public static float[] RmsNorm(float[] x, float[] w, float eps, float offset, int m, int d)
    {
        var y = new float[m * d];
        for (int i = 0; i < m; i++)
        {
            double ss = 0;
            for (int j = 0; j < d; j++) ss += (double)x[i * d + j] * x[i * d + j];
            double r = 1.0 / Math.Sqrt(ss / d + eps);
            for (int j = 0; j < d; j++) y[i * d + j] = (float)(x[i * d + j] * r * (offset + w[j]));
        }
        return y;
    }

    public static float[] Rope(float[] x, int m, int heads, int hd, int pos0, float theta, float[]? invFreq, RopeStyle style)
    {
        var y = (float[])x.Clone();
        int half = hd / 2;
        for (int r = 0; r < m; r++)
            for (int h = 0; h < heads; h++)
            {
                int b = (r * heads + h) * hd;
                for (int i = 0; i < half; i++)
                {
                    double f = invFreq?[i] ?? Math.Pow(theta, -2.0 * i / hd);
                    double a = (pos0 + r) * f;
                    int i0 = style == RopeStyle.Interleaved ? 2 * i : i;
                    int i1 = style == RopeStyle.Interleaved ? 2 * i + 1 : i + half;
                    double x0 = x[b + i0], x1 = x[b + i1];
                    y[b + i0] = (float)(x0 * Math.Cos(a) - x1 * Math.Sin(a));
                    y[b + i1] = (float)(x0 * Math.Sin(a) + x1 * Math.Cos(a));
                }
            }
        return y;
    }

    public static float[] Attention(float[] q, float[] k, float[] v, int m, int hq, int hkv, int hd, AttentionParams p)
    {
        var o = new float[m * hq * hd];
        int group = hq / hkv;
        for (int r = 0; r < m; r++)
            for (int h = 0; h < hq; h++)
            {
                int pos = p.Pos0 + r, kh = h / group;
                int lo = p.SlidingWindow > 0 ? Math.Max(0, pos - p.SlidingWindow + 1) : 0;
                var scores = new double[pos + 1];
                double max = double.NegativeInfinity;
                for (int t = lo; t <= pos; t++)
                {
                    double s = 0;
                    for (int d = 0; d < hd; d++) s += (double)q[(r * hq + h) * hd + d] * k[(t * hkv + kh) * hd + d];
                    s *= p.Scale;
                    if (p.Softcap > 0) s = p.Softcap * Math.Tanh(s / p.Softcap);
                    scores[t] = s;
                    max = Math.Max(max, s);
                }
                double sum = 0;
                for (int t = lo; t <= pos; t++) sum += scores[t] = Math.Exp(scores[t] - max);
                for (int d = 0; d < hd; d++)
                {
                    double acc = 0;
                    for (int t = lo; t <= pos; t++) acc += scores[t] / sum * v[(t * hkv + kh) * hd + d];
                    o[(r * hq + h) * hd + d] = (float)acc;
                }
            }
        return o;
    }

    public static float[] Gated(float[] gate, float[] up, Activation act)
    {
        var o = new float[gate.Length];
        for (int i = 0; i < o.Length; i++)
        {
            double x = gate[i];
            double a = act == Activation.Silu
                ? x / (1 + Math.Exp(-x))
                : 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
            o[i] = (float)(a * up[i]);
        }
        return o;
    }

    public static float[] Softmax(float[] x, int m, int n, float temperature)
    {
        var y = new float[m * n];
        for (int i = 0; i < m; i++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int j = 0; j < n; j++) max = Math.Max(max, x[i * n + j] / (double)temperature);
            for (int j = 0; j < n; j++) sum += Math.Exp(x[i * n + j] / (double)temperature - max);
            for (int j = 0; j < n; j++) y[i * n + j] = (float)(Math.Exp(x[i * n + j] / (double)temperature - max) / sum);
        }
        return y;
    }

    public static float[] Softcap(float[] x, float cap) => Array.ConvertAll(x, v => (float)(cap * Math.Tanh(v / (double)cap)));

    public static int[] Argmax(float[] x, int m, int n)
    {
        var o = new int[m];
        for (int i = 0; i < m; i++)
            for (int j = 1; j < n; j++)
                if (x[i * n + j] > x[i * n + o[i]]) o[i] = j;
        return o;
    }

    public static float[] Embedding(float[] table, int[] ids, int d, float scale)
    {
        var o = new float[ids.Length * d];
        for (int i = 0; i < ids.Length; i++)
            for (int j = 0; j < d; j++) o[i * d + j] = table[ids[i] * d + j] * scale;
        return o;
    }
}
