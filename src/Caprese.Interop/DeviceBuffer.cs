using Caprese.Interop.Native;

namespace Caprese.Interop;

/// <summary>
/// Memory owned by Caprese in a context's backend (device memory on CUDA, 64-byte aligned host
/// memory on the CPU). Optionally remembers a dtype and shape. Disposing it after its context
/// is safe; copying to or from it after its context was disposed throws
/// <see cref="ObjectDisposedException"/>.
/// </summary>
public sealed unsafe class DeviceBuffer : IDisposable
{
    private readonly CapreseContext _context;
    private readonly BufferHandle _handle;
    private readonly nint _pointer;
    private readonly long[]? _shape;

    internal DeviceBuffer(CapreseContext context, BufferHandle handle, nint pointer, long bytes, DType? dtype, long[]? shape)
    {
        _context = context;
        _handle = handle;
        _pointer = pointer;
        Bytes = bytes;
        DType = dtype;
        _shape = shape;
    }

    /// <summary>The context that allocated the buffer.</summary>
    public CapreseContext Context => _context;

    /// <summary>The native handle (for advanced interop; owned by this buffer).</summary>
    public BufferHandle Handle => _handle;

    /// <summary>Whether <see cref="Dispose"/> was called.</summary>
    public bool IsDisposed => _handle.IsClosed;

    /// <summary>Start of the memory, in the context's memory space.</summary>
    public nint Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            return _pointer;
        }
    }

    /// <summary>Size in bytes.</summary>
    public long Bytes { get; }

    /// <summary>The dtype given at allocation, if any.</summary>
    public DType? DType { get; }

    /// <summary>A copy of the shape given at allocation, if any.</summary>
    public long[]? Shape => (long[]?)_shape?.Clone();

    /// <summary>The whole buffer as the tensor it was allocated as.</summary>
    /// <exception cref="InvalidOperationException">The buffer was allocated by size only.</exception>
    public TensorDesc Tensor
    {
        get
        {
            if (DType is not { } dtype || _shape is null)
                throw new InvalidOperationException("This buffer was allocated by size only; use AsTensor(dtype, shape) to describe it.");
            return TensorDesc.Create(Pointer, dtype, _shape);
        }
    }

    /// <summary>The start of the buffer as a tensor of the given dtype and shape (must fit).</summary>
    public TensorDesc AsTensor(DType dtype, params long[] shape) => AsTensor(0, dtype, shape);

    /// <summary>The bytes from <paramref name="byteOffset"/> as a tensor of the given dtype and shape (must fit and be aligned).</summary>
    public TensorDesc AsTensor(long byteOffset, DType dtype, params long[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        TensorDesc t = TensorDesc.Create(0, dtype, shape);
        int elem = dtype.SizeInBytes();
        if (byteOffset < 0 || byteOffset % elem != 0)
            throw new ArgumentOutOfRangeException(nameof(byteOffset), byteOffset,
                $"Must be >= 0 and a multiple of the {elem}-byte {dtype} element size.");
        if (t.ByteSize > Bytes - byteOffset)
            throw new ArgumentOutOfRangeException(nameof(shape),
                $"{dtype}{TensorDesc.Format(shape)} ({t.ByteSize} bytes) at byte offset {byteOffset} does not fit in the {Bytes}-byte buffer.");
        return TensorDesc.Create(Pointer + (nint)byteOffset, dtype, shape);
    }

    /// <summary>Copies <paramref name="src"/> into the buffer at <paramref name="byteOffset"/>.</summary>
    public void CopyFrom<T>(ReadOnlySpan<T> src, long byteOffset = 0) where T : unmanaged
    {
        long bytes = (long)src.Length * sizeof(T);
        CheckRange(byteOffset, bytes, nameof(src));
        if (bytes == 0) return;
        using var ctx = BorrowContext();
        using var buf = _handle.Borrow();
        fixed (T* p = src)
        {
            CapreseException.Check(
                NativeMethods.caprese_copy(ctx.Value, _pointer + (nint)byteOffset, (nint)p, (nuint)bytes, (int)_context.HostToBackend),
                "caprese_copy");
        }
    }

    /// <summary>Copies the bytes at <paramref name="byteOffset"/> into <paramref name="dst"/> (waits for queued work on CUDA).</summary>
    public void CopyTo<T>(Span<T> dst, long byteOffset = 0) where T : unmanaged
    {
        long bytes = (long)dst.Length * sizeof(T);
        CheckRange(byteOffset, bytes, nameof(dst));
        if (bytes == 0) return;
        using var ctx = BorrowContext();
        using var buf = _handle.Borrow();
        fixed (T* p = dst)
        {
            CapreseException.Check(
                NativeMethods.caprese_copy(ctx.Value, (nint)p, _pointer + (nint)byteOffset, (nuint)bytes, (int)_context.BackendToHost),
                "caprese_copy");
        }
    }

    /// <summary>The whole buffer as an array of <typeparamref name="T"/>.</summary>
    public T[] ToArray<T>() where T : unmanaged
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (Bytes % sizeof(T) != 0)
            throw new InvalidOperationException($"The buffer's {Bytes} bytes are not a whole number of {typeof(T).Name} ({sizeof(T)} bytes).");
        var result = new T[Bytes / sizeof(T)];
        CopyTo<T>(result);
        return result;
    }

    /// <summary>Zeroes the buffer.</summary>
    public void Clear()
    {
        using var ctx = BorrowContext();
        using var buf = _handle.Borrow();
        CapreseException.Check(NativeMethods.caprese_memset(ctx.Value, _pointer, 0, (nuint)Bytes), "caprese_memset");
    }

    private void CheckRange(long byteOffset, long bytes, string paramName)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (byteOffset < 0 || byteOffset > Bytes)
            throw new ArgumentOutOfRangeException(nameof(byteOffset), byteOffset, $"Must be in [0, {Bytes}] for a {Bytes}-byte buffer.");
        if (bytes > Bytes - byteOffset)
            throw new ArgumentOutOfRangeException(paramName,
                $"{bytes} bytes at byte offset {byteOffset} run past the end of the {Bytes}-byte buffer.");
    }

    private CapreseSafeHandle.Lease BorrowContext()
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (_context.IsDisposed)
            throw new ObjectDisposedException(nameof(CapreseContext), "The context that allocated this buffer was disposed; the buffer can only be disposed now.");
        return _context.Borrow();
    }

    /// <summary>Frees the memory. Safe in any order with respect to the context.</summary>
    public void Dispose() => _handle.Dispose();

    /// <inheritdoc />
    public override string ToString() =>
        $"DeviceBuffer({Bytes} bytes{(DType is { } d && _shape is not null ? $", {d}{TensorDesc.Format(_shape)}" : "")}{(IsDisposed ? ", disposed" : "")})";
}
