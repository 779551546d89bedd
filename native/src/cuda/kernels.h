// Launchers of the CUDA kernels, one per .cu file. Each takes the validated argument struct
// of core/backend.h plus a stream, enqueues its kernel(s) and returns the launch error;
// nothing here synchronises. Plain C++ so the backend and tools can include it.
#pragma once

#include <cuda_runtime.h>
#ifndef CAPRESE_CUDA_SIM
#include <cublas_v2.h>
#endif

#include <cstddef>

#include "core/backend.h"

namespace caprese {
namespace cuda {

// What a launcher returns for a shape or dtype it does not cover: a value no CUDA runtime
// returns (just past cudaErrorUnknown = 999, inside the enum's range), so the backend can
// tell it apart from the runtime's own cudaErrorNotSupported (a device or driver
// limitation), which is reported as the CUDA error it is.
constexpr cudaError_t kShapeNotSupported = static_cast<cudaError_t>(1000);

// gemv.cu: y = x · wᵀ (+ bias) for 1 <= M <= kGemvMaxRows; streams w once for all rows.
constexpr int kGemvMaxRows = 16;
cudaError_t LaunchGemv(const MatmulArgs& a, cudaStream_t stream);

#ifndef CAPRESE_CUDA_SIM  // the simulator has no cuBLAS (CudaBackend::Matmul says what it runs instead)
// matmul_cublas.cu: M > kGemvMaxRows through cuBLAS. f16/bf16 weights need
// MatmulCublasScratchBytes() of device scratch (x cast to the weight dtype).
size_t MatmulCublasScratchBytes(const MatmulArgs& a);
// Returns a cuBLAS status; a CUDA launch error of the cast/bias kernels is put in *launch.
cublasStatus_t LaunchMatmulCublas(const MatmulArgs& a, cublasHandle_t handle, void* scratch,
                                  cudaStream_t stream, cudaError_t* launch);
// y[m, :] += bias for every row (also used by the cuBLAS path).
cudaError_t LaunchAddBias(float* y, const float* bias, int64_t m, int64_t n, cudaStream_t stream);
#endif

cudaError_t LaunchRmsNorm(const RmsNormArgs& a, cudaStream_t stream);
// rope.cu: with a.pos_device, a negative position sets *error_flag to 3 and leaves x alone.
cudaError_t LaunchRope(const RopeArgs& a, int* error_flag, cudaStream_t stream);

// attention.cu: the cache keys of each (row, head) are split over `splits` blocks (flash
// decoding); splits > 1 needs AttentionScratchBytes() of scratch. With a.pos_device the
// position is known only on the device: AttentionSplits sizes the grid for the largest
// position (pos0 = S - M), and each block derives the split count the by-value op would use
// at the actual position (so results are bitwise equal), idle blocks returning at once. A
// position out of range sets *error_flag to 3 and leaves out unwritten.
constexpr int kAttentionMaxHeadDim = 256;
int AttentionSplits(const AttentionArgs& a, int multiprocessors);
size_t AttentionScratchBytes(const AttentionArgs& a, int splits);
cudaError_t LaunchAttention(const AttentionArgs& a, int splits, void* scratch, int multiprocessors, int* error_flag,
                            cudaStream_t stream);

// write_rows.cu: dst rows *pos_device .. + rows - 1 = src; out of range sets *error_flag to 3.
cudaError_t LaunchWriteRows(const WriteRowsArgs& a, int* error_flag, cudaStream_t stream);

cudaError_t LaunchGatedActivation(const GatedActivationArgs& a, cudaStream_t stream);
cudaError_t LaunchAdd(const AddArgs& a, cudaStream_t stream);
cudaError_t LaunchSoftcap(const SoftcapArgs& a, cudaStream_t stream);
cudaError_t LaunchSoftmax(const SoftmaxArgs& a, cudaStream_t stream);
cudaError_t LaunchArgmax(const ArgmaxArgs& a, cudaStream_t stream);
// embedding.cu: an id outside [0, V) zeroes its row and sets *error_flag (device-visible).
cudaError_t LaunchEmbedding(const EmbeddingArgs& a, int* error_flag, cudaStream_t stream);

// sparse_ffn.cu: M <= 16. PlanSparseFfn picks the fused kernel instance (and raises its
// shared-memory limit), sizes the grid from that instance's occupancy and lays out the
// scratch (partial sums; THRESHOLD also the gate, the masked activations and the compacted
// active list), once per call; LaunchSparseFfn runs the plan on plan.scratch_bytes of scratch.
// An index outside [0, H) is skipped and sets *error_flag to 2 (device-visible).
// Kernel variants (sparse_ffn.cu has what each does), kept selectable so a GPU run compares
// them: PlanSparseFfn takes CAPRESE_SPARSE_FFN_VARIANT = serial | tree | wide (unset: wide;
// anything else fails the call with cudaErrorInvalidValue and a line on stderr), and
// PlanSparseFfnVariant takes the variant as an argument.
enum class SparseFfnVariant : int { kSerial = 0, kTree = 1, kWide = 2 };
const char* SparseFfnVariantName(SparseFfnVariant v);
bool SparseFfnVariantFromEnv(SparseFfnVariant* out);  // false: the variable names no variant
struct SparseFfnPlan {
  SparseFfnVariant variant = SparseFfnVariant::kSerial;
  const void* kernel = nullptr;  // the FusedKernel instance
  size_t smem = 0;               // its dynamic shared memory (the x tile)
  int ks = 0, k_tile = 0;        // x tile stride and width, in floats
  int blocks = 1, compact_blocks = 0;
  // The parallel reduction (variants tree and wide, blocks > 1): its instance, grid and words
  // (M·D / floats per word); nullptr: SumPartialsKernel.
  const void* reduce_kernel = nullptr;
  int reduce_blocks = 0;
  int64_t reduce_words = 0;
  size_t off_partial = 0, off_gate = 0, off_act = 0, off_list = 0, off_counts = 0, scratch_bytes = 0;
};
cudaError_t PlanSparseFfn(const SparseFfnArgs& a, int multiprocessors, SparseFfnPlan* plan);
cudaError_t PlanSparseFfnVariant(const SparseFfnArgs& a, int multiprocessors, SparseFfnVariant variant,
                                 SparseFfnPlan* plan);
cudaError_t LaunchSparseFfn(const SparseFfnArgs& a, const SparseFfnPlan& plan, void* scratch, int* error_flag,
                            cudaStream_t stream);

// sample.cu: one block per row, no scratch; the ids match the CPU backend's exactly.
cudaError_t LaunchSample(const SampleArgs& a, cudaStream_t stream);

// Training ops, one kernel file each (rmsnorm_backward.cu,
// gated_activation_backward.cu, attention_backward.cu, transpose.cu, axpby.cu, mul.cu, adam.cu;
// the rope gradient is the reverse rotation in rope.cu).
cudaError_t LaunchRmsNormBackward(const RmsNormBackwardArgs& a, cudaStream_t stream);
cudaError_t LaunchRopeBackward(const RopeArgs& a, cudaStream_t stream);
cudaError_t LaunchGatedActivationBackward(const GatedActivationBackwardArgs& a, cudaStream_t stream);
// attention_backward.cu: needs AttentionBackwardScratchBytes() of scratch (lse and D per
// query row and head), head_dim <= kAttentionMaxHeadDim.
size_t AttentionBackwardScratchBytes(const AttentionBackwardArgs& a);
cudaError_t LaunchAttentionBackward(const AttentionBackwardArgs& a, void* scratch, cudaStream_t stream);
cudaError_t LaunchTranspose(const TransposeArgs& a, cudaStream_t stream);
cudaError_t LaunchAxpby(const AxpbyArgs& a, cudaStream_t stream);
cudaError_t LaunchMul(const MulArgs& a, cudaStream_t stream);
cudaError_t LaunchAdamStep(const AdamArgs& a, cudaStream_t stream);

}  // namespace cuda
}  // namespace caprese
