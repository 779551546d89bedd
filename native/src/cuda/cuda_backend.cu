// CudaBackend: stream/handle/scratch management and the Status mapping of every CUDA call;
// the kernels themselves live one per file behind the launchers of kernels.h.
#include "cuda/cuda_backend.h"

#include <cstring>
#include <new>

#include "cuda/kernels.h"

namespace caprese {
namespace cuda {
namespace {

class CudaGraph final : public BackendGraph {
 public:
  ~CudaGraph() override {
    if (exec != nullptr) cudaGraphExecDestroy(exec);
  }
  cudaGraphExec_t exec = nullptr;
  std::shared_ptr<void> scratch;  // the scratch block its kernels were captured on
};

class CudaEvent final : public BackendEvent {
 public:
  ~CudaEvent() override {
    if (event != nullptr) cudaEventDestroy(event);
  }
  cudaEvent_t event = nullptr;
  int device = 0;
};

#ifndef CAPRESE_CUDA_SIM
const char* CublasName(cublasStatus_t st) {
  switch (st) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: break;
  }
  return "unknown cuBLAS status";
}

Status FromCublas(cublasStatus_t st, const char* what) {
  if (st == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  if (st == CUBLAS_STATUS_ALLOC_FAILED)
    return Fail(CAPRESE_ERROR_OUT_OF_MEMORY, "%s: cuBLAS could not allocate device memory", what);
  return Fail(CAPRESE_ERROR_DEVICE, "%s: cuBLAS failed with %s", what, CublasName(st));
}
#endif

}  // namespace

Status FromCuda(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return Status::Ok();
  cudaGetLastError();  // clear a non-sticky error so it does not leak into the next call
  switch (err) {
    case cudaErrorMemoryAllocation:
      return Fail(CAPRESE_ERROR_OUT_OF_MEMORY, "%s: out of device memory (%s)", what, cudaGetErrorString(err));
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInitializationError:
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorSystemDriverMismatch:
    case cudaErrorCompatNotSupportedOnDevice:
      return Fail(CAPRESE_ERROR_BACKEND_UNAVAILABLE, "%s: %s (%s)", what, cudaGetErrorString(err),
                  cudaGetErrorName(err));
    default:
      return Fail(CAPRESE_ERROR_DEVICE, "%s: %s (%s)", what, cudaGetErrorString(err), cudaGetErrorName(err));
  }
}

// Also the answer when there is no driver or no GPU at all: the runtime fails cleanly here,
// and the message says so instead of a bare CUDA error name. Probe and Create share it, so
// users see the same reason whichever they call first.
Status CudaBackend::DeviceCount(int32_t* count) {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return Fail(CAPRESE_ERROR_BACKEND_UNAVAILABLE,
                "CUDA backend unavailable: cudaGetDeviceCount failed: %s (%s). "
                "Is an NVIDIA GPU present and its driver loaded (try nvidia-smi)?",
                cudaGetErrorString(err), cudaGetErrorName(err));
  }
  *count = n;
  return Status::Ok();
}

Status CudaBackend::Create(int device, void* stream, std::unique_ptr<Backend>* out) {
  int32_t count = 0;
  CAPRESE_RETURN_IF_ERROR(DeviceCount(&count));
  if (count == 0) return Fail(CAPRESE_ERROR_BACKEND_UNAVAILABLE, "CUDA backend unavailable: no CUDA GPU found");
  if (device < 0 || device >= count)
    return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "device: ordinal %d out of range (%d %s%s found)",
                device, count, kDeviceNoun, count == 1 ? "" : "s");
  std::unique_ptr<CudaBackend> be(new CudaBackend(device));
  CAPRESE_RETURN_IF_ERROR(be->Init(stream));
  *out = std::move(be);
  return Status::Ok();
}

Status CudaBackend::Init(void* stream) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  CAPRESE_RETURN_IF_ERROR(FromCuda(cudaDeviceGetAttribute(&multiprocessors_, cudaDevAttrMultiProcessorCount, device_),
                                   "cudaDeviceGetAttribute"));
  // Non-blocking: our work must not serialise against the legacy default stream of others.
  CAPRESE_RETURN_IF_ERROR(FromCuda(cudaStreamCreateWithFlags(&own_stream_, cudaStreamNonBlocking),
                                   "cudaStreamCreateWithFlags"));
  stream_ = own_stream_;
