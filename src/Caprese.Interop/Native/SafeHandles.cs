using System.Runtime.InteropServices;
using Caprese.Interop.Native;

namespace Caprese.Interop;

/// <summary>
/// Base of the Caprese handles. The native library refcounts the backend behind buffers and
/// events, so handles may be released in any order, including by the finaliser.
/// </summary>
public abstract class CapreseSafeHandle : SafeHandle
{
    /// <summary>Creates an invalid (zero) handle that owns what it is later given.</summary>
    protected CapreseSafeHandle() : base(0, ownsHandle: true) { }

    /// <inheritdoc />
    public override bool IsInvalid => handle == 0;

    internal void Set(nint value) => SetHandle(value);

    /// <summary>Keeps the handle alive for the duration of a native call.</summary>
    internal Lease Borrow()
    {
        bool added = false;
        DangerousAddRef(ref added);
        return new Lease(this, added);
    }

    internal readonly ref struct Lease
    {
        private readonly CapreseSafeHandle _owner;
        private readonly bool _added;

        internal Lease(CapreseSafeHandle owner, bool added)
        {
            _owner = owner;
            _added = added;
        }

        public nint Value => _owner.DangerousGetHandle();

        public void Dispose()
        {
            if (_added) _owner.DangerousRelease();
        }
    }
}

/// <summary>Owns a <c>caprese_context_t</c>.</summary>
public sealed class ContextHandle : CapreseSafeHandle
{
    /// <inheritdoc />
    protected override bool ReleaseHandle() => NativeMethods.caprese_context_destroy(handle) == CapreseStatus.Ok;
}

/// <summary>Owns a <c>caprese_buffer_t</c>.</summary>
public sealed class BufferHandle : CapreseSafeHandle
{
    /// <inheritdoc />
    protected override bool ReleaseHandle() => NativeMethods.caprese_buffer_destroy(handle) == CapreseStatus.Ok;
}

/// <summary>Owns a <c>caprese_event_t</c>.</summary>
public sealed class EventHandle : CapreseSafeHandle
{
    /// <inheritdoc />
    protected override bool ReleaseHandle() => NativeMethods.caprese_event_destroy(handle) == CapreseStatus.Ok;
}

/// <summary>Owns a <c>caprese_graph_t</c>.</summary>
public sealed class GraphHandle : CapreseSafeHandle
{
    /// <inheritdoc />
    protected override bool ReleaseHandle() => NativeMethods.caprese_graph_destroy(handle) == CapreseStatus.Ok;
}
