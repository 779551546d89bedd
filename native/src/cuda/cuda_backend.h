// caprese::Backend on one CUDA device. Owns a non-blocking stream (or runs on a caller's),
// a cuBLAS handle bound to the current stream, a scratch buffer grown on demand and a
// host-mapped flag through which kernels report data errors (out-of-range token ids).
#pragma once

#include <cuda_runtime.h>
#ifndef CAPRESE_CUDA_SIM
#include <cublas_v2.h>
#endif

#include <memory>

#include "core/backend.h"

namespace caprese {
namespace cuda {

// How the device is named in messages: the simulator must not pass for a GPU.
#ifdef CAPRESE_CUDA_SIM
constexpr const char* kDeviceNoun = "simulated CUDA device";
#else
constexpr const char* kDeviceNoun = "CUDA device";
#endif

// CUDA errors as Status: allocation failures -> OUT_OF_MEMORY, missing GPU/driver ->
// BACKEND_UNAVAILABLE, everything else -> DEVICE; the message names `what`.
Status FromCuda(cudaError_t err, const char* what);

class CudaBackend final : public Backend {
 public:
  // Validates `device` (INVALID_ARGUMENT naming the device count) and sets everything up.
  static Status DeviceCount(int32_t* count);
  static Status Create(int device, void* stream, std::unique_ptr<Backend>* out);
  ~CudaBackend() override;

#ifdef CAPRESE_CUDA_SIM
  // The same backend over cuda-sim (libcaprese_cudasim.so): the kernels run on the CPU.
  caprese_backend kind() const override { return CAPRESE_BACKEND_CUDA_SIM; }
  const char* name() const override { return "cuda-sim"; }
#else
  caprese_backend kind() const override { return CAPRESE_BACKEND_CUDA; }
  const char* name() const override { return "cuda"; }
#endif

  Status Allocate(size_t bytes, void** out) override;
  void Free(void* ptr) noexcept override;
  Status Copy(void* dst, const void* src, size_t bytes, caprese_copy_kind kind) override;
  Status Memset(void* dst, int value, size_t bytes) override;

  Status SetStream(void* stream) override;
  // The stream ops run on now (the own one too), so callers can order their work after ours.
  void* GetStream() const override { return stream_; }
  Status Synchronize() override;

  Status CreateEvent(std::unique_ptr<BackendEvent>* out) override;
  Status RecordEvent(BackendEvent* event) override;
  Status SynchronizeEvent(BackendEvent* event) override;
  Status ElapsedMs(BackendEvent* start, BackendEvent* end, float* ms) override;

  Status Matmul(const MatmulArgs& a) override;
  Status RmsNorm(const RmsNormArgs& a) override;
  Status Rope(const RopeArgs& a) override;
  Status Attention(const AttentionArgs& a) override;
  Status GatedActivation(const GatedActivationArgs& a) override;
  Status Add(const AddArgs& a) override;
  Status Softmax(const SoftmaxArgs& a) override;
  Status Softcap(const SoftcapArgs& a) override;
  Status Argmax(const ArgmaxArgs& a) override;
  Status Embedding(const EmbeddingArgs& a) override;
  Status SparseFfn(const SparseFfnArgs& a) override;
  Status Sample(const SampleArgs& a) override;
  Status WriteRows(const WriteRowsArgs& a) override;
  Status ReserveScratch(size_t bytes) override;
  Status BeginCapture() override;
  Status EndCapture(std::unique_ptr<BackendGraph>* out) override;
  Status LaunchGraph(BackendGraph* graph) override;
  Status RmsNormBackward(const RmsNormBackwardArgs& a) override;
  Status RopeBackward(const RopeArgs& a) override;
  Status GatedActivationBackward(const GatedActivationBackwardArgs& a) override;
  Status AttentionBackward(const AttentionBackwardArgs& a) override;
  Status Transpose(const TransposeArgs& a) override;
  Status Axpby(const AxpbyArgs& a) override;
  Status Mul(const MulArgs& a) override;
  Status AdamStep(const AdamArgs& a) override;

 private:
  explicit CudaBackend(int device) : device_(device) {}
  Status Init(void* stream);
  Status Activate() const;  // cudaSetDevice: callers may drive several devices from one thread
  Status Scratch(size_t bytes, void** out);
  Status Launched(cudaError_t err, const char* op) const;
  bool Capturing() const;  // whether stream_ is being captured into a graph

  int device_;
  int multiprocessors_ = 1;
  cudaStream_t own_stream_ = nullptr;
  cudaStream_t stream_ = nullptr;  // own_stream_ or the caller's (never destroyed by us)
#ifndef CAPRESE_CUDA_SIM
  cublasHandle_t cublas_ = nullptr;
#endif
  // The scratch block is shared with the graphs captured while it was current: a graph replays
  // its kernels on the scratch pointers of its capture, so growing the scratch later must not
  // free the block under it. The last owner frees it.
  std::shared_ptr<void> scratch_block_;
  void* scratch_ = nullptr;
  size_t scratch_bytes_ = 0;
  int* error_flag_host_ = nullptr;  // pinned, mapped: kernels write, Synchronize reads
  int* error_flag_dev_ = nullptr;
};

}  // namespace cuda
}  // namespace caprese
