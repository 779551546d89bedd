// The interface every backend (CPU, CUDA) implements. Arguments arrive already validated
// by the API layer (native/src/api): pointers non-null and aligned, shapes consistent,
// dtypes supported. A backend only computes, and reports runtime failures as a Status.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "caprese.h"
#include "core/status.h"

namespace caprese {

struct MatmulArgs {
  const float* x;      // [M, K]
  const void* w;       // [N, K], dtype w_dtype
  caprese_dtype w_dtype;
  const float* bias;   // [N] or nullptr
  float* y;            // [M, N]
  int64_t m, n, k;
};

struct RmsNormArgs {
  const float* x;  // [M, D]
  const float* w;  // [D]
  float* y;        // [M, D]
  int64_t m, d;
  float eps, weight_offset;
};

struct RopeArgs {
  float* x;                // [M, heads, head_dim], in place
  const float* inv_freq;   // [head_dim / 2] or nullptr (then theta^(-2i/head_dim))
  int64_t m, heads, head_dim;
  int32_t pos0;
  float theta;
  caprese_rope_style style;
  const int32_t* pos_device = nullptr;  // if set: the position is *pos_device (backend memory), pos0 unused
};

struct AttentionArgs {
  const float* q;        // [M, Hq, hd]
  const float* k_cache;  // [S, Hkv, hd]
  const float* v_cache;  // [S, Hkv, hd]
  float* out;            // [M, Hq, hd]
  int64_t m, q_heads, kv_heads, head_dim, cache_len;
  caprese_attention_params params;
  const int32_t* pos_device = nullptr;  // if set: params.pos0 is *pos_device (backend memory)
};

// dst[*pos_device + m] = src[m] for m < rows, rows of row_bytes bytes each.
struct WriteRowsArgs {
  const void* src;  // [rows, row_bytes]
  void* dst;        // [dst_rows, row_bytes], does not overlap src
  int64_t rows, dst_rows, row_bytes;
  const int32_t* pos_device;
};

struct GatedActivationArgs {
  const float* gate;  // [count]
  const float* up;    // [count]
  float* out;         // [count], may alias gate or up
  int64_t count;
  caprese_activation act;
};

struct AddArgs {
  const float* a;
  const float* b;
  float* out;  // may alias a or b
  int64_t count;
};

struct SoftmaxArgs {
  const float* x;  // [M, N]
  float* y;        // may alias x
  int64_t m, n;
  float temperature;
};

struct SoftcapArgs {
  const float* x;
  float* y;  // may alias x
  int64_t count;
  float cap;
};

struct ArgmaxArgs {
  const float* x;  // [M, N]
  int32_t* out;    // [M]
  int64_t m, n;
};

struct EmbeddingArgs {
  const void* table;  // [V, D]
  caprese_dtype table_dtype;
  const int32_t* ids;  // [M]
  float* out;          // [M, D]
  int64_t m, vocab, d;
  float scale;
};

struct SparseFfnArgs {
  const float* x;         // [M, D]
  const void* w_gate;     // [H, D], dtype w_dtype (also the dtype of every weight below)
  const void* w_up;       // [H, D]
  const void* w_down_t;   // [H, D], the down projection transposed
  caprese_dtype w_dtype;
  const int32_t* indices;  // [k] (CAPRESE_SPARSE_INDICES) or nullptr; may hold out-of-range values
  const void* extra_up;    // [r, D] or nullptr (then r = 0)
  const void* extra_down;  // [r, D] or nullptr
  float* y;                // [M, D], does not overlap x
  int64_t m, d, h, k, r;
  caprese_activation act;
  caprese_sparse_selection selection;
  float threshold;
};

struct SampleArgs {
  const float* x;  // [M, V]
  int32_t* out;    // [M]
  int64_t m, v;    // v <= sampling::kMaxVocab (core/sampling.h)
  caprese_sampling_params params;  // validated: temperature finite > 0, top_k >= 0, top_p in (0, 1]
};

// ------------------------------------------------------------- training ops

struct RmsNormBackwardArgs {
  const float* x;   // [M, D]
  const void* w;    // [D], dtype w_dtype
  caprese_dtype w_dtype;
  const float* dy;  // [M, D]
  float* dx;        // [M, D], may alias x or dy (the very same memory)
  int64_t m, d;
  float eps, weight_offset;
};

struct GatedActivationBackwardArgs {
  const float* gate;  // [count], pre-activation
  const float* up;    // [count]
  const float* dout;  // [count]
  float* dgate;       // [count], may alias any input
  float* dup;         // [count], may alias any input; never overlaps dgate
  int64_t count;
  caprese_activation act;
};

struct AttentionBackwardArgs {
  const float* q;        // [M, Hq, hd]
  const float* k_cache;  // [S, Hkv, hd]
  const float* v_cache;  // [S, Hkv, hd]
  const float* dout;     // [M, Hq, hd]
  float* dq;             // [M, Hq, hd]
  float* dk;             // [S, Hkv, hd]: rows 0 .. pos0 + M - 1 overwritten
  float* dv;             // [S, Hkv, hd]: rows 0 .. pos0 + M - 1 overwritten
  int64_t m, q_heads, kv_heads, head_dim, cache_len;
  caprese_attention_params params;
};

struct TransposeArgs {
  const float* x;  // [M, N]
  float* y;        // [N, M], does not overlap x
  int64_t m, n;
};

struct AxpbyArgs {
  float alpha;
  const float* a;
  float beta;
  const float* b;
  float* out;  // may alias a or b
  int64_t count;
};

struct MulArgs {
  const float* a;
  const float* b;
  float* out;  // may alias a or b
  int64_t count;
};

struct AdamArgs {
  float* param;  // all [count], pairwise disjoint
  const float* grad;
  float* m;
  float* v;
  int64_t count;
  float lr, beta1, beta2, eps, weight_decay;
  // Derived by the API layer in double: 1 - beta1^step and 1 - beta2^step (both > 0).
  double bias_correction1, bias_correction2;
};

// An opaque timing mark; the backend owns its representation.
class BackendEvent {
 public:
  virtual ~BackendEvent() = default;
};

// A captured, launchable sequence of ops (a CUDA graph); the backend owns its representation.
class BackendGraph {
 public:
  virtual ~BackendGraph() = default;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual caprese_backend kind() const = 0;
  virtual const char* name() const = 0;

