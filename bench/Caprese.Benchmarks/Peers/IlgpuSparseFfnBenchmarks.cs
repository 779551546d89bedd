using BenchmarkDotNet.Attributes;
using Caprese.Benchmarks.Infrastructure;
using Caprese.IlgpuPeer;
using Caprese.Interop;
using ILGPU;
using ILGPU.Runtime;
using Half = System.Half;

namespace Caprese.Benchmarks.Peers;

/// <summary>
/// GPU peer: the same sparse-gather FFN written in managed C# with ILGPU (Caprese.IlgpuPeer, on ILGPU's
/// CUDA accelerator) next to Caprese's hand-written CUDA kernel through the interop (the baseline), at
/// Llama-3.1-8B's FFN shape (D = 4096, H = 14336), f16 weights, on the same weight bits.
/// Selections: "indices" (GRIFFIN, k = (1 - s)·H random sorted rows), "indices+r256" (the same plus 256
/// always-active extra neurons: a merged adapter) and "threshold" (CATS, τ set so that a fraction s of the
/// neurons is inactive for every row).
///
/// Each operation is 10 back-to-back launches then one synchronisation (OperationsPerInvoke = 10), so the
/// host round trip is amortised equally on both sides. No L2 flush between launches: above ~50 % density
/// the active rows (≥ 88 MB) exceed an H100/H200's 50 MB L2; at 90 % (35 MB) some of them can stay
/// resident for both implementations alike — the CUDA harness (caprese_kernel_bench) is the flushed figure.
///
/// Needs a GPU: without both ILGPU's CUDA accelerator and Caprese's CUDA backend the class has no cases
/// and the program prints why (see <see cref="UnavailableReason"/>).
/// Run (GPU machine): dotnet run -c Release --project bench/Caprese.Benchmarks -- --filter '*IlgpuSparseFfn*' --job short
/// </summary>
public class IlgpuSparseFfnBenchmarks : IThroughput, IDisposable
{
    public const int D = 4096, H = 14336, R = 256, Launches = 10;

    private static string? _unavailable;

    private CapreseContext? _ctx;
    private DeviceBuffer? _x, _y, _wg, _wu, _wd, _eu, _ed, _idx;
    private Context? _ilgpuContext;
    private Accelerator? _acc;
    private IlgpuSparseFfn? _peer;
    private SparseFfnWeights? _peerWeights;
    private MemoryBuffer1D<float, Stride1D.Dense>? _px, _py;
    private MemoryBuffer1D<int, Stride1D.Dense>? _pidx;
    private float _threshold;

    /// <summary>"cuda" when both GPU implementations can run here, nothing otherwise (no cases).</summary>
    [ParamsSource(nameof(Devices))]
    public string Device { get; set; } = "cuda";

    [Params("indices", "indices+r256", "threshold")]
    public string Selection { get; set; } = "indices";

    [Params(1, 4, 16)]
    public int M { get; set; } = 1;

    [Params(0, 50, 75, 90)]
    public int Sparsity { get; set; }

    public static IEnumerable<string> Devices() => UnavailableReason is null ? ["cuda"] : [];

    /// <summary>Why the GPU peer comparison cannot run on this machine (null: it can).</summary>
    public static string? UnavailableReason
    {
        get
        {
            if (_unavailable is not null)
                return _unavailable.Length == 0 ? null : _unavailable;
            if (!CapreseLibrary.IsBackendAvailable(BackendKind.Cuda, out string why))
                _unavailable = $"Caprese's CUDA backend is unavailable: {why}";
            else
            {
                using Accelerator? acc = IlgpuSparseFfn.TryCreateCuda(out Context? ctx, out string reason);
                ctx?.Dispose();
                _unavailable = acc is null ? reason : "";
            }
            return _unavailable.Length == 0 ? null : _unavailable;
        }
    }

    private int Active => H * (100 - Sparsity) / 100;
    private bool Extras => Selection == "indices+r256";
    private bool IsThreshold => Selection == "threshold";

