// out[m] = index of the largest x[m, :], the first one on ties.
// NaN counts as larger than every number (as in NumPy and PyTorch): a row holding NaN
// yields the index of its first NaN, so a broken forward pass shows instead of being
// silently skipped.
#include <algorithm>
#include <cmath>

#include "cpu/cpu_backend.h"

namespace caprese {
namespace cpu {

Status Argmax(ThreadPool& pool, const ArgmaxArgs& a) {
  const int64_t grain = std::max<int64_t>(1, kElementwiseGrain / a.n);
  pool.ParallelFor(a.m, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* x = a.x + r * a.n;
      int64_t best = 0;
      float best_v = x[0];
      if (!std::isnan(best_v)) {
        for (int64_t i = 1; i < a.n; ++i) {
          const float v = x[i];
          if (std::isnan(v)) {
            best = i;
            break;
          }
          if (v > best_v) best_v = v, best = i;
        }
      }
      a.out[r] = static_cast<int32_t>(best);
    }
  });
  return Status::Ok();
}

}  // namespace cpu
}  // namespace caprese
