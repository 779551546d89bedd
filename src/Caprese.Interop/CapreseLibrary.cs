using System.Text;
using Caprese.Interop.Native;

namespace Caprese.Interop;

/// <summary>Properties of a CUDA device, as reported by the CUDA plugin (or of the simulated device of the CUDA simulator).</summary>
/// <param name="Name">Device name, e.g. "NVIDIA H100 80GB HBM3".</param>
/// <param name="TotalMemoryBytes">Global memory in bytes.</param>
/// <param name="ComputeCapability">Compute capability (major.minor), e.g. 9.0.</param>
/// <param name="MultiprocessorCount">Number of SMs.</param>
/// <param name="MemoryBusWidthBits">Memory bus width in bits.</param>
/// <param name="MemoryClockKHz">Memory clock in kHz.</param>
/// <param name="L2CacheBytes">L2 cache size in bytes.</param>
public sealed record DeviceInfo(
    string Name,
    long TotalMemoryBytes,
    Version ComputeCapability,
    int MultiprocessorCount,
    int MemoryBusWidthBits,
    long MemoryClockKHz,
    long L2CacheBytes)
{
    /// <summary>
    /// Theoretical DRAM bandwidth in GB/s: two transfers per memory clock (the CUDA convention
    /// for GDDR and HBM) times the bus width in bytes. The roofline for memory-bound decoding.
    /// </summary>
    public double PeakBandwidthGBps => 2.0 * MemoryClockKHz * 1e3 * (MemoryBusWidthBits / 8.0) / 1e9;
}

/// <summary>Parameters of <see cref="CapreseContext.Attention"/>; mirrors <c>caprese_attention_params</c>.</summary>
/// <param name="Pos0">Position of query row 0; row m sits at Pos0 + m and sees keys 0 .. Pos0 + m.</param>
/// <param name="SlidingWindow">0 = unlimited; else row m sees only keys &gt; Pos0 + m - SlidingWindow.</param>
/// <param name="Scale">Multiplies q·k, usually 1/sqrt(head_dim).</param>
/// <param name="Softcap">0 = off; else scores become Softcap * tanh(scores / Softcap) (Gemma 2).</param>
public readonly record struct AttentionParams(int Pos0, int SlidingWindow, float Scale, float Softcap)
{
    internal NativeAttentionParams ToNative() => new()
    {
        Pos0 = Pos0,
        SlidingWindow = SlidingWindow,
        Scale = Scale,
        Softcap = Softcap,
    };
}

/// <summary>Library-wide information and backend discovery.</summary>
public static class CapreseLibrary
{
    /// <summary>ABI version these bindings were written for (CAPRESE_ABI_VERSION).</summary>
    public const int ExpectedAbiVersion = 1;

    /// <summary>Version of the loaded native library, e.g. "0.1.0".</summary>
    public static string Version => NativeMethods.PtrToString(NativeMethods.caprese_version());

    /// <summary>ABI version of the loaded native library.</summary>
    public static int AbiVersion => NativeMethods.caprese_abi_version();

    /// <summary>Full path of the loaded libcaprese (loads it if needed); "caprese" if the system search found it.</summary>
    public static string NativeLibraryPath
    {
        get
        {
            _ = NativeMethods.caprese_abi_version();
            return NativeLibraryResolver.LoadedPath ?? NativeMethods.LibraryName;
        }
    }

    /// <summary>Throws unless the native library speaks the ABI these bindings expect.</summary>
    public static void EnsureCompatible()
    {
        int abi = AbiVersion;
        if (abi != ExpectedAbiVersion)
            throw new CapreseException(CapreseStatus.Internal, "caprese_abi_version",
                $"libcaprese at {NativeLibraryPath} has ABI version {abi}; Caprese.Interop expects {ExpectedAbiVersion}. Mixed versions installed?");
    }

    /// <summary>Throws <see cref="CapreseBackendUnavailableException"/> with the native reason unless <paramref name="backend"/> can be used.</summary>
    public static void EnsureBackend(BackendKind backend) =>
        CapreseException.Check(NativeMethods.caprese_backend_probe((int)backend), "caprese_backend_probe");

