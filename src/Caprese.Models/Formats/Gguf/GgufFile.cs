using System.Numerics;
using Caprese.Models.Loading;

namespace Caprese.Models.Formats.Gguf;

/// <summary>
/// A memory-mapped GGUF file (versions 1, 2 and 3): typed metadata, tensor infos, and tensors
/// whose data are spans into the mapping. Opening validates everything a later read relies on:
/// every count and length against a hard cap and the bytes that remain, every size with checked
/// arithmetic, and every tensor's data as aligned, inside the file and not overlapping another.
/// Any malformation throws <see cref="ModelFormatException"/> naming the file and the key or tensor.
/// </summary>
public sealed class GgufFile : IDisposable
{
    /// <summary>"GGUF" read as a little-endian u32.</summary>
    public const uint Magic = 0x46554747;

    /// <summary>Metadata plus tensor infos may not exceed this many bytes (bounds parse memory).</summary>
    public const int MaxHeaderBytes = 256 << 20;
    public const long MaxTensorCount = 1 << 20;
    public const long MaxMetadataCount = 1 << 20;
    /// <summary>Longest metadata string value (chat templates are the long ones, a few KiB).</summary>
    public const long MaxStringBytes = 1 << 20;
    /// <summary>Longest key or tensor name.</summary>
    public const long MaxNameBytes = 64 << 10;
    /// <summary>Most elements in one metadata array (a vocabulary has ~256K).</summary>
    public const long MaxArrayLength = 1 << 24;
    /// <summary>Deepest nesting of arrays of arrays.</summary>
    public const int MaxArrayDepth = 8;
    /// <summary>GGML's maximum tensor rank.</summary>
    public const int MaxDimensions = 4;
    public const uint DefaultAlignment = 32;
    public const uint MaxAlignment = 1 << 20;
    public const string AlignmentKey = "general.alignment";

    private readonly MappedFile _file;
    private readonly Dictionary<string, GgufValue> _metadata;
    private readonly Dictionary<string, GgufTensor> _tensorsByName;

    private GgufFile(MappedFile file, uint version, Dictionary<string, GgufValue> metadata, IReadOnlyList<string> keys,
        List<GgufTensor> tensors, Dictionary<string, GgufTensor> byName, uint alignment, long dataOffset)
    {
        _file = file;
        Version = version;
        _metadata = metadata;
        MetadataKeys = keys;
        Tensors = tensors;
        _tensorsByName = byName;
        Alignment = alignment;
        DataOffset = dataOffset;
    }

    public string FilePath => _file.FilePath;
    public long FileLength => _file.Length;
    public uint Version { get; }
    public uint Alignment { get; }

    /// <summary>File offset of the tensor data section (tensor offsets are relative to it).</summary>
    public long DataOffset { get; }

    public IReadOnlyDictionary<string, GgufValue> Metadata => _metadata;

    /// <summary>Metadata keys in file order.</summary>
    public IReadOnlyList<string> MetadataKeys { get; }

    /// <summary>Tensors in file (tensor info) order.</summary>
    public IReadOnlyList<GgufTensor> Tensors { get; }

    /// <summary>general.architecture, or null when absent.</summary>
    public string? Architecture => TryGetValue("general.architecture", out var v) ? v.GetString() : null;

    public static GgufFile Open(string path)
    {
        var file = MappedFile.Open(path);
        return OpenOwned(file);
    }

    /// <summary>Parses a GGUF image held in memory (tests, fuzzing); the array is pinned until disposal.</summary>
    public static GgufFile FromBytes(byte[] data, string sourceName) => OpenOwned(MappedFile.FromBytes(data, sourceName));

    public bool Contains(string key) => _metadata.ContainsKey(key);

    public bool TryGetValue(string key, out GgufValue value) => _metadata.TryGetValue(key, out value!);

    /// <summary>The value of <paramref name="key"/>; a missing key is a format error naming it.</summary>
    public GgufValue GetValue(string key) =>
        _metadata.TryGetValue(key, out var v) ? v : throw new ModelFormatException(FilePath, $"metadata key '{key}'", "missing");

    public bool TryGetTensor(string name, out GgufTensor tensor) => _tensorsByName.TryGetValue(name, out tensor!);

    /// <summary>The tensor called <paramref name="name"/>; a missing one is a format error naming it.</summary>
    public GgufTensor GetTensor(string name) =>
        _tensorsByName.TryGetValue(name, out var t) ? t : throw new ModelFormatException(FilePath, $"tensor '{name}'", "missing");

    public void Dispose() => _file.Dispose();

