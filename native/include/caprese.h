/*
 * caprese.h — the stable C ABI of libcaprese.
 *
 * Conventions (they hold for every function below):
 *  - Every call that can fail returns a caprese_status. On failure a human-readable
 *    message is kept per thread and returned by caprese_last_error(); it names the
 *    argument and the problem. No C++ exception, abort() or exit() ever crosses this ABI.
 *  - Handles are opaque. Destroy functions accept NULL. Buffers and events keep their
 *    context's backend alive, so they may be destroyed in any order.
 *  - Tensors are described by caprese_tensor: a data pointer in the memory space of the
 *    context's backend (host memory for CPU, device memory for CUDA), a dtype and a
 *    contiguous row-major shape. The data may be owned by the caller (for instance a
 *    buffer of another runtime): Caprese never frees memory it did not allocate.
 *  - Activations are f32. Weights may be f32, f16 or bf16; products accumulate in f32.
 *  - A weight matrix W of a linear layer is stored [N, K] (out_features x in_features),
 *    as in PyTorch, GGUF and safetensors checkpoints: y = x · Wᵀ.
 *  - Enum arguments are passed as int32_t (values of the named enum), so an out-of-range value
 *    from another language is a checked error rather than undefined behaviour in C++.
 *  - On the CUDA backend every op is enqueued on the context's stream (its own, or one the
 *    caller handed in) and returns without synchronising. Errors found only on the device
 *    (e.g. an out-of-range token id) are reported by caprese_context_synchronize().
 */
#ifndef CAPRESE_H
#define CAPRESE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  if defined(CAPRESE_BUILDING_LIBRARY)
#    define CAPRESE_API __declspec(dllexport)
#  else
#    define CAPRESE_API __declspec(dllimport)
#  endif
#else
#  define CAPRESE_API __attribute__((visibility("default")))
#endif

#define CAPRESE_VERSION_MAJOR 0
#define CAPRESE_VERSION_MINOR 1
#define CAPRESE_VERSION_PATCH 0
/* Bumped whenever a struct layout or a function signature below changes. */
#define CAPRESE_ABI_VERSION 1

#define CAPRESE_MAX_DIMS 4
#define CAPRESE_DEVICE_NAME_SIZE 256

/* ------------------------------------------------------------------ enums */

typedef enum caprese_status {
  CAPRESE_OK = 0,
  CAPRESE_ERROR_INVALID_ARGUMENT = 1, /* NULL pointer, bad enum value, bad scalar */
  CAPRESE_ERROR_SHAPE = 2,            /* shapes do not fit together */
  CAPRESE_ERROR_DTYPE = 3,            /* dtype not supported for this argument */
  CAPRESE_ERROR_ALIGNMENT = 4,        /* pointer not aligned to its element size */
  CAPRESE_ERROR_OUT_OF_MEMORY = 5,    /* host or device allocation failed */
  CAPRESE_ERROR_BACKEND_UNAVAILABLE = 6, /* backend not built, cannot load, or no GPU */
  CAPRESE_ERROR_DEVICE = 7,           /* the CUDA runtime or a kernel reported an error */
  CAPRESE_ERROR_OUT_OF_RANGE = 8,     /* an index (token id, position) is out of range */
  CAPRESE_ERROR_INTERNAL = 9,         /* a bug in Caprese: please report it */
  CAPRESE_ERROR_NOT_SUPPORTED = 10    /* the backend does not offer this feature (CUDA graphs on the CPU) */
} caprese_status;

typedef enum caprese_dtype {
  CAPRESE_DTYPE_F32 = 0,
  CAPRESE_DTYPE_F16 = 1,
  CAPRESE_DTYPE_BF16 = 2,
  CAPRESE_DTYPE_I32 = 3
} caprese_dtype;

