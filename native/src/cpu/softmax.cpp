// Row-wise softmax of x / temperature, computed as exp(x/T - max) / Σ so that no exp
// overflows. Rows that are not ordinary:
//  - a NaN anywhere makes the whole row NaN (it propagates, as in PyTorch);
//  - a row whose maximum is +inf shares the mass equally among its +inf entries;
//  - a row of only -inf is undefined; it becomes uniform (1/N) rather than NaN, so a
//    sampler downstream still sees a distribution.
#include <algorithm>
#include <cmath>

#include "cpu/cpu_backend.h"

namespace caprese {
namespace cpu {

Status Softmax(ThreadPool& pool, const SoftmaxArgs& a) {
  const float inv_t = 1.0f / a.temperature;
  const int64_t grain = std::max<int64_t>(1, kElementwiseGrain / a.n);
  pool.ParallelFor(a.m, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* x = a.x + r * a.n;
      float* y = a.y + r * a.n;
      float mx = -INFINITY;
      bool nan = false;
      for (int64_t i = 0; i < a.n; ++i) {
        const float v = x[i] * inv_t;
        nan = nan || std::isnan(v);
        mx = std::max(mx, v);
      }
      if (nan) {
        std::fill(y, y + a.n, NAN);
        continue;
      }
      if (std::isinf(mx)) {
        const float target = mx;  // +inf: split among the +inf entries; -inf: all entries
        int64_t count = 0;
        for (int64_t i = 0; i < a.n; ++i) count += x[i] * inv_t == target;
        const float share = 1.0f / static_cast<float>(count);
        for (int64_t i = 0; i < a.n; ++i) y[i] = x[i] * inv_t == target ? share : 0.0f;
        continue;
      }
      double sum = 0;
      for (int64_t i = 0; i < a.n; ++i) {
        const float e = std::exp(x[i] * inv_t - mx);
        y[i] = e;  // y may alias x: x[i] is not read again
        sum += e;
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (int64_t i = 0; i < a.n; ++i) y[i] *= inv;
    }
  });
  return Status::Ok();
}

}  // namespace cpu
}  // namespace caprese