    private static GgufFile OpenOwned(MappedFile file)
    {
        try
        {
            return Parse(file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static GgufFile Parse(MappedFile file)
    {
        var path = file.FilePath;
        int window = (int)Math.Min(file.Length, MaxHeaderBytes);
        var r = file.Reader(0, window);
        if (window < file.Length)
            r.OverrunHint = $"the header would exceed the {MaxHeaderBytes}-byte limit, or a length field is corrupt";

        if (file.Length < 8)
            throw new ModelFormatException(path, "header", $"file has {file.Length} bytes, too short for a GGUF header");
        uint magic = r.ReadUInt32("magic");
        if (magic != Magic)
            throw new ModelFormatException(path, "header", $"not a GGUF file: magic is 0x{magic:X8}, expected 0x{Magic:X8} (\"GGUF\")");
        uint version = r.ReadUInt32("version");
        if (version is < 1 or > 3)
        {
            string hint = BinaryPrimitivesReverse(version) is >= 1 and <= 3 ? " (a big-endian GGUF, which is not supported)" : "";
            throw new ModelFormatException(path, "header", $"unsupported GGUF version {version}{hint}; versions 1 to 3 are readable");
        }
        var p = new Parser(version);

        long tensorCount = p.ReadCount(ref r, "tensor count", MaxTensorCount, minBytesEach: p.CountBytes + 1 + 4 + 4 + 8);
        long kvCount = p.ReadCount(ref r, "metadata count", MaxMetadataCount, minBytesEach: p.CountBytes + 1 + 4 + 1);

        var metadata = new Dictionary<string, GgufValue>(StringComparer.Ordinal);
        var keys = new List<string>();
        for (long i = 0; i < kvCount; i++)
        {
            r.Item = $"metadata entry #{i}";
            string key = p.ReadString(ref r, "key", MaxNameBytes);
            if (key.Length == 0)
                throw r.Error("empty metadata key");
            r.Item = $"metadata key '{key}'";
            if (metadata.ContainsKey(key))
                throw r.Error("duplicate key");
            uint type = r.ReadUInt32("value type");
            metadata.Add(key, p.ReadValue(ref r, path, key, type, depth: 0));
            keys.Add(key);
        }

        uint alignment = DefaultAlignment;
        if (metadata.TryGetValue(AlignmentKey, out var alignValue))
        {
            alignment = alignValue.Type == GgufValueType.UInt32
                ? alignValue.GetUInt32()
                : throw new ModelFormatException(path, $"metadata key '{AlignmentKey}'", $"has type {alignValue.Type}, expected UInt32");
            if (alignment == 0 || !BitOperations.IsPow2(alignment) || alignment > MaxAlignment)
                throw new ModelFormatException(path, $"metadata key '{AlignmentKey}'", $"alignment {alignment} is not a power of two between 1 and {MaxAlignment}");
        }

        var infos = new List<TensorInfo>();
        var byName = new HashSet<string>(StringComparer.Ordinal);
        for (long i = 0; i < tensorCount; i++)
        {
            r.Item = $"tensor info #{i}";
            string name = p.ReadString(ref r, "tensor name", MaxNameBytes);
            if (name.Length == 0)
                throw r.Error("empty tensor name");
            r.Item = $"tensor '{name}'";
            if (!byName.Add(name))
                throw r.Error("duplicate tensor name");
            uint nDims = r.ReadUInt32("dimension count");
            if (nDims > MaxDimensions)
                throw r.Error($"{nDims} dimensions, at most {MaxDimensions} are allowed");
            var dims = new long[nDims];
            for (int d = 0; d < nDims; d++)
            {
                ulong dim = p.Wide ? r.ReadUInt64($"dimension {d}") : r.ReadUInt32($"dimension {d}");
                if (dim > long.MaxValue)
                    throw r.Error($"dimension {d} is {dim}, larger than a signed 64-bit size");
                dims[d] = (long)dim;
            }
            uint typeId = r.ReadUInt32("tensor type");
            ulong offset = r.ReadUInt64("data offset");
            infos.Add(new TensorInfo(name, dims, (GgmlType)typeId, offset, r.Item));
        }

        long headerEnd = r.Position;
        long dataOffset = AlignUp(headerEnd, alignment);
        var tensors = new List<GgufTensor>(infos.Count);
        var tensorsByName = new Dictionary<string, GgufTensor>(StringComparer.Ordinal);
        foreach (var info in infos)
        {
            var t = Layout(file, info, alignment, dataOffset);
            tensors.Add(t);
            tensorsByName.Add(t.Name, t);
        }
        CheckNoOverlap(path, tensors);
        return new GgufFile(file, version, metadata, keys, tensors, tensorsByName, alignment, dataOffset);
    }

    private static GgufTensor Layout(MappedFile file, TensorInfo info, uint alignment, long dataOffset)
    {
        string path = file.FilePath;
        var type = info.Type;
        if (!GgmlTypeInfo.IsSupported(type))
            throw new ModelFormatException(path, info.Item, $"unsupported tensor type {GgmlTypeInfo.Name(type)} ({(uint)type}) for tensor '{info.Name}'; readable types are F32, F16, BF16 and Q8_0");
        int blockElements = GgmlTypeInfo.BlockElements(type);
        long innermost = info.Dims.Length > 0 ? info.Dims[0] : 1;
        if (innermost % blockElements != 0)
            throw new ModelFormatException(path, info.Item, $"innermost dimension {innermost} is not a multiple of the {GgmlTypeInfo.Name(type)} block size {blockElements}");

        long elements = 1, bytes;
        try
        {
            foreach (var d in info.Dims)
                elements = checked(elements * d);
            bytes = checked(elements / blockElements * GgmlTypeInfo.BlockBytes(type));
        }
        catch (OverflowException)
        {
            throw new ModelFormatException(path, info.Item, $"dimensions [{string.Join(", ", info.Dims)}] overflow a 64-bit size");
        }

        if (info.Offset % alignment != 0)
            throw new ModelFormatException(path, info.Item, $"data offset {info.Offset} is not a multiple of the alignment {alignment}");
        if (info.Offset > (ulong)(file.Length - Math.Min(dataOffset, file.Length)) || !file.Contains(dataOffset + (long)info.Offset, bytes))
            throw new ModelFormatException(path, info.Item,
                $"data [{info.Offset}, +{bytes}) relative to the data section at {dataOffset} lies outside the {file.Length}-byte file");
        long fileOffset = dataOffset + (long)info.Offset;
        return new GgufTensor(file, info.Name, info.Dims, type, (long)info.Offset, fileOffset, elements, bytes);
    }

    private static void CheckNoOverlap(string path, List<GgufTensor> tensors)
    {
        var sorted = tensors.OrderBy(t => t.FileOffset).ThenBy(t => t.ByteLength).ToArray();
        for (int i = 1; i < sorted.Length; i++)
        {
            var prev = sorted[i - 1];
            var cur = sorted[i];
            if (prev.FileOffset + prev.ByteLength > cur.FileOffset)
                throw new ModelFormatException(path, $"tensor '{cur.Name}'",
                    $"data [{cur.RelativeOffset}, +{cur.ByteLength}) overlaps tensor '{prev.Name}' [{prev.RelativeOffset}, +{prev.ByteLength})");
        }
    }

    private static long AlignUp(long value, uint alignment) => (value + alignment - 1) / alignment * alignment;

    private static uint BinaryPrimitivesReverse(uint v) => System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(v);

    private sealed record TensorInfo(string Name, long[] Dims, GgmlType Type, ulong Offset, string Item);

    /// <summary>Version-dependent field widths: v1 stores counts and lengths as u32, v2+ as u64.</summary>
    private readonly struct Parser(uint version)
    {
        public bool Wide { get; } = version >= 2;
        public int CountBytes => Wide ? 8 : 4;

        private ulong ReadSize(ref SpanReader r, string field) => Wide ? r.ReadUInt64(field) : r.ReadUInt32(field);

        /// <summary>
        /// A count checked against its cap and against the bytes left: each entry needs at least
        /// <paramref name="minBytesEach"/> bytes, so a huge count fails here instead of in an allocation.
        /// </summary>
        public long ReadCount(ref SpanReader r, string field, long cap, long minBytesEach)
        {
            ulong n = ReadSize(ref r, field);
            if (n > (ulong)cap)
                throw r.Error($"{field} {n} exceeds the limit of {cap}");
            if ((long)n > r.Remaining / minBytesEach)
                throw r.Error($"{field} {n} cannot fit in the {r.Remaining} bytes that remain (each needs at least {minBytesEach})");
            return (long)n;
        }

        public string ReadString(ref SpanReader r, string field, long cap)
        {
            ulong len = ReadSize(ref r, field + " length");
            if (len > (ulong)cap)
                throw r.Error($"{field} length {len} exceeds the limit of {cap} bytes");
            return r.ReadUtf8(len, field);
        }

        public GgufValue ReadValue(ref SpanReader r, string path, string key, uint type, int depth)
        {
            switch ((GgufValueType)type)
            {
                case GgufValueType.UInt8: return new(path, key, GgufValueType.UInt8, r.ReadByte("value"));
                case GgufValueType.Int8: return new(path, key, GgufValueType.Int8, r.ReadSByte("value"));
                case GgufValueType.UInt16: return new(path, key, GgufValueType.UInt16, r.ReadUInt16("value"));
                case GgufValueType.Int16: return new(path, key, GgufValueType.Int16, r.ReadInt16("value"));
                case GgufValueType.UInt32: return new(path, key, GgufValueType.UInt32, r.ReadUInt32("value"));
                case GgufValueType.Int32: return new(path, key, GgufValueType.Int32, r.ReadInt32("value"));
                case GgufValueType.UInt64: return new(path, key, GgufValueType.UInt64, r.ReadUInt64("value"));
                case GgufValueType.Int64: return new(path, key, GgufValueType.Int64, r.ReadInt64("value"));
                case GgufValueType.Float32: return new(path, key, GgufValueType.Float32, r.ReadSingle("value"));
                case GgufValueType.Float64: return new(path, key, GgufValueType.Float64, r.ReadDouble("value"));
                case GgufValueType.Bool: return new(path, key, GgufValueType.Bool, ReadBool(ref r));
                case GgufValueType.String: return new(path, key, GgufValueType.String, ReadString(ref r, "string value", MaxStringBytes));
                case GgufValueType.Array: return ReadArray(ref r, path, key, depth);
                default: throw r.Error($"unknown value type {type}");
            }
        }

        private static bool ReadBool(ref SpanReader r)
        {
            byte b = r.ReadByte("bool value");
            return b switch
            {
                0 => false,
                1 => true,
                _ => throw r.Error($"bool value {b} is neither 0 nor 1"),
            };
        }

        private GgufValue ReadArray(ref SpanReader r, string path, string key, int depth)
        {
            if (depth >= MaxArrayDepth)
                throw r.Error($"arrays nested deeper than {MaxArrayDepth}");
            uint elemTypeId = r.ReadUInt32("array element type");
            var elemType = (GgufValueType)elemTypeId;
            int minSize = elemType switch
            {
                GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
                GgufValueType.UInt16 or GgufValueType.Int16 => 2,
                GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
                GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
                GgufValueType.String => CountBytes,
                GgufValueType.Array => 4 + CountBytes,
                _ => throw r.Error($"unknown array element type {elemTypeId}"),
            };
            int n = (int)ReadCount(ref r, "array length", MaxArrayLength, minSize);
            Array values;
            switch (elemType)
            {
                case GgufValueType.UInt8: values = r.ReadBytes((ulong)n, "array").ToArray(); break;
                case GgufValueType.Int8: values = Fill(ref r, n, static (ref SpanReader x) => x.ReadSByte("array element")); break;
                case GgufValueType.UInt16: values = Fill(ref r, n, static (ref SpanReader x) => x.ReadUInt16("array element")); break;
                case GgufValueType.Int16: values = Fill(ref r, n, static (ref SpanReader x) => x.ReadInt16("array element")); break;
                case GgufValueType.UInt32: values = Fill(ref r, n, static (ref SpanReader x) => x.ReadUInt32("array element")); break;
                case GgufValueType.Int32: values = Fill(ref r, n, static (ref SpanReader x) => x.ReadInt32("array element")); break;
                case GgufValueType.UInt64: values = Fill(ref r, n, static (ref SpanReader x) => x.ReadUInt64("array element")); break;
                case GgufValueType.Int64: values = Fill(ref r, n, static (ref SpanReader x) => x.ReadInt64("array element")); break;
                case GgufValueType.Float32: values = Fill(ref r, n, static (ref SpanReader x) => x.ReadSingle("array element")); break;
                case GgufValueType.Float64: values = Fill(ref r, n, static (ref SpanReader x) => x.ReadDouble("array element")); break;
                case GgufValueType.Bool:
                {
                    var bools = new bool[n];
                    for (int i = 0; i < n; i++)
                        bools[i] = ReadBool(ref r);
                    values = bools;
                    break;
                }
                case GgufValueType.String:
                {
                    var strings = new string[n];
                    for (int i = 0; i < n; i++)
                        strings[i] = ReadString(ref r, $"array element {i}", MaxStringBytes);
                    values = strings;
                    break;
                }
                default:
                {
                    var nested = new GgufValue[n];
                    for (int i = 0; i < n; i++)
                    {
                        string elementKey = $"{key}[{i}]";
                        nested[i] = ReadValue(ref r, path, elementKey, (uint)GgufValueType.Array, depth + 1);
                    }
                    values = nested;
                    break;
                }
            }
            return new GgufValue(path, key, GgufValueType.Array, values, elemType);
        }

        private delegate T ElementReader<T>(ref SpanReader r);

        private static T[] Fill<T>(ref SpanReader r, int n, ElementReader<T> read)
        {
            var a = new T[n];
            for (int i = 0; i < a.Length; i++)
                a[i] = read(ref r);
            return a;
        }
    }
}
