// y = x / sqrt(mean(x²) + eps) * (weight_offset + w), one block per row. The row is read
// twice (sum of squares, then scale); the second read hits L1/L2 for decode-sized rows.
#include "cuda/cuda_common.cuh"
#include "cuda/kernels.h"

namespace caprese {
namespace cuda {
namespace {

constexpr int kThreads = 256;

template <bool kVec>
__global__ void __launch_bounds__(kThreads)
RmsNormKernel(const float* __restrict__ x, const float* __restrict__ w, float* __restrict__ y,
              int64_t d, float eps, float offset) {
  __shared__ float scratch[kWarpSize];
  const float* xr = x + blockIdx.x * d;
  float* yr = y + blockIdx.x * d;
  float ss = 0.0f;
  if (kVec) {
    const float4* x4 = reinterpret_cast<const float4*>(xr);
    for (int64_t i = threadIdx.x; i < d / 4; i += kThreads) {
      const float4 v = x4[i];
      ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
    }
  } else {
    for (int64_t i = threadIdx.x; i < d; i += kThreads) ss += xr[i] * xr[i];
  }
  const float inv = rsqrtf(BlockSum(ss, scratch) / static_cast<float>(d) + eps);
  if (kVec) {
    const float4* x4 = reinterpret_cast<const float4*>(xr);
    const float4* w4 = reinterpret_cast<const float4*>(w);
    float4* y4 = reinterpret_cast<float4*>(yr);
    for (int64_t i = threadIdx.x; i < d / 4; i += kThreads) {
      const float4 v = x4[i], g = w4[i];
      y4[i] = make_float4(v.x * inv * (offset + g.x), v.y * inv * (offset + g.y),
                          v.z * inv * (offset + g.z), v.w * inv * (offset + g.w));
    }
  } else {
    for (int64_t i = threadIdx.x; i < d; i += kThreads) yr[i] = xr[i] * inv * (offset + w[i]);
  }
}

}  // namespace

cudaError_t LaunchRmsNorm(const RmsNormArgs& a, cudaStream_t stream) {
  if (a.m > INT32_MAX) return kShapeNotSupported;
  const bool vec = a.d % 4 == 0 && IsAligned(a.x, 16) && IsAligned(a.w, 16) && IsAligned(a.y, 16);
  const dim3 grid(static_cast<unsigned>(a.m));
  if (vec)
    CAPRESE_LAUNCH(RmsNormKernel<true>, grid, kThreads, 0, stream, a.x, a.w, a.y, a.d, a.eps, a.weight_offset);
  else
    CAPRESE_LAUNCH(RmsNormKernel<false>, grid, kThreads, 0, stream, a.x, a.w, a.y, a.d, a.eps, a.weight_offset);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace caprese
