using System.Text.Json;
using Caprese.Models.Loading;

namespace Caprese.Models.Formats.HuggingFace;

/// <summary>rope_scaling of config.json. Llama 3.1 ("llama3") uses all four factors.</summary>
public sealed record HfRopeScaling(
    string RopeType,
    double Factor,
    double? LowFreqFactor,
    double? HighFreqFactor,
    int? OriginalMaxPositionEmbeddings);

/// <summary>
/// The fields of a Hugging Face config.json that Llama, Qwen2 and Gemma 2 decoding needs.
/// Optional fields take the defaults of the model family's transformers config class.
/// </summary>
public sealed record HfConfig
{
    public required string ModelType { get; init; }
    public IReadOnlyList<string> Architectures { get; init; } = [];
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumHiddenLayers { get; init; }
    public required int NumAttentionHeads { get; init; }
    public required int NumKeyValueHeads { get; init; }

    /// <summary>head_dim when the config states it (Gemma 2: 256 with hidden 2304 and 8 heads).</summary>
    public int? HeadDimOverride { get; init; }

    /// <summary>head_dim, or hidden_size / num_attention_heads.</summary>
    public int HeadDim => HeadDimOverride ?? HiddenSize / NumAttentionHeads;

    public required int VocabSize { get; init; }
    public required int MaxPositionEmbeddings { get; init; }
    public required double RmsNormEps { get; init; }
    public required double RopeTheta { get; init; }
    public HfRopeScaling? RopeScaling { get; init; }
    public required bool TieWordEmbeddings { get; init; }

    /// <summary>The MLP activation: hidden_activation (Gemma 2) or hidden_act.</summary>
    public required string HiddenAct { get; init; }

    public bool AttentionBias { get; init; }
    public double? QueryPreAttnScalar { get; init; }
    public double? AttnLogitSoftcapping { get; init; }
    public double? FinalLogitSoftcapping { get; init; }

    /// <summary>Sliding attention window; for Qwen2 only set when use_sliding_window is true.</summary>
    public int? SlidingWindow { get; init; }

    public int? BosTokenId { get; init; }

    /// <summary>eos_token_id, which may be one id or a list (Llama 3.1 has three).</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    public int? PadTokenId { get; init; }

    /// <summary>torch_dtype (e.g. "bfloat16"), informational.</summary>
    public string? TorchDtype { get; init; }

    /// <summary>Where the config was read from, for messages.</summary>
    public string FilePath { get; init; } = "";

    public const int MaxConfigBytes = 16 << 20;

