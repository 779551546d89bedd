using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using IlgpuHalf = ILGPU.Half;

namespace Caprese.IlgpuPeer;

/// <summary>Weight storage type (f32 accumulation always).</summary>
public enum PeerWeightType
{
    /// <summary>32-bit float.</summary>
    F32,
    /// <summary>IEEE half.</summary>
    F16,
    /// <summary>bfloat16 (upper 16 bits of an f32).</summary>
    BF16,
}

/// <summary>Which neurons are computed (same meaning as caprese_sparse_selection).</summary>
public enum PeerSelection
{
    /// <summary>Every row of the weights (dense, or pre-sliced weights).</summary>
    All = 0,
    /// <summary>Only the rows in an index list.</summary>
    Indices = 1,
    /// <summary>CATS: neuron j active for row m iff |act(x_m·wg_j)| ≥ threshold.</summary>
    Threshold = 2,
}

/// <summary>Gated-MLP activation.</summary>
public enum PeerActivation
{
    /// <summary>SiLU.</summary>
    Silu = 0,
    /// <summary>GELU, tanh approximation.</summary>
    GeluTanh = 1,
}

/// <summary>
/// The sparse-gather gated FFN written in managed code with ILGPU, the peer of Caprese's hand-written
/// CUDA kernel (caprese_sparse_ffn):
///   y[m] = Σ_{j active for m} act(x_m·wg_j)(x_m·wu_j) wd_j + Σ_e (x_m·eu_e) ed_e
/// with weights [H, D] rows per neuron (the down projection transposed), x and y [M, D] f32, M ≤ 16,
/// f32 / f16 / bf16 weights and f32 accumulation. It runs on any ILGPU accelerator: the CPU
/// accelerator (tests) or CUDA (benchmarks). See <see cref="Kernels"/> for the three phases.
/// Not thread-safe; one instance per accelerator stream.
/// </summary>
public sealed class IlgpuSparseFfn : IDisposable
{
    /// <summary>Most rows of x per call (as caprese_sparse_ffn).</summary>
    public const int MaxRows = 16;

    private readonly Accelerator _accelerator;
    private readonly Dictionary<PeerWeightType, object> _kernels = [];
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, int, int> _sum;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _dummyIdx;
    private MemoryBuffer1D<float, Stride1D.Dense>? _h, _partial;

