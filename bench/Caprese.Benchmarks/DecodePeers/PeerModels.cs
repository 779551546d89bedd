using Caprese.Benchmarks.Peers;
using Caprese.Interop;
using Caprese.Models.Formats.Gguf;
using Caprese.Models.Loading;
using Caprese.Models.Transformer;
using Caprese.Models.Weights;

namespace Caprese.Benchmarks.DecodePeers;

/// <summary>A model shape the peer benchmark decodes: its config and where its weights come from.</summary>
public sealed record PeerShape(string Name, string Description, ModelConfig Config, bool RandomWeights);

/// <summary>The files of one shape: a GGUF v3 per dtype and the llama2.c checkpoint of the f32 weights (for run.c).</summary>
public sealed record PeerModelFiles(PeerShape Shape, IReadOnlyDictionary<string, string> GgufByDType, string Llama2c, string Llama2cTokenizer);

/// <summary>
/// The shapes of issue 13's table and their files, written once into a cache folder (several GB for
/// 1.1B; never into the repository) and reused while their size and the writer version match.
/// Random weights come from <see cref="SyntheticWeightSource"/> (seeded, variance 1/fan_in), so the
/// GGUF files of every dtype and the llama2.c file hold the same values up to the dtype's rounding.
/// </summary>
public static class PeerModels
{
    public const int Seed = 1234;

    /// <summary>Bump when the files' content changes, so stale caches are rewritten.</summary>
    private const int FileVersion = 1;

    public static readonly IReadOnlyList<string> ShapeNames = ["stories260K", "110M", "1.1B"];

    public static readonly IReadOnlyDictionary<string, GgmlType> DTypes = new Dictionary<string, GgmlType>
    {
        ["f32"] = GgmlType.F32, ["f16"] = GgmlType.F16, ["bf16"] = GgmlType.BF16, ["q8_0"] = GgmlType.Q8_0,
    };

    public static PeerShape Shape(string name) => name switch
    {
        "stories260K" => new(name, "the shipped stories260K weights (dim 64, 5 layers, cache-resident)", StoriesConfig(), RandomWeights: false),
        // llama2.c's stories110M shape: tied classifier, as the original checkpoint.
        "110M" => new(name, "random weights, dim 768, 12 layers, 12 heads, hidden 2048, vocab 32000, tied classifier", new ModelConfig
        {
            Family = ModelFamily.Llama, Dim = 768, HiddenDim = 2048, Layers = 12, Heads = 12, KvHeads = 12, HeadDim = 64,
            Vocab = 32000, MaxSeqLen = 1024, NormEps = 1e-5f, RopeTheta = 10000f, RopeStyle = RopeStyle.Interleaved, TiedEmbeddings = true,
        }, RandomWeights: true),
        "1.1B" => new(name, "random weights, TinyLlama-1.1B shape: dim 2048, 22 layers, 32 heads / 4 KV heads, hidden 5632, vocab 32000",
            ModelPresets.TinyLlama11B with { RopeStyle = RopeStyle.Interleaved }, RandomWeights: true),
        _ => throw new ArgumentException($"unknown shape '{name}' (known: {string.Join(", ", ShapeNames)})"),
    };

    /// <summary>Writes whatever of the shape's files is missing; progress on stderr.</summary>
    public static PeerModelFiles Prepare(PeerShape shape, IReadOnlyList<string> dtypes, string cacheDir, bool withLlama2c)
    {
        var dir = Path.Combine(Path.GetFullPath(cacheDir), $"{shape.Name}-v{FileVersion}-s{Seed}");
        Directory.CreateDirectory(dir);
        var ggufs = new Dictionary<string, string>();
        foreach (var dtype in dtypes)
        {
            var type = DTypes[dtype];
            var path = Path.Combine(dir, $"model-{dtype}.gguf");
            long expected = ExpectedGgufDataBytes(shape.Config, type);
            if (!File.Exists(path) || !HoldsExpectedData(path, expected))
            {
                Console.Error.WriteLine($"[decode-peers] writing {path} ({expected / 1e6:F0} MB of tensors)");
                using var source = OpenSource(shape);
                LlamaGgufWriter.Write(path, shape.Config, source.Weights, source.Vocabulary, type, $"caprese-peers-{shape.Name}");
            }
            ggufs[dtype] = path;
        }

        string llama2c, tokenizer;
        if (!shape.RandomWeights)
        {
            // The shipped llama2.c checkpoint of the same weights, and its tokenizer.
            llama2c = Path.Combine(StoriesDirectory(), "stories260K.bin");
            tokenizer = Path.Combine(StoriesDirectory(), "tok512.bin");
        }
        else
        {
            llama2c = Path.Combine(dir, "model.bin");
            tokenizer = Path.Combine(dir, "tokenizer.bin");
            var c = shape.Config;
            long expected = 28 + 4 * (WeightLayout.Required(c).Sum(s => s.ElementCount) + (long)c.MaxSeqLen * c.HeadDim);
            if (withLlama2c && (!File.Exists(llama2c) || new FileInfo(llama2c).Length != expected || !File.Exists(tokenizer)))
            {
                Console.Error.WriteLine($"[decode-peers] writing {llama2c} ({expected / 1e6:F0} MB)");
                Llama2cFiles.Write(llama2c, c, new SyntheticWeightSource(c, Seed));
            }
        }
        return new PeerModelFiles(shape, ggufs, llama2c, tokenizer);
    }

    private static ModelConfig StoriesConfig()
    {
        using var gguf = GgufFile.Open(Path.Combine(StoriesDirectory(), "stories260K.gguf"));
        return GgufModelReader.ReadConfig(gguf);
    }

    /// <summary>shared/models/stories260K beside the repository (the shipped GGUF is v1, which llama.cpp refuses).</summary>
    private static string StoriesDirectory()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "..", "shared", "models", "stories260K");
            if (File.Exists(Path.Combine(candidate, "stories260K.gguf")))
                return Path.GetFullPath(candidate);
        }
        throw new FileNotFoundException($"shared/models/stories260K not found beside the repository above {AppContext.BaseDirectory}");
    }

    private sealed class Source(IWeightSource weights, GgufVocabulary vocabulary, IDisposable? owner) : IDisposable
    {
        public IWeightSource Weights => weights;
        public GgufVocabulary Vocabulary => vocabulary;
        public void Dispose() => owner?.Dispose();
    }

    private static Source OpenSource(PeerShape shape)
    {
        if (shape.RandomWeights)
            return new Source(new SyntheticWeightSource(shape.Config, Seed), GgufVocabulary.Placeholder(shape.Config.Vocab), null);
        var gguf = GgufFile.Open(Path.Combine(StoriesDirectory(), "stories260K.gguf"));
        return new Source(GgufModelReader.Weights(gguf), GgufVocabulary.FromFile(gguf), gguf);
    }

    private static long ExpectedGgufDataBytes(ModelConfig c, GgmlType type) =>
        WeightLayout.Required(c).Sum(s => GgufWriter.DataBytes(s.Id.IsMatrix ? type : GgmlType.F32, s.ElementCount));

    // A cached file is reused when it parses and its tensors hold exactly the bytes this shape needs.
    private static bool HoldsExpectedData(string path, long expectedBytes)
    {
        try
        {
            using var gguf = GgufFile.Open(path);
            return gguf.Version == 3 && gguf.Tensors.Sum(t => t.ByteLength) == expectedBytes;
        }
        catch (ModelFormatException)
        {
            return false;
        }
    }
}
