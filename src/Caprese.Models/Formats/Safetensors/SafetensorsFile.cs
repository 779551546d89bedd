using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Caprese.Models.Loading;

namespace Caprese.Models.Formats.Safetensors;

/// <summary>
/// A memory-mapped .safetensors file: an 8-byte little-endian header length, a JSON header, then
/// the data section. Opening checks the header against hard caps and validates that every
/// tensor's byte range matches its dtype and shape, lies inside the file, and that the ranges
/// tile the data section exactly (no overlap, no hole), as the format requires.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    /// <summary>Largest JSON header accepted (the reference implementation uses the same bound).</summary>
    public const long MaxHeaderBytes = 100_000_000;
    public const int MaxTensorCount = 1 << 20;
    public const int MaxRank = 16;
    public const int MaxNameBytes = 64 << 10;
    public const string MetadataKey = "__metadata__";

    private readonly MappedFile _file;
    private readonly Dictionary<string, SafetensorsTensor> _byName;

    private SafetensorsFile(MappedFile file, IReadOnlyDictionary<string, string> metadata, List<SafetensorsTensor> tensors, long dataOffset)
    {
        _file = file;
        Metadata = metadata;
        Tensors = tensors;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        DataOffset = dataOffset;
    }

    public string FilePath => _file.FilePath;
    public long FileLength => _file.Length;

    /// <summary>The header's __metadata__ map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Tensors in header order.</summary>
    public IReadOnlyList<SafetensorsTensor> Tensors { get; }

    /// <summary>File offset of the data section (8 + header length).</summary>
    public long DataOffset { get; }

    public static SafetensorsFile Open(string path) => OpenOwned(MappedFile.Open(path));

    /// <summary>Parses a safetensors image held in memory (tests, fuzzing); the array is pinned until disposal.</summary>
    public static SafetensorsFile FromBytes(byte[] data, string sourceName) => OpenOwned(MappedFile.FromBytes(data, sourceName));

    public bool Contains(string name) => _byName.ContainsKey(name);

    public bool TryGetTensor(string name, out SafetensorsTensor tensor) => _byName.TryGetValue(name, out tensor!);

    public SafetensorsTensor GetTensor(string name) =>
        _byName.TryGetValue(name, out var t) ? t : throw new ModelFormatException(FilePath, $"tensor '{name}'", "missing");

    public void Dispose() => _file.Dispose();

    private static SafetensorsFile OpenOwned(MappedFile file)
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

    private static SafetensorsFile Parse(MappedFile file)
    {
        string path = file.FilePath;
        if (file.Length < 8)
            throw new ModelFormatException(path, "header", $"file has {file.Length} bytes, too short for the 8-byte header length");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file.Slice(0, 8));
        if (headerLength > MaxHeaderBytes)
            throw new ModelFormatException(path, "header", $"header length {headerLength} exceeds the limit of {MaxHeaderBytes} bytes");
        if ((long)headerLength > file.Length - 8)
            throw new ModelFormatException(path, "header", $"header length {headerLength} runs past the end of the {file.Length}-byte file");
        if (headerLength < 2)
            throw new ModelFormatException(path, "header", $"header length {headerLength} is too short for a JSON object");

        // The header is small and parsed once, so it is copied; JsonDocument needs memory it can keep.
        var json = file.Slice(8, (long)headerLength).ToArray();
        if (json[0] != (byte)'{')
            throw new ModelFormatException(path, "header", "the JSON header does not start with '{'");
        long dataOffset = 8 + (long)headerLength;
        long dataLength = file.Length - dataOffset;

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(path, "header", $"invalid JSON: {e.Message}");
        }

        using (doc)
        {
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var entries = new List<Entry>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            try
            {
                foreach (var prop in doc.RootElement.EnumerateObject())
                {
                    string name = prop.Name;
                    if (!seen.Add(name))
                        throw new ModelFormatException(path, $"tensor '{name}'", "appears twice in the header");
                    if (name == MetadataKey)
                    {
                        ReadMetadata(path, prop.Value, metadata);
                        continue;
                    }
                    if (entries.Count >= MaxTensorCount)
                        throw new ModelFormatException(path, "header", $"more than {MaxTensorCount} tensors");
                    if (name.Length == 0 || Encoding.UTF8.GetByteCount(name) > MaxNameBytes)
                        throw new ModelFormatException(path, "header", $"tensor name of {Encoding.UTF8.GetByteCount(name)} bytes (must be 1 to {MaxNameBytes})");
                    entries.Add(ReadEntry(path, name, prop.Value, dataLength));
                }
            }
            catch (InvalidOperationException e)
            {
                // JsonElement accessors throw this for text that is not valid UTF-8.
                throw new ModelFormatException(path, "header", $"invalid JSON content: {e.Message}");
            }

            CheckTiling(path, entries, dataLength);
            var tensors = entries.Select(e => new SafetensorsTensor(file, e.Name, e.Shape, e.DType, e.Begin, e.End, dataOffset, e.Elements)).ToList();
            return new SafetensorsFile(file, metadata, tensors, dataOffset);
        }
    }

    private static void ReadMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException(path, MetadataKey, $"must be an object of strings, found {value.ValueKind}");
        foreach (var p in value.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String)
                throw new ModelFormatException(path, $"{MetadataKey}.{p.Name}", $"must be a string, found {p.Value.ValueKind}");
            if (!metadata.TryAdd(p.Name, p.Value.GetString()!))
                throw new ModelFormatException(path, $"{MetadataKey}.{p.Name}", "appears twice");
        }
    }

    private static Entry ReadEntry(string path, string name, JsonElement value, long dataLength)
    {
        string item = $"tensor '{name}'";
        ModelFormatException Error(string problem) => new(path, item, problem);

        if (value.ValueKind != JsonValueKind.Object)
            throw Error($"entry must be an object, found {value.ValueKind}");
        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw Error("missing or non-string \"dtype\"");
        string dtypeName = dtypeElement.GetString()!;
        if (!SafetensorsDTypeInfo.TryParse(dtypeName, out var dtype))
            throw Error($"unsupported dtype \"{dtypeName}\"; known: {string.Join(", ", Enum.GetNames<SafetensorsDType>())}");

        if (!value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw Error("missing or non-array \"shape\"");
        int rank = shapeElement.GetArrayLength();
        if (rank > MaxRank)
            throw Error($"rank {rank} exceeds the limit of {MaxRank}");
        var shape = new long[rank];
        long elements = 1;
        int i = 0;
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0)
                throw Error($"shape[{i}] is {d.GetRawText()}, not a non-negative 64-bit integer");
            shape[i++] = dim;
        }
        long expectedBytes;
        try
        {
            foreach (var dim in shape)
                elements = checked(elements * dim);
            expectedBytes = checked(elements * SafetensorsDTypeInfo.Size(dtype));
        }
        catch (OverflowException)
        {
            throw Error($"shape [{string.Join(", ", shape)}] of {dtype} overflows a 64-bit size");
        }

        if (!value.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
            throw Error("\"data_offsets\" must be an array [begin, end]");
        var begin = offsets[0];
        var end = offsets[1];
        if (begin.ValueKind != JsonValueKind.Number || !begin.TryGetInt64(out long b) || b < 0
            || end.ValueKind != JsonValueKind.Number || !end.TryGetInt64(out long e) || e < 0)
            throw Error($"data_offsets {offsets.GetRawText()} are not non-negative 64-bit integers");
        if (e < b)
            throw Error($"data_offsets [{b}, {e}) end before they begin");
        if (e - b != expectedBytes)
            throw Error($"data_offsets [{b}, {e}) hold {e - b} bytes but {dtype} [{string.Join(", ", shape)}] needs {expectedBytes}");
        if (e > dataLength)
            throw Error($"data_offsets [{b}, {e}) run past the {dataLength}-byte data section (file truncated?)");
        return new Entry(name, dtype, shape, b, e, elements);
    }

    /// <summary>The byte ranges must cover [0, dataLength) exactly once: no overlap, no hole, no trailing bytes.</summary>
    private static void CheckTiling(string path, List<Entry> entries, long dataLength)
    {
        var sorted = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToArray();
        long expected = 0;
        Entry? previous = null;
        foreach (var e in sorted)
        {
            if (e.Begin < expected)
                throw new ModelFormatException(path, $"tensor '{e.Name}'", $"data_offsets [{e.Begin}, {e.End}) overlap tensor '{previous!.Name}' [{previous.Begin}, {previous.End})");
            if (e.Begin > expected)
                throw new ModelFormatException(path, $"tensor '{e.Name}'", $"data_offsets [{e.Begin}, {e.End}) leave a hole of {e.Begin - expected} bytes after offset {expected}");
            expected = e.End;
            previous = e;
        }
        if (expected != dataLength)
            throw new ModelFormatException(path, "data section", $"{dataLength - expected} bytes after the last tensor (at {expected}) belong to no tensor");
    }

    private sealed record Entry(string Name, SafetensorsDType DType, long[] Shape, long Begin, long End, long Elements);
}
