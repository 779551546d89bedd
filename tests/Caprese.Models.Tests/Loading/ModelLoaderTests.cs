using Caprese.Interop;
using Caprese.Models.Loading;
using Caprese.Models.Tests.Support;

namespace Caprese.Models.Tests.Loading;

public sealed class ModelLoaderTests
{
    [Fact]
    public async Task LoadsAsyncWithProgressAndFindsTheTokenizer()
    {
        var reports = new List<float>();
        var progress = new SynchronousProgress<float>(reports.Add);
        using var loaded = await ModelLoader.LoadAsync(SharedFiles.Checkpoint, new ModelLoadOptions(), TestContext.Current.CancellationToken, progress);
        Assert.Equal(BackendKind.Cpu, loaded.Backend);
        Assert.Equal(SharedFiles.Tokenizer, loaded.TokenizerPath);
        Assert.Equal(64, loaded.Config.Dim);
        Assert.NotEmpty(reports);
        Assert.Equal(1f, reports[^1]);
        Assert.True(reports.SequenceEqual(reports.Order()), "progress must not go backwards");
    }

    [Fact]
    public void MissingTokenizerIsAFileNotFound()
    {
        using var dir = new TempDirectory();
        var model = dir.File("stories260K.bin");
        File.Copy(SharedFiles.Checkpoint, model);
        Assert.Throws<FileNotFoundException>(() => ModelLoader.Load(model, null, TestContext.Current.CancellationToken));
    }

    [Fact]
    public void MissingModelIsAFileNotFound()
    {
        using var dir = new TempDirectory();
        Assert.Throws<FileNotFoundException>(() => ModelLoader.Load(dir.File("nope.bin"), null, TestContext.Current.CancellationToken));
    }

    [Fact]
    public void TokenizerNamedTokenizerBinIsFound()
    {
        using var dir = new TempDirectory();
        var model = dir.File("m.bin");
        File.Copy(SharedFiles.Checkpoint, model);
        File.Copy(SharedFiles.Tokenizer, dir.File("tokenizer.bin"));
        using var loaded = ModelLoader.Load(model, null, TestContext.Current.CancellationToken);
        Assert.Equal(dir.File("tokenizer.bin"), loaded.TokenizerPath);
    }

    [Fact]
    public void CorruptModelThroughTheLoaderNamesTheFile()
    {
        using var dir = new TempDirectory();
        var model = dir.File("m.bin");
        File.WriteAllBytes(model, File.ReadAllBytes(SharedFiles.Checkpoint)[..1000]);
        File.Copy(SharedFiles.Tokenizer, dir.File("tok512.bin"));
        var ex = Assert.Throws<ModelFormatException>(() => ModelLoader.Load(model, null, TestContext.Current.CancellationToken));
        Assert.Equal(model, ex.FilePath);
    }

    [Fact]
    public void UnavailableBackendThrowsWithoutFallingBack()
    {
        Assert.SkipWhen(CapreseLibrary.IsBackendAvailable(BackendKind.Cuda, out _), "CUDA is available here");
        var ex = Assert.Throws<CapreseBackendUnavailableException>(
            () => ModelLoader.Load(SharedFiles.Checkpoint, new ModelLoadOptions(BackendKind.Cuda), TestContext.Current.CancellationToken));
        Assert.False(string.IsNullOrWhiteSpace(ex.Message));
    }
}
