using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Caprese.Interop.Native;

namespace Caprese.Interop.Tests;

/// <summary>The managed mirrors have exactly the layouts the native library was compiled with.</summary>
public class AbiTests
{
    private static unsafe (long Size, long[] Offsets) NativeLayout(NativeStructId id)
    {
        long size;
        int count;
        var offsets = new long[16];
        fixed (long* p = offsets)
            CapreseException.Check(NativeMethods.caprese_struct_layout((int)id, &size, p, offsets.Length, &count), "caprese_struct_layout");
        return (size, offsets[..count]);
    }

    private static void AssertLayout<T>(NativeStructId id, params string[] fields) where T : unmanaged
    {
        var (size, offsets) = NativeLayout(id);
        Assert.Equal(size, Marshal.SizeOf<T>());
        Assert.Equal(size, Unsafe.SizeOf<T>());
        Assert.Equal(offsets.Length, fields.Length);
        for (int i = 0; i < fields.Length; i++)
            Assert.True(offsets[i] == (long)Marshal.OffsetOf<T>(fields[i]),
                $"{typeof(T).Name}.{fields[i]}: native offset {offsets[i]}, managed {Marshal.OffsetOf<T>(fields[i])}");
    }

    [Fact]
    public void TensorDesc_MatchesCapreseTensor() =>
        AssertLayout<TensorDesc>(NativeStructId.Tensor, "_data", "_dtype", "_ndim", "_shape0");

    [Fact]
    public void TensorDesc_ShapeIsFourContiguousLongs()
    {
        Assert.Equal(Marshal.OffsetOf<TensorDesc>("_shape0") + 8, Marshal.OffsetOf<TensorDesc>("_shape1"));
        Assert.Equal(Marshal.OffsetOf<TensorDesc>("_shape0") + 16, Marshal.OffsetOf<TensorDesc>("_shape2"));
        Assert.Equal(Marshal.OffsetOf<TensorDesc>("_shape0") + 24, Marshal.OffsetOf<TensorDesc>("_shape3"));
    }

    [Fact]
    public void ContextOptions_Matches() =>
        AssertLayout<NativeContextOptions>(NativeStructId.ContextOptions, "Backend", "Device", "NumThreads", "Flags", "Stream");

    [Fact]
    public void AttentionParams_Matches() =>
        AssertLayout<NativeAttentionParams>(NativeStructId.AttentionParams, "Pos0", "SlidingWindow", "Scale", "Softcap");

    [Fact]
    public void SparseFfnParams_Matches() =>
        AssertLayout<NativeSparseFfnParams>(NativeStructId.SparseFfnParams, "Activation", "Selection", "Threshold", "Flags");

    [Fact]
    public void DeviceInfo_Matches() =>
        AssertLayout<NativeDeviceInfo>(NativeStructId.DeviceInfo, "Name", "TotalMemoryBytes", "ComputeMajor", "ComputeMinor",
            "MultiprocessorCount", "MemoryBusWidthBits", "MemoryClockKHz", "L2CacheBytes");

    [Fact]
    public void SamplingParams_Matches() =>
        AssertLayout<NativeSamplingParams>(NativeStructId.SamplingParams, "Temperature", "TopK", "TopP", "Flags", "Seed", "Offset");

    [Fact]
    public unsafe void StructLayout_RejectsUnknownId()
    {
        long size;
        int count;
        Assert.Equal(CapreseStatus.InvalidArgument, NativeMethods.caprese_struct_layout(99, &size, null, 0, &count));
        Assert.Contains("99", NativeMethods.PtrToString(NativeMethods.caprese_last_error()));
    }

    [Fact]
    public void VersionAndAbi_MatchTheBindings()
    {
        Assert.Equal("0.1.0", CapreseLibrary.Version);
        Assert.Equal(CapreseLibrary.ExpectedAbiVersion, CapreseLibrary.AbiVersion);
        CapreseLibrary.EnsureCompatible();
        Assert.EndsWith("libcaprese.so", CapreseLibrary.NativeLibraryPath);
    }

    [Fact]
    public void Profiling_CanBeToggled()
    {
        bool before = CapreseLibrary.Profiling;
        try
        {
            CapreseLibrary.Profiling = true;
            Assert.True(CapreseLibrary.Profiling);
            CapreseLibrary.Profiling = false;
            Assert.False(CapreseLibrary.Profiling);
        }
        finally
        {
            CapreseLibrary.Profiling = before;
        }
    }

    [Fact]
    public void CpuBackend_IsAlwaysAvailable()
    {
        Assert.True(CapreseLibrary.IsBackendAvailable(BackendKind.Cpu, out string reason));
        Assert.Equal("", reason);
        CapreseLibrary.EnsureBackend(BackendKind.Cpu);
        using var ctx = CapreseContext.Create(BackendKind.Cpu, numThreads: 2);
        Assert.Equal(BackendKind.Cpu, ctx.Backend);
    }
}
