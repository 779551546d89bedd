namespace Caprese.Interop.Tests;

/// <summary>
/// Opens a context for a test's backend parameter. <see cref="BackendKind.Cuda"/> means "the CUDA kernels": real CUDA
/// where it is usable, else the CUDA simulator (see <see cref="CudaTestBackend"/>), else the test is skipped with the reason.
/// </summary>
internal static class Backends
{
    public static CapreseContext Open(BackendKind backend)
    {
        BackendKind actual = CudaTestBackend.Resolve(backend);
        var ctx = CapreseContext.Create(actual);
        Assert.Equal(actual, ctx.Backend);
        return ctx;
    }

    /// <summary>Absolute tolerance: the CUDA kernels (on a GPU or simulated) use fast math and other summation orders.</summary>
    public static float Atol(BackendKind backend) => backend.UsesDeviceMemory() ? 2e-3f : 2e-5f;

    public static float Rtol(BackendKind backend) => backend.UsesDeviceMemory() ? 2e-3f : 1e-4f;
}
