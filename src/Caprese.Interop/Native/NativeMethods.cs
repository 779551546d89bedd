using System.Runtime.InteropServices;

namespace Caprese.Interop.Native;

/// <summary>
/// One-to-one, blittable imports of every function in caprese.h. Nothing here allocates or
/// marshals: handles are raw pointers (their ownership lives in the SafeHandles), strings come
/// back as pointers owned by the library, and tensors are passed as <see cref="TensorDesc"/>*.
/// </summary>
internal static unsafe partial class NativeMethods
{
    internal const string LibraryName = "caprese";

    // An explicit static constructor runs before the first import is called, so the resolver
    // is in place before the runtime looks for "caprese".
    static NativeMethods() => NativeLibraryResolver.EnsureRegistered();

    // ---------------------------------------------------------------- library info
    [LibraryImport(LibraryName)] internal static partial nint caprese_version();
    [LibraryImport(LibraryName)] internal static partial int caprese_abi_version();
    [LibraryImport(LibraryName)] internal static partial nint caprese_status_string(CapreseStatus status);
    [LibraryImport(LibraryName)] internal static partial nint caprese_last_error();
    [LibraryImport(LibraryName)] internal static partial void caprese_clear_last_error();

    [LibraryImport(LibraryName)]
    internal static partial CapreseStatus caprese_struct_layout(int id, long* size, long* offsets, int capacity, int* fieldCount);

    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_backend_probe(int backend);
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_cuda_device_count(int* count);
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_cuda_device_info(int device, NativeDeviceInfo* info);
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_backend_device_count(int backend, int* count);
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_backend_device_info(int backend, int device, NativeDeviceInfo* info);

    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_set_profiling(int enabled);
    [LibraryImport(LibraryName)] internal static partial int caprese_profiling_enabled();

    // ---------------------------------------------------------------- contexts
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_context_create(NativeContextOptions* options, nint* ctx);
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_context_destroy(nint ctx);
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_context_backend(nint ctx, int* backend);
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_context_set_stream(nint ctx, nint stream);
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_context_get_stream(nint ctx, nint* stream);
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_context_synchronize(nint ctx);
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_context_reserve_scratch(nint ctx, nuint bytes);

    // ---------------------------------------------------------------- graphs
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_graph_begin_capture(nint ctx);
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_graph_end_capture(nint ctx, nint* graph);
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_graph_launch(nint ctx, nint graph);
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_graph_destroy(nint graph);

    // ---------------------------------------------------------------- memory
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_buffer_create(nint ctx, nuint bytes, nint* buffer);
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_buffer_destroy(nint buffer);
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_buffer_data(nint buffer, nint* data);
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_buffer_size(nint buffer, nuint* bytes);
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_copy(nint ctx, nint dst, nint src, nuint bytes, int kind);
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_memset(nint ctx, nint dst, int value, nuint bytes);

    // ---------------------------------------------------------------- events
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_event_create(nint ctx, nint* evt);
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_event_destroy(nint evt);
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_event_record(nint ctx, nint evt);
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_event_synchronize(nint evt);
    [LibraryImport(LibraryName)] internal static partial CapreseStatus caprese_event_elapsed_ms(nint start, nint end, float* ms);

    // ---------------------------------------------------------------- ops
    [LibraryImport(LibraryName)]
    internal static partial CapreseStatus caprese_matmul(nint ctx, TensorDesc* x, TensorDesc* w, TensorDesc* bias, TensorDesc* y);

    [LibraryImport(LibraryName)]
    internal static partial CapreseStatus caprese_rmsnorm(nint ctx, TensorDesc* x, TensorDesc* w, float eps, float weightOffset, TensorDesc* y);

    [LibraryImport(LibraryName)]
    internal static partial CapreseStatus caprese_rope(nint ctx, TensorDesc* x, int pos0, float theta, TensorDesc* invFreq, int style);

    [LibraryImport(LibraryName)]
    internal static partial CapreseStatus caprese_attention(nint ctx, TensorDesc* q, TensorDesc* kCache, TensorDesc* vCache,
        NativeAttentionParams* parameters, TensorDesc* output);

    [LibraryImport(LibraryName)]
    internal static partial CapreseStatus caprese_rope_at(nint ctx, TensorDesc* x, TensorDesc* pos, float theta, TensorDesc* invFreq, int style);

