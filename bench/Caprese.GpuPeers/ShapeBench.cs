using System.Diagnostics;
using Caprese.IlgpuPeer;
using Caprese.Interop;
using ILGPU;
using ILGPU.Runtime;
using Half = System.Half;

namespace Caprese.GpuPeers;

/// <summary>An FFN shape: model width D and neurons H.</summary>
internal sealed record FfnShape(string Name, int D, int H)
{
    public static readonly FfnShape[] Known =
    [
        new("8B", 4096, 14336),   // Llama-3.1-8B
        new("14B", 5120, 13824),  // Qwen2.5-14B
        new("70B", 8192, 28672),  // Llama-3.1-70B
    ];

    /// <summary>A tiny shape for --cpu-smoke.</summary>
    public static readonly FfnShape Smoke = new("smoke", 128, 256);
}

/// <summary>One timed case of the JSON report (times in µs, medians over the repetitions).</summary>
internal sealed record CaseResult(
    string Shape, int D, int H, int M, string Selection, int Sparsity, int ActiveNeurons, int ExtraNeurons,
    float Threshold, long BytesRead, bool Agree, double MaxAbsDiff, double MaxAbsY,
    double? OursUs, double? OursWallUs, double? IlgpuUs, double? Ratio, double? OursGbs, double? IlgpuGbs);

/// <summary>
/// Both implementations' copies of one shape's random f16 weights (gate, up, down_t [H, D]; extra up/down
/// [R, D]), and the measurement of every case at a batch size on the same inputs.
/// </summary>
internal sealed class ShapeBench : IDisposable
{
    public const int R = 256;

    /// <summary>The cases per batch size: index lists over the sparsity sweep, then CATS and a merged adapter at 50 %.</summary>
    public static readonly (string Selection, int Sparsity)[] Cases =
    [
        ("indices", 0), ("indices", 25), ("indices", 50), ("indices", 75), ("indices", 90),
        ("threshold", 50), ("indices+r256", 50),
    ];

    private const double Tolerance = 1e-3; // on max |diff| relative to max |y|

    private readonly FfnShape _shape;
    private readonly CapreseContext _ctx;
    private readonly Accelerator _acc;
    private readonly IlgpuSparseFfn _peer;
    private readonly DeviceBuffer _wg, _wu, _wd, _eu, _ed;
    private readonly SparseFfnWeights _peerWeights;
    private readonly CapreseEvent _start, _end;

    public ShapeBench(FfnShape shape, CapreseContext ctx, Accelerator acc, IlgpuSparseFfn peer)
    {
        _shape = shape;
        _ctx = ctx;
        _acc = acc;
        _peer = peer;
        int h = shape.H, d = shape.D;
        Half[] wg = RandomHalves((long)h * d, 11), wu = RandomHalves((long)h * d, 12), wd = RandomHalves((long)h * d, 13);
        Half[] eu = RandomHalves((long)R * d, 15), ed = RandomHalves((long)R * d, 16);
        _wg = ctx.Upload<Half>(wg, DType.F16, h, d);
        _wu = ctx.Upload<Half>(wu, DType.F16, h, d);
        _wd = ctx.Upload<Half>(wd, DType.F16, h, d);
        _eu = ctx.Upload<Half>(eu, DType.F16, R, d);
        _ed = ctx.Upload<Half>(ed, DType.F16, R, d);
        _peerWeights = SparseFfnWeights.Upload<Half>(acc, PeerWeightType.F16, h, d, wg, wu, wd, eu, ed);
        _start = ctx.CreateEvent();
        _end = ctx.CreateEvent();
    }

