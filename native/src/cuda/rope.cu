// In-place rotary embedding, one thread per rotated pair, and its gradient: the transpose of a
// rotation by +angle is the rotation by -angle, so the backward is the same kernel with the
// sine negated (rope then rope_backward returns x up to f32 rounding).
//
// Precision: the angle is pos * freq with pos up to ~1e5 (long contexts). In f32 that
// product carries an absolute error of up to ~pos * 2^-24 ≈ 0.006 rad at 1e5, which shows
// up directly in the rotated values. The angle and its sin/cos are therefore computed in
// f64 (two sincos per pair: negligible next to the rest of a layer); only x stays f32.
#include <cmath>

#include "cuda/cuda_common.cuh"
#include "cuda/kernels.h"

namespace caprese {
namespace cuda {
namespace {

constexpr int kThreads = 256;

template <bool kHalfSplit>
__global__ void __launch_bounds__(kThreads)
RopeKernel(float* __restrict__ x, const float* __restrict__ inv_freq, int64_t heads, int half,
           int64_t total_pairs, int32_t pos0, const int32_t* __restrict__ pos_device, int* error_flag,
           double log_theta, double sign) {
  const int64_t t = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
  if (t >= total_pairs) return;
  if (pos_device != nullptr) {  // rope_at: the position as of when the kernel runs (graph replays)
    pos0 = *pos_device;
    if (pos0 < 0) {
      if (t == 0) atomicExch(error_flag, 3);
      return;
    }
  }
  const int i = static_cast<int>(t % half);
  const int64_t row_head = t / half;  // m * heads + h
  const int64_t m = row_head / heads;
  const double freq = inv_freq != nullptr
                          ? static_cast<double>(inv_freq[i])
                          : exp(-log_theta * (2.0 * i) / (2.0 * half));  // theta^(-2i/hd)
  double s, c;
  sincos(static_cast<double>(pos0 + m) * freq, &s, &c);
  s *= sign;
  float* v = x + row_head * (2 * half);
  const int i0 = kHalfSplit ? i : 2 * i;
  const int i1 = kHalfSplit ? i + half : 2 * i + 1;
  const double a = v[i0], b = v[i1];
  v[i0] = static_cast<float>(a * c - b * s);
  v[i1] = static_cast<float>(a * s + b * c);
}

// sign = +1: the forward rotation; -1: its gradient.
cudaError_t LaunchRotation(const RopeArgs& a, int* error_flag, cudaStream_t stream, double sign) {
  const int half = static_cast<int>(a.head_dim / 2);
  const int64_t pairs = a.m * a.heads * half;
  if ((pairs + kThreads - 1) / kThreads > INT32_MAX) return kShapeNotSupported;
  const double log_theta = a.inv_freq != nullptr ? 0.0 : std::log(static_cast<double>(a.theta));
  const unsigned grid = CeilDiv(pairs, kThreads);
  if (a.style == CAPRESE_ROPE_HALF_SPLIT)
    CAPRESE_LAUNCH(RopeKernel<true>, grid, kThreads, 0, stream, a.x, a.inv_freq, a.heads, half, pairs, a.pos0, a.pos_device, error_flag, log_theta, sign);
  else
    CAPRESE_LAUNCH(RopeKernel<false>, grid, kThreads, 0, stream, a.x, a.inv_freq, a.heads, half, pairs, a.pos0, a.pos_device, error_flag, log_theta, sign);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchRope(const RopeArgs& a, int* error_flag, cudaStream_t stream) {
  return LaunchRotation(a, error_flag, stream, 1.0);
}

cudaError_t LaunchRopeBackward(const RopeArgs& a, cudaStream_t stream) {
  if (a.pos_device != nullptr) return kShapeNotSupported;  // no device-position gradient in the ABI
  return LaunchRotation(a, nullptr, stream, -1.0);
}

}  // namespace cuda
}  // namespace caprese
