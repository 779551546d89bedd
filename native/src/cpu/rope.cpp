// Rotary position embedding, in place on x[M, heads, head_dim], and its gradient.
// Angles are (pos0 + m) * freq_i evaluated in double: at positions near 128K a float angle
// would be off by ~0.01 rad, and cos/sin are computed once per (row, pair) and shared by
// all heads of the row. The gradient of a rotation by +angle is the rotation by -angle (its
// transpose), so both directions share one loop and rope followed by rope_backward returns x
// up to f32 rounding.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/cpu_backend.h"

namespace caprese {
namespace cpu {

namespace {

// sign = +1: rotate each pair by +angle (the forward); -1: by -angle (the gradient).
Status Rotate(ThreadPool& pool, const RopeArgs& a, float sign) {
  const int64_t half = a.head_dim / 2;
  std::vector<double> freq(half);
  for (int64_t i = 0; i < half; ++i)
    freq[i] = a.inv_freq ? static_cast<double>(a.inv_freq[i])
                         : std::pow(static_cast<double>(a.theta), -2.0 * static_cast<double>(i) / a.head_dim);
  const bool interleaved = a.style == CAPRESE_ROPE_INTERLEAVED;
  const int64_t row = a.heads * a.head_dim;
  const int64_t grain = std::max<int64_t>(1, kElementwiseGrain / (row + 8 * half));
  pool.ParallelFor(a.m, grain, [&](int64_t r0, int64_t r1) {
    std::vector<float> cs(2 * half);
    for (int64_t r = r0; r < r1; ++r) {
      const double pos = static_cast<double>(a.pos0) + static_cast<double>(r);
      for (int64_t i = 0; i < half; ++i) {
        const double angle = pos * freq[i];
        cs[2 * i] = static_cast<float>(std::cos(angle));
        cs[2 * i + 1] = sign * static_cast<float>(std::sin(angle));
      }
      for (int64_t h = 0; h < a.heads; ++h) {
        float* x = a.x + r * row + h * a.head_dim;
        for (int64_t i = 0; i < half; ++i) {
          float* p0 = interleaved ? x + 2 * i : x + i;
          float* p1 = interleaved ? x + 2 * i + 1 : x + i + half;
          const float c = cs[2 * i], s = cs[2 * i + 1], x0 = *p0, x1 = *p1;
          *p0 = x0 * c - x1 * s;
          *p1 = x0 * s + x1 * c;
        }
      }
    }
  });
  return Status::Ok();
}

}  // namespace

Status Rope(ThreadPool& pool, const RopeArgs& a) { return Rotate(pool, a, 1.0f); }

Status RopeBackward(ThreadPool& pool, const RopeArgs& a) { return Rotate(pool, a, -1.0f); }

}  // namespace cpu
}  // namespace caprese