typedef enum caprese_backend {
  CAPRESE_BACKEND_CPU = 0,
  CAPRESE_BACKEND_CUDA = 1,
  /* The CUDA backend's own kernels and launch code run on the CPU by the CUDA simulator
   * (plugin libcaprese_cudasim.so): for testing and debugging kernels without a GPU. It
   * behaves as a CUDA device (device memory, streams, events) and is 100-1000x slower than
   * the CPU backend; never use it for speed. */
  CAPRESE_BACKEND_CUDA_SIM = 2
} caprese_backend;

typedef enum caprese_activation {
  CAPRESE_ACTIVATION_SILU = 0,      /* Llama, Qwen2 */
  CAPRESE_ACTIVATION_GELU_TANH = 1  /* Gemma 2 */
} caprese_activation;

typedef enum caprese_rope_style {
  /* Pairs (x[2i], x[2i+1]) rotate together: Meta / llama2.c / GGUF "original" layout. */
  CAPRESE_ROPE_INTERLEAVED = 0,
  /* Pairs (x[i], x[i + d/2]) rotate together: Hugging Face checkpoints. */
  CAPRESE_ROPE_HALF_SPLIT = 1
} caprese_rope_style;

/* Which neurons caprese_sparse_ffn computes. */
typedef enum caprese_sparse_selection {
  /* Every one of the H rows: the dense FFN, or weights already compacted per prompt
   * (GRIFFIN's sliced FFN). */
  CAPRESE_SPARSE_ALL = 0,
  /* Only the rows listed in `indices` (GRIFFIN gathered on the fly). */
  CAPRESE_SPARSE_INDICES = 1,
  /* CATS: neuron j is active for row m iff |act(x_m · wg_j)| >= threshold. */
  CAPRESE_SPARSE_THRESHOLD = 2
} caprese_sparse_selection;

typedef enum caprese_copy_kind {
  CAPRESE_COPY_HOST_TO_HOST = 0,
  CAPRESE_COPY_HOST_TO_DEVICE = 1,
  CAPRESE_COPY_DEVICE_TO_HOST = 2,
  CAPRESE_COPY_DEVICE_TO_DEVICE = 3
} caprese_copy_kind;

/* ---------------------------------------------------------------- structs
 * These layouts are part of the ABI; the .NET side checks size and offsets in a test. */

typedef struct caprese_tensor {
  void* data;                        /* in the context's memory space; aligned to the element size */
  int32_t dtype;                     /* caprese_dtype */
  int32_t ndim;                      /* 1 .. CAPRESE_MAX_DIMS */
  int64_t shape[CAPRESE_MAX_DIMS];   /* contiguous, row-major; entries past ndim are ignored */
} caprese_tensor;

typedef struct caprese_context_options {
  int32_t backend;      /* caprese_backend */
  int32_t device;       /* CUDA device ordinal; ignored by the CPU backend */
  int32_t num_threads;  /* CPU worker threads; 0 = one per hardware thread */
  int32_t flags;        /* reserved, must be 0 */
  void* stream;         /* CUDA: a caller's cudaStream_t to run on, or NULL for an own stream */
} caprese_context_options;

typedef struct caprese_attention_params {
  int32_t pos0;           /* position of query row 0; row m sits at pos0 + m and sees keys 0 .. pos0 + m */
  int32_t sliding_window; /* 0 = unlimited; else row m sees only keys > pos0 + m - sliding_window */
  float scale;            /* multiplies q·k, usually 1/sqrt(head_dim) */
  float softcap;          /* 0 = off; else scores become softcap * tanh(scores / softcap) (Gemma 2) */
} caprese_attention_params;

typedef struct caprese_sparse_ffn_params {
  int32_t activation;  /* caprese_activation */
  int32_t selection;   /* caprese_sparse_selection */
  float threshold;     /* CAPRESE_SPARSE_THRESHOLD only: finite, >= 0 (0 keeps every neuron) */
  int32_t flags;       /* reserved, must be 0 */
} caprese_sparse_ffn_params;

