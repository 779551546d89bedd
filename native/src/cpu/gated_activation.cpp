// out = act(gate) ⊙ up. SiLU: g / (1 + e^-g). GELU (tanh form, as Gemma 2 uses):
// 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g³))). Elementwise, so out may alias gate or up.
#include <algorithm>
#include <cmath>

#include "cpu/cpu_backend.h"

namespace caprese {
namespace cpu {

Status GatedActivation(ThreadPool& pool, const GatedActivationArgs& a) {
  const bool gelu = a.act == CAPRESE_ACTIVATION_GELU_TANH;
  pool.ParallelFor(a.count, kElementwiseGrain, [&](int64_t b, int64_t e) {
    constexpr float kSqrt2OverPi = 0.7978845608028654f;
    if (gelu) {
      for (int64_t i = b; i < e; ++i) {
        const float g = a.gate[i];
        a.out[i] = 0.5f * g * (1.0f + std::tanh(kSqrt2OverPi * (g + 0.044715f * g * g * g))) * a.up[i];
      }
    } else {
      // For g << 0, e^-g overflows to inf and g / inf = -0: the right limit, no NaN.
      for (int64_t i = b; i < e; ++i) {
        const float g = a.gate[i];
        a.out[i] = g / (1.0f + std::exp(-g)) * a.up[i];
      }
    }
  });
  return Status::Ok();
}

}  // namespace cpu
}  // namespace caprese