    /// <summary>Creates the peer on <paramref name="accelerator"/> (not owned).</summary>
    /// <param name="accelerator">Where the kernels run.</param>
    /// <param name="hiddenGroup">Threads per item in phase 1 (power of two; 0 = 128 on GPUs, 16 on the CPU accelerator).</param>
    /// <param name="downGroup">Threads per column block in phase 2 (0 = 256 on GPUs, 16 on the CPU accelerator).</param>
    /// <param name="maxChunks">Most item chunks in phase 2 (split-K; 0 = 64 on GPUs, 4 on the CPU accelerator).</param>
    public IlgpuSparseFfn(Accelerator accelerator, int hiddenGroup = 0, int downGroup = 0, int maxChunks = 0)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        _accelerator = accelerator;
        bool cpu = accelerator.AcceleratorType == AcceleratorType.CPU;
        int limit = Math.Min(Kernels.MaxGroup, accelerator.MaxNumThreadsPerGroup);
        HiddenGroup = FloorPow2(Math.Min(limit, hiddenGroup > 0 ? hiddenGroup : cpu ? 16 : 128));
        DownGroup = Math.Min(accelerator.MaxNumThreadsPerGroup, downGroup > 0 ? downGroup : cpu ? 16 : 256);
        MaxChunks = maxChunks > 0 ? maxChunks : cpu ? 4 : 64;
        _sum = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(Kernels.SumChunks);
        _dummyIdx = accelerator.Allocate1D<int>(1);
    }

    /// <summary>The accelerator the kernels run on.</summary>
    public Accelerator Accelerator => _accelerator;

    /// <summary>Phase-1 group size.</summary>
    public int HiddenGroup { get; }

    /// <summary>Phase-2 group size.</summary>
    public int DownGroup { get; }

    /// <summary>Most phase-2 chunks.</summary>
    public int MaxChunks { get; }

    /// <summary>
    /// Creates a CUDA accelerator on device 0 when ILGPU finds one, else null with the reason
    /// (no NVIDIA driver, no device). The caller disposes the context and the accelerator.
    /// </summary>
    public static Accelerator? TryCreateCuda(out Context? context, out string reason)
    {
        context = null;
        try
        {
            context = Context.Create(b => b.Cuda().Optimize(OptimizationLevel.O2));
            var devices = context.GetCudaDevices();
            if (devices.Count == 0)
            {
                reason = "ILGPU found no CUDA device (no NVIDIA driver or GPU on this machine)";
                context.Dispose();
                context = null;
                return null;
            }
            reason = "";
            return context.CreateCudaAccelerator(0);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            reason = $"ILGPU could not open CUDA: {e.GetType().Name}: {e.Message}";
            context?.Dispose();
            context = null;
            return null;
        }
    }

    /// <summary>An ILGPU context with the CPU accelerator only (the tests' target).</summary>
    public static Context CreateCpuContext() => Context.Create(b => b.CPU().Optimize(OptimizationLevel.O1));

    /// <summary>
    /// y[M, D] = the sparse FFN of x[M, D]. <paramref name="indices"/> (k entries) is used for
    /// <see cref="PeerSelection.Indices"/> only; the weights' extras are used when <paramref name="useExtras"/>.
    /// Asynchronous on the accelerator's default stream: call <see cref="Accelerator.Synchronize"/> before reading y.
    /// </summary>
    public void Run(ArrayView<float> x, int m, SparseFfnWeights w, PeerSelection selection, ArrayView<int> indices, int k,
        float threshold, PeerActivation act, bool useExtras, ArrayView<float> y)
    {
        ArgumentNullException.ThrowIfNull(w);
        if (m < 1 || m > MaxRows)
            throw new ArgumentOutOfRangeException(nameof(m), m, $"1 <= M <= {MaxRows}");
        if (x.Length < (long)m * w.D || y.Length < (long)m * w.D)
            throw new ArgumentException($"x and y need M x D = {m} x {w.D} floats");
        if (selection == PeerSelection.Indices && (k < 0 || indices.Length < k))
            throw new ArgumentException($"indices holds {indices.Length} entries, k = {k}", nameof(indices));
        if (selection == PeerSelection.Threshold && !(threshold >= 0 && float.IsFinite(threshold)))
            throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "finite and >= 0");
        if (useExtras && w.R == 0)
            throw new ArgumentException("the weights have no extra neurons", nameof(useExtras));

        int nMain = selection == PeerSelection.Indices ? k : w.H;
        int nExtra = useExtras ? w.R : 0;
        int n = nMain + nExtra;
        ArrayView<float> yv = y.SubView(0, (long)m * w.D);
        if (n == 0)
        {
            yv.MemSetToZero();
            return;
        }
        int chunks = Math.Clamp((n + 31) / 32, 1, MaxChunks);
        int perChunk = (n + chunks - 1) / chunks;
        chunks = (n + perChunk - 1) / perChunk;
        int colBlocks = (w.D + DownGroup - 1) / DownGroup;
        var args = new FfnArgs
        {
            M = m, D = w.D, H = w.H, NMain = nMain, NExtra = nExtra, Selection = (int)selection,
            Gelu = act == PeerActivation.GeluTanh ? 1 : 0, Threshold = threshold,
            ItemsPerChunk = perChunk, ColBlocks = colBlocks,
        };
        ArrayView<float> h = Scratch(ref _h, (long)n * m);
        ArrayView<float> partial = chunks == 1 ? yv : Scratch(ref _partial, (long)chunks * m * w.D);
        ArrayView<int> idx = selection == PeerSelection.Indices && k > 0 ? indices : _dummyIdx.View;

        switch (w.Type)
        {
            case PeerWeightType.F32: Launch(GetKernels<float, F32Format>(), w.Typed<float>(), x, idx, h, partial, args, n, chunks); break;
            case PeerWeightType.F16: Launch(GetKernels<IlgpuHalf, F16Format>(), w.Typed<IlgpuHalf>(), x, idx, h, partial, args, n, chunks); break;
            default: Launch(GetKernels<ushort, Bf16Format>(), w.Typed<ushort>(), x, idx, h, partial, args, n, chunks); break;
        }
        if (chunks > 1)
            _sum((int)yv.Length, partial, yv, chunks, (int)yv.Length);
    }

    /// <summary>Host convenience (tests): uploads x and the indices, runs, waits and returns y[M, D].</summary>
    public float[] Run(float[] x, int m, SparseFfnWeights w, PeerSelection selection, int[]? indices, float threshold,
        PeerActivation act, bool useExtras)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(w);
        using var xb = _accelerator.Allocate1D(x);
        using var yb = _accelerator.Allocate1D<float>((long)m * w.D);
        int k = indices?.Length ?? 0;
        using var ib = _accelerator.Allocate1D<int>(Math.Max(1, k));
        if (k > 0)
            ib.View.SubView(0, k).CopyFromCPU(indices!);
        Run(xb.View, m, w, selection, ib.View, k, threshold, act, useExtras, yb.View);
        _accelerator.Synchronize();
        return yb.GetAsArray1D();
    }

    private void Launch<T>(KernelSet<T> ks, SparseFfnWeights.TypedViews<T> v, ArrayView<float> x, ArrayView<int> idx,
        ArrayView<float> h, ArrayView<float> partial, FfnArgs args, int n, int chunks) where T : unmanaged
    {
        ks.Hidden(new KernelConfig(n, HiddenGroup), x, v.Gate, v.Up, v.ExtraUp, idx, h, args);
        ks.Down(new KernelConfig(args.ColBlocks * chunks, DownGroup), h, v.DownT, v.ExtraDown, idx, partial, args);
    }

    private ArrayView<float> Scratch(ref MemoryBuffer1D<float, Stride1D.Dense>? buffer, long length)
    {
        if (buffer is null || buffer.Length < length)
        {
            buffer?.Dispose();
            buffer = _accelerator.Allocate1D<float>(Math.Max(length, 1024));
        }
        return buffer.View.SubView(0, length);
    }

    private KernelSet<T> GetKernels<T, TF>() where T : unmanaged where TF : struct, IWeightFormat<T>
    {
        PeerWeightType key = typeof(T) == typeof(float) ? PeerWeightType.F32 : typeof(T) == typeof(IlgpuHalf) ? PeerWeightType.F16 : PeerWeightType.BF16;
        if (_kernels.TryGetValue(key, out object? cached))
            return (KernelSet<T>)cached;
        var set = new KernelSet<T>(
            _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<int>, ArrayView<float>, FfnArgs>(Kernels.Hidden<T, TF>),
            _accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<T>, ArrayView<T>, ArrayView<int>, ArrayView<float>, FfnArgs>(Kernels.Down<T, TF>));
        _kernels[key] = set;
        return set;
    }

    private static int FloorPow2(int v)
    {
        int p = 1;
        while (p * 2 <= v)
            p *= 2;
        return p;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _h?.Dispose();
        _partial?.Dispose();
        _dummyIdx.Dispose();
    }

    private sealed record KernelSet<T>(
        Action<KernelConfig, ArrayView<float>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<int>, ArrayView<float>, FfnArgs> Hidden,
        Action<KernelConfig, ArrayView<float>, ArrayView<T>, ArrayView<T>, ArrayView<int>, ArrayView<float>, FfnArgs> Down)
        where T : unmanaged;
}
