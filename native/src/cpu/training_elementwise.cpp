// Elementwise helpers of training: transpose, axpby, mul and the AdamW step.
#include <algorithm>
#include <cmath>

#include "cpu/cpu_backend.h"

namespace caprese {
namespace cpu {

// Blocked: tiles of kTile x kTile keep both the reads and the writes cache-friendly.
Status Transpose(ThreadPool& pool, const TransposeArgs& a) {
  constexpr int64_t kTile = 32;
  const int64_t row_tiles = (a.m + kTile - 1) / kTile;
  const int64_t grain = std::max<int64_t>(1, kElementwiseGrain / (kTile * std::max<int64_t>(a.n, 1)));
  pool.ParallelFor(row_tiles, grain, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i0 = t * kTile, i1 = std::min(a.m, i0 + kTile);
      for (int64_t j0 = 0; j0 < a.n; j0 += kTile) {
        const int64_t j1 = std::min(a.n, j0 + kTile);
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t j = j0; j < j1; ++j) a.y[j * a.m + i] = a.x[i * a.n + j];
      }
    }
  });
  return Status::Ok();
}

Status Axpby(ThreadPool& pool, const AxpbyArgs& a) {
  pool.ParallelFor(a.count, kElementwiseGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) a.out[i] = a.alpha * a.a[i] + a.beta * a.b[i];
  });
  return Status::Ok();
}

Status Mul(ThreadPool& pool, const MulArgs& a) {
  pool.ParallelFor(a.count, kElementwiseGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) a.out[i] = a.a[i] * a.b[i];
  });
  return Status::Ok();
}

// torch.optim.AdamW's order of operations: decay, moments, then the bias-corrected update
// param -= (lr / bc1) · m / (sqrt(v) / sqrt(bc2) + eps).
Status AdamStep(ThreadPool& pool, const AdamArgs& a) {
  const float decay = 1.0f - a.lr * a.weight_decay;
  const float step_size = static_cast<float>(static_cast<double>(a.lr) / a.bias_correction1);
  const float inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(a.bias_correction2));
  const float b1 = a.beta1, b2 = a.beta2, c1 = 1.0f - a.beta1, c2 = 1.0f - a.beta2;
  pool.ParallelFor(a.count, kElementwiseGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float g = a.grad[i];
      const float m = b1 * a.m[i] + c1 * g;
      const float v = b2 * a.v[i] + c2 * g * g;
      a.m[i] = m;
      a.v[i] = v;
      a.param[i] = a.param[i] * decay - step_size * m / (std::sqrt(v) * inv_sqrt_bc2 + a.eps);
    }
  });
  return Status::Ok();
}

}  // namespace cpu
}  // namespace caprese
