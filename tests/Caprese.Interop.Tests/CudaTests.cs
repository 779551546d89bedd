namespace Caprese.Interop.Tests;

/// <summary>
/// CUDA is either usable or refused loudly with the native reason, never replaced by the CPU (nor by the simulator).
/// Set CAPRESE_EXPECT_CUDA=1 on GPU machines so that a broken CUDA setup fails instead of skipping. The other tests
/// here run the CUDA kernels on <see cref="CudaTestBackend.Get"/>: real CUDA, or the CUDA simulator without a GPU.
/// </summary>
public class CudaTests
{
    private static bool ExpectCuda => Environment.GetEnvironmentVariable("CAPRESE_EXPECT_CUDA") == "1";

    [Fact]
    public void CudaContext_IsCreatedOrRefusedWithTheNativeReason()
    {
        bool available = CapreseLibrary.IsBackendAvailable(BackendKind.Cuda, out string reason);
        if (ExpectCuda) Assert.True(available, $"CAPRESE_EXPECT_CUDA=1 but: {reason}");
        if (available)
        {
            using var ctx = CapreseContext.Create(BackendKind.Cuda);
            Assert.Equal(BackendKind.Cuda, ctx.Backend);
            return;
        }

        Assert.False(string.IsNullOrWhiteSpace(reason));
        var ex = Assert.Throws<CapreseBackendUnavailableException>(() => CapreseContext.Create(BackendKind.Cuda));
        Assert.Equal(CapreseStatus.BackendUnavailable, ex.Status);
        Assert.Equal("caprese_context_create", ex.Operation);
        Assert.False(string.IsNullOrWhiteSpace(ex.NativeMessage));
        Assert.Contains("CUDA", ex.NativeMessage);
        Assert.Contains(ex.NativeMessage, ex.Message);

        var ensure = Assert.Throws<CapreseBackendUnavailableException>(() => CapreseLibrary.EnsureBackend(BackendKind.Cuda));
        Assert.Equal(reason, ensure.NativeMessage);
        Assert.Equal(0, CapreseLibrary.CudaDeviceCount());
        Assert.Throws<CapreseBackendUnavailableException>(() => CapreseLibrary.GetCudaDeviceInfo(0));
        Assert.Equal(0, CapreseLibrary.DeviceCount(BackendKind.Cuda));
        Assert.Throws<CapreseBackendUnavailableException>(() => CapreseLibrary.GetDeviceInfo(BackendKind.Cuda, 0));
    }

    [Fact]
    public void DeviceInfo_DescribesEveryDevice()
    {
        // Real CUDA's GPUs, or the simulator's one simulated device (its profile is a real GPU's).
        BackendKind backend = CudaTestBackend.Get();
        int count = CapreseLibrary.DeviceCount(backend);
        Assert.True(count > 0);
        if (backend == BackendKind.Cuda)
            Assert.Equal(CapreseLibrary.CudaDeviceCount(), count);
        for (int d = 0; d < count; d++)
        {
            DeviceInfo info = CapreseLibrary.GetDeviceInfo(backend, d);
            Assert.False(string.IsNullOrWhiteSpace(info.Name));
            Assert.True(info.TotalMemoryBytes > 0);
            Assert.True(info.ComputeCapability.Major >= 3);
            Assert.True(info.MultiprocessorCount > 0);
            Assert.True(info.PeakBandwidthGBps > 100, $"{info.Name}: {info.PeakBandwidthGBps} GB/s");
            if (backend == BackendKind.Cuda)
                Assert.Equal(CapreseLibrary.GetCudaDeviceInfo(d), info);
        }
        Assert.Throws<CapreseException>(() => CapreseLibrary.GetDeviceInfo(backend, count));
        Assert.Throws<CapreseException>(() => CapreseContext.Create(backend, device: count));
        if (backend == BackendKind.Cuda)
            Assert.Throws<CapreseException>(() => CapreseLibrary.GetCudaDeviceInfo(count));
    }

    [Fact]
    public void DeviceInfo_PeakBandwidth_UsesDoubleDataRate()
    {
        // H100 SXM: 5120-bit HBM3 at 2619 MHz -> about 3.35 TB/s.
        var h100 = new DeviceInfo("H100", 80L << 30, new Version(9, 0), 132, 5120, 2_619_000, 50L << 20);
        Assert.Equal(3352.3, h100.PeakBandwidthGBps, 1);
    }

    [Fact]
    public void CudaMatchesCpu_OnAChainOfOps()
    {
        BackendKind backend = CudaTestBackend.Get();
        float[] cpu = RunChain(BackendKind.Cpu), gpu = RunChain(backend);
        TestUtil.AssertClose(cpu, gpu, 2e-3f, 2e-3f);
    }

    [Fact]
    public void CudaContext_UsesAndRestoresStreams()
    {
        using var ctx = CapreseContext.Create(CudaTestBackend.Get());
        nint own = ctx.Stream;
        ctx.Stream = 0;
        Assert.Equal(own, ctx.Stream);
    }

    [Fact]
    public void CudaEmbedding_OutOfRangeIsReportedAtSynchronize()
    {
        using var ctx = CapreseContext.Create(CudaTestBackend.Get());
        using var table = ctx.Allocate(DType.F32, 4, 2);
        using var ids = ctx.Upload<int>([9], DType.I32, 1);
        using var output = ctx.Allocate(DType.F32, 1, 2);
        ctx.Embedding(table.Tensor, ids.Tensor, 1f, output.Tensor);
        var ex = Assert.Throws<CapreseException>(ctx.Synchronize);
        Assert.Equal(CapreseStatus.OutOfRange, ex.Status);
    }

    internal static float[] RunChain(BackendKind backend)
    {
        const int v = 32, d = 16, m = 3, hd = 4, heads = d / hd;
        using var ctx = CapreseContext.Create(backend);
        float[] table = TestUtil.Random(v * d, 30);
        using var tb = TestUtil.UploadAs(ctx, table, DType.BF16, v, d);
        using var norm = ctx.Upload<float>(TestUtil.Random(d, 31), DType.F32, d);
        using var wq = TestUtil.UploadAs(ctx, TestUtil.Random(d * d, 32), DType.F16, d, d);
        using var ids = ctx.Upload<int>([1, 5, 30], DType.I32, m);
        using var h = ctx.Allocate(DType.F32, m, d);
        using var q = ctx.Allocate(DType.F32, m, d);
        using var attn = ctx.Allocate(DType.F32, m, d);
        using var logits = ctx.Allocate(DType.F32, m, v);
        ctx.Embedding(tb.Tensor, ids.Tensor, 1f, h.Tensor);
        ctx.RmsNorm(h.Tensor, norm.Tensor, 1e-5f, 0f, h.Tensor);
        ctx.Matmul(h.Tensor, wq.Tensor, null, q.Tensor);
        TensorDesc q3 = q.Tensor.Reshape(m, heads, hd);
        ctx.Rope(q3, 0, 10000f, null, RopeStyle.HalfSplit);
        ctx.Attention(q3, q3, q3, new AttentionParams(0, 0, 0.5f, 0f), attn.Tensor.Reshape(m, heads, hd));
        ctx.GatedActivation(attn.Tensor, h.Tensor, Activation.Silu, attn.Tensor);
        ctx.Add(attn.Tensor, h.Tensor, attn.Tensor);
        ctx.Matmul(attn.Tensor, tb.Tensor, null, logits.Tensor);
        ctx.Softcap(logits.Tensor, 30f, logits.Tensor);
        ctx.Softmax(logits.Tensor, 1f, logits.Tensor);
        ctx.Synchronize();
        return logits.ToArray<float>();
    }
}
