using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Caprese.Interop.Tests;

/// <summary>
/// The CUDA simulator (<see cref="BackendKind.CudaSim"/>, the plugin libcaprese_cudasim.so): the CUDA backend's kernels run
/// on the CPU, with CUDA's memory model (device buffers, the device copy kinds, streams, events). These tests ask for the
/// simulator itself, whatever <see cref="CudaTestBackend"/> picks for the CUDA-parametrized tests.
/// </summary>
public class CudaSimTests
{
    private const string PluginFile = "libcaprese_cudasim.so";

    /// <summary>The simulator plugin beside the loaded libcaprese, where libcaprese looks for its plugins.</summary>
    private static string PluginPath => Path.Combine(Path.GetDirectoryName(Path.GetFullPath(CapreseLibrary.NativeLibraryPath))!, PluginFile);

    [Fact]
    public void Simulator_IsUsableWhenItsPluginShips_ElseRefusedWithTheNativeReason()
    {
        bool available = CapreseLibrary.IsBackendAvailable(BackendKind.CudaSim, out string reason);
        if (File.Exists(PluginPath))
        {
            Assert.True(available, $"{PluginPath} is there but the simulator is unavailable: {reason}");
            CapreseLibrary.EnsureBackend(BackendKind.CudaSim);
            using var ctx = CapreseContext.Create(BackendKind.CudaSim);
            Assert.Equal(BackendKind.CudaSim, ctx.Backend);
            Assert.True(ctx.Backend.UsesDeviceMemory());
            Assert.True(ctx.Backend.IsSimulator());
            return;
        }
        // No plugin beside libcaprese, yet loaded: the dynamic loader's own search (the last place libcaprese tries)
        // found one elsewhere, so this run cannot tell what a build without the plugin does.
        if (available)
            Assert.Skip($"no {PluginPath}, but the dynamic loader found a {PluginFile} elsewhere");
        // No plugin (a native build without it): refused loudly, never replaced by the CPU.
        Assert.False(string.IsNullOrWhiteSpace(reason));
        var ex = Assert.Throws<CapreseBackendUnavailableException>(() => CapreseContext.Create(BackendKind.CudaSim));
        Assert.Equal(CapreseStatus.BackendUnavailable, ex.Status);
        Assert.False(string.IsNullOrWhiteSpace(ex.NativeMessage));
        Assert.Equal(0, CapreseLibrary.DeviceCount(BackendKind.CudaSim));
    }

