using System.Runtime.InteropServices;

namespace Caprese.Interop;

/// <summary>
/// Describes a contiguous, row-major tensor in the memory space of a context's backend.
/// Blittable, with exactly the layout of <c>caprese_tensor</c>, so it is handed to native code
/// as is. It does not own memory: the pointer may come from a <see cref="DeviceBuffer"/> or
/// from another runtime.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public readonly struct TensorDesc : IEquatable<TensorDesc>
{
    /// <summary>CAPRESE_MAX_DIMS.</summary>
    public const int MaxRank = 4;

    private readonly nint _data;
    private readonly int _dtype;
    private readonly int _ndim;
    private readonly long _shape0;
    private readonly long _shape1;
    private readonly long _shape2;
    private readonly long _shape3;

    private TensorDesc(nint data, DType dtype, ReadOnlySpan<long> shape)
    {
        _data = data;
        _dtype = (int)dtype;
        _ndim = shape.Length;
        _shape0 = shape.Length > 0 ? shape[0] : 0;
        _shape1 = shape.Length > 1 ? shape[1] : 0;
        _shape2 = shape.Length > 2 ? shape[2] : 0;
        _shape3 = shape.Length > 3 ? shape[3] : 0;
    }

    /// <summary>
    /// Describes the tensor at <paramref name="data"/>. Checks rank 1..4, positive extents and
    /// that the byte size fits in a long.
    /// </summary>
    public static TensorDesc Create(nint data, DType dtype, params ReadOnlySpan<long> shape)
    {
        if (!Enum.IsDefined(dtype))
            throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype.");
        if (shape.Length is < 1 or > MaxRank)
            throw new ArgumentException($"A tensor has 1 to {MaxRank} dimensions (got {shape.Length}).", nameof(shape));
        long bytes = dtype.SizeInBytes();
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] <= 0)
                throw new ArgumentException($"shape[{i}] must be > 0 (got {shape[i]}).", nameof(shape));
            try { bytes = checked(bytes * shape[i]); }
            catch (OverflowException) { throw new ArgumentException($"The byte size of shape {Format(shape)} overflows.", nameof(shape)); }
        }
        return new TensorDesc(data, dtype, shape);
    }

    /// <summary>Data pointer (host memory for CPU contexts, device memory for CUDA).</summary>
    public nint Data => _data;

    /// <summary>Element type.</summary>
    public DType DType => (DType)_dtype;

    /// <summary>Number of dimensions (1..4).</summary>
    public int Rank => _ndim;

    /// <summary>Extent of dimension <paramref name="dim"/>.</summary>
    public long Dim(int dim)
    {
        if ((uint)dim >= (uint)_ndim)
            throw new ArgumentOutOfRangeException(nameof(dim), dim, $"The tensor has {_ndim} dimensions.");
        return dim switch { 0 => _shape0, 1 => _shape1, 2 => _shape2, _ => _shape3 };
    }

    /// <summary>A copy of the shape.</summary>
    public long[] Shape
    {
        get
        {
            var s = new long[_ndim];
            for (int i = 0; i < s.Length; i++) s[i] = Dim(i);
            return s;
        }
    }

    /// <summary>Number of elements (0 for a default instance).</summary>
    public long ElementCount
    {
        get
        {
            if (_ndim == 0) return 0;
            long n = 1;
            for (int i = 0; i < _ndim; i++) n = checked(n * Dim(i));
            return n;
        }
    }

    /// <summary>Size in bytes.</summary>
    public long ByteSize => _ndim == 0 ? 0 : checked(ElementCount * DType.SizeInBytes());

    /// <summary>
    /// The rows [<paramref name="rowOffset"/>, <paramref name="rowOffset"/> + <paramref name="rows"/>)
    /// of dimension 0, as a tensor over the same memory (e.g. the KV-cache rows of a step).
    /// </summary>
    public TensorDesc WithOffsetRows(long rowOffset, long rows)
    {
        if (_ndim == 0) throw new InvalidOperationException("The tensor is uninitialised (default TensorDesc).");
        if (rowOffset < 0 || rowOffset >= _shape0)
            throw new ArgumentOutOfRangeException(nameof(rowOffset), rowOffset, $"Must be in [0, {_shape0}) for shape {Format(Shape)}.");
        if (rows <= 0 || rows > _shape0 - rowOffset)
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"Must be in [1, {_shape0 - rowOffset}] for row offset {rowOffset} of shape {Format(Shape)}.");
        long rowBytes = checked(ByteSize / _shape0);
        long[] shape = Shape;
        shape[0] = rows;
        return new TensorDesc(checked(_data + (nint)(rowOffset * rowBytes)), DType, shape);
    }

    /// <summary>The same memory and dtype with another shape of equal element count.</summary>
    public TensorDesc Reshape(params ReadOnlySpan<long> shape)
    {
        TensorDesc t = Create(_data, DType, shape);
        if (t.ElementCount != ElementCount)
            throw new ArgumentException($"Cannot reshape {Format(Shape)} ({ElementCount} elements) to {Format(shape)} ({t.ElementCount} elements).", nameof(shape));
        return t;
    }

    /// <inheritdoc />
    public bool Equals(TensorDesc other) =>
        _data == other._data && _dtype == other._dtype && _ndim == other._ndim &&
        _shape0 == other._shape0 && _shape1 == other._shape1 && _shape2 == other._shape2 && _shape3 == other._shape3;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is TensorDesc t && Equals(t);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(_data, _dtype, _ndim, _shape0, _shape1, _shape2, _shape3);

    /// <summary>Equality of pointer, dtype and shape.</summary>
    public static bool operator ==(TensorDesc left, TensorDesc right) => left.Equals(right);

    /// <summary>Inequality of pointer, dtype or shape.</summary>
    public static bool operator !=(TensorDesc left, TensorDesc right) => !left.Equals(right);

    /// <inheritdoc />
    public override string ToString() => $"{DType.ToString().ToLowerInvariant()}{Format(Shape)} @0x{_data:x}";

    internal static string Format(ReadOnlySpan<long> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";
}
