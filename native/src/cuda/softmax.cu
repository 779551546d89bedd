// Row-wise softmax of x / temperature, one block per row: a pass for the maximum, one
// for Σ exp(x/T - max), one to write. Special rows follow the CPU backend: any NaN gives
// a NaN row; a +inf maximum shares the mass among the +inf entries; a row of only -inf is
// uniform. -inf entries elsewhere (masked logits) get probability 0. Each thread reads and
// writes the same indices, so y may alias x.
#include "cuda/cuda_common.cuh"
#include "cuda/kernels.h"

namespace caprese {
namespace cuda {
namespace {

constexpr int kThreads = 512;

__global__ void __launch_bounds__(kThreads)
SoftmaxKernel(const float* x, float* y, int64_t n, float inv_t) {
  __shared__ float scratch[kWarpSize];
  const float* xr = x + blockIdx.x * n;
  float* yr = y + blockIdx.x * n;
  float mx = -INFINITY, nan = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) {
    const float v = xr[i] * inv_t;
    if (isnan(v)) nan = 1.0f;
    mx = fmaxf(mx, v);
  }
  const float row_max = BlockMax(mx, scratch);
  if (BlockMax(nan, scratch) > 0.0f) {
    for (int64_t i = threadIdx.x; i < n; i += kThreads) yr[i] = NAN;
    return;
  }
  if (isinf(row_max)) {
    // Counted in f32: exact for any row shorter than 2^24.
    float count = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += kThreads) count += xr[i] * inv_t == row_max ? 1.0f : 0.0f;
    const float share = 1.0f / BlockSum(count, scratch);
    for (int64_t i = threadIdx.x; i < n; i += kThreads) yr[i] = xr[i] * inv_t == row_max ? share : 0.0f;
    return;
  }
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) sum += expf(xr[i] * inv_t - row_max);
  const float inv_sum = 1.0f / BlockSum(sum, scratch);
  for (int64_t i = threadIdx.x; i < n; i += kThreads) yr[i] = expf(xr[i] * inv_t - row_max) * inv_sum;
}

}  // namespace

cudaError_t LaunchSoftmax(const SoftmaxArgs& a, cudaStream_t stream) {
  if (a.m > INT32_MAX) return kShapeNotSupported;
  CAPRESE_LAUNCH(SoftmaxKernel, static_cast<unsigned>(a.m), kThreads, 0, stream, a.x, a.y, a.n, 1.0f / a.temperature);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace caprese
