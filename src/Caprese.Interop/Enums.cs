namespace Caprese.Interop;

/// <summary>Result of a native call; mirrors <c>caprese_status</c>.</summary>
public enum CapreseStatus
{
    /// <summary>Success.</summary>
    Ok = 0,
    /// <summary>A NULL pointer, bad enum value or bad scalar.</summary>
    InvalidArgument = 1,
    /// <summary>Shapes do not fit together.</summary>
    Shape = 2,
    /// <summary>The dtype is not supported for this argument.</summary>
    DType = 3,
    /// <summary>A pointer is not aligned to its element size.</summary>
    Alignment = 4,
    /// <summary>A host or device allocation failed.</summary>
    OutOfMemory = 5,
    /// <summary>The backend was not built, cannot be loaded, or there is no GPU.</summary>
    BackendUnavailable = 6,
    /// <summary>The CUDA runtime or a kernel reported an error.</summary>
    Device = 7,
    /// <summary>An index (token id, position) is out of range.</summary>
    OutOfRange = 8,
    /// <summary>A bug in Caprese.</summary>
    Internal = 9,
    /// <summary>The backend does not offer this feature (CUDA graphs on the CPU backend).</summary>
    NotSupported = 10,
}

/// <summary>Element type of a tensor; mirrors <c>caprese_dtype</c>.</summary>
public enum DType
{
    /// <summary>32-bit float.</summary>
    F32 = 0,
    /// <summary>IEEE 754 half (<see cref="System.Half"/>).</summary>
    F16 = 1,
    /// <summary>bfloat16 (the upper 16 bits of an f32).</summary>
    BF16 = 2,
    /// <summary>32-bit signed integer.</summary>
    I32 = 3,
}

/// <summary>Compute backend; mirrors <c>caprese_backend</c>.</summary>
public enum BackendKind
{
    /// <summary>The CPU backend, always built into libcaprese.</summary>
    Cpu = 0,
    /// <summary>The CUDA backend (plugin libcaprese_cuda.so).</summary>
    Cuda = 1,
    /// <summary>
    /// The CUDA simulator: the CUDA backend's own kernels, compiled with the host compiler and run on the
    /// CPU by the plugin libcaprese_cudasim.so (with its runtime libcaprese_cudasim_rt.so). It behaves like
    /// <see cref="Cuda"/> (device memory, streams, events; see <see cref="BackendKinds.UsesDeviceMemory"/>)
    /// and needs no GPU, but is 100 to 1000 times slower than <see cref="Cpu"/>: for tests and debugging
    /// of the CUDA code path, never for speed (its timings say nothing about a GPU).
    /// </summary>
    CudaSim = 2,
}

/// <summary>Activation of a gated MLP; mirrors <c>caprese_activation</c>.</summary>
public enum Activation
{
    /// <summary>SiLU (Llama, Qwen2).</summary>
    Silu = 0,
    /// <summary>GELU, tanh approximation (Gemma 2).</summary>
    GeluTanh = 1,
}

/// <summary>Which neurons <see cref="CapreseContext.SparseFfn"/> computes (caprese_sparse_selection).</summary>
public enum SparseSelection
{
    /// <summary>Every row given: the dense FFN, or weights already sliced per prompt (GRIFFIN).</summary>
    All = 0,
    /// <summary>Only the rows listed in the index tensor (GRIFFIN, gathered on the fly).</summary>
    Indices = 1,
    /// <summary>CATS: neuron j is active for row m iff |act(x_m · wg_j)| &gt;= threshold.</summary>
    Threshold = 2,
}

/// <summary>Rotary embedding pair layout; mirrors <c>caprese_rope_style</c>.</summary>
public enum RopeStyle
{
    /// <summary>Pairs (x[2i], x[2i+1]): Meta / llama2.c / GGUF layout.</summary>
    Interleaved = 0,
    /// <summary>Pairs (x[i], x[i + d/2]): Hugging Face checkpoints.</summary>
    HalfSplit = 1,
}

/// <summary>Direction of a copy; mirrors <c>caprese_copy_kind</c>.</summary>
public enum CopyKind
{
    /// <summary>Host to host.</summary>
    HostToHost = 0,
    /// <summary>Host to device.</summary>
    HostToDevice = 1,
    /// <summary>Device to host.</summary>
    DeviceToHost = 2,
    /// <summary>Device to device.</summary>
    DeviceToDevice = 3,
}

/// <summary>Extension helpers for <see cref="DType"/>.</summary>
public static class DTypeExtensions
{
    /// <summary>Size of one element in bytes.</summary>
    public static int SizeInBytes(this DType dtype) => dtype switch
    {
        DType.F32 or DType.I32 => 4,
        DType.F16 or DType.BF16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype."),
    };
}
