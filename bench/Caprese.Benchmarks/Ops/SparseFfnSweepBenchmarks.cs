using BenchmarkDotNet.Attributes;
using Caprese.Benchmarks.Infrastructure;
using Caprese.Interop;

namespace Caprese.Benchmarks.Ops;

/// <summary>
/// The CPU sparsity sweep: caprese_sparse_ffn at sparsity 0-90 % (fraction of FFN neurons skipped),
/// batch M = 1, 4, 16, f16 and bf16 weights, against the dense FFN of the same shape. Methods:
///  - Dense (the baseline: the Ratio column is time / dense time): gate and up matmuls, SiLU gating, down
///    matmul on [D, H] down weights, all through the interop. It does not depend on the sparsity but is
///    measured at every sparsity point, right next to the sparse methods, so each ratio compares figures
///    taken minutes apart at most on a shared machine, and the repeats show the run's noise;
///  - GriffinGather: SparseSelection.Indices over the full [H, D] weights, k = (1 - s)·H random distinct
///    neurons, sorted (a runtime sorts GRIFFIN's per-prompt top-k once);
///  - GriffinCompact: SparseSelection.All over [k, D] copies of the same rows (weights sliced per prompt);
///  - Cats: SparseSelection.Threshold with τ set between the per-neuron peaks of |silu(x·wg)| over the
///    batch's rows so that a fraction s of the neurons is inactive for every row (it also reads all of w_gate).
///
/// Shape: D = 2048, H = 5632 (TinyLlama-1.1B's FFN; the Llama 2/3 ratio family). Its f16 FFN is 69 MB, twice
/// this machine's 32 MB L3, so the weights stream from DRAM as in real decoding (a model's layers never fit in
/// cache). D = 1024, H = 2816 (17 MB) would sit in L3 and report cache, not memory, bandwidth.
///
/// Throughput counts the bytes each case must read, as the GPU harness (bench/gpu/kernel_bench.cu) does:
/// the active rows of the three matrices (CATS: all of w_gate plus the active rows of w_up and w_down_t),
/// x, and the index list; the dense FFN counts all three matrices, x and its [M, H] gate/up intermediates.
/// Run: dotnet run -c Release --project bench/Caprese.Benchmarks -- --filter '*SparseFfnSweep*' --job short
/// Plot: dotnet run -c Release --project bench/Caprese.Benchmarks -- --plot BenchmarkDotNet.Artifacts/results/&lt;report&gt;.csv
/// </summary>
public class SparseFfnSweepBenchmarks : IThroughput, IDisposable
{
    public const int D = SparseFfnSweepShape.D, H = SparseFfnSweepShape.H;

    private CapreseContext? _ctx;
    private DeviceBuffer? _x, _y, _wg, _wu, _wdT, _idx, _sg, _su, _sd, _g, _u, _wd;
    private float _threshold;

    [Params(DType.F16, DType.BF16)]
    public DType WeightType { get; set; } = DType.F16;

    [Params(1, 4, 16)]
    public int M { get; set; } = 1;

    /// <summary>Percent of the FFN's neurons skipped.</summary>
    [Params(0, 25, 50, 75, 90)]
    public int Sparsity { get; set; }

    /// <summary>Neurons computed by the GRIFFIN methods.</summary>
    public int Active => H * (100 - Sparsity) / 100;

    /// <summary>Neurons CATS keeps for some row (τ sits between the sorted peaks q-1 and q, q = ⌊H·s⌋).</summary>
    public int CatsActive => H - H * Sparsity / 100;

    private void SetupCommon()
    {
        _ctx = CapreseContext.Create(BackendKind.Cpu);
        _x = _ctx.Upload<float>(Infrastructure.Backends.RandomFloats((long)M * D, 101), DType.F32, M, D);
        _y = _ctx.Allocate(DType.F32, M, D);
    }

    [GlobalSetup(Target = nameof(Dense))]
    public void SetupDense()
    {
        SetupCommon();
        _g = _ctx!.Allocate(DType.F32, M, H);
        _u = _ctx.Allocate(DType.F32, M, H);
        _wg = Infrastructure.Backends.UploadWeights(_ctx, SparseFfnSweepShape.Weights(201), WeightType, H, D);
        _wu = Infrastructure.Backends.UploadWeights(_ctx, SparseFfnSweepShape.Weights(202), WeightType, H, D);
        _wd = Infrastructure.Backends.UploadWeights(_ctx, SparseFfnSweepShape.Weights(204), WeightType, D, H);
    }

    [GlobalSetup(Targets = [nameof(GriffinGather), nameof(Cats)])]
    public void SetupFull()
    {
        SetupCommon();
        _wg = Infrastructure.Backends.UploadWeights(_ctx!, SparseFfnSweepShape.Weights(201), WeightType, H, D);
        _wu = Infrastructure.Backends.UploadWeights(_ctx!, SparseFfnSweepShape.Weights(202), WeightType, H, D);
        _wdT = Infrastructure.Backends.UploadWeights(_ctx!, SparseFfnSweepShape.Weights(203), WeightType, H, D);
        int[] rows = SparseFfnSweepShape.GriffinRows(Active, seed: 12345 + Sparsity);
        if (rows.Length > 0)
            _idx = _ctx!.Upload<int>(rows, DType.I32, rows.Length);
        _threshold = CatsThreshold();
    }