#ifndef CAPRESE_CUDA_SIM
  CAPRESE_RETURN_IF_ERROR(FromCublas(cublasCreate(&cublas_), "cublasCreate"));
  CAPRESE_RETURN_IF_ERROR(FromCublas(cublasSetStream(cublas_, stream_), "cublasSetStream"));
  // Plain f32 SGEMM (no TF32) so f32 weights keep f32 accuracy, whatever the cuBLAS default.
  CAPRESE_RETURN_IF_ERROR(FromCublas(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH), "cublasSetMathMode"));
#endif
  // Host-mapped so Synchronize() can read it without a copy once the stream is idle.
  CAPRESE_RETURN_IF_ERROR(FromCuda(cudaHostAlloc(reinterpret_cast<void**>(&error_flag_host_), sizeof(int),
                                                 cudaHostAllocMapped),
                                   "cudaHostAlloc(error flag)"));
  *error_flag_host_ = 0;
  CAPRESE_RETURN_IF_ERROR(FromCuda(cudaHostGetDevicePointer(reinterpret_cast<void**>(&error_flag_dev_),
                                                            error_flag_host_, 0),
                                   "cudaHostGetDevicePointer(error flag)"));
  if (stream != nullptr) CAPRESE_RETURN_IF_ERROR(SetStream(stream));
  return Status::Ok();
}

CudaBackend::~CudaBackend() {
  // Destruction must not throw or fail loudly; errors here are ignored on purpose.
  if (cudaSetDevice(device_) != cudaSuccess) cudaGetLastError();
  // No stream sync: the caller's stream may already be gone. cudaFree/cudaFreeHost wait for
  // the device, so kernels still using scratch or the flag finish first.
#ifndef CAPRESE_CUDA_SIM
  if (cublas_ != nullptr) cublasDestroy(cublas_);
#endif
  scratch_block_.reset();  // freed now unless a graph still holds it
  if (error_flag_host_ != nullptr) cudaFreeHost(error_flag_host_);
  if (own_stream_ != nullptr) cudaStreamDestroy(own_stream_);
  cudaGetLastError();
}

Status CudaBackend::Activate() const { return FromCuda(cudaSetDevice(device_), "cudaSetDevice"); }

Status CudaBackend::Launched(cudaError_t err, const char* op) const {
  // Only our launchers return kShapeNotSupported; the runtime's own cudaErrorNotSupported
  // (a device or driver limitation) stays a device error.
  if (err == kShapeNotSupported)
    return Fail(CAPRESE_ERROR_SHAPE, "%s: shape or dtype not supported by the CUDA backend's kernels", op);
  return FromCuda(err, op);
}

Status CudaBackend::Scratch(size_t bytes, void** out) {
  if (bytes > scratch_bytes_) {
    // Allocation and free are not capturable: a graph must be captured after a warm-up call
    // has sized the scratch. Say so instead of invalidating the caller's capture.
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    CAPRESE_RETURN_IF_ERROR(FromCuda(cudaStreamIsCapturing(stream_, &capture), "cudaStreamIsCapturing"));
    if (capture != cudaStreamCaptureStatusNone)
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT,
                  "the op needs %zu bytes of scratch but has %zu, and the stream is being captured into a CUDA "
                  "graph, where device memory cannot be allocated: run the same ops once before capturing",
                  bytes, scratch_bytes_);
    // The new buffer first: if it cannot be had, the old one (enough for earlier shapes) is
    // kept. cudaFree then waits for the device, so kernels still reading the old one are done.
    const size_t grow = bytes + bytes / 4;  // headroom so slowly growing shapes do not realloc each time
    void* fresh = nullptr;
    CAPRESE_RETURN_IF_ERROR(Allocate(grow, &fresh));
    const int device = device_;
    scratch_block_.reset(fresh, [device](void* p) {
      if (cudaSetDevice(device) != cudaSuccess || cudaFree(p) != cudaSuccess) cudaGetLastError();
    });
    scratch_ = fresh;
    scratch_bytes_ = grow;
  }
  *out = scratch_;
  return Status::Ok();
}

bool CudaBackend::Capturing() const {
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream_, &capture) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return capture != cudaStreamCaptureStatusNone;
}

Status CudaBackend::ReserveScratch(size_t bytes) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  void* unused = nullptr;
  return bytes > 0 ? Scratch(bytes, &unused) : Status::Ok();
}

Status CudaBackend::BeginCapture() {
  CAPRESE_RETURN_IF_ERROR(Activate());
  if (Capturing()) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "graph_begin_capture: the context's stream is already being captured");
  // Thread-local: other threads' unrelated CUDA calls stay legal while we capture.
  return FromCuda(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
}

