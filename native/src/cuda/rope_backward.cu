// Gradient of the rotary embedding, in place, one thread per pair: the forward rotated each
// pair by +angle, so the gradient is rotated by -angle (d0 = g0 c + g1 s, d1 = g1 c - g0 s).
// Angles and sin/cos in f64 exactly as rope.cu computes them.
#include <cmath>

#include "cuda/cuda_common.cuh"
#include "cuda/kernels.h"

namespace caprese {
namespace cuda {
namespace {

constexpr int kThreads = 256;

template <bool kHalfSplit>
__global__ void __launch_bounds__(kThreads)
RopeBackwardKernel(float* __restrict__ x, const float* __restrict__ inv_freq, int64_t heads, int half,
                   int64_t total_pairs, int32_t pos0, double log_theta) {
  const int64_t t = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
  if (t >= total_pairs) return;
  const int i = static_cast<int>(t % half);
  const int64_t row_head = t / half;  // m * heads + h
  const int64_t m = row_head / heads;
  const double freq = inv_freq != nullptr ? static_cast<double>(inv_freq[i])
                                          : exp(-log_theta * (2.0 * i) / (2.0 * half));  // theta^(-2i/hd)
  double s, c;
  sincos(static_cast<double>(pos0 + m) * freq, &s, &c);
  float* v = x + row_head * (2 * half);
  const int i0 = kHalfSplit ? i : 2 * i;
  const int i1 = kHalfSplit ? i + half : 2 * i + 1;
  const double g0 = v[i0], g1 = v[i1];
  v[i0] = static_cast<float>(g0 * c + g1 * s);
  v[i1] = static_cast<float>(g1 * c - g0 * s);
}

}  // namespace

cudaError_t LaunchRopeBackward(const RopeArgs& a, cudaStream_t stream) {
  const int half = static_cast<int>(a.head_dim / 2);
  const int64_t pairs = a.m * a.heads * half;
  if ((pairs + kThreads - 1) / kThreads > INT32_MAX) return cudaErrorNotSupported;
  const double log_theta = a.inv_freq != nullptr ? 0.0 : std::log(static_cast<double>(a.theta));
  const unsigned grid = CeilDiv(pairs, kThreads);
  if (a.style == CAPRESE_ROPE_HALF_SPLIT)
    RopeBackwardKernel<true><<<grid, kThreads, 0, stream>>>(a.x, a.inv_freq, a.heads, half, pairs, a.pos0, log_theta);
  else
    RopeBackwardKernel<false><<<grid, kThreads, 0, stream>>>(a.x, a.inv_freq, a.heads, half, pairs, a.pos0, log_theta);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace caprese
