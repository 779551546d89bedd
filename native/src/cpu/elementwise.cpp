// Elementwise ops: the residual add and logit soft-capping. Both may run in place.
#include <cmath>

#include "cpu/cpu_backend.h"

namespace caprese {
namespace cpu {

Status Add(ThreadPool& pool, const AddArgs& a) {
  pool.ParallelFor(a.count, kElementwiseGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) a.out[i] = a.a[i] + a.b[i];
  });
  return Status::Ok();
}

Status Softcap(ThreadPool& pool, const SoftcapArgs& a) {
  const float inv = 1.0f / a.cap;
  pool.ParallelFor(a.count, kElementwiseGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) a.y[i] = a.cap * std::tanh(a.x[i] * inv);
  });
  return Status::Ok();
}

}  // namespace cpu
}  // namespace caprese
