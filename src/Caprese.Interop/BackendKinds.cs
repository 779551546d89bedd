namespace Caprese.Interop;

/// <summary>What a <see cref="BackendKind"/> implies for its memory and its kernels.</summary>
public static class BackendKinds
{
    /// <summary>
    /// Whether the backend's buffers are CUDA device memory: copies to and from them use
    /// <see cref="CopyKind.HostToDevice"/>, <see cref="CopyKind.DeviceToHost"/> and
    /// <see cref="CopyKind.DeviceToDevice"/>, and the backend runs the CUDA kernels (on a GPU, or simulated).
    /// True for <see cref="BackendKind.Cuda"/> and <see cref="BackendKind.CudaSim"/>.
    /// </summary>
    public static bool UsesDeviceMemory(this BackendKind backend) => backend is BackendKind.Cuda or BackendKind.CudaSim;

    /// <summary>Whether the backend is the CUDA simulator (CUDA kernels on the CPU: slow, timings meaningless).</summary>
    public static bool IsSimulator(this BackendKind backend) => backend == BackendKind.CudaSim;

    /// <summary>The copy kind from host memory into <paramref name="backend"/>'s memory.</summary>
    public static CopyKind HostToBackend(this BackendKind backend) => backend.UsesDeviceMemory() ? CopyKind.HostToDevice : CopyKind.HostToHost;

    /// <summary>The copy kind from <paramref name="backend"/>'s memory to host memory.</summary>
    public static CopyKind BackendToHost(this BackendKind backend) => backend.UsesDeviceMemory() ? CopyKind.DeviceToHost : CopyKind.HostToHost;

    /// <summary>The copy kind between two buffers of <paramref name="backend"/>.</summary>
    public static CopyKind WithinBackend(this BackendKind backend) => backend.UsesDeviceMemory() ? CopyKind.DeviceToDevice : CopyKind.HostToHost;
}
