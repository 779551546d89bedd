using System.Buffers.Binary;
using Caprese.Interop;
using Caprese.Models.Formats.Gguf;
using Caprese.Models.Loading;
using Caprese.Models.Tests.Support;
using Caprese.Models.Transformer;
using Caprese.Models.Weights;

namespace Caprese.Models.Tests.Formats;

/// <summary>
/// GgufWriter and LlamaGgufWriter: files read back by this project's GGUF reader hold the same
/// metadata and tensors (bit-exact for f32/f16/bf16 against an independent encoder, within the
/// quantisation error for q8_0), llama models load and decode like their source, and bad
/// arguments are refused before any file appears.
/// </summary>
public sealed class GgufWriterTests
{
    private static float[] Values(int n, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var v = new float[n];
        for (int i = 0; i < n; i++)
            v[i] = scale * (float)(rng.NextDouble() * 2 - 1) * (i % 7 == 0 ? 10f : 1f); // some outliers per block
        return v;
    }

    private static KeyValuePair<string, GgufMetadataValue> Kv(string key, GgufMetadataValue v) => new(key, v);

    [Theory]
    [InlineData(32u)]
    [InlineData(64u)]
    public void MetadataAndFloatTensorsRoundTripBitExact(uint alignment)
    {
        var a = Values(5 * 48, 1);
        var b = Values(3 * 4 * 10, 2);
        var c = Values(7, 3);
        var d = Values(64 * 3, 4);
        using var dir = new TempDirectory();
        var path = dir.File("m.gguf");
        GgufWriter.Write(path,
        [
            Kv("general.architecture", GgufMetadataValue.String("llama")),
            Kv("u32", GgufMetadataValue.UInt32(4_000_000_000)),
            Kv("i32", GgufMetadataValue.Int32(-5)),
            Kv("u64", GgufMetadataValue.UInt64(1UL << 40)),
            Kv("f32", GgufMetadataValue.Float32(1e-5f)),
            Kv("flag", GgufMetadataValue.Bool(true)),
            Kv("names", GgufMetadataValue.Strings(["<unk>", "\u2581h\u00e9", ""])),
            Kv("scores", GgufMetadataValue.Float32s([0f, -1.5f])),
            Kv("types", GgufMetadataValue.Int32s([2, 3, 6])),
        ],
        [
            GgufTensorData.FromFloats("a", [5, 48], GgmlType.F32, a),
            GgufTensorData.FromFloats("b", [3, 4, 10], GgmlType.F16, b),
            GgufTensorData.FromFloats("c", [7], GgmlType.F32, c),
            GgufTensorData.FromFloats("d", [3, 64], GgmlType.BF16, d),
        ], alignment);

        using var gguf = GgufFile.Open(path);
        Assert.Equal(3u, gguf.Version);
        Assert.Equal(alignment, gguf.Alignment);
        Assert.Equal(alignment != 32, gguf.Contains("general.alignment"));
        Assert.Equal("llama", gguf.Architecture);
        Assert.Equal(4_000_000_000u, gguf.GetValue("u32").GetUInt32());
        Assert.Equal(-5, gguf.GetValue("i32").GetInt32());
        Assert.Equal(1UL << 40, gguf.GetValue("u64").GetUInt64());
        Assert.Equal(1e-5f, gguf.GetValue("f32").GetFloat32());
        Assert.True(gguf.GetValue("flag").GetBool());
        Assert.Equal(["<unk>", "\u2581h\u00e9", ""], gguf.GetValue("names").GetArray<string>());
        Assert.Equal([0f, -1.5f], gguf.GetValue("scores").GetArray<float>());
        Assert.Equal([2, 3, 6], gguf.GetValue("types").GetArray<int>());
        Assert.Equal(["general.architecture", "u32", "i32", "u64", "f32", "flag", "names", "scores", "types"], gguf.MetadataKeys.Take(9));

        Assert.Equal(["a", "b", "c", "d"], gguf.Tensors.Select(t => t.Name));
        Assert.All(gguf.Tensors, t => Assert.Equal(0, t.RelativeOffset % alignment));
        Assert.Equal(gguf.FileLength, gguf.Tensors.Max(t => t.FileOffset + t.ByteLength)); // no trailing bytes

        var ta = gguf.GetTensor("a");
        Assert.Equal([48L, 5], ta.Dimensions); // innermost first
        Assert.Equal([5L, 48], ta.Shape);
        Assert.Equal(GgmlType.F32, ta.Type);
        Assert.Equal(GgufModelWriter.Encode(a, GgufModelWriter.F32), ta.Data.ToArray());

        var tb = gguf.GetTensor("b");
        Assert.Equal([10L, 4, 3], tb.Dimensions);
        Assert.Equal(GgmlType.F16, tb.Type);
        Assert.Equal(GgufModelWriter.Encode(b, GgufModelWriter.F16), tb.Data.ToArray());

        Assert.Equal(GgufModelWriter.Encode(c, GgufModelWriter.F32), gguf.GetTensor("c").Data.ToArray());

        // bf16 by hand: round to nearest even on the upper 16 bits.
        var td = gguf.GetTensor("d");
        Assert.Equal(GgmlType.BF16, td.Type);
        var expected = new byte[d.Length * 2];
        for (int i = 0; i < d.Length; i++)
        {
            uint bits = BitConverter.SingleToUInt32Bits(d[i]);
            uint rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16;
            BinaryPrimitives.WriteUInt16LittleEndian(expected.AsSpan(2 * i), (ushort)rounded);
        }
        Assert.Equal(expected, td.Data.ToArray());
    }

