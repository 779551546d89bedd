using Caprese.Interop;

namespace Caprese.Models.Tests.Support;

/// <summary>
/// Loads stories260K from the shared folder onto a backend. <see cref="BackendKind.Cuda"/> means the CUDA kernels: real CUDA,
/// else the CUDA simulator (<see cref="CudaTestBackend"/>); the test is skipped when neither can be used.
/// </summary>
internal static class StoriesModel
{
    public static LoadedModel LoadStories(BackendKind backend = BackendKind.Cpu, DType weights = DType.F32, int maxBatchRows = 0, string? path = null)
    {
        backend = CudaTestBackend.Resolve(backend);
        return ModelLoader.Load(path ?? SharedFiles.Checkpoint, new ModelLoadOptions(backend, WeightType: weights, MaxBatchRows: maxBatchRows), TestContext.Current.CancellationToken);
    }

    /// <summary>The same model from its GGUF file (embedded tokenizer).</summary>
    public static LoadedModel LoadStoriesGguf(BackendKind backend = BackendKind.Cpu) => LoadStories(backend, path: SharedFiles.Gguf);
}
