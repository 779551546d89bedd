// out = alpha · a + beta · b, grid-stride; each element is read before it is written by the
// same thread, so out may alias a or b.
#include "cuda/cuda_common.cuh"
#include "cuda/kernels.h"

namespace caprese {
namespace cuda {
namespace {

constexpr int kThreads = 256;

__global__ void AxpbyKernel(float alpha, const float* a, float beta, const float* b, float* out, int64_t count) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; i < count; i += stride)
    out[i] = alpha * a[i] + beta * b[i];
}

}  // namespace

cudaError_t LaunchAxpby(const AxpbyArgs& a, cudaStream_t stream) {
  const int64_t blocks = (a.count + kThreads - 1) / kThreads;
  const unsigned grid = static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 16384 ? 16384 : blocks));
  CAPRESE_LAUNCH(AxpbyKernel, grid, kThreads, 0, stream, a.alpha, a.a, a.beta, a.b, a.out, a.count);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace caprese