    [GlobalSetup(Target = nameof(GriffinCompact))]
    public void SetupCompact()
    {
        SetupCommon();
        int[] rows = SparseFfnSweepShape.GriffinRows(Active, seed: 12345 + Sparsity);
        if (rows.Length == 0)
            return;
        _sg = Infrastructure.Backends.UploadWeights(_ctx!, Slice(SparseFfnSweepShape.Weights(201), rows), WeightType, rows.Length, D);
        _su = Infrastructure.Backends.UploadWeights(_ctx!, Slice(SparseFfnSweepShape.Weights(202), rows), WeightType, rows.Length, D);
        _sd = Infrastructure.Backends.UploadWeights(_ctx!, Slice(SparseFfnSweepShape.Weights(203), rows), WeightType, rows.Length, D);
    }

    // Per-neuron max over the rows of |silu(x·wg_j)| from the stored weights (the op's own gate), sorted;
    // τ halfway between the q-1'th and q'th so exactly H - q neurons stay active for some row.
    private float CatsThreshold()
    {
        int q = H * Sparsity / 100;
        if (q == 0)
            return 0f;
        using var g = _ctx!.Allocate(DType.F32, M, H);
        _ctx.Matmul(_x!.Tensor, _wg!.Tensor, g.Tensor);
        float[] gate = g.ToArray<float>();
        var peak = new float[H];
        for (int m = 0; m < M; m++)
            for (int j = 0; j < H; j++)
            {
                float v = gate[m * H + j];
                peak[j] = Math.Max(peak[j], Math.Abs(v / (1f + MathF.Exp(-v))));
            }
        Array.Sort(peak);
        return (peak[q - 1] + peak[q]) / 2;
    }

    private static float[] Slice(float[] w, int[] rows)
    {
        var s = new float[(long)rows.Length * D];
        for (int i = 0; i < rows.Length; i++)
            Array.Copy(w, (long)rows[i] * D, s, (long)i * D, D);
        return s;
    }

    [Benchmark(Baseline = true)]
    public void Dense()
    {
        _ctx!.Matmul(_x!.Tensor, _wg!.Tensor, _g!.Tensor);
        _ctx.Matmul(_x.Tensor, _wu!.Tensor, _u!.Tensor);
        _ctx.GatedActivation(_g.Tensor, _u.Tensor, Activation.Silu, _g.Tensor);
        _ctx.Matmul(_g.Tensor, _wd!.Tensor, _y!.Tensor);
        _ctx.Synchronize();
    }

    [Benchmark]
    public void GriffinGather()
    {
        if (_idx is null)
            return; // k = 0 never happens in the grid (s ≤ 90 %)
        _ctx!.SparseFfn(_x!.Tensor, _wg!.Tensor, _wu!.Tensor, _wdT!.Tensor, _idx.Tensor, null, null, Activation.Silu,
            SparseSelection.Indices, 0f, _y!.Tensor);
        _ctx.Synchronize();
    }

    [Benchmark]
    public void GriffinCompact()
    {
        if (_sg is null)
            return;
        _ctx!.SparseFfn(_x!.Tensor, _sg.Tensor, _su!.Tensor, _sd!.Tensor, null, null, null, Activation.Silu,
            SparseSelection.All, 0f, _y!.Tensor);
        _ctx.Synchronize();
    }

    [Benchmark]
    public void Cats()
    {
        _ctx!.SparseFfn(_x!.Tensor, _wg!.Tensor, _wu!.Tensor, _wdT!.Tensor, null, null, null, Activation.Silu,
            SparseSelection.Threshold, _threshold, _y!.Tensor);
        _ctx.Synchronize();
    }

    public long BytesPerOperation(string method)
    {
        long row = (long)D * WeightType.SizeInBytes(), x = (long)M * D * 4;
        return method switch
        {
            nameof(GriffinGather) => 3L * Active * row + x + Active * 4L,
            nameof(GriffinCompact) => 3L * Active * row + x,
            nameof(Cats) => (H + 2L * CatsActive) * row + x,
            nameof(Dense) => 3L * H * row + x + 2L * M * H * 4,
            _ => 0,
        };
    }

    public double TokensPerOperation(string method) => 0;

    [GlobalCleanup]
    public void Dispose()
    {
        foreach (var b in new[] { _x, _y, _wg, _wu, _wdT, _idx, _sg, _su, _sd, _g, _u, _wd })
            b?.Dispose();
        _ctx?.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>Shape and inputs of the sweep (the GPU peer reuses the row picker).</summary>
public static class SparseFfnSweepShape
{
    /// <summary>TinyLlama-1.1B's FFN: D = 2048, H = 5632.</summary>
    public const int D = 2048, H = 5632;

    /// <summary>[H, D] (or [D, H]) weights in [-1, 1) from a fixed seed.</summary>
    public static float[] Weights(int seed) => Infrastructure.Backends.RandomFloats((long)H * D, seed);

    /// <summary>k distinct neurons spread over [0, H) by a seeded shuffle, sorted ascending.</summary>
    public static int[] GriffinRows(int k, int seed) => GriffinRowsOf(H, k, seed);

    /// <summary>k distinct neurons of <paramref name="h"/> by a seeded shuffle, sorted ascending.</summary>
    public static int[] GriffinRowsOf(int h, int k, int seed)
    {
        int[] all = Enumerable.Range(0, h).ToArray();
        new Random(seed).Shuffle(all);
        int[] rows = all[..k];
        Array.Sort(rows);
        return rows;
    }
}