    [Fact]
    public void Simulator_ReportsOneSimulatedDevice_LabelledAsASimulator()
    {
        CudaTestBackend.RequireSimulator();
        Assert.Equal(1, CapreseLibrary.DeviceCount(BackendKind.CudaSim));
        DeviceInfo info = CapreseLibrary.GetDeviceInfo(BackendKind.CudaSim, 0);
        // caprese.h: the one device is "named after the GPU it models and marked as simulated".
        Assert.Contains("simulated", info.Name, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("cuda-sim", info.Name, StringComparison.Ordinal);
        Assert.Equal(new Version(9, 0), info.ComputeCapability);
        Assert.True(info.MultiprocessorCount > 0, info.ToString());
        Assert.True(info.TotalMemoryBytes > 1L << 30, info.ToString());
        Assert.True(info.L2CacheBytes > 0, info.ToString());
        Assert.True(info.PeakBandwidthGBps > 100, $"{info.Name}: {info.PeakBandwidthGBps} GB/s");

        var outOfRange = Assert.Throws<CapreseException>(() => CapreseLibrary.GetDeviceInfo(BackendKind.CudaSim, 1));
        Assert.Equal("caprese_backend_device_info", outOfRange.Operation);
        Assert.Throws<CapreseException>(() => CapreseContext.Create(BackendKind.CudaSim, device: 1));
        // The simulator is not a CUDA device: the CUDA-only queries do not list it.
        if (!CapreseLibrary.IsBackendAvailable(BackendKind.Cuda, out _))
            Assert.Equal(0, CapreseLibrary.CudaDeviceCount());
    }

    [Fact]
    public void CpuBackend_HasNoDevices()
    {
        Assert.Equal(0, CapreseLibrary.DeviceCount(BackendKind.Cpu));
        var ex = Assert.Throws<CapreseException>(() => CapreseLibrary.GetDeviceInfo(BackendKind.Cpu, 0));
        Assert.Equal(CapreseStatus.InvalidArgument, ex.Status);
        Assert.Equal("caprese_backend_device_info", ex.Operation);
    }

    [Fact]
    public void Simulator_CopiesRoundTripThroughDeviceMemory()
    {
        CudaTestBackend.RequireSimulator();
        using var ctx = CapreseContext.Create(BackendKind.CudaSim);
        int[] data = [.. Enumerable.Range(-50, 1000)];
        using var a = ctx.Upload<int>(data, DType.I32, data.Length); // HostToDevice
        Assert.Equal(data, a.ToArray<int>());                          // DeviceToHost
        using var b = ctx.Allocate(DType.I32, data.Length);
        Assert.All(b.ToArray<int>(), v => Assert.Equal(0, v));        // zeroed
        ctx.Copy(b.Pointer, a.Pointer, a.Bytes, CopyKind.DeviceToDevice);
        ctx.Memset(b.Pointer, 0x01, 8);
        int[] back = b.ToArray<int>();
        Assert.Equal([0x01010101, 0x01010101], back[..2]);
        Assert.Equal(data[2..], back[2..]);

        // Explicit raw-pointer copies with the device kinds, from and to pinned host memory.
        var host = new int[data.Length];
        var handle = GCHandle.Alloc(host, GCHandleType.Pinned);
        try
        {
            ctx.Copy(handle.AddrOfPinnedObject(), a.Pointer, a.Bytes, CopyKind.DeviceToHost);
            ctx.Synchronize();
            Assert.Equal(data, host);
            Array.Fill(host, 7);
            ctx.Copy(b.Pointer, handle.AddrOfPinnedObject(), b.Bytes, CopyKind.HostToDevice);
            ctx.Synchronize();
        }
        finally
        {
            handle.Free();
        }
        Assert.All(b.ToArray<int>(), v => Assert.Equal(7, v));
    }

    [Fact]
    public void Simulator_HasStreamsAndWallClockEvents()
    {
        CudaTestBackend.RequireSimulator();
        using var ctx = CapreseContext.Create(BackendKind.CudaSim);
        nint own = ctx.Stream;
        ctx.Stream = 0;
        Assert.Equal(own, ctx.Stream);

        using var start = ctx.CreateEvent();
        using var end = ctx.CreateEvent();
        using var src = ctx.Allocate(8L << 20);
        using var dst = ctx.Allocate(8L << 20);
        var clock = Stopwatch.StartNew();
        ctx.Record(start);
        ctx.Copy(dst.Pointer, src.Pointer, src.Bytes, CopyKind.DeviceToDevice);
        ctx.Record(end);
        end.Synchronize();
        double wallMs = clock.Elapsed.TotalMilliseconds;
        float ms = CapreseContext.ElapsedMilliseconds(start, end);
        Assert.True(ms >= 0 && ms <= wallMs + 1, $"event time {ms} ms, wall clock {wallMs} ms");
    }

    [Fact]
    public void Simulator_MatchesTheCpuBackend_OnAChainOfOps()
    {
        CudaTestBackend.RequireSimulator();
        float[] cpu = CudaTests.RunChain(BackendKind.Cpu), sim = CudaTests.RunChain(BackendKind.CudaSim);
        TestUtil.AssertClose(cpu, sim, 2e-3f, 2e-3f);
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    public void Simulator_MatmulMatchesTheCpuBackend(DType wType)
    {
        CudaTestBackend.RequireSimulator();
        const int m = 3, n = 40, k = 70;
        float[] x = TestUtil.Random(m * k, 41), w = TestUtil.Random(n * k, 42), bias = TestUtil.Random(n, 43);
        float[] Run(BackendKind backend)
        {
            using var ctx = CapreseContext.Create(backend);
            using var xb = ctx.Upload<float>(x, DType.F32, m, k);
            using var wb = TestUtil.UploadAs(ctx, w, wType, n, k);
            using var bb = ctx.Upload<float>(bias, DType.F32, n);
            using var yb = ctx.Allocate(DType.F32, m, n);
            ctx.Matmul(xb.Tensor, wb.Tensor, bb.Tensor, yb.Tensor);
            return yb.ToArray<float>();
        }
        TestUtil.AssertClose(Run(BackendKind.Cpu), Run(BackendKind.CudaSim), Backends.Atol(BackendKind.CudaSim), Backends.Rtol(BackendKind.CudaSim));
    }

    [Fact]
    public void NoFallback_TheSimulatorIsNeverCreatedForCuda()
    {
        // Asking for CUDA on a machine without it fails even though the simulator could run the same kernels.
        CudaTestBackend.RequireSimulator();
        Assert.SkipWhen(CapreseLibrary.IsBackendAvailable(BackendKind.Cuda, out _), "CUDA is available here");
        var ex = Assert.Throws<CapreseBackendUnavailableException>(() => CapreseContext.Create(BackendKind.Cuda));
        Assert.Equal(CapreseStatus.BackendUnavailable, ex.Status);
    }
}
