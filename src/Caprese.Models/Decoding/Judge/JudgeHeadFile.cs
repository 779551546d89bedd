using System.Globalization;
using Caprese.Models.Adapters;
using Caprese.Models.Formats.Safetensors;
using Caprese.Models.Loading;

namespace Caprese.Models.Decoding.Judge;

/// <summary>A judge head file's content.</summary>
/// <param name="Head">The head.</param>
/// <param name="BaseModel">The model whose hidden states the head was trained on.</param>
/// <param name="TrainingMetadata">Free-form training settings (the file's <c>training.*</c> keys, prefix removed).</param>
/// <param name="FormatVersion">The file's format version.</param>
public sealed record JudgeHeadFileContent(JudgeHead Head, ModelFingerprint BaseModel, IReadOnlyDictionary<string, string> TrainingMetadata, int FormatVersion);

/// <summary>A judge head file that is well formed but was trained on another model than the one it is loaded for.</summary>
public sealed class JudgeHeadMismatchException : Exception
{
    public JudgeHeadMismatchException(string filePath, string problem)
        : base($"{filePath}: {problem}")
    {
        FilePath = filePath;
    }

    /// <summary>The judge head file.</summary>
    public string FilePath { get; }
}

/// <summary>
/// Judge head files: safetensors with <c>judge.weight</c> [Dim] and <c>judge.bias</c> [1] (f32) and string metadata
/// (keys <c>caprese.*</c>, free-form training settings under <c>training.*</c>), bound to the base model by its
/// <see cref="ModelFingerprint"/> as adapter files are. Writes are atomic (temporary file, then rename). Loading checks
/// everything it reads: a malformed, truncated or inconsistent file raises <see cref="ModelFormatException"/>, a
/// well-formed file for another model <see cref="JudgeHeadMismatchException"/>; both name the file and the problem.
/// </summary>
public static class JudgeHeadFile
{
    /// <summary>The format version this build writes and reads.</summary>
    public const int FormatVersion = 1;

    public const string FormatName = "caprese-judge-head";
    public const string TrainingPrefix = "training.";
    public const string WeightName = "judge.weight";
    public const string BiasName = "judge.bias";

    /// <summary>Largest dimension a file may declare (far above any model's; bounds what a hostile header makes us allocate).</summary>
    public const int MaxDim = 1 << 20;

    internal const string KeyFormat = "caprese.format";
    internal const string KeyVersion = "caprese.format_version";
    internal const string KeyBaseModel = "caprese.base_model";
    internal const string KeyDim = "caprese.dim";

