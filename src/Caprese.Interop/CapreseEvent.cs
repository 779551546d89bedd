using Caprese.Interop.Native;

namespace Caprese.Interop;

/// <summary>A timing mark on a context's stream (a CUDA event on the CUDA backend).</summary>
public sealed class CapreseEvent : IDisposable
{
    private readonly EventHandle _handle;

    internal CapreseEvent(EventHandle handle) => _handle = handle;

    /// <summary>The native handle (for advanced interop; owned by this event).</summary>
    public EventHandle Handle => _handle;

    /// <summary>Whether <see cref="Dispose"/> was called.</summary>
    public bool IsDisposed => _handle.IsClosed;

    /// <summary>Waits until the work before the event's last record is done.</summary>
    public void Synchronize()
    {
        using var h = Borrow();
        CapreseException.Check(NativeMethods.caprese_event_synchronize(h.Value), "caprese_event_synchronize");
    }

    internal CapreseSafeHandle.Lease Borrow()
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        return _handle.Borrow();
    }

    /// <summary>Destroys the event. Safe in any order with respect to its context.</summary>
    public void Dispose() => _handle.Dispose();
}
