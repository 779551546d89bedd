using Caprese.Models.Loading;

namespace Caprese.Models.Formats;

/// <summary>
/// A tensor whose bytes live in a <see cref="MappedFile"/>: nothing is copied until a conversion
/// is asked for. Common base of <see cref="Gguf.GgufTensor"/> and <see cref="Safetensors.SafetensorsTensor"/>,
/// so model loading can be written once for both formats.
/// </summary>
public abstract unsafe class MappedTensor
{
    private readonly MappedFile _file;
    private readonly long[] _shape;
    private readonly TensorEncoding? _encoding;

    private protected MappedTensor(MappedFile file, string name, long[] shape, long elementCount,
        long fileOffset, long byteLength, TensorEncoding? encoding)
    {
        _file = file;
        Name = name;
        _shape = shape;
        ElementCount = elementCount;
        FileOffset = fileOffset;
        ByteLength = byteLength;
        _encoding = encoding;
    }

    public string Name { get; }

    /// <summary>Row-major shape, outermost first (e.g. an embedding is [vocab, dim]).</summary>
    public IReadOnlyList<long> Shape => _shape;

    public long ElementCount { get; }

    /// <summary>Absolute offset of the first data byte in the file.</summary>
    public long FileOffset { get; }

    public long ByteLength { get; }

    public string FilePath => _file.FilePath;

    /// <summary>Whether <see cref="DequantizeTo"/> and friends can decode this tensor's element type.</summary>
    public bool CanConvertToF32 => _encoding is not null;

    /// <summary>Name of the element type for messages (GGML type or safetensors dtype).</summary>
    public abstract string TypeName { get; }

    /// <summary>Elements per encoding block (32 for Q8_0, 1 otherwise): partial conversions start and end on block boundaries.</summary>
    public int BlockElements => _encoding == TensorEncoding.Q8_0 ? TensorConvert.Q8_0BlockElements : 1;

    /// <summary>The raw bytes in the file's encoding. Tensors over 2 GiB do not fit a span: use <see cref="GetData"/> or <see cref="DataPointer"/>.</summary>
    public ReadOnlySpan<byte> Data
    {
        get
        {
            if (ByteLength > int.MaxValue)
                throw new NotSupportedException($"{FilePath}: tensor '{Name}' has {ByteLength} bytes, more than one span can hold; use GetData(offset, length) or DataPointer");
            return _file.Slice(FileOffset, ByteLength);
        }
    }

    /// <summary>Raw bytes [offset, offset + length) of this tensor's data.</summary>
    public ReadOnlySpan<byte> GetData(long offset, int length)
    {
        if (offset < 0 || length < 0 || offset > ByteLength || length > ByteLength - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"range [{offset}, +{length}) is outside tensor '{Name}' ({ByteLength} bytes)");
        return _file.Slice(FileOffset + offset, length);
    }

    /// <summary>Address of the first data byte (valid while the file is open), for uploads of any size.</summary>
    public byte* DataPointer => _file.GetPointer(FileOffset, ByteLength);

    /// <summary>The bytes as stored, when they are f32, f16 or bf16 (null for quantised types).</summary>
    internal Weights.StoredTensorData? Stored => _encoding switch
    {
        TensorEncoding.F32 => new(Interop.DType.F32, (nint)DataPointer, ByteLength, _file),
        TensorEncoding.F16 => new(Interop.DType.F16, (nint)DataPointer, ByteLength, _file),
        TensorEncoding.BF16 => new(Interop.DType.BF16, (nint)DataPointer, ByteLength, _file),
        _ => null,
    };

    /// <summary>All elements as f32 (a new array).</summary>
    public float[] DequantizeToF32()
    {
        var result = new float[CheckedArrayLength()];
        DequantizeTo(result);
        return result;
    }

    /// <summary>All elements as f32 into <paramref name="destination"/>, which must have exactly <see cref="ElementCount"/> elements.</summary>
    public void DequantizeTo(Span<float> destination)
    {
        if (destination.Length != ElementCount)
            throw new ArgumentException($"tensor '{Name}' has {ElementCount} elements, destination has {destination.Length}", nameof(destination));
        DequantizeRange(0, destination);
    }

    /// <summary>
    /// Elements [firstElement, firstElement + destination.Length) as f32, e.g. one row or one layer of a
    /// tensor too big to convert at once. Both ends must lie on <see cref="BlockElements"/> boundaries.
    /// </summary>
    public void DequantizeRange(long firstElement, Span<float> destination)
    {
        var encoding = RequireEncoding();
        int block = BlockElements;
        if (firstElement < 0 || firstElement > ElementCount || destination.Length > ElementCount - firstElement)
            throw new ArgumentOutOfRangeException(nameof(firstElement), $"elements [{firstElement}, +{destination.Length}) are outside tensor '{Name}' ({ElementCount} elements)");
        if (firstElement % block != 0 || destination.Length % block != 0)
            throw new ArgumentException($"tensor '{Name}' is {TypeName}: ranges must start and end on multiples of {block} elements");
        // Convert in chunks so no source span exceeds 2 GiB whatever the tensor size.
        const int chunkElements = 1 << 24;
        long bytesPerBlock = encoding switch
        {
            TensorEncoding.F32 => 4,
            TensorEncoding.Q8_0 => TensorConvert.Q8_0BlockBytes,
            _ => 2,
        };
        int done = 0;
        while (done < destination.Length)
        {
            int n = Math.Min(chunkElements, destination.Length - done);
            long srcOffset = (firstElement + done) / block * bytesPerBlock;
            int srcLength = checked((int)(n / block * bytesPerBlock));
            TensorConvert.Decode(encoding, GetData(srcOffset, srcLength), destination.Slice(done, n));
            done += n;
        }
    }

    /// <summary>All elements as f16 (through f32 unless already f16, where it is an exact copy).</summary>
    public Half[] ToF16()
    {
        var f32 = DequantizeToF32();
        var result = new Half[f32.Length];
        TensorConvert.F32ToF16(f32, result);
        return result;
    }

    /// <summary>All elements as bf16 bit patterns (round to nearest even from f32; exact for bf16 data).</summary>
    public ushort[] ToBF16()
    {
        var f32 = DequantizeToF32();
        var result = new ushort[f32.Length];
        TensorConvert.F32ToBF16(f32, result);
        return result;
    }

    public override string ToString() => $"{Name} {TypeName} [{string.Join(", ", _shape)}]";

    private TensorEncoding RequireEncoding() =>
        _encoding ?? throw new ModelFormatException(FilePath, $"tensor '{Name}'", $"element type {TypeName} cannot be converted to f32");

    private int CheckedArrayLength() =>
        ElementCount <= Array.MaxLength
            ? (int)ElementCount
            : throw new NotSupportedException($"{FilePath}: tensor '{Name}' has {ElementCount} elements, more than one array can hold; use DequantizeRange");
}
