// Consumer test of the NuGet packages: CPU matmul + argmax with known results through the
// friendly API, then CUDA, which must either work or be refused with the native reason, then the
// CUDA simulator, which must work where the package carries it.
using Caprese.Interop;

Console.WriteLine($"caprese {CapreseLibrary.Version}, ABI {CapreseLibrary.AbiVersion}");
Console.WriteLine($"native library: {CapreseLibrary.NativeLibraryPath}");
CapreseLibrary.EnsureCompatible();

using (var ctx = CapreseContext.Create(BackendKind.Cpu))
{
    // x [2, 3] · w [4, 3]ᵀ: row 0 picks column 2, row 1 picks column 0.
    using var x = ctx.Upload<float>([1, 2, 3, -1, 0, 1], DType.F32, 2, 3);
    float[] weights = [-1, 0, 0, 0, 1, 0, 1, 1, 1, 0, 0, 0];
    using var w = ctx.Upload<Half>(Array.ConvertAll(weights, f => (Half)f), DType.F16, 4, 3);
    using var y = ctx.Allocate(DType.F32, 2, 4);
    using var ids = ctx.Allocate(DType.I32, 2);
    ctx.Matmul(x.Tensor, w.Tensor, null, y.Tensor);
    ctx.Argmax(y.Tensor, ids.Tensor);
    float[] logits = y.ToArray<float>();
    int[] next = ids.ToArray<int>();
    float[] expected = [-1, 2, 6, 0, 1, 0, 0, 0];
    if (!logits.SequenceEqual(expected) || next[0] != 2 || next[1] != 0)
    {
        Console.Error.WriteLine($"FAIL: logits [{string.Join(", ", logits)}], argmax [{string.Join(", ", next)}]");
        return 1;
    }
    Console.WriteLine($"matmul + argmax: {{{next[0]}, {next[1]}}}");

    try
    {
        ctx.Matmul(x.Tensor, w.Tensor, null, x.Tensor);
        Console.Error.WriteLine("FAIL: a shape mismatch was not reported");
        return 1;
    }
    catch (CapreseException e) when (e.Status == CapreseStatus.Shape && e.Operation == "caprese_matmul")
    {
        Console.WriteLine($"shape error: {e.NativeMessage}");
    }
}

if (CapreseLibrary.IsBackendAvailable(BackendKind.Cuda, out string reason))
{
    using var gpu = CapreseContext.Create(BackendKind.Cuda);
    Console.WriteLine($"CUDA probe: available ({CapreseLibrary.GetCudaDeviceInfo(0).Name})");
}
else
{
    try
    {
        using var gpu = CapreseContext.Create(BackendKind.Cuda);
        Console.Error.WriteLine("FAIL: CUDA context created although the probe said: " + reason);
        return 1;
    }
    catch (CapreseBackendUnavailableException e) when (e.NativeMessage.Length > 0)
    {
        Console.WriteLine($"CUDA probe: {e.NativeMessage}");
    }
}
// The CUDA simulator (the CUDA kernels on the CPU) ships with the package when the native build made it;
// run.sh sets CAPRESE_CONSUMER_EXPECT_CUDA_SIM=1 then, and it must load from the package and compute.
bool expectSim = Environment.GetEnvironmentVariable("CAPRESE_CONSUMER_EXPECT_CUDA_SIM") == "1";
if (CapreseLibrary.IsBackendAvailable(BackendKind.CudaSim, out string simReason))
{
    using var sim = CapreseContext.Create(BackendKind.CudaSim);
    using var x = sim.Upload<float>([1, 2, 3, -1, 0, 1], DType.F32, 2, 3);
    using var w = sim.Upload<float>([-1, 0, 0, 0, 1, 0, 1, 1, 1, 0, 0, 0], DType.F32, 4, 3);
    using var y = sim.Allocate(DType.F32, 2, 4);
    sim.Matmul(x.Tensor, w.Tensor, null, y.Tensor);
    float[] logits = y.ToArray<float>();
    if (!logits.SequenceEqual([-1f, 2, 6, 0, 1, 0, 0, 0]))
    {
        Console.Error.WriteLine($"FAIL: CUDA simulator matmul gave [{string.Join(", ", logits)}]");
        return 1;
    }
    Console.WriteLine($"CUDA simulator: matmul OK on {CapreseLibrary.GetDeviceInfo(BackendKind.CudaSim, 0).Name}");
}
else if (expectSim)
{
    Console.Error.WriteLine($"FAIL: the package should carry the CUDA simulator, but: {simReason}");
    return 1;
}
else
{
    Console.WriteLine($"CUDA simulator: {simReason}");
}
Console.WriteLine("OK");
return 0;
