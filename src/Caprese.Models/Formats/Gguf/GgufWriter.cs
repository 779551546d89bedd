using System.Numerics;
using System.Text;

namespace Caprese.Models.Formats.Gguf;

/// <summary>A typed metadata value to write: a scalar, a string, or an array of one scalar type or of strings.</summary>
public sealed class GgufMetadataValue
{
    private GgufMetadataValue(GgufValueType type, object value, GgufValueType? elementType = null)
    {
        Type = type;
        Value = value;
        ElementType = elementType;
    }

    public GgufValueType Type { get; }

    /// <summary>For arrays, the element type.</summary>
    public GgufValueType? ElementType { get; }

    internal object Value { get; }

    public static GgufMetadataValue UInt32(uint v) => new(GgufValueType.UInt32, v);
    public static GgufMetadataValue Int32(int v) => new(GgufValueType.Int32, v);
    public static GgufMetadataValue UInt64(ulong v) => new(GgufValueType.UInt64, v);
    public static GgufMetadataValue Float32(float v) => new(GgufValueType.Float32, v);
    public static GgufMetadataValue Bool(bool v) => new(GgufValueType.Bool, v);
    public static GgufMetadataValue String(string v) => new(GgufValueType.String, v ?? throw new ArgumentNullException(nameof(v)));

    public static GgufMetadataValue Strings(IReadOnlyList<string> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Any(v => v is null))
            throw new ArgumentException("a string array may not hold null", nameof(values));
        return new(GgufValueType.Array, values.ToArray(), GgufValueType.String);
    }

    public static GgufMetadataValue Float32s(IReadOnlyList<float> values) =>
        new(GgufValueType.Array, (values ?? throw new ArgumentNullException(nameof(values))).ToArray(), GgufValueType.Float32);

    public static GgufMetadataValue Int32s(IReadOnlyList<int> values) =>
        new(GgufValueType.Array, (values ?? throw new ArgumentNullException(nameof(values))).ToArray(), GgufValueType.Int32);
}

/// <summary>
/// A tensor to write: its name, row-major shape (the writer stores the GGUF dims innermost first),
/// the GGML type to store and where its values come from, read in whole rows as f32 so a
/// multi-GB tensor is encoded piece by piece.
/// </summary>
public sealed record GgufTensorData(string Name, IReadOnlyList<long> Shape, GgmlType Type, Action<long, Span<float>> Read)
{
    /// <summary>Values held in memory.</summary>
    public static GgufTensorData FromFloats(string name, IReadOnlyList<long> shape, GgmlType type, float[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        return new GgufTensorData(name, shape, type, (first, destination) => values.AsSpan(checked((int)first), destination.Length).CopyTo(destination));
    }

    public long ElementCount => Shape.Aggregate(1L, (a, d) => checked(a * d));
}

/// <summary>
/// Writes GGUF version 3 files (little-endian, as BinaryWriter and the encoders write): header, metadata in the given order, tensor infos,
/// then each tensor's data at a multiple of the alignment. f32 values are encoded as F32, F16, BF16
/// or Q8_0. The file is written under a temporary name beside the target and renamed into place,
/// so a reader never sees a half-written file.
/// </summary>
public static class GgufWriter
{
    public const uint Version = 3;

    /// <summary>Elements encoded per piece (a few MiB of staging, rounded to whole rows).</summary>
    private const int PieceElements = 1 << 20;

    /// <exception cref="ArgumentException">A key or tensor is invalid: empty or duplicate name, bad shape or type, reserved key.</exception>
    public static void Write(string path, IEnumerable<KeyValuePair<string, GgufMetadataValue>> metadata, IEnumerable<GgufTensorData> tensors,
        uint alignment = GgufFile.DefaultAlignment)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(tensors);
        if (alignment == 0 || !BitOperations.IsPow2(alignment) || alignment > GgufFile.MaxAlignment)
            throw new ArgumentOutOfRangeException(nameof(alignment), alignment, $"a power of two between 1 and {GgufFile.MaxAlignment}");

