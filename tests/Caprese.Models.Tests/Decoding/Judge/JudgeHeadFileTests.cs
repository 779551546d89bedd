using Caprese.Interop;
using Caprese.Models.Adapters;
using Caprese.Models.Decoding.Judge;
using Caprese.Models.Formats.Safetensors;
using Caprese.Models.Loading;
using Caprese.Models.Tests.Support;

namespace Caprese.Models.Tests.Decoding.Judge;

public sealed class JudgeHeadFileTests
{
    private const int FuzzSeed = 4242;
    private const int FuzzIterations = 2000;

    private static readonly ModelFingerprint Base = Fingerprint('a', 'b', DType.F32, [0.5f, -1.25f, 3f]);

    [Fact]
    public void SaveAndLoadRoundTripExactly()
    {
        using var dir = new TempDirectory();
        string path = dir.File("judge.safetensors");
        var rng = new Random(3);
        // Values with full mantissas, a subnormal and extremes: f32 storage must keep every bit.
        float[] weights = [.. Enumerable.Range(0, 61).Select(_ => (float)(rng.NextDouble() * 2 - 1) * 1e3f), 1e-42f, float.MaxValue, -float.Epsilon];
        var head = new JudgeHead(weights, -0.123456789f);
        var training = new Dictionary<string, string> { ["epochs"] = "100", ["data"] = "gsm8k triples", ["positive_weight"] = "auto" };

        JudgeHeadFile.Save(path, head, Base, training);
        var content = JudgeHeadFile.Load(path, Base, expectedDim: 64);

        Assert.Equal(weights, content.Head.Weights.ToArray());
        Assert.Equal(head.Bias, content.Head.Bias);
        Assert.Equal(training, content.TrainingMetadata);
        Assert.Equal(JudgeHeadFile.FormatVersion, content.FormatVersion);
        Assert.Equal(Base.ToString(), content.BaseModel.ToString());
        Assert.Single(Directory.GetFiles(dir.Path)); // no temporary file left behind

        using var file = SafetensorsFile.Open(path);
        Assert.Equal([JudgeHeadFile.WeightName, JudgeHeadFile.BiasName], file.Tensors.Select(t => t.Name));
        Assert.All(file.Tensors, t => Assert.Equal(SafetensorsDType.F32, t.DType));
        Assert.Equal([64L], file.GetTensor(JudgeHeadFile.WeightName).Shape);
        Assert.Equal([1L], file.GetTensor(JudgeHeadFile.BiasName).Shape);
        Assert.Equal(JudgeHeadFile.FormatName, file.Metadata["caprese.format"]);
        Assert.Equal(Base.ToString(), file.Metadata["caprese.base_model"]);

        // Saving again replaces the file in place.
        JudgeHeadFile.Save(path, new JudgeHead([1f], 2f), Base);
        var replaced = JudgeHeadFile.Load(path);
        Assert.Equal(1, replaced.Head.Dim);
        Assert.Empty(replaced.TrainingMetadata);
        Assert.Single(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void LoadingForAnotherModelNamesTheFileAndBothModels()
    {
        using var dir = new TempDirectory();
        string path = dir.File("judge.safetensors");
        JudgeHeadFile.Save(path, new JudgeHead([1f, 2f, 3f], 0f), Base);

        var otherWeights = Fingerprint('a', 'c', DType.F32, [0.5f, -1.25f, 3f]);
        var e = Assert.Throws<JudgeHeadMismatchException>(() => JudgeHeadFile.Load(path, otherWeights));
        Assert.Equal(path, e.FilePath);
        Assert.Contains(path, e.Message);
        Assert.Contains("another base model", e.Message);
        Assert.Contains(new string('b', 12), e.Message); // the file's model
        Assert.Contains(new string('c', 12), e.Message); // the expected model
        Assert.Contains("different weights", e.Message);

        var otherArchitecture = Fingerprint('d', 'b', DType.F32, [0.5f, -1.25f, 3f]);
        Assert.Contains("architecture", Assert.Throws<JudgeHeadMismatchException>(() => JudgeHeadFile.Load(path, otherArchitecture)).Message);

        // The same model loaded in another dtype is recognised by its samples; a different one is not.
        Assert.Equal(3, JudgeHeadFile.Load(path, Fingerprint('a', 'e', DType.BF16, [0.5f, -1.25f, 3.001f])).Head.Dim);
        Assert.Throws<JudgeHeadMismatchException>(() => JudgeHeadFile.Load(path, Fingerprint('a', 'e', DType.BF16, [0.5f, -1.25f, 4f])));

        var dim = Assert.Throws<JudgeHeadMismatchException>(() => JudgeHeadFile.Load(path, Base, expectedDim: 4));
        Assert.Contains("3-element", dim.Message);
        Assert.Contains("have 4", dim.Message);
    }

    [Fact]
    public void MalformedFilesNameTheFileAndTheProblem()
    {
        using var dir = new TempDirectory();
        string good = dir.File("good.safetensors");
        JudgeHeadFile.Save(good, new JudgeHead([1f, 2f, 3f, 4f], 0.5f), Base, new Dictionary<string, string> { ["k"] = "v" });

        Expect(dir, good, "format.safetensors", "caprese.format", "not 'caprese-judge-head'", edit: m => m["caprese.format"] = "caprese-adapters");
        Expect(dir, good, "plain.safetensors", "caprese.format", "missing", edit: m => m.Remove("caprese.format"));
        Expect(dir, good, "version.safetensors", "caprese.format_version", "format version 2", edit: m => m["caprese.format_version"] = "2");
        Expect(dir, good, "fp.safetensors", "caprese.base_model", "malformed fingerprint", edit: m => m["caprese.base_model"] = "x");
        Expect(dir, good, "dim.safetensors", "tensor 'judge.weight'", "[4] is not [5]", edit: m => m["caprese.dim"] = "5");
        Expect(dir, good, "dimtext.safetensors", "caprese.dim", "not an integer", edit: m => m["caprese.dim"] = "-4");
        Expect(dir, good, "nobias.safetensors", "tensor 'judge.bias'", "missing", drop: JudgeHeadFile.BiasName);
        Expect(dir, good, "nan.safetensors", "tensor 'judge.weight'", "element 1 is NaN", poison: JudgeHeadFile.WeightName);
        Expect(dir, good, "nanbias.safetensors", "tensor 'judge.bias'", "not finite", poison: JudgeHeadFile.BiasName);
        Expect(dir, good, "extra.safetensors", "tensor 'judge.extra'", "not part of a judge head",
            add: SafetensorsTensorData.FromFloats("judge.extra", [1], [0f]));
        Expect(dir, good, "shape.safetensors", "tensor 'judge.bias'", "[1, 1] is not [1]",
            drop: JudgeHeadFile.BiasName, add: SafetensorsTensorData.FromFloats(JudgeHeadFile.BiasName, [1, 1], [0f]));

        var bytes = File.ReadAllBytes(good);
        string truncated = dir.File("truncated.safetensors");
        File.WriteAllBytes(truncated, bytes[..^3]);
        var e = Assert.Throws<ModelFormatException>(() => JudgeHeadFile.Load(truncated, Base));
        Assert.Equal(truncated, e.FilePath);
        string empty = dir.File("empty.safetensors");
        File.WriteAllBytes(empty, []);
        Assert.Equal(empty, Assert.Throws<ModelFormatException>(() => JudgeHeadFile.Load(empty)).FilePath);
        Assert.Throws<FileNotFoundException>(() => JudgeHeadFile.Load(dir.File("absent.safetensors")));
    }

    [Fact]
    public void SaveRejectsBadTrainingMetadata()
    {
        using var dir = new TempDirectory();
        var head = new JudgeHead([1f], 0f);
        Assert.Throws<ArgumentException>(() => JudgeHeadFile.Save(dir.File("a.safetensors"), head, Base, new Dictionary<string, string> { [""] = "v" }));
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void MutatedFilesLoadOrFailWithADocumentedException()
    {
        using var dir = new TempDirectory();
        string good = dir.File("good.safetensors");
        JudgeHeadFile.Save(good, new JudgeHead([0.5f, -2f, 3f, 1e-3f, 7f, -8f], 0.25f), Base, new Dictionary<string, string> { ["epochs"] = "3" });
        var original = File.ReadAllBytes(good);
        int headerEnd = 8 + (int)BitConverter.ToUInt64(original, 0);
        var rng = new Random(FuzzSeed);
        int loaded = 0, rejected = 0, mismatched = 0;
        for (int i = 0; i < FuzzIterations; i++)
        {
            var (bytes, description) = Mutate(original, headerEnd, rng);
            string name = $"mutation {i}";
            try
            {
                // In memory (as the format fuzz tests do): the reader, not the file system, is under test.
                using var file = SafetensorsFile.FromBytes(bytes, name);
                var content = JudgeHeadFile.Read(file);
                Assert.True(content.Head.Weights.ToArray().All(float.IsFinite) && float.IsFinite(content.Head.Bias));
                if (content.BaseModel.MismatchWith(Base) is not null)
                    mismatched++;
                loaded++;
            }
            catch (ModelFormatException e)
            {
                Assert.Equal(name, e.FilePath);
                rejected++;
            }
            catch (Exception e)
            {
                Assert.Fail($"judge head fuzz seed {FuzzSeed} iteration {i} ({description}) threw {e.GetType().Name}: {e}");
            }
        }
        Assert.True(loaded > 20 && rejected > 500, $"{loaded} loaded ({mismatched} for another model), {rejected} rejected: the mutation mix is off");

        // Through the file system and the fingerprint check: only the two documented exceptions.
        string path = dir.File("fuzz.safetensors");
        for (int i = 0; i < 200; i++)
        {
            var (bytes, description) = Mutate(original, headerEnd, rng);
            File.WriteAllBytes(path, bytes);
            try
            {
                JudgeHeadFile.Load(path, Base);
            }
            catch (ModelFormatException e)
            {
                Assert.Equal(path, e.FilePath);
            }
            catch (JudgeHeadMismatchException e)
            {
                Assert.Equal(path, e.FilePath);
            }
            catch (Exception e)
            {
                Assert.Fail($"judge head file fuzz iteration {i} ({description}) threw {e.GetType().Name}: {e}");
            }
        }
    }

    // A truncation, a duplicated range, or one to four byte edits (half of them in the header).
    private static (byte[] Bytes, string Description) Mutate(byte[] original, int headerEnd, Random rng)
    {
        var bytes = (byte[])original.Clone();
        switch (rng.Next(6))
        {
            case 0:
                int length = rng.Next(bytes.Length);
                return (bytes[..length], $"truncated to {length}");
            case 1:
                int at = rng.Next(bytes.Length), count = rng.Next(1, 16);
                return ([.. bytes[..at], .. bytes[at..Math.Min(bytes.Length, at + count)], .. bytes[at..]], $"{count} bytes at {at} doubled");
            default:
                var edits = new List<string>();
                for (int n = rng.Next(1, 5); n > 0; n--)
                {
                    int pos = rng.Next(2) == 0 ? rng.Next(headerEnd) : rng.Next(bytes.Length);
                    bytes[pos] = rng.Next(3) == 0 ? (byte)rng.Next(256) : (byte)(bytes[pos] ^ (1 << rng.Next(8)));
                    edits.Add($"byte {pos} = {bytes[pos]}");
                }
                return (bytes, string.Join(", ", edits));
        }
    }

    // Rewrites `good` with edited metadata, a dropped, added or NaN tensor, and expects Load to name the file, the item and the problem.
    private static void Expect(TempDirectory dir, string good, string name, string item, string problem,
        Action<Dictionary<string, string>>? edit = null, string? drop = null, string? poison = null, SafetensorsTensorData? add = null)
    {
        string path = dir.File(name);
        using (var file = SafetensorsFile.Open(good))
        {
            var meta = file.Metadata.ToDictionary();
            edit?.Invoke(meta);
            var tensors = file.Tensors.Where(t => t.Name != drop).Select(t =>
            {
                var values = t.DequantizeToF32();
                if (t.Name == poison)
                    values[Math.Min(1, values.Length - 1)] = float.NaN;
                return SafetensorsTensorData.FromFloats(t.Name, t.Shape, values);
            }).ToList();
            if (add is not null)
                tensors.Add(add);
            SafetensorsWriter.Write(path, tensors, meta);
        }
        var e = Assert.Throws<ModelFormatException>(() => JudgeHeadFile.Load(path, Base));
        Assert.Equal(path, e.FilePath);
        Assert.Contains(item, e.Message);
        Assert.Contains(problem, e.Message);
    }

    private static ModelFingerprint Fingerprint(char architecture, char weights, DType dtype, float[] samples) =>
        new(new string(architecture, 64), dtype, new string(weights, 64), samples);
}