    [LibraryImport(LibraryName)]
    internal static partial CapreseStatus caprese_attention_at(nint ctx, TensorDesc* q, TensorDesc* kCache, TensorDesc* vCache,
        NativeAttentionParams* parameters, TensorDesc* pos, TensorDesc* output);

    [LibraryImport(LibraryName)]
    internal static partial CapreseStatus caprese_write_rows_at(nint ctx, TensorDesc* src, TensorDesc* pos, TensorDesc* dst);

    [LibraryImport(LibraryName)]
    internal static partial CapreseStatus caprese_gated_activation(nint ctx, TensorDesc* gate, TensorDesc* up, int act, TensorDesc* output);

    [LibraryImport(LibraryName)]
    internal static partial CapreseStatus caprese_add(nint ctx, TensorDesc* a, TensorDesc* b, TensorDesc* output);

    [LibraryImport(LibraryName)]
    internal static partial CapreseStatus caprese_softmax(nint ctx, TensorDesc* x, float temperature, TensorDesc* y);

    [LibraryImport(LibraryName)]
    internal static partial CapreseStatus caprese_softcap(nint ctx, TensorDesc* x, float cap, TensorDesc* y);

    [LibraryImport(LibraryName)]
    internal static partial CapreseStatus caprese_argmax(nint ctx, TensorDesc* x, TensorDesc* output);

    [LibraryImport(LibraryName)]
    internal static partial CapreseStatus caprese_embedding(nint ctx, TensorDesc* table, TensorDesc* ids, float scale, TensorDesc* output);

    [LibraryImport(LibraryName)]
    internal static partial CapreseStatus caprese_sparse_ffn(nint ctx, TensorDesc* x, TensorDesc* wGate, TensorDesc* wUp,
        TensorDesc* wDownT, TensorDesc* indices, TensorDesc* extraUp, TensorDesc* extraDown, NativeSparseFfnParams* parameters,
        TensorDesc* y);

    [LibraryImport(LibraryName)]
    internal static partial CapreseStatus caprese_sample(nint ctx, TensorDesc* x, NativeSamplingParams* parameters, TensorDesc* output);

    // ---------------------------------------------------------------- training ops
    [LibraryImport(LibraryName)]
    internal static partial CapreseStatus caprese_rmsnorm_backward(nint ctx, TensorDesc* x, TensorDesc* w, TensorDesc* dy,
        float eps, float weightOffset, TensorDesc* dx);

    [LibraryImport(LibraryName)]
    internal static partial CapreseStatus caprese_rope_backward(nint ctx, TensorDesc* x, int pos0, float theta, TensorDesc* invFreq, int style);

    [LibraryImport(LibraryName)]
    internal static partial CapreseStatus caprese_gated_activation_backward(nint ctx, TensorDesc* gate, TensorDesc* up,
        TensorDesc* dOut, int act, TensorDesc* dGate, TensorDesc* dUp);

    [LibraryImport(LibraryName)]
    internal static partial CapreseStatus caprese_attention_backward(nint ctx, TensorDesc* q, TensorDesc* kCache, TensorDesc* vCache,
        NativeAttentionParams* parameters, TensorDesc* dOut, TensorDesc* dq, TensorDesc* dk, TensorDesc* dv);

    [LibraryImport(LibraryName)]
    internal static partial CapreseStatus caprese_transpose(nint ctx, TensorDesc* x, TensorDesc* y);

    [LibraryImport(LibraryName)]
    internal static partial CapreseStatus caprese_axpby(nint ctx, float alpha, TensorDesc* a, float beta, TensorDesc* b, TensorDesc* output);

    [LibraryImport(LibraryName)]
    internal static partial CapreseStatus caprese_mul(nint ctx, TensorDesc* a, TensorDesc* b, TensorDesc* output);

    [LibraryImport(LibraryName)]
    internal static partial CapreseStatus caprese_adam_step(nint ctx, TensorDesc* param, TensorDesc* grad, TensorDesc* m, TensorDesc* v,
        float lr, float beta1, float beta2, float eps, float weightDecay, int step);

    /// <summary>Reads a library-owned UTF-8 string (never freed here).</summary>
    internal static string PtrToString(nint p) => p == 0 ? string.Empty : Marshal.PtrToStringUTF8(p) ?? string.Empty;
}
