// Gradient of y = x · r · g with r = 1/sqrt(mean(x²) + eps), g = weight_offset + w:
//   dx_j = r g_j dy_j - x_j · r³/D · Σ_i dy_i g_i x_i.
// Row by row; both row sums in double (as the forward's mean square), the elementwise part
// in double too, so the CPU result is the reference the CUDA kernel is compared with. Each
// x_j and dy_j is read before dx_j is written, so dx may alias x or dy.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/half.h"
#include "cpu/cpu_backend.h"

namespace caprese {
namespace cpu {

Status RmsNormBackward(ThreadPool& pool, const RmsNormBackwardArgs& a) {
  // g = weight_offset + w once, in double, whatever the weight dtype.
  std::vector<double> g(a.d);
  for (int64_t i = 0; i < a.d; ++i) {
    double w;
    switch (a.w_dtype) {
      case CAPRESE_DTYPE_F16: w = F16ToF32(static_cast<const uint16_t*>(a.w)[i]); break;
      case CAPRESE_DTYPE_BF16: w = BF16ToF32(static_cast<const uint16_t*>(a.w)[i]); break;
      default: w = static_cast<const float*>(a.w)[i]; break;
    }
    g[i] = static_cast<double>(a.weight_offset) + w;
  }
  const int64_t grain = std::max<int64_t>(1, kElementwiseGrain / a.d);
  pool.ParallelFor(a.m, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* x = a.x + r * a.d;
      const float* dy = a.dy + r * a.d;
      float* dx = a.dx + r * a.d;
      double ss = 0.0, dot = 0.0;
      for (int64_t i = 0; i < a.d; ++i) {
        const double xi = x[i];
        ss += xi * xi;
        dot += static_cast<double>(dy[i]) * g[i] * xi;
      }
      const double rinv = 1.0 / std::sqrt(ss / static_cast<double>(a.d) + static_cast<double>(a.eps));
      const double coef = rinv * rinv * rinv * dot / static_cast<double>(a.d);
      for (int64_t i = 0; i < a.d; ++i) {
        const double xi = x[i], dyi = dy[i];
        dx[i] = static_cast<float>(rinv * g[i] * dyi - xi * coef);
      }
    }
  });
  return Status::Ok();
}

}  // namespace cpu
}  // namespace caprese