    /// <summary>Writes <paramref name="head"/> bound to <paramref name="baseModel"/>; replaces an existing file atomically.</summary>
    /// <exception cref="ArgumentException">A training key is empty or a value null.</exception>
    public static void Save(string path, JudgeHead head, ModelFingerprint baseModel, IReadOnlyDictionary<string, string>? trainingMetadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(head);
        ArgumentNullException.ThrowIfNull(baseModel);
        var inv = CultureInfo.InvariantCulture;
        var meta = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [KeyFormat] = FormatName,
            [KeyVersion] = FormatVersion.ToString(inv),
            [KeyBaseModel] = baseModel.ToString(),
            [KeyDim] = head.Dim.ToString(inv),
        };
        foreach (var (key, value) in trainingMetadata ?? new Dictionary<string, string>())
        {
            if (string.IsNullOrEmpty(key) || value is null)
                throw new ArgumentException("training metadata needs non-empty keys and non-null values", nameof(trainingMetadata));
            meta[TrainingPrefix + key] = value;
        }
        SafetensorsTensorData[] tensors =
        [
            SafetensorsTensorData.FromFloats(WeightName, [head.Dim], head.Weights.Span),
            SafetensorsTensorData.FromFloats(BiasName, [1], [head.Bias]),
        ];
        SafetensorsWriter.Write(path, tensors, meta);
    }

    /// <summary>Reads a judge head file without comparing it to a model.</summary>
    /// <exception cref="ModelFormatException">The file is malformed, truncated or inconsistent.</exception>
    public static JudgeHeadFileContent Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var file = SafetensorsFile.Open(path);
        return Read(file);
    }

    /// <summary>
    /// Reads a judge head file and checks that it was trained on the model <paramref name="expected"/> identifies (see
    /// <see cref="ModelFingerprint.MismatchWith"/>) and, when given, that it reads <paramref name="expectedDim"/>-element hidden states.
    /// </summary>
    /// <exception cref="ModelFormatException">The file is malformed, truncated or inconsistent.</exception>
    /// <exception cref="JudgeHeadMismatchException">The head belongs to another model.</exception>
    public static JudgeHeadFileContent Load(string path, ModelFingerprint expected, int? expectedDim = null)
    {
        ArgumentNullException.ThrowIfNull(expected);
        var content = Load(path);
        string full = Path.GetFullPath(path);
        if (content.BaseModel.MismatchWith(expected) is { } problem)
            throw new JudgeHeadMismatchException(full,
                $"the judge head was trained on another base model ({Describe(content.BaseModel)}) than the one it is loaded for ({Describe(expected)}): {problem}");
        if (expectedDim is { } dim && content.Head.Dim != dim)
            throw new JudgeHeadMismatchException(full, $"the judge head reads {content.Head.Dim}-element hidden states, the model's have {dim}");
        return content;
    }

    /// <summary>Turns an opened safetensors file into a head, checking every field; all problems become <see cref="ModelFormatException"/>s.</summary>
    internal static JudgeHeadFileContent Read(SafetensorsFile file)
    {
        string path = file.FilePath;
        var meta = file.Metadata;
        ModelFormatException Error(string item, string problem) => new(path, item, problem);
        string Get(string key) => meta.TryGetValue(key, out var v) ? v
            : throw Error($"metadata '{key}'", "missing (not a Caprese judge head file?)");
        int Int(string key, int min, int max)
        {
            string text = Get(key);
            if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v < min || v > max)
                throw Error($"metadata '{key}'", $"'{Truncate(text)}' is not an integer in {min}..{max}");
            return v;
        }

        if (Get(KeyFormat) is var format && format != FormatName)
            throw Error($"metadata '{KeyFormat}'", $"'{Truncate(format)}' is not '{FormatName}'");
        int version = Int(KeyVersion, 1, int.MaxValue);
        if (version != FormatVersion)
            throw Error($"metadata '{KeyVersion}'", $"format version {version}; this build reads version {FormatVersion}");
        ModelFingerprint baseModel;
        try
        {
            baseModel = ModelFingerprint.Parse(Get(KeyBaseModel));
        }
        catch (FormatException e)
        {
            throw Error($"metadata '{KeyBaseModel}'", $"malformed fingerprint: {e.Message}");
        }
        int dim = Int(KeyDim, 1, MaxDim);

        var weights = ReadVector(file, WeightName, dim, $"[{dim}] (the metadata's dim)", Error);
        var bias = ReadVector(file, BiasName, 1, "[1]", Error);
        if (file.Tensors.FirstOrDefault(t => t.Name is not WeightName and not BiasName) is { } extra)
            throw Error($"tensor '{Truncate(extra.Name)}'", $"is not part of a judge head (only '{WeightName}' and '{BiasName}' are)");

        var training = meta.Where(p => p.Key.StartsWith(TrainingPrefix, StringComparison.Ordinal) && p.Key.Length > TrainingPrefix.Length)
            .ToDictionary(p => p.Key[TrainingPrefix.Length..], p => p.Value, StringComparer.Ordinal);
        return new JudgeHeadFileContent(new JudgeHead(weights, bias[0]), baseModel, training, version);
    }

    private static float[] ReadVector(SafetensorsFile file, string name, int length, string expectedShape, Func<string, string, ModelFormatException> error)
    {
        if (!file.TryGetTensor(name, out var t))
            throw error($"tensor '{name}'", "missing");
        if (t.Shape.Count != 1 || t.Shape[0] != length)
            throw error($"tensor '{name}'", $"shape [{string.Join(", ", t.Shape)}] is not {expectedShape}");
        if (!SafetensorsDTypeInfo.IsFloat(t.DType))
            throw error($"tensor '{name}'", $"dtype {t.DType} is not F32, F16 or BF16");
        var values = t.DequantizeToF32();
        int bad = Array.FindIndex(values, v => !float.IsFinite(v));
        if (bad >= 0)
            throw error($"tensor '{name}'", $"element {bad} is {values[bad].ToString(CultureInfo.InvariantCulture)} (not finite)");
        return values;
    }

    private static string Describe(ModelFingerprint f) =>
        $"architecture {f.ArchitectureHash[..12]}, {f.WeightType} weights {f.WeightsHash[..12]}";

    // Fuzzed or hostile metadata can be long; messages quote at most 80 characters of it.
    private static string Truncate(string s) => s.Length <= 80 ? s : s[..80] + "...";
}
