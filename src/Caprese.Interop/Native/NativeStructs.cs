using System.Runtime.InteropServices;

namespace Caprese.Interop.Native;

// Blittable mirrors of the structs in caprese.h. caprese_tensor is mirrored by the public
// Caprese.Interop.TensorDesc itself, so tensors go to native code without conversion.
// A test compares every size and offset with caprese_struct_layout().

/// <summary>caprese_context_options.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NativeContextOptions
{
    public int Backend;
    public int Device;
    public int NumThreads;
    public int Flags;
    public nint Stream;
}

/// <summary>caprese_attention_params.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NativeAttentionParams
{
    public int Pos0;
    public int SlidingWindow;
    public float Scale;
    public float Softcap;
}

/// <summary>caprese_sampling_params.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NativeSamplingParams
{
    public float Temperature;
    public int TopK;
    public float TopP;
    public int Flags;
    public ulong Seed;
    public ulong Offset;
}

/// <summary>caprese_sparse_ffn_params.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NativeSparseFfnParams
{
    public int Activation;
    public int Selection;
    public float Threshold;
    public int Flags;
}

/// <summary>caprese_device_info.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NativeDeviceInfo
{
    public const int NameSize = 256; // CAPRESE_DEVICE_NAME_SIZE

    public fixed byte Name[NameSize];
    public long TotalMemoryBytes;
    public int ComputeMajor;
    public int ComputeMinor;
    public int MultiprocessorCount;
    public int MemoryBusWidthBits;
    public long MemoryClockKHz;
    public long L2CacheBytes;
}

/// <summary>caprese_struct_id.</summary>
internal enum NativeStructId
{
    Tensor = 0,
    ContextOptions = 1,
    AttentionParams = 2,
    DeviceInfo = 3,
    SparseFfnParams = 4,
    SamplingParams = 5,
}
