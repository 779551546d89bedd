using System.Runtime.CompilerServices;

namespace Caprese.Interop.Tests;

/// <summary>Handles are released exactly once, in any order, and use after dispose throws instead of crashing.</summary>
public class LifetimeTests
{
    [Fact]
    public void DoubleDispose_IsHarmless()
    {
        var ctx = CapreseContext.Create(BackendKind.Cpu);
        var buf = ctx.Allocate(16);
        var ev = ctx.CreateEvent();
        buf.Dispose();
        buf.Dispose();
        ev.Dispose();
        ev.Dispose();
        ctx.Dispose();
        ctx.Dispose();
        Assert.True(ctx.IsDisposed);
        Assert.True(buf.IsDisposed);
        Assert.True(ev.IsDisposed);
    }

    [Fact]
    public unsafe void Buffer_MatchesItsNativeHandle()
    {
        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        using var buf = ctx.Allocate(DType.BF16, 3, 5);
        nuint size;
        nint data;
        Assert.Equal(CapreseStatus.Ok, Native.NativeMethods.caprese_buffer_size(buf.Handle.DangerousGetHandle(), &size));
        Assert.Equal(CapreseStatus.Ok, Native.NativeMethods.caprese_buffer_data(buf.Handle.DangerousGetHandle(), &data));
        Assert.Equal((nuint)30, size);
        Assert.Equal(30, buf.Bytes);
        Assert.Equal(data, buf.Pointer);
        Assert.Equal(0, buf.Pointer % 64); // 64-byte aligned, as caprese.h promises
        Assert.Equal(DType.BF16, buf.DType);
        Assert.Equal([3L, 5L], buf.Shape!);
        Assert.Equal(buf.Tensor, buf.AsTensor(DType.BF16, 3, 5));
    }

    [Fact]
    public void DisposedObjects_ThrowObjectDisposed()
    {
        var ctx = CapreseContext.Create(BackendKind.Cpu);
        var buf = ctx.Allocate(DType.F32, 4);
        var ev = ctx.CreateEvent();
        TensorDesc t = buf.Tensor;
        buf.Dispose();
        ev.Dispose();
        Assert.Throws<ObjectDisposedException>(() => buf.Pointer);
        Assert.Throws<ObjectDisposedException>(() => buf.Tensor);
        Assert.Throws<ObjectDisposedException>(() => buf.CopyFrom<float>([1f]));
        Assert.Throws<ObjectDisposedException>(() => buf.ToArray<float>());
        Assert.Throws<ObjectDisposedException>(() => ctx.Record(ev));
        Assert.Throws<ObjectDisposedException>(() => ev.Synchronize());
        ctx.Dispose();
        Assert.Throws<ObjectDisposedException>(() => ctx.Softcap(t, 1f, t));
        Assert.Throws<ObjectDisposedException>(() => ctx.Allocate(8));
        Assert.Throws<ObjectDisposedException>(() => ctx.Synchronize());
        Assert.Throws<ObjectDisposedException>(() => ctx.Stream);
        Assert.Throws<ObjectDisposedException>(() => ctx.CreateEvent());
    }

    [Fact]
    public void BufferOutlivesItsContext()
    {
        var ctx = CapreseContext.Create(BackendKind.Cpu);
        var buf = ctx.Upload<float>([1f, 2f], DType.F32, 2);
        var ev = ctx.CreateEvent();
        ctx.Dispose();
        Assert.False(buf.IsDisposed);
        var ex = Assert.Throws<ObjectDisposedException>(() => buf.ToArray<float>());
        Assert.Contains("context", ex.Message);
        Assert.Throws<ObjectDisposedException>(() => buf.CopyFrom<float>([3f]));
        buf.Dispose(); // frees through the refcounted backend: no crash
        ev.Dispose();
    }

    [Fact]
    public void Finalizers_ReleaseUnreferencedHandles_InAnyOrder()
    {
        for (int round = 0; round < 3; round++)
        {
            MakeGarbage();
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        // The library still works after the finaliser thread destroyed contexts before or after their buffers.
        using var ctx = CapreseContext.Create(BackendKind.Cpu);
        using var b = ctx.Upload<float>([1f, 2f, 3f], DType.F32, 3);
        Assert.Equal([1f, 2f, 3f], b.ToArray<float>());
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void MakeGarbage()
    {
        for (int i = 0; i < 20; i++)
        {
            var ctx = CapreseContext.Create(BackendKind.Cpu);
            var buffers = Enumerable.Range(0, 5).Select(j => ctx.Upload<float>([j, i], DType.F32, 2)).ToArray();
            var ev = ctx.CreateEvent();
            ctx.Record(ev);
            if (i % 2 == 0) buffers[0].Dispose(); // a mix of disposed and abandoned handles
            GC.KeepAlive(ev);
        }
    }

    [Fact]
    public async Task ConcurrentDispose_DuringUse_DoesNotCrash()
    {
        for (int i = 0; i < 20; i++)
        {
            var ctx = CapreseContext.Create(BackendKind.Cpu);
            var buf = ctx.Allocate(DType.F32, 64, 64);
            TensorDesc t = buf.Tensor;
            var worker = Task.Run(() =>
            {
                for (int j = 0; j < 50; j++)
                {
                    try { ctx.Softcap(t, 2f, t); }
                    catch (ObjectDisposedException) { return; }
                }
            }, TestContext.Current.CancellationToken);
            // The context goes away while an op may be running: the SafeHandle's refcount defers
            // the native destroy until the call returns. (The buffer must outlive the tensor's
            // use: a TensorDesc is a raw view and does not keep memory alive.)
            ctx.Dispose();
            await worker;
            buf.Dispose();
        }
    }
}