    /// <summary>Whether <paramref name="backend"/> can be used; if not, <paramref name="reason"/> says exactly why.</summary>
    public static bool IsBackendAvailable(BackendKind backend, out string reason)
    {
        CapreseStatus status = NativeMethods.caprese_backend_probe((int)backend);
        if (status == CapreseStatus.Ok)
        {
            reason = string.Empty;
            return true;
        }
        reason = NativeMethods.PtrToString(NativeMethods.caprese_last_error());
        if (reason.Length == 0) reason = status.ToString();
        return false;
    }

    /// <summary>
    /// Number of CUDA devices; 0 when the CUDA backend is unavailable (call
    /// <see cref="IsBackendAvailable"/> for the reason). Other failures throw.
    /// </summary>
    public static unsafe int CudaDeviceCount()
    {
        int count = 0;
        CapreseStatus status = NativeMethods.caprese_cuda_device_count(&count);
        if (status == CapreseStatus.BackendUnavailable) return 0;
        CapreseException.Check(status, "caprese_cuda_device_count");
        return count;
    }

    /// <summary>Properties of CUDA device <paramref name="device"/>.</summary>
    public static unsafe DeviceInfo GetCudaDeviceInfo(int device)
    {
        NativeDeviceInfo info;
        CapreseException.Check(NativeMethods.caprese_cuda_device_info(device, &info), "caprese_cuda_device_info");
        return ToDeviceInfo(&info);
    }

    /// <summary>
    /// Number of devices of <paramref name="backend"/>: the GPUs for <see cref="BackendKind.Cuda"/>, the one
    /// simulated device for <see cref="BackendKind.CudaSim"/>, 0 for <see cref="BackendKind.Cpu"/> (which has
    /// no devices) and for a backend that is unavailable (call <see cref="IsBackendAvailable"/> for the reason).
    /// Other failures throw.
    /// </summary>
    public static unsafe int DeviceCount(BackendKind backend)
    {
        int count = 0;
        CapreseStatus status = NativeMethods.caprese_backend_device_count((int)backend, &count);
        if (status == CapreseStatus.BackendUnavailable) return 0;
        CapreseException.Check(status, "caprese_backend_device_count");
        return count;
    }

    /// <summary>
    /// Properties of device <paramref name="device"/> of <paramref name="backend"/> (a CUDA GPU, or the
    /// simulator's simulated device, whose name says it is a simulator). Throws for the CPU backend, an
    /// unavailable backend or an ordinal out of range.
    /// </summary>
    public static unsafe DeviceInfo GetDeviceInfo(BackendKind backend, int device)
    {
        NativeDeviceInfo info;
        CapreseException.Check(NativeMethods.caprese_backend_device_info((int)backend, device, &info), "caprese_backend_device_info");
        return ToDeviceInfo(&info);
    }

    private static unsafe DeviceInfo ToDeviceInfo(NativeDeviceInfo* info)
    {
        var nameBytes = new ReadOnlySpan<byte>(info->Name, NativeDeviceInfo.NameSize);
        int end = nameBytes.IndexOf((byte)0);
        string name = Encoding.UTF8.GetString(end < 0 ? nameBytes : nameBytes[..end]);
        return new DeviceInfo(name, info->TotalMemoryBytes, new Version(info->ComputeMajor, info->ComputeMinor),
            info->MultiprocessorCount, info->MemoryBusWidthBits, info->MemoryClockKHz, info->L2CacheBytes);
    }

    /// <summary>NVTX ranges around every op, for Nsight Systems (also enabled by CAPRESE_NVTX=1).</summary>
    public static bool Profiling
    {
        get => NativeMethods.caprese_profiling_enabled() != 0;
        set => CapreseException.Check(NativeMethods.caprese_set_profiling(value ? 1 : 0), "caprese_set_profiling");
    }

    /// <summary>Human-readable name of a status (caprese_status_string).</summary>
    public static string StatusString(CapreseStatus status) => NativeMethods.PtrToString(NativeMethods.caprese_status_string(status));
}
