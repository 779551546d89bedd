using Caprese.Interop;
using Caprese.Models.Adapters;
using Caprese.Models.Formats.Safetensors;
using Caprese.Models.Loading;
using Caprese.Models.Sparsity;
using Caprese.Models.Tests.Support;
using Caprese.Models.Transformer;

namespace Caprese.Models.Tests.Adapters;

public sealed class AdapterFileTests
{
    private static readonly ModelConfig Tiny = ModelPresets.Tiny(ModelFamily.Llama);

    [Fact]
    public void SaveAndLoadRoundTripOnStories()
    {
        using var loaded = StoriesModel.LoadStories();
        using var dir = new TempDirectory();
        var sparsity = SparsityOptions.Default(SparsityMethod.Griffin, 0.5, loaded.Config.Layers) with { GriffinReselectEvery = 4 };
        var adapters = TestAdapters.Random(loaded.Config, sparsity, rank: 5, seed: 21);
        var training = new Dictionary<string, string> { ["stage"] = "1", ["lr"] = "0.001", ["corpus"] = "synthetic 64x48" };
        string path = dir.File("stories.adapters.safetensors");

        AdapterFile.Save(path, adapters, new AdapterMetadata(ModelFingerprint.Compute(loaded.Model), training));
        var content = AdapterFile.Load(path, loaded.Model);

        Assert.Equal(AdapterFile.FormatVersion, content.FormatVersion);
        Assert.Equal(sparsity, content.Adapters.Sparsity);
        Assert.Equal(training, content.Metadata.TrainingSettings);
        Assert.Equal(adapters.Rank, content.Adapters.Rank);
        foreach (var a in adapters.Adapters)
        {
            var b = content.Adapters.ForLayer(a.Layer)!;
            Assert.Equal(a.L, b.L);
            Assert.Equal(a.R, b.R);
        }
        Assert.Single(Directory.GetFiles(dir.Path)); // no temporary file left behind

        // The loaded set decodes like the original.
        loaded.Model.SetSparsity(sparsity);
        loaded.Model.SetAdapters(content.Adapters);
        Assert.Same(content.Adapters, loaded.Model.Adapters);
    }

    [Fact]
    public void FingerprintRecognisesTheSameModelInAnotherDTypeAndNothingElse()
    {
        using var f32 = StoriesModel.LoadStories();
        using var bf16 = StoriesModel.LoadStories(weights: DType.BF16);
        using var f16 = StoriesModel.LoadStories(weights: DType.F16);
        using var random = SyntheticModel.Create(f32.Config, seed: 3, cancellationToken: TestContext.Current.CancellationToken);
        using var tiny = SyntheticModel.Create(Tiny, seed: 3, cancellationToken: TestContext.Current.CancellationToken);
        var fp = ModelFingerprint.Compute(f32.Model);

        Assert.Equal(fp.ToString(), ModelFingerprint.Compute(f32.Model).ToString());
        Assert.Equal(fp.ToString(), ModelFingerprint.Parse(fp.ToString()).ToString());
        Assert.Null(fp.MismatchWith(ModelFingerprint.Compute(bf16.Model)));
        Assert.Null(ModelFingerprint.Compute(f16.Model).MismatchWith(ModelFingerprint.Compute(bf16.Model)));
        Assert.NotEqual(fp.WeightsHash, ModelFingerprint.Compute(bf16.Model).WeightsHash);
        Assert.Contains("different weights", fp.MismatchWith(ModelFingerprint.Compute(random.Model)));
        Assert.Contains("architecture", fp.MismatchWith(ModelFingerprint.Compute(tiny.Model)));
        Assert.Throws<FormatException>(() => ModelFingerprint.Parse("caprese-fingerprint-1;arch=00"));
    }

    [Fact]
    public void LoadingOntoAnotherModelFailsClearly()
    {
        using var stories = StoriesModel.LoadStories();
        using var lookalike = SyntheticModel.Create(stories.Config, seed: 5, cancellationToken: TestContext.Current.CancellationToken);
        using var tiny = SyntheticModel.Create(Tiny, seed: 5, cancellationToken: TestContext.Current.CancellationToken);
        using var dir = new TempDirectory();
        string path = dir.File("a.safetensors");
        var sparsity = new SparsityOptions(SparsityMethod.Cats, 0.5);
        AdapterFile.Save(path, TestAdapters.Random(stories.Config, sparsity, 4, 1), new AdapterMetadata(ModelFingerprint.Compute(stories.Model)));

        var other = Assert.Throws<AdapterMismatchException>(() => AdapterFile.Load(path, lookalike.Model));
        Assert.Contains(path, other.Message);
        Assert.Contains("another base model", other.Message);
        var shape = Assert.Throws<AdapterMismatchException>(() => AdapterFile.Load(path, tiny.Model));
        Assert.Contains("dimension", shape.Message);
    }

