using Caprese.Interop;
using ILGPU.Runtime;

namespace Caprese.IlgpuPeer.Tests;

/// <summary>Random inputs of one FFN problem, with the weights' stored bits shared by both implementations.</summary>
internal sealed class Problem
{
    private Problem(int m, int d, int h, int r, DType type)
    {
        M = m; D = d; H = h; R = r; Type = type;
    }

    public int M { get; }
    public int D { get; }
    public int H { get; }
    public int R { get; }
    public DType Type { get; }
    public float[] X { get; private set; } = [];
    // Weights as floats already rounded to the stored type, so both sides read the same values.
    private float[] _wg = [], _wu = [], _wd = [], _eu = [], _ed = [];

    public static Problem Create(int m, int d, int h, int r, DType type, int seed)
    {
        var p = new Problem(m, d, h, r, type);
        var rng = new Random(seed);
        float[] Rand(int n, float scale) => Enumerable.Range(0, n).Select(_ => Round((float)(rng.NextDouble() * 2 - 1) * scale, type)).ToArray();
        p.X = Enumerable.Range(0, m * d).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        float s = 2f / MathF.Sqrt(d);
        p._wg = Rand(h * d, s); p._wu = Rand(h * d, s); p._wd = Rand(h * d, s);
        p._eu = Rand(r * d, s); p._ed = Rand(r * d, s);
        return p;
    }

    private static float Round(float v, DType type) => type switch
    {
        DType.F16 => (float)(Half)v,
        DType.BF16 => BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(v) & 0xFFFF0000u),
        _ => v,
    };

    private static ushort Bf16(float v) => (ushort)(BitConverter.SingleToUInt32Bits(v) >> 16); // exact: already rounded

    public SparseFfnWeights UploadPeer(Accelerator acc) => Type switch
    {
        DType.F32 => SparseFfnWeights.Upload<float>(acc, PeerWeightType.F32, H, D, _wg, _wu, _wd, _eu, _ed),
        DType.F16 => SparseFfnWeights.Upload<Half>(acc, PeerWeightType.F16, H, D, ToHalf(_wg), ToHalf(_wu), ToHalf(_wd), ToHalf(_eu), ToHalf(_ed)),
        _ => SparseFfnWeights.Upload<ushort>(acc, PeerWeightType.BF16, H, D, ToBf16(_wg), ToBf16(_wu), ToBf16(_wd), ToBf16(_eu), ToBf16(_ed)),
    };

    private static Half[] ToHalf(float[] a) => Array.ConvertAll(a, v => (Half)v);
    private static ushort[] ToBf16(float[] a) => Array.ConvertAll(a, Bf16);

    private DeviceBuffer UploadNative(CapreseContext ctx, float[] data, int rows) => Type switch
    {
        DType.F32 => ctx.Upload<float>(data, DType.F32, rows, D),
        DType.F16 => ctx.Upload<Half>(ToHalf(data), DType.F16, rows, D),
        _ => ctx.Upload<ushort>(ToBf16(data), DType.BF16, rows, D),
    };

    /// <summary>caprese_sparse_ffn on the native CPU backend.</summary>
    public float[] Native(CapreseContext ctx, Activation act, SparseSelection selection, int[]? indices, float threshold, bool extras)
    {
        using var xb = ctx.Upload<float>(X, DType.F32, M, D);
        using var gb = UploadNative(ctx, _wg, H);
        using var ub = UploadNative(ctx, _wu, H);
        using var db = UploadNative(ctx, _wd, H);
        using var yb = ctx.Allocate(DType.F32, M, D);
        DeviceBuffer? eub = extras ? UploadNative(ctx, _eu, R) : null, edb = extras ? UploadNative(ctx, _ed, R) : null;
        DeviceBuffer? ib = indices is null ? null : ctx.Upload<int>(indices, DType.I32, indices.Length);
        try
        {
            ctx.SparseFfn(xb.Tensor, gb.Tensor, ub.Tensor, db.Tensor, ib?.Tensor, eub?.Tensor, edb?.Tensor, act, selection, threshold, yb.Tensor);
            return yb.ToArray<float>();
        }
        finally
        {
            eub?.Dispose();
            edb?.Dispose();
            ib?.Dispose();
        }
    }

    /// <summary>Σ_e (x·eu_e) ed_e in double: the FFN with no main neuron selected.</summary>
    public float[] ExtrasOnly()
    {
        var y = new float[M * D];
        for (int m = 0; m < M; m++)
        {
            var acc = new double[D];
            for (int e = 0; e < R; e++)
            {
                double h = 0;
                for (int i = 0; i < D; i++) h += (double)X[m * D + i] * _eu[e * D + i];
                for (int i = 0; i < D; i++) acc[i] += h * _ed[e * D + i];
            }
            for (int i = 0; i < D; i++) y[m * D + i] = (float)acc[i];
        }
        return y;
    }

    /// <summary>
    /// A CATS threshold that leaves about <paramref name="sparsity"/> of the neurons inactive for every row:
    /// the midpoint between neighbouring per-neuron peaks of |act(x·wg)| (computed in double), at the widest
    /// gap near the target so that f32 rounding cannot flip a neuron between the two implementations.
    /// </summary>
    public float ThresholdFor(Activation act, double sparsity)
    {
        var peak = new double[H];
        for (int j = 0; j < H; j++)
            for (int m = 0; m < M; m++)
            {
                double g = 0;
                for (int i = 0; i < D; i++) g += (double)X[m * D + i] * _wg[j * D + i];
                double a = act == Activation.Silu ? g / (1 + Math.Exp(-g))
                    : 0.5 * g * (1 + Math.Tanh(0.7978845608028654 * (g + 0.044715 * g * g * g)));
                peak[j] = Math.Max(peak[j], Math.Abs(a));
            }
        Array.Sort(peak);
        int target = Math.Clamp((int)(H * sparsity), 1, H - 1);
        int best = target;
        for (int q = Math.Max(1, target - 3); q <= Math.Min(H - 1, target + 3); q++)
            if (peak[q] - peak[q - 1] > peak[best] - peak[best - 1])
                best = q;
        return (float)((peak[best] + peak[best - 1]) / 2);
    }
}
