namespace Caprese.Interop.Tests;

/// <summary>Opens a context for a backend, skipping (with the native reason) when CUDA is not there.</summary>
internal static class Backends
{
    public static CapreseContext Open(BackendKind backend)
    {
        if (backend == BackendKind.Cuda && !CapreseLibrary.IsBackendAvailable(BackendKind.Cuda, out string reason))
            Assert.Skip($"CUDA backend unavailable: {reason}");
        return CapreseContext.Create(backend);
    }

    /// <summary>Absolute tolerance: GPU kernels use fast math and other summation orders.</summary>
    public static float Atol(BackendKind backend) => backend == BackendKind.Cuda ? 2e-3f : 2e-5f;

    public static float Rtol(BackendKind backend) => backend == BackendKind.Cuda ? 2e-3f : 1e-4f;
}
