// out[m, :] = table[ids[m], :] * scale, one block per token. An id outside [0, V) cannot
// fail the launch (the ids live on the device), so the row is zeroed and a flag the backend
// checks in Synchronize() is raised; no out-of-bounds read ever happens.
#include "cuda/cuda_common.cuh"
#include "cuda/kernels.h"

namespace caprese {
namespace cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kThreads)
EmbeddingKernel(const T* __restrict__ table, const int32_t* __restrict__ ids, float* __restrict__ out,
                int64_t vocab, int64_t d, float scale, int* error_flag) {
  const int32_t id = ids[blockIdx.x];
  float* row = out + blockIdx.x * d;
  if (id < 0 || id >= vocab) {
    // Atomic: several blocks may flag at once, and plain concurrent stores are a data race in
    // CUDA's memory model (the simulator's TSan run reported this one).
    if (threadIdx.x == 0) atomicExch(error_flag, 1);
    for (int64_t i = threadIdx.x; i < d; i += kThreads) row[i] = 0.0f;
    return;
  }
  const T* src = table + static_cast<int64_t>(id) * d;
  for (int64_t i = threadIdx.x; i < d; i += kThreads) row[i] = ToFloat(src[i]) * scale;
}

template <typename T>
cudaError_t Launch(const EmbeddingArgs& a, int* flag, cudaStream_t stream) {
  CAPRESE_LAUNCH(EmbeddingKernel<T>, static_cast<unsigned>(a.m), kThreads, 0, stream, 
      static_cast<const T*>(a.table), a.ids, a.out, a.vocab, a.d, a.scale, flag);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchEmbedding(const EmbeddingArgs& a, int* error_flag, cudaStream_t stream) {
  if (a.m > INT32_MAX) return kShapeNotSupported;
  switch (a.table_dtype) {
    case CAPRESE_DTYPE_F32: return Launch<float>(a, error_flag, stream);
    case CAPRESE_DTYPE_F16: return Launch<__half>(a, error_flag, stream);
    case CAPRESE_DTYPE_BF16: return Launch<__nv_bfloat16>(a, error_flag, stream);
    default: return kShapeNotSupported;
  }
}

}  // namespace cuda
}  // namespace caprese
