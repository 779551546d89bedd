using System.Globalization;
using Caprese.Models.Formats.Safetensors;
using Caprese.Models.Loading;
using Caprese.Models.Sparsity;
using Caprese.Models.Transformer;

namespace Caprese.Models.Adapters;

/// <summary>
/// Adapter files: safetensors with tensors <c>layers.{l}.L</c> [D, r] and <c>layers.{l}.R</c> [r, D] (f32) per
/// sparsified layer and string metadata (keys <c>caprese.*</c>, free-form training settings under <c>training.*</c>).
/// Writes are atomic (temporary file, then rename). Loading checks everything it reads: a malformed, truncated or
/// inconsistent file raises <see cref="ModelFormatException"/>, a well-formed file for another model
/// <see cref="AdapterMismatchException"/>; both name the file and the problem.
/// </summary>
public static class AdapterFile
{
    /// <summary>The format version this build writes and reads.</summary>
    public const int FormatVersion = 1;

    public const string FormatName = "caprese-adapters";
    public const string TrainingPrefix = "training.";

    internal const string KeyFormat = "caprese.format";
    internal const string KeyVersion = "caprese.format_version";
    internal const string KeyBaseModel = "caprese.base_model";
    internal const string KeyMethod = "caprese.sparsity.method";
    internal const string KeyLevel = "caprese.sparsity.level";
    internal const string KeyFirstLayer = "caprese.sparsity.first_layer";
    internal const string KeyLayerCount = "caprese.sparsity.layer_count";
    internal const string KeyReselect = "caprese.sparsity.griffin_reselect_every";
    internal const string KeyPath = "caprese.sparsity.griffin_path";
    internal const string KeyModelLayers = "caprese.model_layers";
    internal const string KeyRank = "caprese.rank";
    internal const string KeyDim = "caprese.dim";
    internal const string KeyLayers = "caprese.layers";

    public static string LName(int layer) => $"layers.{layer}.L";
    public static string RName(int layer) => $"layers.{layer}.R";

    public static void Save(string path, AdapterSet adapters, AdapterMetadata metadata)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(adapters);
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(metadata.BaseModel);
        var inv = CultureInfo.InvariantCulture;
        var s = adapters.Sparsity;
        var (first, end) = s.LayerRange(adapters.LayerCount);
        var meta = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [KeyFormat] = FormatName,
            [KeyVersion] = FormatVersion.ToString(inv),
            [KeyBaseModel] = metadata.BaseModel.ToString(),
            [KeyMethod] = s.Method.ToString(),
            [KeyLevel] = s.Sparsity.ToString("R", inv),
            [KeyFirstLayer] = first.ToString(inv),
            [KeyLayerCount] = (end - first).ToString(inv),
            [KeyReselect] = s.GriffinReselectEvery.ToString(inv),
            [KeyPath] = s.GriffinPath.ToString(),
            [KeyModelLayers] = adapters.LayerCount.ToString(inv),
            [KeyRank] = adapters.Rank.ToString(inv),
            [KeyDim] = adapters.Dim.ToString(inv),
            [KeyLayers] = string.Join(',', adapters.Adapters.Select(a => a.Layer.ToString(inv))),
        };
        foreach (var (key, value) in metadata.TrainingSettings)
        {
            if (string.IsNullOrEmpty(key) || value is null)
                throw new ArgumentException("training settings need non-empty keys and non-null values", nameof(metadata));
            meta[TrainingPrefix + key] = value;
        }
        var tensors = new List<SafetensorsTensorData>();
        foreach (var a in adapters.Adapters)
        {
            tensors.Add(SafetensorsTensorData.FromFloats(LName(a.Layer), [a.Dim, a.Rank], a.L));
            tensors.Add(SafetensorsTensorData.FromFloats(RName(a.Layer), [a.Rank, a.Dim], a.R));
        }
        SafetensorsWriter.Write(path, tensors, meta);
    }

    /// <summary>Reads an adapter file without comparing it to a model.</summary>
    /// <exception cref="ModelFormatException">The file is malformed, truncated or inconsistent.</exception>
    public static AdapterFileContent Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var file = SafetensorsFile.Open(path);
        return AdapterFileReader.Read(file);
    }

    /// <summary>Reads an adapter file and checks that it was trained on <paramref name="model"/> (see <see cref="ModelFingerprint.MismatchWith"/>).</summary>
    /// <exception cref="ModelFormatException">The file is malformed, truncated or inconsistent.</exception>
    /// <exception cref="AdapterMismatchException">The adapters belong to another model.</exception>
    public static AdapterFileContent Load(string path, TransformerModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Load(path, ModelFingerprint.Compute(model), model.Config);
    }

    /// <summary>Reads an adapter file and checks it against a known fingerprint and config.</summary>
    public static AdapterFileContent Load(string path, ModelFingerprint expected, ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(expected);
        ArgumentNullException.ThrowIfNull(config);
        var content = Load(path);
        string full = Path.GetFullPath(path);
        var a = content.Adapters;
        if (a.Dim != config.Dim || a.LayerCount != config.Layers)
            throw new AdapterMismatchException(full, $"adapters are for a {a.LayerCount}-layer model of dimension {a.Dim}, the model has {config.Layers} layers of dimension {config.Dim}");
        if (content.Metadata.BaseModel.MismatchWith(expected) is { } problem)
            throw new AdapterMismatchException(full, $"adapters were trained on another base model: {problem}");
        return content;
    }
}