    [Fact]
    public void Q8_0StaysWithinHalfAStepOfAnIndependentQuantiser()
    {
        var v = Values(4 * 96, 7, scale: 0.05f);
        v.AsSpan(32, 32).Clear(); // an all-zero block: scale 0, values 0
        using var dir = new TempDirectory();
        var path = dir.File("q.gguf");
        GgufWriter.Write(path, [], [GgufTensorData.FromFloats("w", [4, 96], GgmlType.Q8_0, v)]);

        using var gguf = GgufFile.Open(path);
        var t = gguf.GetTensor("w");
        Assert.Equal(GgmlType.Q8_0, t.Type);
        Assert.Equal(v.Length / 32 * 34, t.ByteLength);
        var bytes = t.Data.ToArray();
        var independent = GgufModelWriter.Encode(v, GgufModelWriter.Q8_0);
        var decoded = t.DequantizeToF32();
        for (int blk = 0; blk < v.Length / 32; blk++)
        {
            float amax = v.AsSpan(blk * 32, 32).ToArray().Max(Math.Abs);
            float scale = (float)BitConverter.ToHalf(bytes, blk * 34);
            Assert.Equal(BitConverter.ToHalf(independent, blk * 34), BitConverter.ToHalf(bytes, blk * 34)); // same f16 scale
            for (int j = 0; j < 32; j++)
            {
                int i = blk * 32 + j;
                // The quotient may round differently from x / f16(d) at a half step: one step at most.
                Assert.InRange((sbyte)bytes[blk * 34 + 2 + j] - (sbyte)independent[blk * 34 + 2 + j], -1, 1);
                // Half a step, plus what rounding the scale to f16 moves 127 steps by.
                Assert.InRange(Math.Abs(decoded[i] - v[i]), 0, 0.5f * amax / 127f + 127 * Math.Abs(scale - amax / 127f) + 1e-9f);
            }
        }
        Assert.All(decoded[32..64], x => Assert.Equal(0f, x));
    }

    public static TheoryData<string> BadTensorCases => ["empty name", "duplicate", "zero dim", "five dims", "no dims", "q8 row", "q4 type"];