  // Memory in the backend's space. Allocate returns zeroed memory, 64-byte aligned at least.
  virtual Status Allocate(size_t bytes, void** out) = 0;
  virtual void Free(void* ptr) noexcept = 0;
  virtual Status Copy(void* dst, const void* src, size_t bytes, caprese_copy_kind kind) = 0;
  virtual Status Memset(void* dst, int value, size_t bytes) = 0;

  // Streams: nullptr means the backend's own stream.
  virtual Status SetStream(void* stream) = 0;
  virtual void* GetStream() const = 0;
  virtual Status Synchronize() = 0;

  virtual Status CreateEvent(std::unique_ptr<BackendEvent>* out) = 0;
  virtual Status RecordEvent(BackendEvent* event) = 0;
  virtual Status SynchronizeEvent(BackendEvent* event) = 0;
  virtual Status ElapsedMs(BackendEvent* start, BackendEvent* end, float* ms) = 0;

  // Ops.
  virtual Status Matmul(const MatmulArgs& a) = 0;
  virtual Status RmsNorm(const RmsNormArgs& a) = 0;
  virtual Status Rope(const RopeArgs& a) = 0;
  virtual Status Attention(const AttentionArgs& a) = 0;
  virtual Status GatedActivation(const GatedActivationArgs& a) = 0;
  virtual Status Add(const AddArgs& a) = 0;
  virtual Status Softmax(const SoftmaxArgs& a) = 0;
  virtual Status Softcap(const SoftcapArgs& a) = 0;
  virtual Status Argmax(const ArgmaxArgs& a) = 0;
  virtual Status Embedding(const EmbeddingArgs& a) = 0;
  virtual Status SparseFfn(const SparseFfnArgs& a) = 0;
  virtual Status Sample(const SampleArgs& a) = 0;

  // Position on the device and graphs (plugin ABI 4). ReserveScratch grows shared scratch
  // to >= bytes now; graphs capture the ops of the current stream (CPU: NOT_SUPPORTED).
  virtual Status WriteRows(const WriteRowsArgs& a) = 0;
  virtual Status ReserveScratch(size_t bytes) = 0;
  virtual Status BeginCapture() = 0;
  virtual Status EndCapture(std::unique_ptr<BackendGraph>* out) = 0;
  virtual Status LaunchGraph(BackendGraph* graph) = 0;

  // Training ops (plugin ABI 3).
  virtual Status RmsNormBackward(const RmsNormBackwardArgs& a) = 0;
  virtual Status RopeBackward(const RopeArgs& a) = 0;  // the inverse rotation of Rope, in place
  virtual Status GatedActivationBackward(const GatedActivationBackwardArgs& a) = 0;
  virtual Status AttentionBackward(const AttentionBackwardArgs& a) = 0;
  virtual Status Transpose(const TransposeArgs& a) = 0;
  virtual Status Axpby(const AxpbyArgs& a) = 0;
  virtual Status Mul(const MulArgs& a) = 0;
  virtual Status AdamStep(const AdamArgs& a) = 0;
};

// CPU backend: always built into libcaprese.
Status CreateCpuBackend(int num_threads, std::unique_ptr<Backend>* out);

}  // namespace caprese

// The CUDA backend lives in a plugin (libcaprese_cuda.so) that libcaprese loads at run time,
// so the main library works on machines without the CUDA runtime. The plugin exports the
// C functions below; each returns a caprese_status and, on failure, writes a message into
// `msg`. The Backend object handed back is built by the same toolchain in the same build,
// so passing it across is safe; libcaprese deletes it through its virtual destructor.
extern "C" {
typedef int32_t (*caprese_cuda_plugin_abi_fn)(void);
typedef int32_t (*caprese_cuda_plugin_device_count_fn)(int32_t* count, char* msg, size_t msg_size);
typedef int32_t (*caprese_cuda_plugin_device_info_fn)(int32_t device, caprese_device_info* info,
                                                      char* msg, size_t msg_size);
typedef int32_t (*caprese_cuda_plugin_create_fn)(int32_t device, void* stream,
                                                 ::caprese::Backend** out, char* msg,
                                                 size_t msg_size);
}
// Version of the plugin protocol above; libcaprese refuses a plugin that reports another.
// The Backend vtable is part of it (2: SparseFfn and Sample added; 3: the training ops,
// RmsNormBackward .. AdamStep; 4: WriteRows, ReserveScratch and graphs, pos_device in
// RopeArgs and AttentionArgs), so a stale plugin is refused rather than called through the
// wrong slot.
#define CAPRESE_CUDA_PLUGIN_ABI 4
