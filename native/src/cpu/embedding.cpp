// out[m, :] = table[ids[m], :] * scale, converting f16/bf16 rows to f32. Every id is
// checked before anything is written, so a bad id leaves out untouched.
#include <algorithm>

#include "core/half.h"
#include "cpu/cpu_backend.h"

namespace caprese {
namespace cpu {

Status Embedding(ThreadPool& pool, const EmbeddingArgs& a) {
  for (int64_t m = 0; m < a.m; ++m)
    if (a.ids[m] < 0 || a.ids[m] >= a.vocab)
      return Fail(CAPRESE_ERROR_OUT_OF_RANGE, "ids[%lld] = %d is outside the vocabulary [0, %lld)",
                  static_cast<long long>(m), a.ids[m], static_cast<long long>(a.vocab));
  const int64_t grain = std::max<int64_t>(1, kElementwiseGrain / a.d);
  pool.ParallelFor(a.m, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t m = r0; m < r1; ++m) {
      const int64_t row = static_cast<int64_t>(a.ids[m]) * a.d;
      float* out = a.out + m * a.d;
      switch (a.table_dtype) {
        case CAPRESE_DTYPE_F16: {
          const uint16_t* t = static_cast<const uint16_t*>(a.table) + row;
          for (int64_t i = 0; i < a.d; ++i) out[i] = F16ToF32(t[i]) * a.scale;
          break;
        }
        case CAPRESE_DTYPE_BF16: {
          const uint16_t* t = static_cast<const uint16_t*>(a.table) + row;
          for (int64_t i = 0; i < a.d; ++i) out[i] = BF16ToF32(t[i]) * a.scale;
          break;
        }
        default: {
          const float* t = static_cast<const float*>(a.table) + row;
          for (int64_t i = 0; i < a.d; ++i) out[i] = t[i] * a.scale;
          break;
        }
      }
    }
  });
  return Status::Ok();
}

}  // namespace cpu
}  // namespace caprese
