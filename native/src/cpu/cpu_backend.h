// The CPU backend: host memory, a thread pool, and one file per op (matmul.cpp, ...).
// Arguments arrive validated by the API layer; ops only compute.
#pragma once

#include <memory>

#include "core/backend.h"
#include "cpu/thread_pool.h"

namespace caprese {
namespace cpu {

// The op implementations, each in its own file.
Status Matmul(ThreadPool& pool, const MatmulArgs& a);
Status RmsNorm(ThreadPool& pool, const RmsNormArgs& a);
Status Rope(ThreadPool& pool, const RopeArgs& a);
Status Attention(ThreadPool& pool, const AttentionArgs& a);
Status GatedActivation(ThreadPool& pool, const GatedActivationArgs& a);
Status Add(ThreadPool& pool, const AddArgs& a);
Status Softmax(ThreadPool& pool, const SoftmaxArgs& a);
Status Softcap(ThreadPool& pool, const SoftcapArgs& a);
Status Argmax(ThreadPool& pool, const ArgmaxArgs& a);
Status Embedding(ThreadPool& pool, const EmbeddingArgs& a);
Status SparseFfn(ThreadPool& pool, const SparseFfnArgs& a);
Status Sample(ThreadPool& pool, const SampleArgs& a);

// Training ops: rmsnorm_backward.cpp, rope_backward.cpp, gated_activation_backward.cpp,
// attention_backward.cpp, training_elementwise.cpp (transpose, axpby, mul, Adam).
Status RmsNormBackward(ThreadPool& pool, const RmsNormBackwardArgs& a);
Status RopeBackward(ThreadPool& pool, const RopeArgs& a);
Status GatedActivationBackward(ThreadPool& pool, const GatedActivationBackwardArgs& a);
Status AttentionBackward(ThreadPool& pool, const AttentionBackwardArgs& a);
Status Transpose(ThreadPool& pool, const TransposeArgs& a);
Status Axpby(ThreadPool& pool, const AxpbyArgs& a);
Status Mul(ThreadPool& pool, const MulArgs& a);
Status AdamStep(ThreadPool& pool, const AdamArgs& a);

// Elementwise ops split into chunks of this many elements: below it threads cost more
// than they save.
constexpr int64_t kElementwiseGrain = 1 << 15;

// True when the AVX2+FMA+F16C kernels may run: the CPU has them and the environment does not
// set CAPRESE_CPU_SIMD=0 (which forces the portable scalar kernels, so tests cover them).
bool UseAvx2();

}  // namespace cpu

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int num_threads) : pool_(num_threads) {}

  caprese_backend kind() const override { return CAPRESE_BACKEND_CPU; }
  const char* name() const override { return "cpu"; }

  Status Allocate(size_t bytes, void** out) override;
  void Free(void* ptr) noexcept override;
  Status Copy(void* dst, const void* src, size_t bytes, caprese_copy_kind kind) override;
  Status Memset(void* dst, int value, size_t bytes) override;

  Status SetStream(void* stream) override;
  void* GetStream() const override { return nullptr; }
  Status Synchronize() override { return Status::Ok(); }  // every op is done when it returns

  Status CreateEvent(std::unique_ptr<BackendEvent>* out) override;
  Status RecordEvent(BackendEvent* event) override;
  Status SynchronizeEvent(BackendEvent* event) override { return Status::Ok(); }
  Status ElapsedMs(BackendEvent* start, BackendEvent* end, float* ms) override;

  Status Matmul(const MatmulArgs& a) override { return cpu::Matmul(pool_, a); }
  Status RmsNorm(const RmsNormArgs& a) override { return cpu::RmsNorm(pool_, a); }
  Status Rope(const RopeArgs& a) override;            // reads pos_device here, then cpu::Rope
  Status Attention(const AttentionArgs& a) override;  // likewise
  Status WriteRows(const WriteRowsArgs& a) override;
  Status ReserveScratch(size_t) override { return Status::Ok(); }  // no shared scratch
  Status BeginCapture() override;                                 // NOT_SUPPORTED: graphs are CUDA's
  Status EndCapture(std::unique_ptr<BackendGraph>* out) override;
  Status LaunchGraph(BackendGraph* graph) override;
  Status GatedActivation(const GatedActivationArgs& a) override { return cpu::GatedActivation(pool_, a); }
  Status Add(const AddArgs& a) override { return cpu::Add(pool_, a); }
  Status Softmax(const SoftmaxArgs& a) override { return cpu::Softmax(pool_, a); }
  Status Softcap(const SoftcapArgs& a) override { return cpu::Softcap(pool_, a); }
  Status Argmax(const ArgmaxArgs& a) override { return cpu::Argmax(pool_, a); }
  Status Embedding(const EmbeddingArgs& a) override { return cpu::Embedding(pool_, a); }
  Status SparseFfn(const SparseFfnArgs& a) override { return cpu::SparseFfn(pool_, a); }
  Status Sample(const SampleArgs& a) override { return cpu::Sample(pool_, a); }
  Status RmsNormBackward(const RmsNormBackwardArgs& a) override { return cpu::RmsNormBackward(pool_, a); }
  Status RopeBackward(const RopeArgs& a) override { return cpu::RopeBackward(pool_, a); }
  Status GatedActivationBackward(const GatedActivationBackwardArgs& a) override {
    return cpu::GatedActivationBackward(pool_, a);
  }
  Status AttentionBackward(const AttentionBackwardArgs& a) override { return cpu::AttentionBackward(pool_, a); }
  Status Transpose(const TransposeArgs& a) override { return cpu::Transpose(pool_, a); }
  Status Axpby(const AxpbyArgs& a) override { return cpu::Axpby(pool_, a); }
  Status Mul(const MulArgs& a) override { return cpu::Mul(pool_, a); }
  Status AdamStep(const AdamArgs& a) override { return cpu::AdamStep(pool_, a); }

 private:
  ThreadPool pool_;
};

}  // namespace caprese