typedef struct caprese_sampling_params {
  float temperature;  /* finite, > 0 */
  int32_t top_k;      /* >= 0; 0 = off; else keep the k largest logits (all ties at the k-th value kept) */
  float top_p;        /* (0, 1]; 1 = off; keep the smallest set of largest probabilities (after top_k,
                         renormalised) whose mass >= top_p (ties at the boundary kept) */
  int32_t flags;      /* reserved, must be 0 */
  uint64_t seed;      /* with `offset`, drives a counter-based generator: identical on every backend */
  uint64_t offset;    /* e.g. the decode step; row m uses counter offset + m */
} caprese_sampling_params;

typedef struct caprese_device_info {
  char name[CAPRESE_DEVICE_NAME_SIZE];
  int64_t total_memory_bytes;
  int32_t compute_major;
  int32_t compute_minor;
  int32_t multiprocessor_count;
  int32_t memory_bus_width_bits;
  int64_t memory_clock_khz;
  int64_t l2_cache_bytes;
} caprese_device_info;

typedef struct caprese_context* caprese_context_t;
typedef struct caprese_buffer* caprese_buffer_t;
typedef struct caprese_event* caprese_event_t;
typedef struct caprese_graph* caprese_graph_t;

/* Identifies a struct above for caprese_struct_layout(). */
typedef enum caprese_struct_id {
  CAPRESE_STRUCT_TENSOR = 0,
  CAPRESE_STRUCT_CONTEXT_OPTIONS = 1,
  CAPRESE_STRUCT_ATTENTION_PARAMS = 2,
  CAPRESE_STRUCT_DEVICE_INFO = 3,
  CAPRESE_STRUCT_SPARSE_FFN_PARAMS = 4,
  CAPRESE_STRUCT_SAMPLING_PARAMS = 5
} caprese_struct_id;

/* ---------------------------------------------------------- library info */

CAPRESE_API const char* caprese_version(void);          /* "0.1.0" */
CAPRESE_API int32_t caprese_abi_version(void);          /* CAPRESE_ABI_VERSION of the built library */
CAPRESE_API const char* caprese_status_string(int32_t status /* caprese_status */);
/* The message of the last failing call on this thread ("" if none). Owned by the library,
 * valid until the next Caprese call on this thread fails. Never NULL. */
CAPRESE_API const char* caprese_last_error(void);
CAPRESE_API void caprese_clear_last_error(void);

/* Size and field offsets (declaration order) of a struct above as this library was compiled,
 * so bindings in other languages can check their own layout. Writes at most `capacity`
 * offsets; *field_count receives the number of fields. */
CAPRESE_API caprese_status caprese_struct_layout(int32_t id, int64_t* size, int64_t* offsets,
                                                 int32_t capacity, int32_t* field_count);

/* CAPRESE_OK if the backend can be used (CUDA: plugin loaded and at least one GPU);
 * otherwise an error whose message says exactly why not. */
CAPRESE_API caprese_status caprese_backend_probe(int32_t backend /* caprese_backend */);
CAPRESE_API caprese_status caprese_cuda_device_count(int32_t* count);
CAPRESE_API caprese_status caprese_cuda_device_info(int32_t device, caprese_device_info* info);
/* Devices of a device backend (CAPRESE_BACKEND_CUDA or CAPRESE_BACKEND_CUDA_SIM; the
 * simulator has one, named after the GPU it models and marked as simulated). The CPU
 * backend has no devices: count 0, and device_info fails with INVALID_ARGUMENT. */
CAPRESE_API caprese_status caprese_backend_device_count(int32_t backend, int32_t* count);
CAPRESE_API caprese_status caprese_backend_device_info(int32_t backend, int32_t device, caprese_device_info* info);

/* NVTX ranges around every op, for Nsight Systems. Also enabled by CAPRESE_NVTX=1. */
CAPRESE_API caprese_status caprese_set_profiling(int32_t enabled);
CAPRESE_API int32_t caprese_profiling_enabled(void);

/* -------------------------------------------------------------- contexts */

CAPRESE_API caprese_status caprese_context_create(const caprese_context_options* options,
                                                  caprese_context_t* out);
