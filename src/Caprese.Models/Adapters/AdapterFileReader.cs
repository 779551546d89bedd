using System.Globalization;
using Caprese.Models.Formats.Safetensors;
using Caprese.Models.Loading;
using Caprese.Models.Sparsity;

namespace Caprese.Models.Adapters;

/// <summary>Turns an opened safetensors file into adapters, checking every field; all problems become <see cref="ModelFormatException"/>s.</summary>
internal static class AdapterFileReader
{
    public static AdapterFileContent Read(SafetensorsFile file)
    {
        string path = file.FilePath;
        var meta = file.Metadata;
        ModelFormatException Error(string item, string problem) => new(path, item, problem);

        string Get(string key) => meta.TryGetValue(key, out var v) ? v
            : throw Error($"metadata '{key}'", "missing (not a Caprese adapter file?)");
        int Int(string key, int min, int max)
        {
            string text = Get(key);
            if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v < min || v > max)
                throw Error($"metadata '{key}'", $"'{Truncate(text)}' is not an integer in {min}..{max}");
            return v;
        }

        if (Get(AdapterFile.KeyFormat) != AdapterFile.FormatName)
            throw Error($"metadata '{AdapterFile.KeyFormat}'", $"'{Truncate(meta[AdapterFile.KeyFormat])}' is not '{AdapterFile.FormatName}'");
        int version = Int(AdapterFile.KeyVersion, 1, int.MaxValue);
        if (version != AdapterFile.FormatVersion)
            throw Error($"metadata '{AdapterFile.KeyVersion}'", $"format version {version}; this build reads version {AdapterFile.FormatVersion}");

        ModelFingerprint baseModel;
        try
        {
            baseModel = ModelFingerprint.Parse(Get(AdapterFile.KeyBaseModel));
        }
        catch (FormatException e)
        {
            throw Error($"metadata '{AdapterFile.KeyBaseModel}'", $"malformed fingerprint: {e.Message}");
        }

        var sparsity = ReadSparsity(Get, Int, Error);
        int modelLayers = Int(AdapterFile.KeyModelLayers, 1, 1 << 16);
        int dim = Int(AdapterFile.KeyDim, 1, 1 << 20);
        int rank = Int(AdapterFile.KeyRank, 1, dim);
        var (first, end) = Range(sparsity, modelLayers, Error);
        string expectedLayers = string.Join(',', Enumerable.Range(first, end - first).Select(l => l.ToString(CultureInfo.InvariantCulture)));
        if (Get(AdapterFile.KeyLayers) != expectedLayers)
            throw Error($"metadata '{AdapterFile.KeyLayers}'", $"'{Truncate(meta[AdapterFile.KeyLayers])}' is not the sparsified layers {expectedLayers}");

        var expectedNames = new HashSet<string>(StringComparer.Ordinal);
        var adapters = new List<LowRankAdapter>();
        for (int l = first; l < end; l++)
        {
            string lName = AdapterFile.LName(l), rName = AdapterFile.RName(l);
            expectedNames.Add(lName);
            expectedNames.Add(rName);
            var lValues = ReadFactor(file, lName, dim, rank, Error);
            var rValues = ReadFactor(file, rName, rank, dim, Error);
            adapters.Add(new LowRankAdapter(l, dim, rank, lValues, rValues));
        }
        if (file.Tensors.FirstOrDefault(t => !expectedNames.Contains(t.Name)) is { } extra)
            throw Error($"tensor '{Truncate(extra.Name)}'", "is not an adapter factor of a sparsified layer");

        var training = meta.Where(p => p.Key.StartsWith(AdapterFile.TrainingPrefix, StringComparison.Ordinal) && p.Key.Length > AdapterFile.TrainingPrefix.Length)
            .ToDictionary(p => p.Key[AdapterFile.TrainingPrefix.Length..], p => p.Value, StringComparer.Ordinal);
        var set = new AdapterSet(modelLayers, sparsity, adapters);
        return new AdapterFileContent(set, new AdapterMetadata(baseModel, training), version);
    }

    private static SparsityOptions ReadSparsity(Func<string, string> get, Func<string, int, int, int> integer, Func<string, string, ModelFormatException> error)
    {
        var method = get(AdapterFile.KeyMethod) switch
        {
            nameof(SparsityMethod.Griffin) => SparsityMethod.Griffin,
            nameof(SparsityMethod.Cats) => SparsityMethod.Cats,
            var other => throw error($"metadata '{AdapterFile.KeyMethod}'", $"'{Truncate(other)}' is not Griffin or Cats"),
        };
        string levelText = get(AdapterFile.KeyLevel);
        if (!double.TryParse(levelText, NumberStyles.Float, CultureInfo.InvariantCulture, out double level) || !(level >= 0 && level < 1))
            throw error($"metadata '{AdapterFile.KeyLevel}'", $"'{Truncate(levelText)}' is not a sparsity in [0, 1)");
        string pathText = get(AdapterFile.KeyPath);
        if (!Enum.GetNames<GriffinPath>().Contains(pathText, StringComparer.Ordinal))
            throw error($"metadata '{AdapterFile.KeyPath}'", $"'{Truncate(pathText)}' is not one of {string.Join(", ", Enum.GetNames<GriffinPath>())}");
        return new SparsityOptions(method, level,
            integer(AdapterFile.KeyFirstLayer, 0, 1 << 16),
            integer(AdapterFile.KeyLayerCount, 1, 1 << 16),
            integer(AdapterFile.KeyReselect, 0, int.MaxValue),
            Enum.Parse<GriffinPath>(pathText));
    }

    private static (int First, int End) Range(SparsityOptions sparsity, int modelLayers, Func<string, string, ModelFormatException> error)
    {
        try
        {
            return sparsity.LayerRange(modelLayers);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw error("metadata 'caprese.sparsity.*'", $"does not fit a {modelLayers}-layer model: {e.Message}");
        }
    }

    private static float[] ReadFactor(SafetensorsFile file, string name, int rows, int cols, Func<string, string, ModelFormatException> error)
    {
        if (!file.TryGetTensor(name, out var t))
            throw error($"tensor '{name}'", "missing");
        if (t.Shape.Count != 2 || t.Shape[0] != rows || t.Shape[1] != cols)
            throw error($"tensor '{name}'", $"shape [{string.Join(", ", t.Shape)}] is not [{rows}, {cols}] (the metadata's dim and rank)");
        if (!SafetensorsDTypeInfo.IsFloat(t.DType))
            throw error($"tensor '{name}'", $"dtype {t.DType} is not F32, F16 or BF16");
        var values = t.DequantizeToF32();
        int bad = Array.FindIndex(values, v => !float.IsFinite(v));
        if (bad >= 0)
            throw error($"tensor '{name}'", $"element {bad} is {values[bad]} (not finite)");
        return values;
    }

    // Fuzzed or hostile metadata can be long; messages quote at most 80 characters of it.
    private static string Truncate(string s) => s.Length <= 80 ? s : s[..80] + "...";
}