        var entries = metadata.ToList();
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, value) in entries)
        {
            if (string.IsNullOrEmpty(key))
                throw new ArgumentException("empty metadata key", nameof(metadata));
            if (key == GgufFile.AlignmentKey)
                throw new ArgumentException($"'{GgufFile.AlignmentKey}' is written from the alignment argument", nameof(metadata));
            ArgumentNullException.ThrowIfNull(value, $"metadata value of '{key}'");
            if (!keys.Add(key))
                throw new ArgumentException($"metadata key '{key}' appears twice", nameof(metadata));
        }
        if (alignment != GgufFile.DefaultAlignment)
            entries.Add(new(GgufFile.AlignmentKey, GgufMetadataValue.UInt32(alignment)));

        var list = tensors.ToList();
        var layout = Layout(list, alignment);

        AtomicFile.Write(path, stream =>
        {
            var header = Header(entries, list, layout);
            stream.Write(header);
            Pad(stream, alignment);
            long dataStart = stream.Position;
            for (int i = 0; i < list.Count; i++)
            {
                stream.Position = dataStart + layout[i].Offset; // pads with zeros
                WriteData(stream, list[i]);
            }
            stream.SetLength(dataStart + (list.Count == 0 ? 0 : layout[^1].Offset + layout[^1].Bytes));
        });
    }

    /// <summary>Bytes <paramref name="type"/> needs for <paramref name="elements"/> values (whole blocks).</summary>
    public static long DataBytes(GgmlType type, long elements) =>
        checked(elements / GgmlTypeInfo.BlockElements(type) * GgmlTypeInfo.BlockBytes(type));

    private static (long Offset, long Bytes)[] Layout(List<GgufTensorData> tensors, uint alignment)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var layout = new (long, long)[tensors.Count];
        long offset = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i] ?? throw new ArgumentException($"tensor #{i} is null", nameof(tensors));
            if (string.IsNullOrEmpty(t.Name))
                throw new ArgumentException($"tensor #{i} has an empty name", nameof(tensors));
            if (!names.Add(t.Name))
                throw new ArgumentException($"tensor '{t.Name}' appears twice", nameof(tensors));
            ArgumentNullException.ThrowIfNull(t.Shape, $"shape of tensor '{t.Name}'");
            ArgumentNullException.ThrowIfNull(t.Read, $"reader of tensor '{t.Name}'");
            if (t.Shape.Count is 0 or > GgufFile.MaxDimensions)
                throw new ArgumentException($"tensor '{t.Name}' has {t.Shape.Count} dimensions; 1 to {GgufFile.MaxDimensions} are allowed", nameof(tensors));
            if (t.Shape.Any(d => d <= 0))
                throw new ArgumentException($"tensor '{t.Name}' has shape [{string.Join(", ", t.Shape)}]; dimensions must be positive", nameof(tensors));
            if (t.Type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 or GgmlType.Q8_0))
                throw new ArgumentException($"tensor '{t.Name}': type {GgmlTypeInfo.Name(t.Type)} cannot be written (F32, F16, BF16, Q8_0)", nameof(tensors));
            int block = GgmlTypeInfo.BlockElements(t.Type);
            if (t.Shape[^1] % block != 0)
                throw new ArgumentException($"tensor '{t.Name}': innermost dimension {t.Shape[^1]} is not a multiple of the {t.Type} block size {block}", nameof(tensors));
            long bytes = DataBytes(t.Type, t.ElementCount);
            layout[i] = (offset, bytes);
            offset = checked(AlignUp(offset + bytes, alignment));
        }
        return layout;
    }

    private static byte[] Header(List<KeyValuePair<string, GgufMetadataValue>> metadata, List<GgufTensorData> tensors, (long Offset, long Bytes)[] layout)
    {
        using var buffer = new MemoryStream();
        using (var w = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(GgufFile.Magic);
            w.Write(Version);
            w.Write((ulong)tensors.Count);
            w.Write((ulong)metadata.Count);
            foreach (var (key, value) in metadata)
            {
                WriteString(w, key);
                w.Write((uint)value.Type);
                WriteValue(w, value.Type, value.Value, value.ElementType);
            }
            for (int i = 0; i < tensors.Count; i++)
            {
                var t = tensors[i];
                WriteString(w, t.Name);
                w.Write((uint)t.Shape.Count);
                for (int d = t.Shape.Count - 1; d >= 0; d--) // GGUF lists dims innermost first
                    w.Write((ulong)t.Shape[d]);
                w.Write((uint)t.Type);
                w.Write((ulong)layout[i].Offset);
            }
        }
        return buffer.ToArray();
    }

    private static void WriteValue(BinaryWriter w, GgufValueType type, object value, GgufValueType? elementType)
    {
        switch (type)
        {
            case GgufValueType.UInt32: w.Write((uint)value); break;
            case GgufValueType.Int32: w.Write((int)value); break;
            case GgufValueType.UInt64: w.Write((ulong)value); break;
            case GgufValueType.Float32: w.Write((float)value); break;
            case GgufValueType.Bool: w.Write((byte)((bool)value ? 1 : 0)); break;
            case GgufValueType.String: WriteString(w, (string)value); break;
            case GgufValueType.Array:
            {
                var array = (Array)value;
                w.Write((uint)elementType!.Value);
                w.Write((ulong)array.Length);
                foreach (var element in array)
                    WriteValue(w, elementType.Value, element, null);
                break;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, null);
        }
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void WriteData(Stream stream, GgufTensorData t)
    {
        var encoding = GgmlTypeInfo.Encoding(t.Type);
        long rowElements = t.Shape[^1];
        long total = t.ElementCount;
        // Whole rows per piece (readers want row ranges), at least one row.
        long rowsPerPiece = Math.Max(1, PieceElements / rowElements);
        int pieceElements = checked((int)Math.Min(total, rowsPerPiece * rowElements));
        var values = new float[pieceElements];
        var bytes = new byte[DataBytes(t.Type, pieceElements)];
        for (long done = 0; done < total; done += pieceElements)
        {
            int n = (int)Math.Min(pieceElements, total - done);
            t.Read(done, values.AsSpan(0, n));
            int byteCount = (int)DataBytes(t.Type, n);
            TensorConvert.Encode(encoding, values.AsSpan(0, n), bytes.AsSpan(0, byteCount));
            stream.Write(bytes, 0, byteCount);
        }
    }

    private static void Pad(Stream stream, uint alignment)
    {
        long padding = AlignUp(stream.Position, alignment) - stream.Position;
        for (long i = 0; i < padding; i++)
            stream.WriteByte(0);
    }

    private static long AlignUp(long value, uint alignment) => (value + alignment - 1) / alignment * alignment;
}