Status CudaBackend::EndCapture(std::unique_ptr<BackendGraph>* out) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  if (!Capturing())
    return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "graph_end_capture: no capture was begun on the context's stream");
  cudaGraph_t graph = nullptr;
  CAPRESE_RETURN_IF_ERROR(FromCuda(cudaStreamEndCapture(stream_, &graph), "cudaStreamEndCapture"));
  std::unique_ptr<CudaGraph> g(new CudaGraph());
  g->scratch = scratch_block_;  // growth is refused while capturing: this is the capture's block
  const cudaError_t err = cudaGraphInstantiateWithFlags(&g->exec, graph, 0);
  cudaGraphDestroy(graph);  // the executable graph is independent of its template
  CAPRESE_RETURN_IF_ERROR(FromCuda(err, "cudaGraphInstantiateWithFlags"));
  *out = std::move(g);
  return Status::Ok();
}

Status CudaBackend::LaunchGraph(BackendGraph* graph) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  return FromCuda(cudaGraphLaunch(static_cast<CudaGraph*>(graph)->exec, stream_), "cudaGraphLaunch");
}

Status CudaBackend::Allocate(size_t bytes, void** out) {
  *out = nullptr;
  CAPRESE_RETURN_IF_ERROR(Activate());
  if (Capturing())
    return Fail(CAPRESE_ERROR_INVALID_ARGUMENT,
                "buffer_create: device memory cannot be allocated while the context's stream is captured into a graph");
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    cudaGetLastError();
    const caprese_status code = err == cudaErrorMemoryAllocation ? CAPRESE_ERROR_OUT_OF_MEMORY : CAPRESE_ERROR_DEVICE;
    return Fail(code, "cudaMalloc of %zu bytes (%.2f GiB) on device %d failed: %s; %.2f GiB free of %.2f GiB",
                bytes, bytes / 1073741824.0, device_, cudaGetErrorString(err), free_b / 1073741824.0,
                total_b / 1073741824.0);
  }
  // Zeroed before anyone can see it: the memset is ordered on our stream and waited for,
  // because the caller may hand the pointer to other streams or runtimes.
  err = cudaMemsetAsync(p, 0, bytes, stream_);
  if (err == cudaSuccess) err = cudaStreamSynchronize(stream_);
  if (err != cudaSuccess) {
    cudaFree(p);
    return FromCuda(err, "cudaMemsetAsync (zeroing a new buffer)");
  }
  *out = p;
  return Status::Ok();
}

void CudaBackend::Free(void* ptr) noexcept {
  if (ptr == nullptr) return;
  if (cudaSetDevice(device_) != cudaSuccess || cudaFree(ptr) != cudaSuccess) cudaGetLastError();
}

Status CudaBackend::Copy(void* dst, const void* src, size_t bytes, caprese_copy_kind kind) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  if (kind != CAPRESE_COPY_DEVICE_TO_DEVICE && Capturing())
    return Fail(CAPRESE_ERROR_INVALID_ARGUMENT,
                "copy: copies from or to host memory cannot be captured into a graph (they wait for the stream); "
                "write varying inputs to device memory before launching the graph");
  if (kind == CAPRESE_COPY_HOST_TO_HOST) {
    std::memmove(dst, src, bytes);
    return Status::Ok();
  }
  const cudaMemcpyKind k = kind == CAPRESE_COPY_HOST_TO_DEVICE   ? cudaMemcpyHostToDevice
                           : kind == CAPRESE_COPY_DEVICE_TO_HOST ? cudaMemcpyDeviceToHost
                                                                 : cudaMemcpyDeviceToDevice;
  CAPRESE_RETURN_IF_ERROR(FromCuda(cudaMemcpyAsync(dst, src, bytes, k, stream_), "cudaMemcpyAsync"));
  // Host memory is pageable and the caller may reuse it at once: wait for host copies.
  if (k != cudaMemcpyDeviceToDevice)
    CAPRESE_RETURN_IF_ERROR(FromCuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize (after a host copy)"));
  return Status::Ok();
}

Status CudaBackend::Memset(void* dst, int value, size_t bytes) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  return FromCuda(cudaMemsetAsync(dst, value, bytes, stream_), "cudaMemsetAsync");
}