CAPRESE_API caprese_status caprese_context_destroy(caprese_context_t ctx);
CAPRESE_API caprese_status caprese_context_backend(caprese_context_t ctx, int32_t* backend);
/* CUDA: run subsequent ops on `stream` (a cudaStream_t owned by the caller; NULL = the
 * context's own stream). The caller's stream must stay alive while it is set: switching
 * streams orders the new one after the old one with an event, so scratch memory is never
 * used by two streams at once. The CPU backend accepts only NULL.
 * get_stream returns the cudaStream_t ops currently run on (the context's own stream is a
 * real handle, never NULL), so callers can order their own work after ours. */
CAPRESE_API caprese_status caprese_context_set_stream(caprese_context_t ctx, void* stream);
CAPRESE_API caprese_status caprese_context_get_stream(caprese_context_t ctx, void** stream);
CAPRESE_API caprese_status caprese_context_synchronize(caprese_context_t ctx);

/* Grows the context's scratch memory (CUDA: device memory some ops need for partial results)
 * to at least `bytes` now, so later ops, in particular ops captured into a graph, need not
 * allocate. The CPU backend has no shared scratch: accepted, nothing happens. */
CAPRESE_API caprese_status caprese_context_reserve_scratch(caprese_context_t ctx, size_t bytes);

/* --------------------------------------------------------------- memory */

/* Device memory (CUDA) or 64-byte aligned host memory (CPU), zero-initialised. On CUDA the
 * zeroing is enqueued on the context's current stream, which is then synchronised. */
CAPRESE_API caprese_status caprese_buffer_create(caprese_context_t ctx, size_t bytes,
                                                 caprese_buffer_t* out);
CAPRESE_API caprese_status caprese_buffer_destroy(caprese_buffer_t buffer);
CAPRESE_API caprese_status caprese_buffer_data(caprese_buffer_t buffer, void** data);
CAPRESE_API caprese_status caprese_buffer_size(caprese_buffer_t buffer, size_t* bytes);

/* Copies on the context's stream. Host memory is ordinary pageable memory, so copies that
 * touch the host return only when the copy is done. The CPU backend accepts every kind
 * (all of its memory is host memory). */
CAPRESE_API caprese_status caprese_copy(caprese_context_t ctx, void* dst, const void* src,
                                        size_t bytes,
                                        int32_t kind /* caprese_copy_kind */);
CAPRESE_API caprese_status caprese_memset(caprese_context_t ctx, void* dst, int32_t value,
                                          size_t bytes);

/* --------------------------------------------------------------- events */

CAPRESE_API caprese_status caprese_event_create(caprese_context_t ctx, caprese_event_t* out);
CAPRESE_API caprese_status caprese_event_destroy(caprese_event_t event);
CAPRESE_API caprese_status caprese_event_record(caprese_context_t ctx, caprese_event_t event);
CAPRESE_API caprese_status caprese_event_synchronize(caprese_event_t event);
CAPRESE_API caprese_status caprese_event_elapsed_ms(caprese_event_t start, caprese_event_t end,
                                                    float* ms);

/* --------------------------------------------------------------- graphs
 * CUDA graphs: the ops enqueued between begin_capture and end_capture are recorded instead of
 * run, and graph_launch replays them all with one launch, on the same pointers and scalars.
 * What changes from one replay to the next must therefore live in device memory: token ids
 * (caprese_embedding reads them there already) and positions (the *_at ops below read the
 * position from an i32 tensor). Rules while capturing (each refused with a message saying so,
 * without spoiling the capture): no copies from or to host memory, no synchronize, no op that
 * would have to grow the scratch (run the same ops once before capturing, or reserve it with
 * caprese_context_reserve_scratch). The capture is tied to the calling thread.
 * The CPU backend has no graphs: begin_capture returns CAPRESE_ERROR_NOT_SUPPORTED. */
CAPRESE_API caprese_status caprese_graph_begin_capture(caprese_context_t ctx);
/* Ends the capture and makes the graph ready to launch. If an op failed during the capture the
 * graph is still made (without that op); the caller knows from the op's status. */
