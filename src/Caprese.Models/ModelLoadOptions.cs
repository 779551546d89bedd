using Caprese.Interop;

namespace Caprese.Models;

/// <summary>
/// Where and how to load a model. WeightType is the matrices' storage type: null (the default) keeps the file's
/// f32/f16/bf16 (used in place on the CPU, no copy), f16 for quantised files; f32/f16/bf16 convert on upload.
/// ContextLength sizes the KV cache: 0 = the model's context, capped at <see cref="DefaultMaxContext"/>
/// (a 128K-token f32 cache of an 8B model would need 32 GiB).
/// </summary>
public sealed record ModelLoadOptions(
    BackendKind Backend = BackendKind.Cpu,
    int Device = 0,
    DType? WeightType = null,
    int NumThreads = 0,
    int MaxBatchRows = 0,
    int ContextLength = 0)
{
    public const int DefaultMaxContext = 4096;

    /// <summary>The KV-cache positions to allocate for a model trained on <paramref name="modelContext"/> positions.</summary>
    public int ContextFor(int modelContext) =>
        ContextLength > 0 ? ContextLength : Math.Min(modelContext, DefaultMaxContext);
}