    [GlobalSetup]
    public void Setup()
    {
        if (UnavailableReason is { } reason)
            throw new NotSupportedException(reason);
        _ctx = CapreseContext.Create(BackendKind.Cuda);
        _acc = IlgpuSparseFfn.TryCreateCuda(out _ilgpuContext, out string r) ?? throw new NotSupportedException(r);
        _peer = new IlgpuSparseFfn(_acc);

        float[] x = Infrastructure.Backends.RandomFloats((long)M * D, 17);
        Half[] wg = Weights(H, 11), wu = Weights(H, 12), wd = Weights(H, 13), eu = Weights(R, 15), ed = Weights(R, 16);
        _x = _ctx.Upload<float>(x, DType.F32, M, D);
        _y = _ctx.Allocate(DType.F32, M, D);
        _wg = _ctx.Upload<Half>(wg, DType.F16, H, D);
        _wu = _ctx.Upload<Half>(wu, DType.F16, H, D);
        _wd = _ctx.Upload<Half>(wd, DType.F16, H, D);
        _eu = _ctx.Upload<Half>(eu, DType.F16, R, D);
        _ed = _ctx.Upload<Half>(ed, DType.F16, R, D);
        _peerWeights = SparseFfnWeights.Upload<Half>(_acc, PeerWeightType.F16, H, D, wg, wu, wd, eu, ed);
        _px = _acc.Allocate1D(x);
        _py = _acc.Allocate1D<float>((long)M * D);

        int[] rows = Ops.SparseFfnSweepShape.GriffinRowsOf(H, Active, seed: 12345 + Sparsity);
        _idx = _ctx.Upload<int>(rows, DType.I32, rows.Length);
        _pidx = _acc.Allocate1D(rows);
        _threshold = IsThreshold ? Threshold(x, wg) : 0f;

        // Both must compute the same thing before they are timed.
        RunCaprese();
        RunIlgpu();
        _ctx.Synchronize();
        _acc.Synchronize();
        float[] a = _y.ToArray<float>(), b = _py.GetAsArray1D();
        double maxErr = 0, maxAbs = 0;
        for (int i = 0; i < a.Length; i++)
        {
            maxErr = Math.Max(maxErr, Math.Abs(a[i] - b[i]));
            maxAbs = Math.Max(maxAbs, Math.Abs(a[i]));
        }
        if (maxErr > 1e-3 * (1 + maxAbs))
            throw new InvalidOperationException($"ILGPU and Caprese disagree: max |diff| {maxErr} (max |y| {maxAbs})");
    }

    private static Half[] Weights(int rows, int seed)
    {
        var rng = new Random(seed);
        var w = new Half[(long)rows * D];
        for (long i = 0; i < w.Length; i++)
            w[i] = (Half)((rng.NextDouble() * 2 - 1) * 0.02);
        return w;
    }

    // Per-neuron max over rows of |silu(x·wg)| on the host (double), τ between the sorted q-1'th and q'th.
    private float Threshold(float[] x, Half[] wg)
    {
        int q = H * Sparsity / 100;
        if (q == 0)
            return 0f;
        var peak = new double[H];
        Parallel.For(0, H, j =>
        {
            for (int m = 0; m < M; m++)
            {
                double g = 0;
                for (int i = 0; i < D; i++)
                    g += x[m * D + i] * (double)wg[(long)j * D + i];
                peak[j] = Math.Max(peak[j], Math.Abs(g / (1 + Math.Exp(-g))));
            }
        });
        Array.Sort(peak);
        return (float)((peak[q - 1] + peak[q]) / 2);
    }

    private void RunCaprese() =>
        _ctx!.SparseFfn(_x!.Tensor, _wg!.Tensor, _wu!.Tensor, _wd!.Tensor, IsThreshold ? null : _idx!.Tensor,
            Extras ? _eu!.Tensor : null, Extras ? _ed!.Tensor : null, Activation.Silu,
            IsThreshold ? SparseSelection.Threshold : SparseSelection.Indices, _threshold, _y!.Tensor);

    private void RunIlgpu() =>
        _peer!.Run(_px!.View, M, _peerWeights!, IsThreshold ? PeerSelection.Threshold : PeerSelection.Indices,
            _pidx!.View, Active, _threshold, PeerActivation.Silu, Extras, _py!.View);

    [Benchmark(Baseline = true, OperationsPerInvoke = Launches, Description = "Caprese CUDA")]
    public void CapreseCuda()
    {
        for (int i = 0; i < Launches; i++)
            RunCaprese();
        _ctx!.Synchronize();
    }

    [Benchmark(OperationsPerInvoke = Launches, Description = "ILGPU CUDA")]
    public void IlgpuCuda()
    {
        for (int i = 0; i < Launches; i++)
            RunIlgpu();
        _acc!.Synchronize();
    }

    /// <summary>Bytes the op must read, as the CUDA harness counts them (threshold: at the target density).</summary>
    public long BytesPerOperation(string method)
    {
        long row = D * 2L, x = (long)M * D * 4;
        if (IsThreshold)
            return (H + 2L * (H - H * Sparsity / 100)) * row + x;
        return 3L * Active * row + x + Active * 4L + (Extras ? 2L * R * row : 0);
    }

    public double TokensPerOperation(string method) => 0;

    [GlobalCleanup]
    public void Dispose()
    {
        foreach (var b in new[] { _x, _y, _wg, _wu, _wd, _eu, _ed, _idx })
            b?.Dispose();
        _ctx?.Dispose();
        _peerWeights?.Dispose();
        _px?.Dispose();
        _py?.Dispose();
        _pidx?.Dispose();
        _peer?.Dispose();
        _acc?.Dispose();
        _ilgpuContext?.Dispose();
        GC.SuppressFinalize(this);
    }
}