    [Theory]
    [MemberData(nameof(BadTensorCases))]
    public void BadTensorsAreRefusedAndNoFileAppears(string bad)
    {
        GgufTensorData T(string name, long[] shape, GgmlType type = GgmlType.F32) =>
            new(name, shape, type, (_, dst) => dst.Clear());
        GgufTensorData[] tensors = bad switch
        {
            "empty name" => [T("", [4])],
            "duplicate" => [T("x", [4]), T("x", [8])],
            "zero dim" => [T("x", [0, 4])],
            "five dims" => [T("x", [1, 1, 1, 1, 4])],
            "no dims" => [T("x", [])],
            "q8 row" => [T("x", [2, 48], GgmlType.Q8_0)],
            "q4 type" => [T("x", [2, 32], GgmlType.Q4_0)],
            _ => throw new ArgumentOutOfRangeException(nameof(bad)),
        };
        using var dir = new TempDirectory();
        var path = dir.File("bad.gguf");
        var ex = Assert.Throws<ArgumentException>(() => GgufWriter.Write(path, [], tensors));
        Assert.Contains("tensor", ex.Message);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void BadMetadataAndAlignmentAreRefused()
    {
        using var dir = new TempDirectory();
        var path = dir.File("bad.gguf");
        Assert.Throws<ArgumentException>(() => GgufWriter.Write(path, [Kv("k", GgufMetadataValue.Bool(true)), Kv("k", GgufMetadataValue.Bool(false))], []));
        Assert.Throws<ArgumentException>(() => GgufWriter.Write(path, [Kv("", GgufMetadataValue.Bool(true))], []));
        Assert.Throws<ArgumentException>(() => GgufWriter.Write(path, [Kv("general.alignment", GgufMetadataValue.UInt32(64))], []));
        Assert.Throws<ArgumentOutOfRangeException>(() => GgufWriter.Write(path, [], [], alignment: 48));
        Assert.Throws<ArgumentNullException>(() => GgufMetadataValue.String(null!));
        Assert.Throws<ArgumentException>(() => GgufMetadataValue.Strings(["a", null!]));
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void AFailingReaderLeavesNoTemporaryAndKeepsTheOldFile()
    {
        using var dir = new TempDirectory();
        var path = dir.File("m.gguf");
        File.WriteAllText(path, "old");
        var failing = new GgufTensorData("x", [4], GgmlType.F32, (_, _) => throw new IOException("source gone"));
        Assert.Throws<IOException>(() => GgufWriter.Write(path, [], [failing]));
        Assert.Equal("old", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(dir.Path));
    }

    private static ModelConfig TinyLlama => ModelPresets.Tiny(ModelFamily.Llama) with
    {
        RopeScaling = null,
        RopeStyle = RopeStyle.Interleaved,
        HiddenDim = 64,
        Vocab = 300,
        TiedEmbeddings = false,
    };

    [Theory]
    [InlineData(GgmlType.F32)]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.Q8_0)]
    public void LlamaModelReadsBackWithItsConfigWeightsAndTokenizer(GgmlType type)
    {
        var config = TinyLlama;
        var source = new SyntheticWeightSource(config, seed: 5);
        using var dir = new TempDirectory();
        var path = dir.File("tiny.gguf");
        LlamaGgufWriter.Write(path, config, source, GgufVocabulary.Placeholder(config.Vocab), type, "tiny");

        using var gguf = GgufFile.Open(path);
        Assert.Equal(3u, gguf.Version);
        Assert.Equal("tiny", gguf.GetValue("general.name").GetString());
        var read = GgufModelReader.ReadConfig(gguf);
        Assert.Equal(config with { RopeFrequencyFactors = null }, read with { RopeFrequencyFactors = null });

        var fromFile = GgufModelReader.Weights(gguf);
        foreach (var spec in WeightLayout.Required(config))
        {
            var expected = new float[spec.ElementCount];
            source.Find(spec.Id)!.Read(0, expected);
            var stored = type == GgmlType.F32 || !spec.Id.IsMatrix ? expected
                : GgufModelWriter.RoundTrip(expected, type == GgmlType.F16 ? GgufModelWriter.F16 : GgufModelWriter.Q8_0);
            var actual = new float[spec.ElementCount];
            fromFile.Find(spec.Id)!.Read(0, actual);
            Assert.Equal(spec.Id.IsMatrix ? type : GgmlType.F32, gguf.GetTensor(GgufWeightNames.Of(spec.Id)).Type);
            if (type == GgmlType.Q8_0 && spec.Id.IsMatrix)
                for (int i = 0; i < actual.Length; i++)
                {
                    // One quantisation step of the block apart at most (a half step each side of the value).
                    float step = expected.AsSpan(i / 32 * 32, 32).ToArray().Max(Math.Abs) / 127f;
                    Assert.True(Math.Abs(actual[i] - stored[i]) <= 1.1f * step, $"{spec.Id} [{i}]");
                }
            else
                Assert.Equal(stored, actual);
        }

        var tokenizer = GgufModelReader.Tokenizer(gguf)!;
        Assert.Equal(config.Vocab, tokenizer.VocabSize);
        var ids = tokenizer.Encode("hi\n");
        Assert.Equal(1, ids[0]); // BOS
        Assert.Equal("hi\n", tokenizer.Decode(ids));
    }

