using Caprese.Interop.Native;

namespace Caprese.Interop;

/// <summary>
/// A captured sequence of ops (a CUDA graph) that <see cref="CapreseContext.Launch(CapreseGraph)"/>
/// replays with one launch; made by <see cref="CapreseContext.EndGraphCapture"/>.
/// </summary>
public sealed class CapreseGraph : IDisposable
{
    private readonly GraphHandle _handle;

    internal CapreseGraph(GraphHandle handle) => _handle = handle;

    /// <summary>Whether <see cref="Dispose"/> was called.</summary>
    public bool IsDisposed => _handle.IsClosed;

    internal CapreseSafeHandle.Lease Borrow()
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        return _handle.Borrow();
    }

    /// <summary>Destroys the graph. Safe in any order with respect to its context.</summary>
    public void Dispose() => _handle.Dispose();
}
