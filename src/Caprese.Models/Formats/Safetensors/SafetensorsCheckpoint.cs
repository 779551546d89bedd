using System.Text.Json;
using Caprese.Models.Loading;

namespace Caprese.Models.Formats.Safetensors;

/// <summary>
/// A Hugging Face checkpoint: one model.safetensors, or shards listed by model.safetensors.index.json
/// (weight_map: tensor name to shard file). Each shard is mapped once; every tensor the index lists
/// must be in its shard, and shard paths may not leave the checkpoint directory.
/// Tensors a shard holds but the index does not list are not exposed.
/// </summary>
public sealed class SafetensorsCheckpoint : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";
    /// <summary>Largest index file accepted (a 1000-layer model's index is a few hundred KiB).</summary>
    public const long MaxIndexBytes = 64 << 20;

    private readonly Dictionary<string, SafetensorsTensor> _tensors;

    private SafetensorsCheckpoint(string directory, string? indexPath, IReadOnlyList<SafetensorsFile> files,
        Dictionary<string, SafetensorsTensor> tensors, IReadOnlyDictionary<string, string> indexMetadata)
    {
        Directory = directory;
        IndexPath = indexPath;
        Files = files;
        _tensors = tensors;
        IndexMetadata = indexMetadata;
    }

    /// <summary>The folder holding the checkpoint.</summary>
    public string Directory { get; }

    /// <summary>The index file for sharded checkpoints, null for a single file.</summary>
    public string? IndexPath { get; }

    /// <summary>The opened files (shards in first-use order).</summary>
    public IReadOnlyList<SafetensorsFile> Files { get; }

    /// <summary>Every tensor by name.</summary>
    public IReadOnlyDictionary<string, SafetensorsTensor> Tensors => _tensors;

    /// <summary>The index's "metadata" object, values as JSON text for non-strings (e.g. total_size); empty without an index.</summary>
    public IReadOnlyDictionary<string, string> IndexMetadata { get; }

    /// <summary>The file errors should name: the index, or the single file.</summary>
    public string SourcePath => IndexPath ?? Files[0].FilePath;

    /// <summary>
    /// Opens a checkpoint from a directory (index preferred over a single model.safetensors), an
    /// index file (*.index.json), or a single .safetensors file.
    /// </summary>
    public static SafetensorsCheckpoint Open(string directoryOrFile)
    {
        ArgumentException.ThrowIfNullOrEmpty(directoryOrFile);
        var full = Path.GetFullPath(directoryOrFile);
        if (System.IO.Directory.Exists(full))
        {
            var index = Path.Combine(full, IndexFileName);
            if (File.Exists(index))
                return OpenIndex(index);
            var single = Path.Combine(full, SingleFileName);
            if (File.Exists(single))
                return OpenSingle(single);
            throw new FileNotFoundException($"{full} holds neither {IndexFileName} nor {SingleFileName}", Path.Combine(full, SingleFileName));
        }
        return full.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? OpenIndex(full) : OpenSingle(full);
    }

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public bool TryGetTensor(string name, out SafetensorsTensor tensor) => _tensors.TryGetValue(name, out tensor!);

    public SafetensorsTensor GetTensor(string name) =>
        _tensors.TryGetValue(name, out var t) ? t : throw new ModelFormatException(SourcePath, $"tensor '{name}'", "missing");

    public void Dispose()
    {
        foreach (var f in Files)
            f.Dispose();
    }

    private static SafetensorsCheckpoint OpenSingle(string path)
    {
        var file = SafetensorsFile.Open(path);
        var tensors = file.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        return new SafetensorsCheckpoint(Path.GetDirectoryName(file.FilePath)!, null, [file], tensors, new Dictionary<string, string>());
    }

    private static SafetensorsCheckpoint OpenIndex(string indexPath)
    {
        var directory = Path.GetDirectoryName(indexPath)!;
        var (weightMap, metadata) = ReadIndex(indexPath);

        var opened = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        var order = new List<SafetensorsFile>();
        try
        {
            var tensors = new Dictionary<string, SafetensorsTensor>(StringComparer.Ordinal);
            foreach (var (name, shard) in weightMap)
            {
                var shardPath = ResolveShard(indexPath, directory, name, shard);
                if (!opened.TryGetValue(shardPath, out var file))
                {
                    if (!File.Exists(shardPath))
                        throw new ModelFormatException(indexPath, $"tensor '{name}'", $"shard \"{shard}\" does not exist ({shardPath})");
                    file = SafetensorsFile.Open(shardPath);
                    opened.Add(shardPath, file);
                    order.Add(file);
                }
                if (!file.TryGetTensor(name, out var tensor))
                    throw new ModelFormatException(indexPath, $"tensor '{name}'", $"listed in weight_map under shard \"{shard}\", which does not contain it");
                tensors.Add(name, tensor);
            }
            if (order.Count == 0)
                throw new ModelFormatException(indexPath, "weight_map", "is empty");
            return new SafetensorsCheckpoint(directory, indexPath, order, tensors, metadata);
        }
        catch
        {
            foreach (var f in order)
                f.Dispose();
            throw;
        }
    }

    /// <summary>A shard must be a relative path that stays inside the checkpoint directory.</summary>
    private static string ResolveShard(string indexPath, string directory, string tensor, string shard)
    {
        string item = $"tensor '{tensor}'";
        if (shard.Length == 0 || Path.IsPathRooted(shard) || shard.Contains('\0'))
            throw new ModelFormatException(indexPath, item, $"shard path \"{shard}\" must be a relative file name");
        var segments = shard.Split('/', '\\');
        if (segments.Any(s => s == ".."))
            throw new ModelFormatException(indexPath, item, $"shard path \"{shard}\" escapes the checkpoint directory");
        var full = Path.GetFullPath(Path.Combine(directory, shard));
        var root = Path.TrimEndingDirectorySeparator(directory) + Path.DirectorySeparatorChar;
        if (!full.StartsWith(root, StringComparison.Ordinal))
            throw new ModelFormatException(indexPath, item, $"shard path \"{shard}\" escapes the checkpoint directory");
        return full;
    }

    private static (List<KeyValuePair<string, string>> WeightMap, Dictionary<string, string> Metadata) ReadIndex(string indexPath)
    {
        var info = new FileInfo(indexPath);
        if (!info.Exists)
            throw new FileNotFoundException($"{indexPath} does not exist", indexPath);
        if (info.Length > MaxIndexBytes)
            throw new ModelFormatException(indexPath, "index", $"{info.Length} bytes exceed the limit of {MaxIndexBytes}");
        ReadOnlyMemory<byte> bytes = File.ReadAllBytes(indexPath);
        if (bytes.Span.StartsWith("\uFEFF"u8))
            bytes = bytes[3..]; // a UTF-8 byte order mark, which the JSON reader rejects
        try
        {
            using var doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 16 });
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new ModelFormatException(indexPath, "index", $"must be a JSON object, found {root.ValueKind}");
            if (!root.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new ModelFormatException(indexPath, "weight_map", "missing or not an object");
            var weightMap = new List<KeyValuePair<string, string>>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in map.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String)
                    throw new ModelFormatException(indexPath, $"tensor '{p.Name}'", $"weight_map value must be a shard file name, found {p.Value.ValueKind}");
                if (!seen.Add(p.Name))
                    throw new ModelFormatException(indexPath, $"tensor '{p.Name}'", "appears twice in weight_map");
                weightMap.Add(new(p.Name, p.Value.GetString()!));
            }
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            if (root.TryGetProperty("metadata", out var meta) && meta.ValueKind == JsonValueKind.Object)
            {
                foreach (var p in meta.EnumerateObject())
                    metadata[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText();
            }
            return (weightMap, metadata);
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(indexPath, "index", $"invalid JSON: {e.Message}");
        }
        catch (InvalidOperationException e)
        {
            throw new ModelFormatException(indexPath, "index", $"invalid JSON content: {e.Message}");
        }
    }
}