    [Fact]
    public void LlamaModelFileDecodesLikeItsSourceWeights()
    {
        var config = TinyLlama;
        using var dir = new TempDirectory();
        var path = dir.File("tiny.gguf");
        LlamaGgufWriter.Write(path, config, new SyntheticWeightSource(config, seed: 6), GgufVocabulary.Placeholder(config.Vocab));

        using var fromFile = ModelLoader.Load(path, new ModelLoadOptions(BackendKind.Cpu, NumThreads: 1), TestContext.Current.CancellationToken);
        using var inMemory = SyntheticModel.Create(config, seed: 6, options: new ModelLoadOptions(BackendKind.Cpu, NumThreads: 1), cancellationToken: TestContext.Current.CancellationToken);
        int[] prompt = [1, 40, 41, 290];
        int a = fromFile.Model.PrefillArgmax(prompt, 0), b = inMemory.Model.PrefillArgmax(prompt, 0);
        Assert.Equal(b, a);
        for (int i = 0; i < 8; i++)
        {
            a = fromFile.Model.DecodeStepArgmax(a, prompt.Length + i);
            b = inMemory.Model.DecodeStepArgmax(b, prompt.Length + i);
            Assert.Equal(b, a);
        }
    }

    [Fact]
    public void StoriesRewrittenAsV3ReproducesTheGreedyReference()
    {
        using var dir = new TempDirectory();
        var path = dir.File("stories260K-v3.gguf");
        using (var v1 = GgufFile.Open(SharedFiles.Gguf))
        {
            var config = GgufModelReader.ReadConfig(v1);
            LlamaGgufWriter.Write(path, config, GgufModelReader.Weights(v1), GgufVocabulary.FromFile(v1), GgmlType.F32, "stories260K");
        }
        using (var v3 = GgufFile.Open(path))
            Assert.Equal(3u, v3.Version);

        using var model = StoriesModel.LoadStories(path: path);
        var prompt = model.Tokenizer.Encode(SharedFiles.ReferencePrompt);
        Assert.Equal(SharedFiles.ReferencePromptIds(), prompt);
        var reference = SharedFiles.ReferenceGeneratedIds();
        var generated = new List<int> { model.Model.PrefillArgmax(prompt, 0) };
        while (generated.Count < reference.Length)
            generated.Add(model.Model.DecodeStepArgmax(generated[^1], prompt.Length + generated.Count - 1));
        Assert.Equal(reference, generated);
    }

    [Fact]
    public void LlamaWriterRefusesWhatGgufLlamaCannotHold()
    {
        using var dir = new TempDirectory();
        var path = dir.File("x.gguf");
        var config = TinyLlama;
        var source = new SyntheticWeightSource(config, 1);
        var vocab = GgufVocabulary.Placeholder(config.Vocab);
        Assert.Throws<ArgumentException>(() => LlamaGgufWriter.Write(path, config with { RopeStyle = RopeStyle.HalfSplit }, source, vocab));
        Assert.Throws<ArgumentException>(() => LlamaGgufWriter.Write(path, config, source, GgufVocabulary.Placeholder(config.Vocab + 1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => LlamaGgufWriter.Write(path, config, source, vocab, GgmlType.Q4_0));
        Assert.Throws<ArgumentOutOfRangeException>(() => GgufVocabulary.Placeholder(100));
        var qwen = ModelPresets.Tiny(ModelFamily.Qwen2) with { Vocab = 300 };
        Assert.Throws<ArgumentException>(() => LlamaGgufWriter.Write(path, qwen, new SyntheticWeightSource(qwen, 1), vocab));
        Assert.Empty(Directory.GetFiles(dir.Path));
    }
}
