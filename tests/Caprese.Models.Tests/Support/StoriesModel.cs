using Caprese.Interop;

namespace Caprese.Models.Tests.Support;

/// <summary>Loads stories260K from the shared folder onto a backend; skips the test when the backend is missing.</summary>
internal static class StoriesModel
{
    public static LoadedModel LoadStories(BackendKind backend = BackendKind.Cpu, DType weights = DType.F32, int maxBatchRows = 0, string? path = null)
    {
        if (backend != BackendKind.Cpu)
            Assert.SkipUnless(CapreseLibrary.IsBackendAvailable(backend, out string reason), $"{backend} backend unavailable: {reason}");
        return ModelLoader.Load(path ?? SharedFiles.Checkpoint, new ModelLoadOptions(backend, WeightType: weights, MaxBatchRows: maxBatchRows), TestContext.Current.CancellationToken);
    }

    /// <summary>The same model from its GGUF file (embedded tokenizer).</summary>
    public static LoadedModel LoadStoriesGguf(BackendKind backend = BackendKind.Cpu) => LoadStories(backend, path: SharedFiles.Gguf);
}