    [Fact]
    public void MalformedFilesNameTheFileAndTheProblem()
    {
        using var model = SyntheticModel.Create(Tiny, seed: 8, cancellationToken: TestContext.Current.CancellationToken);
        using var dir = new TempDirectory();
        string good = dir.File("good.safetensors");
        var sparsity = new SparsityOptions(SparsityMethod.Griffin, 0.5, 0, 2);
        AdapterFile.Save(good, TestAdapters.Random(Tiny, sparsity, 4, 2), new AdapterMetadata(ModelFingerprint.Compute(model.Model)));

        Expect(dir, good, "missing.safetensors", "tensor 'layers.1.R'", "missing", drop: AdapterFile.RName(1));
        Expect(dir, good, "rank.safetensors", "tensor 'layers.0.L'", "[32, 4] is not [32, 3]", edit: m => m[AdapterFile.KeyRank] = "3");
        Expect(dir, good, "method.safetensors", AdapterFile.KeyMethod, "not Griffin or Cats", edit: m => m[AdapterFile.KeyMethod] = "Teal");
        Expect(dir, good, "version.safetensors", AdapterFile.KeyVersion, "format version 2", edit: m => m[AdapterFile.KeyVersion] = "2");
        Expect(dir, good, "layers.safetensors", "caprese.sparsity", "does not fit", edit: m => m[AdapterFile.KeyModelLayers] = "1");
        Expect(dir, good, "fp.safetensors", AdapterFile.KeyBaseModel, "malformed fingerprint", edit: m => m[AdapterFile.KeyBaseModel] = "x");
        Expect(dir, good, "plain.safetensors", AdapterFile.KeyFormat, "missing", edit: m => m.Remove(AdapterFile.KeyFormat));
        Expect(dir, good, "nan.safetensors", "tensor 'layers.0.R'", "not finite", poison: AdapterFile.RName(0));

        var bytes = File.ReadAllBytes(good);
        string truncated = dir.File("truncated.safetensors");
        File.WriteAllBytes(truncated, bytes[..^7]);
        var e = Assert.Throws<ModelFormatException>(() => AdapterFile.Load(truncated));
        Assert.Equal(truncated, e.FilePath);
        Assert.Throws<FileNotFoundException>(() => AdapterFile.Load(dir.File("absent.safetensors")));
    }

    [Fact]
    public void MutatedFilesLoadOrFailWithAFormatError()
    {
        using var model = SyntheticModel.Create(Tiny, seed: 9, cancellationToken: TestContext.Current.CancellationToken);
        using var dir = new TempDirectory();
        string good = dir.File("good.safetensors");
        var fp = ModelFingerprint.Compute(model.Model);
        var sparsity = new SparsityOptions(SparsityMethod.Cats, 0.3);
        AdapterFile.Save(good, TestAdapters.Random(Tiny, sparsity, 3, 4), new AdapterMetadata(fp, new Dictionary<string, string> { ["k"] = "v" }));
        var original = File.ReadAllBytes(good);
        int headerEnd = 8 + (int)BitConverter.ToUInt64(original, 0);
        var rng = new Random(1234);
        string path = dir.File("fuzz.safetensors");
        int loadedCount = 0, rejected = 0;
        for (int i = 0; i < 400; i++)
        {
            var bytes = Mutate(original, headerEnd, rng);
            File.WriteAllBytes(path, bytes);
            try
            {
                var content = AdapterFile.Load(path, fp, Tiny);
                Assert.All(content.Adapters.Adapters, a => Assert.True(a.L.Concat(a.R).All(float.IsFinite)));
                loadedCount++;
            }
            catch (ModelFormatException e)
            {
                Assert.Equal(path, e.FilePath);
                rejected++;
            }
            catch (AdapterMismatchException e)
            {
                Assert.Equal(path, e.FilePath);
                rejected++;
            }
        }
        Assert.True(loadedCount > 0 && rejected > 0, $"{loadedCount} loaded, {rejected} rejected");
    }

    // One to four byte edits (half of them in the header), a truncation or a doubled range.
    private static byte[] Mutate(byte[] original, int headerEnd, Random rng)
    {
        var bytes = (byte[])original.Clone();
        switch (rng.Next(6))
        {
            case 0:
                return bytes[..rng.Next(bytes.Length)];
            case 1:
                int at = rng.Next(bytes.Length);
                return [.. bytes[..at], .. bytes[at..Math.Min(bytes.Length, at + rng.Next(1, 16))], .. bytes[at..]];
            default:
                for (int n = rng.Next(1, 5); n > 0; n--)
                {
                    int pos = rng.Next(2) == 0 ? rng.Next(headerEnd) : rng.Next(bytes.Length);
                    bytes[pos] = rng.Next(3) == 0 ? (byte)rng.Next(256) : (byte)(bytes[pos] ^ (1 << rng.Next(8)));
                }
                return bytes;
        }
    }

    // Rewrites `good` with edited metadata, a dropped tensor or a NaN, and expects Load to name the file, the item and the problem.
    private static void Expect(TempDirectory dir, string good, string name, string item, string problem,
        Action<Dictionary<string, string>>? edit = null, string? drop = null, string? poison = null)
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
                    values[1] = float.NaN;
                return SafetensorsTensorData.FromFloats(t.Name, t.Shape, values);
            }).ToList();
            SafetensorsWriter.Write(path, tensors, meta);
        }
        var e = Assert.Throws<ModelFormatException>(() => AdapterFile.Load(path));
        Assert.Equal(path, e.FilePath);
        Assert.Contains(item, e.Message);
        Assert.Contains(problem, e.Message);
    }
}