    /// <summary>Checks and times every case at batch size <paramref name="m"/>; <paramref name="report"/> gets each result.</summary>
    public void RunBatch(int m, int reps, int launches, Action<CaseResult> report)
    {
        int d = _shape.D, h = _shape.H;
        float[] x = RandomFloats((long)m * d, 17);
        using DeviceBuffer cx = _ctx.Upload<float>(x, DType.F32, m, d), cy = _ctx.Allocate(DType.F32, m, d);
        using MemoryBuffer1D<float, Stride1D.Dense> px = _acc.Allocate1D(x), py = _acc.Allocate1D<float>((long)m * d);
        float[] gateAct = GateActivations(cx, m);

        foreach ((string selection, int sparsity) in Cases)
        {
            bool threshold = selection == "threshold", extras = selection == "indices+r256";
            int k = h * (100 - sparsity) / 100;
            int[] rows = threshold ? [0] : GriffinRows(h, k, 12345 + sparsity);
            (float tau, int active) = threshold ? Threshold(gateAct, m, h, sparsity) : (0f, k);
            using DeviceBuffer cidx = _ctx.Upload<int>(rows, DType.I32, rows.Length);
            using MemoryBuffer1D<int, Stride1D.Dense> pidx = _acc.Allocate1D(rows);

            void Ours() => _ctx.SparseFfn(cx.Tensor, _wg.Tensor, _wu.Tensor, _wd.Tensor, threshold ? null : cidx.Tensor,
                extras ? _eu.Tensor : null, extras ? _ed.Tensor : null, Activation.Silu,
                threshold ? SparseSelection.Threshold : SparseSelection.Indices, tau, cy.Tensor);
            void Ilgpu() => _peer.Run(px.View, m, _peerWeights, threshold ? PeerSelection.Threshold : PeerSelection.Indices,
                pidx.View, threshold ? 0 : k, tau, PeerActivation.Silu, extras, py.View);

            // Same inputs, same output before anything is timed.
            cy.Clear();
            py.View.MemSetToZero();
            Ours();
            Ilgpu();
            _ctx.Synchronize();
            _acc.Synchronize();
            float[] a = cy.ToArray<float>(), b = py.GetAsArray1D();
            double maxDiff = 0, maxAbs = 0;
            for (int i = 0; i < a.Length; i++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs((double)a[i] - b[i]));
                maxAbs = Math.Max(maxAbs, Math.Abs(a[i]));
            }
            bool agree = maxDiff <= Tolerance * maxAbs + 1e-6 && !double.IsNaN(maxDiff);

            long row = d * 2L;
            long bytes = (long)m * d * 4 + (threshold
                ? (h + 2L * active) * row                                   // all of w_gate, then up and down of the kept neurons
                : 3L * k * row + 4L * k + (extras ? 2L * R * row : 0));    // the k gathered rows, the index list, the adapter

            double? ours = null, oursWall = null, ilgpu = null;
            if (agree)
                (ours, oursWall, ilgpu) = Time(Ours, Ilgpu, reps, launches);
            report(new CaseResult(_shape.Name, d, h, m, selection, sparsity, active, extras ? R : 0, tau, bytes,
                agree, maxDiff, maxAbs, ours, oursWall, ilgpu, ilgpu / oursWall, GBs(bytes, ours), GBs(bytes, ilgpu)));
        }
    }

    /// <summary>
    /// Medians over <paramref name="reps"/> of µs per launch, each repetition <paramref name="launches"/> back-to-back
    /// launches: ours with the context's events, and both with a Stopwatch from a synchronised start to a synchronise
    /// (the same clock for both: ILGPU has no stream events here). No L2 flush (caprese_kernel_bench has the flushed figures).
    /// </summary>
    private (double Ours, double OursWall, double Ilgpu) Time(Action ours, Action ilgpu, int reps, int launches)
    {
        for (int i = 0; i < 3 * launches; i++)
        {
            ours();
            ilgpu();
        }
        _ctx.Synchronize();
        _acc.Synchronize();
        var ev = new double[reps];
        var oursWall = new double[reps];
        var ilgpuWall = new double[reps];
        for (int r = 0; r < reps; r++)
        {
            _ctx.Record(_start);
            for (int i = 0; i < launches; i++)
                ours();
            _ctx.Record(_end);
            ev[r] = CapreseContext.ElapsedMilliseconds(_start, _end) * 1000.0 / launches;
            oursWall[r] = Wall(ours, _ctx.Synchronize, launches);
            ilgpuWall[r] = Wall(ilgpu, _acc.Synchronize, launches);
        }
        return (Median(ev), Median(oursWall), Median(ilgpuWall));
    }

    private static double Wall(Action op, Action synchronize, int launches)
    {
        synchronize();
        long t0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < launches; i++)
            op();
        synchronize();
        return Stopwatch.GetElapsedTime(t0).TotalMicroseconds / launches;
    }

    private static double Median(double[] v)
    {
        Array.Sort(v);
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    private static double? GBs(long bytes, double? us) => us > 0 ? bytes / (us.Value * 1e-6) / 1e9 : null;

    /// <summary>|silu(x_m·wg_j)| for every row and neuron, [M, H], through our matmul.</summary>
    private float[] GateActivations(DeviceBuffer x, int m)
    {
        using DeviceBuffer g = _ctx.Allocate(DType.F32, m, _shape.H);
        _ctx.Matmul(x.Tensor, _wg.Tensor, g.Tensor);
        _ctx.Synchronize();
        float[] v = g.ToArray<float>();
        for (int i = 0; i < v.Length; i++)
            v[i] = MathF.Abs(v[i] / (1 + MathF.Exp(-v[i])));
        return v;
    }

    /// <summary>
    /// CATS threshold leaving a fraction <paramref name="sparsity"/> % of the neurons inactive for every row: between
    /// the sorted per-neuron peaks, then moved to the widest gap among all M·H activations nearby, so that the two
    /// kernels' rounding cannot put one (row, neuron) on different sides of it. Returns τ and the neurons kept.
    /// </summary>
    internal static (float Tau, int Active) Threshold(float[] act, int m, int h, int sparsity)
    {
        var peak = new float[h];
        for (int r = 0; r < m; r++)
            for (int j = 0; j < h; j++)
                peak[j] = Math.Max(peak[j], act[(long)r * h + j]);
        float[] sortedPeak = (float[])peak.Clone();
        Array.Sort(sortedPeak);
        int q = Math.Clamp(h * sparsity / 100, 1, h - 1);
        float target = (sortedPeak[q - 1] + sortedPeak[q]) / 2;

        float[] all = (float[])act.Clone();
        Array.Sort(all);
        int p = Array.BinarySearch(all, target);
        p = p < 0 ? ~p : p;
        int best = Math.Clamp(p, 1, all.Length - 1), window = Math.Max(4, all.Length / 2000); // moves the sparsity by <= 0.05 %
        for (int i = Math.Max(1, p - window); i <= Math.Min(all.Length - 1, p + window); i++)
            if (all[i] - all[i - 1] > all[best] - all[best - 1])
                best = i;
        float tau = (all[best] + all[best - 1]) / 2;
        return (tau, peak.Count(v => v >= tau));
    }

    /// <summary>k distinct neurons of h by a seeded shuffle, sorted (as a runtime sorts GRIFFIN's top-k once per prompt).</summary>
    private static int[] GriffinRows(int h, int k, int seed)
    {
        int[] all = Enumerable.Range(0, h).ToArray();
        new Random(seed).Shuffle(all);
        int[] rows = all[..k];
        Array.Sort(rows);
        return rows;
    }

    private static float[] RandomFloats(long n, int seed)
    {
        var rng = new Random(seed);
        var v = new float[n];
        for (long i = 0; i < n; i++)
            v[i] = rng.NextSingle() * 2 - 1;
        return v;
    }

    /// <summary>Uniform in ±0.02 (as caprese_kernel_bench), filled in parallel chunks of fixed seeds.</summary>
    private static Half[] RandomHalves(long n, int seed)
    {
        const int Chunk = 1 << 20;
        var w = new Half[n];
        Parallel.For(0, (int)((n + Chunk - 1) / Chunk), c =>
        {
            var rng = new Random(seed * 7919 + c);
            long end = Math.Min(n, (c + 1L) * Chunk);
            for (long i = (long)c * Chunk; i < end; i++)
                w[i] = (Half)((rng.NextSingle() * 2 - 1) * 0.02f);
        });
        return w;
    }

    public void Dispose()
    {
        _start.Dispose();
        _end.Dispose();
        foreach (DeviceBuffer b in new[] { _wg, _wu, _wd, _eu, _ed })
            b.Dispose();
        _peerWeights.Dispose();
    }
}
