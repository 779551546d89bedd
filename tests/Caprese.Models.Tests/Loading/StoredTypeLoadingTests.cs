using Caprese.Interop;
using Caprese.Models.Formats;
using Caprese.Models.Tests.Support;
using Caprese.Models.Transformer;
using Caprese.Models.Weights;

namespace Caprese.Models.Tests.Loading;

/// <summary>
/// Loading in the file's own matrix type: f16/bf16/f32 tensors go to the backend without an f32 round trip, used in
/// place on the CPU (the mapping outlives the loader's handle), and decode exactly as the same values converted to f32.
/// </summary>
public sealed class StoredTypeLoadingTests
{
    private static readonly int[] Prompt = [1, 9, 33, 60, 2, 17, 44, 8];

    private static ModelConfig Config => ModelPresets.Tiny(ModelFamily.Llama) with
    {
        RopeScaling = null, HiddenDim = 64, RopeStyle = RopeStyle.Interleaved,
    };

    private static string WriteGguf(TempDirectory dir, uint matrixType)
    {
        var path = dir.File("model.gguf");
        uint TypeOf(string name) => !name.Contains("norm") && !name.EndsWith(".bias") ? matrixType : GgufModelWriter.F32;
        File.WriteAllBytes(path, GgufModelWriter.Build(Config, SyntheticModel.RandomWeights(Config, seed: 4), TypeOf));
        return path;
    }

    [Fact]
    public void F16FileLoadsAsF16InPlaceAndDecodesAsItsF32Conversion()
    {
        using var dir = new TempDirectory();
        var path = WriteGguf(dir, GgufModelWriter.F16);
        var ct = TestContext.Current.CancellationToken;

        using var stored = ModelLoader.Load(path, new ModelLoadOptions(), ct);
        using var converted = ModelLoader.Load(path, new ModelLoadOptions(WeightType: DType.F32), ct);

        Assert.Equal(DType.F16, stored.Model.Weights.MatrixType);
        // Every tensor is used in place: the f16 matrices and embedding table, and the f32 norms.
        long bytes = WeightLayout.Required(Config).Sum(s => s.ElementCount * (s.Id.IsMatrix ? 2 : 4));
        Assert.Equal(bytes, stored.Model.Weights.InPlaceBytes);
        Assert.Equal(bytes, stored.Model.Weights.Bytes);
        Assert.Equal(NormBytes(Config), converted.Model.Weights.InPlaceBytes); // f32 norms stay in place
        Assert.Equal(DType.F32, converted.Model.Weights.MatrixType);
        // f16 -> f32 is exact and the kernels sum in the same order for both types: identical logits.
        Assert.Equal(converted.Model.Prefill(Prompt, 0), stored.Model.Prefill(Prompt, 0));
    }

    [Fact]
    public void QuantisedFileDefaultsToF16NotF32()
    {
        using var dir = new TempDirectory();
        var path = WriteGguf(dir, GgufModelWriter.Q8_0);
        using var loaded = ModelLoader.Load(path, new ModelLoadOptions(), TestContext.Current.CancellationToken);
        Assert.Equal(DType.F16, loaded.Model.Weights.MatrixType);
        Assert.Equal(NormBytes(Config), loaded.Model.Weights.InPlaceBytes);
    }

    private static long NormBytes(ModelConfig c) => WeightLayout.Required(c).Where(s => !s.Id.IsMatrix).Sum(s => s.ElementCount * 4);

    [Fact]
    public void Llama2cCheckpointIsUsedInPlaceAsF32()
    {
        var ct = TestContext.Current.CancellationToken;
        using var stored = ModelLoader.Load(SharedFiles.Checkpoint, new ModelLoadOptions(), ct);
        using var converted = ModelLoader.Load(SharedFiles.Checkpoint, new ModelLoadOptions(WeightType: DType.BF16), ct);
        Assert.Equal(DType.F32, stored.Model.Weights.MatrixType);
        Assert.Equal(stored.Model.Weights.Bytes, stored.Model.Weights.InPlaceBytes);
        Assert.Equal(WeightLayout.Required(stored.Config).Sum(s => s.ElementCount * 4), stored.Model.Weights.Bytes);
        // The norms stay f32 and in place; the matrices were converted into buffers.
        Assert.Equal(DType.BF16, converted.Model.Weights.MatrixType);
        Assert.Equal(NormBytes(stored.Config), converted.Model.Weights.InPlaceBytes);
    }

    [Fact]
    public void DeviceBackendCopiesStoredBytesAndAgreesWithTheCpu()
    {
        var backend = CudaTestBackend.Resolve(BackendKind.Cuda);
        using var dir = new TempDirectory();
        var path = WriteGguf(dir, GgufModelWriter.F16);
        var ct = TestContext.Current.CancellationToken;
        using var cpu = ModelLoader.Load(path, new ModelLoadOptions(), ct);
        using var device = ModelLoader.Load(path, new ModelLoadOptions(backend), ct);
        Assert.Equal(DType.F16, device.Model.Weights.MatrixType);
        Assert.Equal(0, device.Model.Weights.InPlaceBytes);
        Logits.AssertClose(cpu.Model.Prefill(Prompt, 0), device.Model.Prefill(Prompt, 0), 1e-4f, 1e-4f);
    }

    [Fact]
    public void RetainKeepsTheMappingAfterTheOpenerDisposes()
    {
        using var dir = new TempDirectory();
        var path = dir.File("bytes.bin");
        File.WriteAllBytes(path, [1, 2, 3, 4]);
        var file = MappedFile.Open(path);
        var lease = file.Retain();
        file.Dispose();
        file.Dispose(); // the opener's reference goes once, however often it disposes
        Assert.Equal(3, file.Slice(2, 1)[0]);
        lease.Dispose();
        lease.Dispose();
        Assert.Throws<ObjectDisposedException>(() => file.Slice(0, 1).ToArray());
        Assert.Throws<ObjectDisposedException>(() => file.Retain());
    }
}