    /// <summary>Reads config.json from a file or a checkpoint directory.</summary>
    public static HfConfig Load(string fileOrDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(fileOrDirectory);
        var path = Path.GetFullPath(fileOrDirectory);
        if (Directory.Exists(path))
            path = Path.Combine(path, "config.json");
        var info = new FileInfo(path);
        if (!info.Exists)
            throw new FileNotFoundException($"{path} does not exist", path);
        if (info.Length > MaxConfigBytes)
            throw new ModelFormatException(path, "config", $"{info.Length} bytes exceed the limit of {MaxConfigBytes}");
        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Parses config.json text; <paramref name="sourceName"/> names it in errors.</summary>
    public static HfConfig Parse(ReadOnlyMemory<byte> json, string sourceName)
    {
        // Tools on Windows sometimes save config.json with a UTF-8 byte order mark, which the JSON reader rejects.
        if (json.Span.StartsWith("\uFEFF"u8))
            json = json[3..];
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, MaxDepth = 32 });
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(sourceName, "config", $"invalid JSON: {e.Message}");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new ModelFormatException(sourceName, "config", $"must be a JSON object, found {doc.RootElement.ValueKind}");
            try
            {
                return FromJson(new Fields(doc.RootElement, sourceName));
            }
            catch (InvalidOperationException e)
            {
                throw new ModelFormatException(sourceName, "config", $"invalid JSON content: {e.Message}");
            }
        }
    }

    public static HfConfig Parse(string json, string sourceName) => Parse(System.Text.Encoding.UTF8.GetBytes(json), sourceName);

    private static HfConfig FromJson(Fields f)
    {
        string modelType = f.RequiredString("model_type");
        var defaults = FamilyDefaults.For(modelType);

        int hidden = f.RequiredInt("hidden_size");
        int heads = f.RequiredInt("num_attention_heads");
        int kvHeads = f.OptionalInt("num_key_value_heads") ?? heads;
        int? headDim = f.OptionalInt("head_dim");
        if (headDim is null && hidden % heads != 0)
            throw f.Error("hidden_size", $"{hidden} is not a multiple of num_attention_heads {heads}, and head_dim is not given");
        if (heads % kvHeads != 0)
            throw f.Error("num_key_value_heads", $"{kvHeads} does not divide num_attention_heads {heads}");

        double eps = f.OptionalDouble("rms_norm_eps") ?? defaults.RmsNormEps;
        if (!(eps > 0) || double.IsInfinity(eps))
            throw f.Error("rms_norm_eps", $"{eps} is not a positive number");
        double theta = f.OptionalDouble("rope_theta") ?? 10000.0;
        if (!(theta > 0) || double.IsInfinity(theta))
            throw f.Error("rope_theta", $"{theta} is not a positive number");

        // Qwen2 states a sliding_window even when use_sliding_window is false (then it is unused).
        int? sliding = f.OptionalInt("sliding_window", allowZero: false);
        if (f.OptionalBool("use_sliding_window") == false)
            sliding = null;

        return new HfConfig
        {
            FilePath = f.SourceName,
            ModelType = modelType,
            Architectures = f.OptionalStringArray("architectures"),
            HiddenSize = hidden,
            IntermediateSize = f.RequiredInt("intermediate_size"),
            NumHiddenLayers = f.RequiredInt("num_hidden_layers"),
            NumAttentionHeads = heads,
            NumKeyValueHeads = kvHeads,
            HeadDimOverride = headDim,
            VocabSize = f.RequiredInt("vocab_size"),
            MaxPositionEmbeddings = f.OptionalInt("max_position_embeddings") ?? defaults.MaxPositionEmbeddings,
            RmsNormEps = eps,
            RopeTheta = theta,
            RopeScaling = ReadRopeScaling(f),
            TieWordEmbeddings = f.OptionalBool("tie_word_embeddings") ?? defaults.TieWordEmbeddings,
            HiddenAct = f.OptionalString("hidden_activation") ?? f.OptionalString("hidden_act") ?? defaults.HiddenAct,
            AttentionBias = f.OptionalBool("attention_bias") ?? defaults.AttentionBias,
            QueryPreAttnScalar = f.OptionalDouble("query_pre_attn_scalar"),
            AttnLogitSoftcapping = f.OptionalDouble("attn_logit_softcapping"),
            FinalLogitSoftcapping = f.OptionalDouble("final_logit_softcapping"),
            SlidingWindow = sliding,
            BosTokenId = f.OptionalInt("bos_token_id", allowZero: true),
            EosTokenIds = f.OptionalIntOrIntArray("eos_token_id"),
            PadTokenId = f.OptionalInt("pad_token_id", allowZero: true),
            TorchDtype = f.OptionalString("torch_dtype") ?? f.OptionalString("dtype"), // newer transformers write "dtype"
        };
    }

    private static HfRopeScaling? ReadRopeScaling(Fields f)
    {
        if (!f.Root.TryGetProperty("rope_scaling", out var e) || e.ValueKind == JsonValueKind.Null)
            return null;
        if (e.ValueKind != JsonValueKind.Object)
            throw f.Error("rope_scaling", $"must be an object or null, found {e.ValueKind}");
        var s = new Fields(e, f.SourceName, "rope_scaling.");
        // transformers accepts the legacy key "type" for "rope_type".
        string type = s.OptionalString("rope_type") ?? s.OptionalString("type")
            ?? throw f.Error("rope_scaling.rope_type", "missing");
        bool llama3 = type == "llama3";
        double factor = type == "default" ? (s.OptionalDouble("factor") ?? 1.0) : s.RequiredDouble("factor");
        if (!(factor > 0) || double.IsInfinity(factor))
            throw f.Error("rope_scaling.factor", $"{factor} is not a positive number");
        return new HfRopeScaling(
            type,
            factor,
            llama3 ? s.RequiredDouble("low_freq_factor") : s.OptionalDouble("low_freq_factor"),
            llama3 ? s.RequiredDouble("high_freq_factor") : s.OptionalDouble("high_freq_factor"),
            llama3 ? s.RequiredInt("original_max_position_embeddings") : s.OptionalInt("original_max_position_embeddings"));
    }

    /// <summary>transformers' defaults per family for fields real configs sometimes omit.</summary>
    private sealed record FamilyDefaults(int MaxPositionEmbeddings, double RmsNormEps, bool TieWordEmbeddings, string HiddenAct, bool AttentionBias)
    {
        public static FamilyDefaults For(string modelType) => modelType switch
        {
            "gemma2" => new(8192, 1e-6, true, "gelu_pytorch_tanh", false),
            // Qwen2 has no attention_bias field: its q/k/v projections always carry a bias.
            "qwen2" => new(32768, 1e-6, false, "silu", true),
            _ => new(2048, 1e-6, false, "silu", false),
        };
    }

    /// <summary>Typed access to one JSON object's fields with errors that name the field and file.</summary>
    private readonly struct Fields(JsonElement root, string sourceName, string prefix = "")
    {
        public JsonElement Root => root;
        public string SourceName => sourceName;

        public ModelFormatException Error(string field, string problem) => new(sourceName, field, problem);

        private JsonElement? Get(string name) =>
            root.TryGetProperty(name, out var e) && e.ValueKind != JsonValueKind.Null ? e : null;

        public string RequiredString(string name) => OptionalString(name) ?? throw Error(prefix + name, "required field is missing");

        public string? OptionalString(string name)
        {
            if (Get(name) is not { } e)
                return null;
            return e.ValueKind == JsonValueKind.String ? e.GetString() : throw Error(prefix + name, $"must be a string, found {e.ValueKind}");
        }

        public int RequiredInt(string name) => OptionalInt(name) ?? throw Error(prefix + name, "required field is missing");

        /// <summary>A positive (or, with <paramref name="allowZero"/>, non-negative) integer; 4096.0 counts as 4096.</summary>
        public int? OptionalInt(string name, bool allowZero = false)
        {
            if (Get(name) is not { } e)
                return null;
            return ToInt(e, prefix + name, allowZero);
        }

        private int ToInt(JsonElement e, string field, bool allowZero)
        {
            long v;
            if (e.ValueKind != JsonValueKind.Number)
                throw Error(field, $"must be an integer, found {e.ValueKind}");
            if (!e.TryGetInt64(out v))
            {
                if (!e.TryGetDouble(out double d) || d != Math.Floor(d) || Math.Abs(d) > int.MaxValue)
                    throw Error(field, $"{e.GetRawText()} is not an integer in range");
                v = (long)d;
            }
            if (v > int.MaxValue || v < (allowZero ? 0 : 1))
                throw Error(field, $"{v} is out of range (must be {(allowZero ? "0" : "1")} to {int.MaxValue})");
            return (int)v;
        }

        public double RequiredDouble(string name) => OptionalDouble(name) ?? throw Error(prefix + name, "required field is missing");

        public double? OptionalDouble(string name)
        {
            if (Get(name) is not { } e)
                return null;
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetDouble(out double d) || !double.IsFinite(d))
                throw Error(prefix + name, $"must be a finite number, found {e.GetRawText()}");
            return d;
        }

        public bool? OptionalBool(string name)
        {
            if (Get(name) is not { } e)
                return null;
            return e.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Error(prefix + name, $"must be true or false, found {e.ValueKind}"),
            };
        }

        public IReadOnlyList<string> OptionalStringArray(string name)
        {
            if (Get(name) is not { } e)
                return [];
            if (e.ValueKind != JsonValueKind.Array)
                throw Error(prefix + name, $"must be an array of strings, found {e.ValueKind}");
            var list = new List<string>();
            foreach (var x in e.EnumerateArray())
                list.Add(x.ValueKind == JsonValueKind.String ? x.GetString()! : throw Error(prefix + name, $"must be an array of strings, found {x.ValueKind} inside"));
            return list;
        }

        public IReadOnlyList<int> OptionalIntOrIntArray(string name)
        {
            if (Get(name) is not { } e)
                return [];
            if (e.ValueKind != JsonValueKind.Array)
                return [ToInt(e, prefix + name, allowZero: true)];
            var list = new List<int>();
            foreach (var x in e.EnumerateArray())
                list.Add(ToInt(x, prefix + name, allowZero: true));
            return list;
        }
    }
}