CAPRESE_API caprese_status caprese_graph_end_capture(caprese_context_t ctx, caprese_graph_t* out);
/* Enqueues the whole graph on the context's current stream (asynchronous, like an op). The
 * graph must come from this context. */
CAPRESE_API caprese_status caprese_graph_launch(caprese_context_t ctx, caprese_graph_t graph);
CAPRESE_API caprese_status caprese_graph_destroy(caprese_graph_t graph);

/* ------------------------------------------------------------------ ops
 * Shapes use M for rows (tokens), K for input features, N for output features. */

/* y[M,N] = x[M,K] · w[N,K]ᵀ (+ bias[N]).  x, y, bias: f32; w: f32 | f16 | bf16. y must not
 * overlap x, w or bias (CAPRESE_ERROR_INVALID_ARGUMENT).
 * M <= 16 (decode, verification) runs hand-written kernels that read the weights once for
 * all rows. On CUDA, M > 16 (prefill) calls cuBLAS; with f16/bf16 weights x is rounded to
 * the weight dtype first (tensor-core GEMM), accumulation stays f32. */
CAPRESE_API caprese_status caprese_matmul(caprese_context_t ctx, const caprese_tensor* x,
                                          const caprese_tensor* w, const caprese_tensor* bias,
                                          caprese_tensor* y);

/* y[M,D] = x / sqrt(mean(x²) + eps) * (weight_offset + w[D]).  Gemma 2 uses weight_offset 1. */
CAPRESE_API caprese_status caprese_rmsnorm(caprese_context_t ctx, const caprese_tensor* x,
                                           const caprese_tensor* w, float eps,
                                           float weight_offset, caprese_tensor* y);

/* In-place rotary embedding of x[M, heads, head_dim] (head_dim even); row m is at position
 * pos0 + m. inv_freq[head_dim/2] (f32, optional) overrides theta^(-2i/head_dim), which is
 * how Llama 3.1's frequency scaling is passed. */
CAPRESE_API caprese_status caprese_rope(caprese_context_t ctx, caprese_tensor* x, int32_t pos0,
                                        float theta, const caprese_tensor* inv_freq,
                                        int32_t style /* caprese_rope_style */);

/* Causal attention of q[M, Hq, hd] over a KV cache k,v[S, Hkv, hd] (Hq % Hkv == 0: grouped
 * query heads), whose rows 0 .. pos0 + M - 1 must be filled. out[M, Hq, hd]. All f32.
 * head_dim <= 256 (every Llama, Qwen2 and Gemma 2 model; larger is a CAPRESE_ERROR_SHAPE). */
CAPRESE_API caprese_status caprese_attention(caprese_context_t ctx, const caprese_tensor* q,
                                             const caprese_tensor* k_cache,
                                             const caprese_tensor* v_cache,
                                             const caprese_attention_params* params,
                                             caprese_tensor* out);

/* Position-on-the-device variants, for graphs: `pos` is an i32 tensor of shape [1] in the
 * context's memory space (host memory for the CPU backend) holding the position, read when the
 * op runs (on CUDA: when the kernel runs, so a captured graph sees each replay's value).
 * Results are bitwise those of the by-value op at that position, on the same backend.
 * Positions out of range (rope: < 0; attention: < 0 or position + M > S; write_rows: < 0 or
 * position + M > S): the CPU returns CAPRESE_ERROR_OUT_OF_RANGE; CUDA leaves the output
 * unwritten and the next caprese_context_synchronize() returns CAPRESE_ERROR_OUT_OF_RANGE.
 *
 * caprese_rope_at: caprese_rope with pos0 = *pos.
 * caprese_attention_at: caprese_attention with params->pos0 = *pos; params->pos0 itself must
 *   be 0. On CUDA the key range is split for the longest possible context (S), so the op needs
 *   the same scratch whatever the position.
 * caprese_write_rows_at: dst[*pos + m, ...] = src[m, ...] for m < M, e.g. new keys or values
 *   into a KV cache. src [M, ...] and dst [S, ...] have the same dtype and the same row size
 *   (product of the dims after the first); they must not overlap. */
