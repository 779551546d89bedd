using Caprese.Interop;

namespace Caprese.Models;

/// <summary>Where and how to load a model. WeightType converts matrices on upload (f16/bf16 halve the memory).</summary>
public sealed record ModelLoadOptions(
    BackendKind Backend = BackendKind.Cpu,
    int Device = 0,
    DType WeightType = DType.F32,
    int NumThreads = 0,
    int MaxBatchRows = 0);
