// One AdamW step in place, in torch.optim.AdamW's order (decay, moments, bias-corrected
// update), with the same f32 expressions as cpu/training_elementwise.cpp; the bias
// corrections arrive from the host in double and are folded into two f32 factors.
// sqrtf and IEEE division (no fast-math), so results match the CPU to a few ulps.
#include <cmath>

#include "cuda/cuda_common.cuh"
#include "cuda/kernels.h"

namespace caprese {
namespace cuda {
namespace {

constexpr int kThreads = 256;

__global__ void AdamKernel(float* __restrict__ param, const float* __restrict__ grad, float* __restrict__ m,
                           float* __restrict__ v, int64_t count, float decay, float step_size, float inv_sqrt_bc2,
                           float b1, float b2, float eps) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  const float c1 = 1.0f - b1, c2 = 1.0f - b2;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; i < count; i += stride) {
    const float g = grad[i];
    const float mi = __fadd_rn(__fmul_rn(b1, m[i]), __fmul_rn(c1, g));
    const float vi = __fadd_rn(__fmul_rn(b2, v[i]), __fmul_rn(__fmul_rn(c2, g), g));
    m[i] = mi;
    v[i] = vi;
    const float denom = __fadd_rn(__fmul_rn(sqrtf(vi), inv_sqrt_bc2), eps);
    param[i] = __fsub_rn(__fmul_rn(param[i], decay), __fdiv_rn(__fmul_rn(step_size, mi), denom));
  }
}

}  // namespace

cudaError_t LaunchAdamStep(const AdamArgs& a, cudaStream_t stream) {
  const float decay = 1.0f - a.lr * a.weight_decay;
  const float step_size = static_cast<float>(static_cast<double>(a.lr) / a.bias_correction1);
  const float inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(a.bias_correction2));
  const int64_t blocks = (a.count + kThreads - 1) / kThreads;
  const unsigned grid = static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 16384 ? 16384 : blocks));
  CAPRESE_LAUNCH(AdamKernel, grid, kThreads, 0, stream, a.param, a.grad, a.m, a.v, a.count, decay, step_size, inv_sqrt_bc2,
                                            a.beta1, a.beta2, a.eps);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace caprese
