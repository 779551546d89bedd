// y = x / sqrt(mean(x²) + eps) * (weight_offset + w), row by row.
#include <algorithm>
#include <cmath>

#include "cpu/cpu_backend.h"
#include "cpu/vec.h"

namespace caprese {
namespace cpu {

Status RmsNorm(ThreadPool& pool, const RmsNormArgs& a) {
  const int64_t grain = std::max<int64_t>(1, kElementwiseGrain / a.d);
  pool.ParallelFor(a.m, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* x = a.x + r * a.d;
      float* y = a.y + r * a.d;
      const float inv = static_cast<float>(1.0 / std::sqrt(SumSquares(x, a.d) / a.d + a.eps));
      for (int64_t i = 0; i < a.d; ++i) y[i] = x[i] * inv * (a.weight_offset + a.w[i]);
    }
  });
  return Status::Ok();
}

}  // namespace cpu
}  // namespace caprese