CAPRESE_API caprese_status caprese_rope_at(caprese_context_t ctx, caprese_tensor* x, const caprese_tensor* pos,
                                           float theta, const caprese_tensor* inv_freq,
                                           int32_t style /* caprese_rope_style */);
CAPRESE_API caprese_status caprese_attention_at(caprese_context_t ctx, const caprese_tensor* q,
                                                const caprese_tensor* k_cache, const caprese_tensor* v_cache,
                                                const caprese_attention_params* params, const caprese_tensor* pos,
                                                caprese_tensor* out);
CAPRESE_API caprese_status caprese_write_rows_at(caprese_context_t ctx, const caprese_tensor* src,
                                                 const caprese_tensor* pos, caprese_tensor* dst);

/* out = act(gate) ⊙ up, all [M, H] f32. out may alias gate or up. */
CAPRESE_API caprese_status caprese_gated_activation(caprese_context_t ctx,
                                                    const caprese_tensor* gate,
                                                    const caprese_tensor* up,
                                                    int32_t act /* caprese_activation */,
                                                    caprese_tensor* out);

/* out = a + b (same shape, f32). out may alias a or b: the residual add. */
CAPRESE_API caprese_status caprese_add(caprese_context_t ctx, const caprese_tensor* a,
                                       const caprese_tensor* b, caprese_tensor* out);

/* Row-wise softmax of x[M, N] / temperature (temperature > 0). y may alias x. */
CAPRESE_API caprese_status caprese_softmax(caprese_context_t ctx, const caprese_tensor* x,
                                           float temperature, caprese_tensor* y);

/* y = cap * tanh(x / cap), cap > 0 (Gemma 2 logit soft-capping). y may alias x. */
CAPRESE_API caprese_status caprese_softcap(caprese_context_t ctx, const caprese_tensor* x,
                                           float cap, caprese_tensor* y);

/* out[m] = argmax_n x[m, n] (first index on ties). x: [M, N] f32, out: [M] i32. */
CAPRESE_API caprese_status caprese_argmax(caprese_context_t ctx, const caprese_tensor* x,
                                          caprese_tensor* out);

/* out[m, :] = table[ids[m], :] * scale.  table [V, D] f32 | f16 | bf16, ids [M] i32, out [M, D] f32.
 * CPU: an id outside [0, V) returns CAPRESE_ERROR_OUT_OF_RANGE. CUDA: the row is zeroed and
 * the next caprese_context_synchronize() returns CAPRESE_ERROR_OUT_OF_RANGE. */
CAPRESE_API caprese_status caprese_embedding(caprese_context_t ctx, const caprese_tensor* table,
                                             const caprese_tensor* ids, float scale,
                                             caprese_tensor* out);

/* Gated FFN over a subset of its neurons plus always-active extra neurons (Caprese's merged
 * low-rank adapter), for decode and chunked verification:
 *   y[m, :] = Σ_{j active for m} act(x_m · wg_j) (x_m · wu_j) wd_j + Σ_e (x_m · eu_e) ed_e
 * Neuron j is row j of w_gate, w_up and w_down_t, all [H, D]; w_down_t is the down projection
 * TRANSPOSED (row j = the D weights neuron j writes), so a neuron's weights are three
 * contiguous rows. extra_up / extra_down [r, D] are both given or both NULL (an adapter
 * x·L·R merges as extra_up = Lᵀ, extra_down = R); their gate is 1.
 *  - x [M, D] f32 with 1 <= M <= 16 (larger M: CAPRESE_ERROR_SHAPE; prefill uses the dense
 *    ops). y [M, D] f32 must not overlap x.
 *  - w_gate, w_up, w_down_t, extra_up, extra_down: one dtype, f32 | f16 | bf16.
 *  - indices [k] i32: given iff selection is CAPRESE_SPARSE_INDICES. k = 0 is allowed
 *    (shape [0], data may be NULL): y is then the extra neurons' output alone, or zero.
 *    Order is free; a repeated index contributes once per occurrence. CPU: an index outside
 *    [0, H) returns CAPRESE_ERROR_OUT_OF_RANGE and nothing is written. CUDA (the indices live
 *    on the device): that entry is skipped and the next caprese_context_synchronize()
 *    returns CAPRESE_ERROR_OUT_OF_RANGE.
 *  - CAPRESE_SPARSE_THRESHOLD masks per row; the union of the rows' active neurons is read
 *    once for all rows. w_gate is read in full (to find the active neurons), w_up and
 *    w_down_t only for active ones.
 * Accumulation is f32 and the result is deterministic (no atomics in the summation). */