Status CudaBackend::SetStream(void* stream) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  cudaStream_t next = stream != nullptr ? static_cast<cudaStream_t>(stream) : own_stream_;
  if (next == stream_) return Status::Ok();
  // Work already queued on the old stream (it may use our scratch) must finish before the
  // new stream runs ours: make the new stream wait for it, without blocking the host.
  cudaEvent_t fence = nullptr;
  CAPRESE_RETURN_IF_ERROR(FromCuda(cudaEventCreateWithFlags(&fence, cudaEventDisableTiming), "cudaEventCreate"));
  cudaError_t err = cudaEventRecord(fence, stream_);
  if (err == cudaSuccess) err = cudaStreamWaitEvent(next, fence, 0);
  cudaEventDestroy(fence);  // released once the wait is satisfied
  if (err != cudaSuccess) return FromCuda(err, "set_stream (ordering after the previous stream)");
#ifndef CAPRESE_CUDA_SIM
  CAPRESE_RETURN_IF_ERROR(FromCublas(cublasSetStream(cublas_, next), "cublasSetStream"));
#endif
  stream_ = next;
  return Status::Ok();
}

Status CudaBackend::Synchronize() {
  CAPRESE_RETURN_IF_ERROR(Activate());
  if (Capturing())
    return Fail(CAPRESE_ERROR_INVALID_ARGUMENT,
                "synchronize: the context's stream is being captured into a graph; end the capture first");
  CAPRESE_RETURN_IF_ERROR(FromCuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"));
  volatile int* flag = error_flag_host_;
  if (*flag != 0) {
    const int which = *flag;  // 1: embedding, 2: sparse_ffn, 3: a device position (each kernel stores its own value)
    *flag = 0;
    if (which == 2) return Fail(CAPRESE_ERROR_OUT_OF_RANGE, "sparse_ffn: an index was outside [0, H) (skipped)");
    if (which == 3)
      return Fail(CAPRESE_ERROR_OUT_OF_RANGE,
                  "rope_at / attention_at / write_rows_at: the position in `pos` was out of range (output not written)");
    return Fail(CAPRESE_ERROR_OUT_OF_RANGE, "embedding: a token id was outside [0, V)");
  }
  return Status::Ok();
}

Status CudaBackend::CreateEvent(std::unique_ptr<BackendEvent>* out) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  std::unique_ptr<CudaEvent> ev(new CudaEvent());
  ev->device = device_;
  CAPRESE_RETURN_IF_ERROR(FromCuda(cudaEventCreate(&ev->event), "cudaEventCreate"));
  *out = std::move(ev);
  return Status::Ok();
}

Status CudaBackend::RecordEvent(BackendEvent* event) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  return FromCuda(cudaEventRecord(static_cast<CudaEvent*>(event)->event, stream_), "cudaEventRecord");
}

Status CudaBackend::SynchronizeEvent(BackendEvent* event) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  return FromCuda(cudaEventSynchronize(static_cast<CudaEvent*>(event)->event), "cudaEventSynchronize");
}

Status CudaBackend::ElapsedMs(BackendEvent* start, BackendEvent* end, float* ms) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  return FromCuda(cudaEventElapsedTime(ms, static_cast<CudaEvent*>(start)->event,
                                       static_cast<CudaEvent*>(end)->event),
                  "cudaEventElapsedTime (were both events recorded and completed?)");
}

// ------------------------------------------------------------------------------ ops

Status CudaBackend::Matmul(const MatmulArgs& a) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  if (a.m <= kGemvMaxRows) return Launched(LaunchGemv(a, stream_), "matmul (gemv)");
#ifdef CAPRESE_CUDA_SIM
  // cuBLAS has no simulator: prefill-sized products run the decode kernel on 16 rows at a
  // time (rows of x and y are contiguous), which is what the backend's info reports.
  for (int64_t r0 = 0; r0 < a.m; r0 += kGemvMaxRows) {
    MatmulArgs part = a;
    part.x = a.x + r0 * a.k;
    part.y = a.y + r0 * a.n;
    part.m = a.m - r0 < kGemvMaxRows ? a.m - r0 : kGemvMaxRows;
    CAPRESE_RETURN_IF_ERROR(Launched(LaunchGemv(part, stream_), "matmul (cuda-sim: gemv in 16-row chunks)"));
  }
  return Status::Ok();
#else
  void* scratch = nullptr;
  const size_t need = MatmulCublasScratchBytes(a);
  if (need > 0) CAPRESE_RETURN_IF_ERROR(Scratch(need, &scratch));
  cudaError_t launch = cudaSuccess;
  const cublasStatus_t st = LaunchMatmulCublas(a, cublas_, scratch, stream_, &launch);
  if (launch != cudaSuccess) return Launched(launch, "matmul (cuBLAS path)");
  return FromCublas(st, "matmul (cuBLAS path)");
#endif
}

Status CudaBackend::RmsNorm(const RmsNormArgs& a) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  return Launched(LaunchRmsNorm(a, stream_), "rmsnorm");
}

