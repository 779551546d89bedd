using Caprese.Interop;

namespace Caprese.Models;

/// <summary>
/// Where and how to load a model. WeightType converts matrices on upload (f16/bf16 halve the memory).
/// ContextLength sizes the KV cache: 0 = the model's context, capped at <see cref="DefaultMaxContext"/>
/// (a 128K-token f32 cache of an 8B model would need 32 GiB).
/// </summary>
public sealed record ModelLoadOptions(
    BackendKind Backend = BackendKind.Cpu,
    int Device = 0,
    DType WeightType = DType.F32,
    int NumThreads = 0,
    int MaxBatchRows = 0,
    int ContextLength = 0)
{
    public const int DefaultMaxContext = 4096;

    /// <summary>The KV-cache positions to allocate for a model trained on <paramref name="modelContext"/> positions.</summary>
    public int ContextFor(int modelContext) =>
        ContextLength > 0 ? ContextLength : Math.Min(modelContext, DefaultMaxContext);
}