CAPRESE_API caprese_status caprese_sparse_ffn(caprese_context_t ctx, const caprese_tensor* x,
                                              const caprese_tensor* w_gate,
                                              const caprese_tensor* w_up,
                                              const caprese_tensor* w_down_t,
                                              const caprese_tensor* indices,
                                              const caprese_tensor* extra_up,
                                              const caprese_tensor* extra_down,
                                              const caprese_sparse_ffn_params* params,
                                              caprese_tensor* y);

/* out[m] = an index drawn from softmax(x[m, :] / temperature) restricted by top_k, then by
 * top_p, by inverse CDF over the kept indices in ascending index order at
 * u = uniform(seed, offset + m). x [M, V] f32 (V <= 2^22), out [M] i32. Only the ids are
 * written, so sampled decoding copies 4 bytes per row to the host, like caprese_argmax.
 * The result is a pure function of the inputs, identical on every backend: probabilities are
 * exact integer masses (2^40 for the largest logit, relative precision ~1e-7, entries below
 * 2^-41 of the largest get 0) built from IEEE single-precision operations only, and u is
 * SplitMix64(seed ^ counter * 0x9E3779B97F4A7C15) >> 40, times 2^-24. A row holding NaN yields
 * its first NaN's index (as caprese_argmax); +inf logits share all the probability. */
CAPRESE_API caprese_status caprese_sample(caprese_context_t ctx, const caprese_tensor* x,
                                          const caprese_sampling_params* params, caprese_tensor* out);

/* ------------------------------------------------------- training ops
 * What backpropagation into low-rank adapters through a frozen transformer needs: the
 * gradients of the forward ops above (same arguments, same semantics) and a few elementwise
 * helpers and the optimiser step. All f32 unless stated. Gradients are computed in f32 with
 * the row reductions in f32 (CUDA) or double (CPU); nothing is saved by the forward ops, the
 * backward ops recompute what they need (softmax, normalisation) from the forward inputs.
 * Aliasing: where an output "may alias" an input it must be the very same tensor (same data
 * pointer and shape); any other overlap of an output with an input or with another output is
 * CAPRESE_ERROR_INVALID_ARGUMENT (the message names both arguments). */

/* Gradient of caprese_rmsnorm: with r = 1/sqrt(mean(x²) + eps) and g = weight_offset + w,
 *   dx[m, j] = r g_j dy_j - x_j r³ / D · Σ_i dy_i g_i x_i.
 * x, dy, dx [M, D] f32; w [D] f32 | f16 | bf16. dx may alias x or dy. The weight gradient is
 * not produced (the norm weights are frozen). */
CAPRESE_API caprese_status caprese_rmsnorm_backward(caprese_context_t ctx, const caprese_tensor* x,
                                                    const caprese_tensor* w, const caprese_tensor* dy,
                                                    float eps, float weight_offset, caprese_tensor* dx);

/* Gradient of caprese_rope, in place: x[M, heads, head_dim] holds dL/d(rotated x) on entry and
 * dL/d(x) on return. Rope is a rotation per pair, so this applies the inverse rotation (the
 * transpose) with exactly caprese_rope's arguments, checks and conventions (both styles,
 * inv_freq override, angles in double). */
CAPRESE_API caprese_status caprese_rope_backward(caprese_context_t ctx, caprese_tensor* x, int32_t pos0,
                                                 float theta, const caprese_tensor* inv_freq,
                                                 int32_t style /* caprese_rope_style */);