Status CudaBackend::Rope(const RopeArgs& a) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  return Launched(LaunchRope(a, error_flag_dev_, stream_), "rope");
}

Status CudaBackend::Attention(const AttentionArgs& a) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  if (a.head_dim > kAttentionMaxHeadDim)
    return Fail(CAPRESE_ERROR_SHAPE, "attention: head_dim %lld exceeds the CUDA backend's limit of %d",
                static_cast<long long>(a.head_dim), kAttentionMaxHeadDim);
  const int splits = AttentionSplits(a, multiprocessors_);
  void* scratch = nullptr;
  const size_t need = AttentionScratchBytes(a, splits);
  if (need > 0) CAPRESE_RETURN_IF_ERROR(Scratch(need, &scratch));
  return Launched(LaunchAttention(a, splits, scratch, multiprocessors_, error_flag_dev_, stream_), "attention");
}

Status CudaBackend::GatedActivation(const GatedActivationArgs& a) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  return Launched(LaunchGatedActivation(a, stream_), "gated_activation");
}

Status CudaBackend::Add(const AddArgs& a) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  return Launched(LaunchAdd(a, stream_), "add");
}

Status CudaBackend::Softmax(const SoftmaxArgs& a) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  return Launched(LaunchSoftmax(a, stream_), "softmax");
}

Status CudaBackend::Softcap(const SoftcapArgs& a) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  return Launched(LaunchSoftcap(a, stream_), "softcap");
}

Status CudaBackend::Argmax(const ArgmaxArgs& a) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  return Launched(LaunchArgmax(a, stream_), "argmax");
}

Status CudaBackend::Embedding(const EmbeddingArgs& a) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  return Launched(LaunchEmbedding(a, error_flag_dev_, stream_), "embedding");
}

Status CudaBackend::SparseFfn(const SparseFfnArgs& a) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  SparseFfnPlan plan;
  CAPRESE_RETURN_IF_ERROR(Launched(PlanSparseFfn(a, multiprocessors_, &plan), "sparse_ffn"));
  void* scratch = nullptr;
  if (plan.scratch_bytes > 0) CAPRESE_RETURN_IF_ERROR(Scratch(plan.scratch_bytes, &scratch));
  return Launched(LaunchSparseFfn(a, plan, scratch, error_flag_dev_, stream_), "sparse_ffn");
}

Status CudaBackend::Sample(const SampleArgs& a) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  return Launched(LaunchSample(a, stream_), "sample");
}

Status CudaBackend::WriteRows(const WriteRowsArgs& a) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  return Launched(LaunchWriteRows(a, error_flag_dev_, stream_), "write_rows_at");
}

// ----------------------------------------------------------------------- training ops

Status CudaBackend::RmsNormBackward(const RmsNormBackwardArgs& a) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  return Launched(LaunchRmsNormBackward(a, stream_), "rmsnorm_backward");
}

Status CudaBackend::RopeBackward(const RopeArgs& a) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  return Launched(LaunchRopeBackward(a, stream_), "rope_backward");
}

Status CudaBackend::GatedActivationBackward(const GatedActivationBackwardArgs& a) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  return Launched(LaunchGatedActivationBackward(a, stream_), "gated_activation_backward");
}

Status CudaBackend::AttentionBackward(const AttentionBackwardArgs& a) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  if (a.head_dim > kAttentionMaxHeadDim)
    return Fail(CAPRESE_ERROR_SHAPE, "attention_backward: head_dim %lld exceeds the CUDA backend's limit of %d",
                static_cast<long long>(a.head_dim), kAttentionMaxHeadDim);
  void* scratch = nullptr;
  CAPRESE_RETURN_IF_ERROR(Scratch(AttentionBackwardScratchBytes(a), &scratch));
  return Launched(LaunchAttentionBackward(a, scratch, stream_), "attention_backward");
}

Status CudaBackend::Transpose(const TransposeArgs& a) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  return Launched(LaunchTranspose(a, stream_), "transpose");
}

Status CudaBackend::Axpby(const AxpbyArgs& a) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  return Launched(LaunchAxpby(a, stream_), "axpby");
}

Status CudaBackend::Mul(const MulArgs& a) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  return Launched(LaunchMul(a, stream_), "mul");
}

Status CudaBackend::AdamStep(const AdamArgs& a) {
  CAPRESE_RETURN_IF_ERROR(Activate());
  return Launched(LaunchAdamStep(a, stream_), "adam_step");
}

}  // namespace cuda
}  // namespace caprese
