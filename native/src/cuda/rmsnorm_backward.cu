// Gradient of rmsnorm, one block per row:
//   dx_j = r g_j dy_j - x_j · r³/D · Σ_i dy_i g_i x_i,  r = rsqrt(mean(x²) + eps), g = offset + w.
// Pass 1 reduces Σ x² and Σ dy g x over the block (f32, BlockSum); pass 2 writes dx. Every
// read of pass 1 precedes the block barrier inside BlockSum and pass 2 reads x_j and dy_j in
// the thread that writes dx_j, so dx may alias x or dy. Weights f32 | f16 | bf16.
#include "cuda/cuda_common.cuh"
#include "cuda/kernels.h"

namespace caprese {
namespace cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kThreads)
RmsNormBackwardKernel(const float* x, const T* __restrict__ w, const float* dy, float* dx, int64_t d, float eps,
                      float offset) {
  __shared__ float scratch[kWarpSize];
  const float* xr = x + blockIdx.x * d;
  const float* dyr = dy + blockIdx.x * d;
  float* dxr = dx + blockIdx.x * d;
  float ss = 0.0f, dot = 0.0f;
  for (int64_t i = threadIdx.x; i < d; i += kThreads) {
    const float xi = xr[i];
    ss = fmaf(xi, xi, ss);
    dot = fmaf(dyr[i] * (offset + ToFloat(w[i])), xi, dot);
  }
  ss = BlockSum(ss, scratch);
  dot = BlockSum(dot, scratch);
  const float r = rsqrtf(ss / static_cast<float>(d) + eps);
  const float coef = r * r * r * dot / static_cast<float>(d);
  for (int64_t i = threadIdx.x; i < d; i += kThreads) {
    const float xi = xr[i], dyi = dyr[i];
    dxr[i] = r * (offset + ToFloat(w[i])) * dyi - xi * coef;
  }
}

}  // namespace

cudaError_t LaunchRmsNormBackward(const RmsNormBackwardArgs& a, cudaStream_t stream) {
  if (a.m > INT32_MAX) return kShapeNotSupported;
  const dim3 grid(static_cast<unsigned>(a.m));
  switch (a.w_dtype) {
    case CAPRESE_DTYPE_F16:
      CAPRESE_LAUNCH(RmsNormBackwardKernel<__half>, grid, kThreads, 0, stream, 
          a.x, static_cast<const __half*>(a.w), a.dy, a.dx, a.d, a.eps, a.weight_offset);
      break;
    case CAPRESE_DTYPE_BF16:
      CAPRESE_LAUNCH(RmsNormBackwardKernel<__nv_bfloat16>, grid, kThreads, 0, stream, 
          a.x, static_cast<const __nv_bfloat16*>(a.w), a.dy, a.dx, a.d, a.eps, a.weight_offset);
      break;
    default:
      CAPRESE_LAUNCH(RmsNormBackwardKernel<float>, grid, kThreads, 0, stream, a.x, static_cast<const float*>(a.w), a.dy, a.dx,
                                                                  a.d, a.eps, a.weight_offset);
      break;
  }
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace caprese