/* Gradient of caprese_gated_activation (out = act(gate) ⊙ up; gate is the pre-activation):
 *   dgate = dout ⊙ up ⊙ act'(gate),  dup = dout ⊙ act(gate).
 * All [M, H] f32. Elementwise, every input is read before an output is written, so dgate and
 * dup may each alias any of gate, up, dout; dgate and dup must not overlap each other. */
CAPRESE_API caprese_status caprese_gated_activation_backward(caprese_context_t ctx,
                                                             const caprese_tensor* gate,
                                                             const caprese_tensor* up,
                                                             const caprese_tensor* dout,
                                                             int32_t act /* caprese_activation */,
                                                             caprese_tensor* dgate, caprese_tensor* dup);

/* Gradients of caprese_attention with the same q, caches and params (causal from pos0, GQA,
 * sliding window, scale, softcap) for the upstream gradient dout [M, Hq, hd]:
 *  - dq [M, Hq, hd] is overwritten.
 *  - dk, dv [S, Hkv, hd]: rows 0 .. pos0 + M - 1 are OVERWRITTEN with the gradient with respect
 *    to those cache rows, summed over every query row and every query head of the GQA group
 *    that attends them (a row no query sees, e.g. outside every sliding window, gets zeros);
 *    rows pos0 + M .. S - 1 are not touched. To accumulate into an existing gradient, write
 *    into scratch and caprese_axpby it.
 * The softmax is recomputed (no state is saved by the forward op). dq, dk, dv must not overlap
 * each other or any input. Same shape limits as caprese_attention (head_dim <= 256).
 * Deterministic on both backends (no atomics in the sums). */
CAPRESE_API caprese_status caprese_attention_backward(caprese_context_t ctx, const caprese_tensor* q,
                                                      const caprese_tensor* k_cache,
                                                      const caprese_tensor* v_cache,
                                                      const caprese_attention_params* params,
                                                      const caprese_tensor* dout, caprese_tensor* dq,
                                                      caprese_tensor* dk, caprese_tensor* dv);

/* y[N, M] = x[M, N]ᵀ, f32 (2-D). y must not overlap x. */
CAPRESE_API caprese_status caprese_transpose(caprese_context_t ctx, const caprese_tensor* x,
                                             caprese_tensor* y);

/* out = alpha · a + beta · b elementwise (same shape, f32; alpha, beta finite). IEEE
 * arithmetic throughout: beta = 0 does not mask a NaN or inf in b. out may alias a or b. */
CAPRESE_API caprese_status caprese_axpby(caprese_context_t ctx, float alpha, const caprese_tensor* a,
                                         float beta, const caprese_tensor* b, caprese_tensor* out);

/* out = a ⊙ b elementwise (same shape, f32). out may alias a or b. */
CAPRESE_API caprese_status caprese_mul(caprese_context_t ctx, const caprese_tensor* a,
                                       const caprese_tensor* b, caprese_tensor* out);

/* One bias-corrected Adam step with decoupled weight decay (AdamW, as torch.optim.AdamW):
 *   m = beta1 m + (1 - beta1) grad;   v = beta2 v + (1 - beta2) grad²
 *   param = param (1 - lr weight_decay) - lr/(1 - beta1^step) · m / (sqrt(v / (1 - beta2^step)) + eps)
 * param, grad, m, v: same shape, f32, pairwise non-overlapping; param, m, v updated in place
 * (m and v start as zeros). The bias corrections are computed in double. Scalars: lr finite
 * >= 0, beta1 and beta2 in [0, 1), eps finite > 0, weight_decay finite >= 0, step >= 1
 * (the 1-based count of steps taken including this one). */
CAPRESE_API caprese_status caprese_adam_step(caprese_context_t ctx, caprese_tensor* param,
                                             const caprese_tensor* grad, caprese_tensor* m,
                                             caprese_tensor* v, float lr, float beta1, float beta2,
                                             float eps, float weight_decay, int32_t step);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CAPRESE_H */
