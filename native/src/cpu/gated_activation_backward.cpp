// Gradient of out = act(g) ⊙ u:  dup = dout ⊙ act(g),  dgate = dout ⊙ u ⊙ act'(g).
//   SiLU:      act = g σ(g),  act' = σ(g) (1 + g (1 - σ(g))).
//   GELU-tanh: act = ½ g (1 + t), t = tanh(k (g + c g³)), k = sqrt(2/π), c = 0.044715,
//              act' = ½ (1 + t) + ½ g (1 - t²) k (1 + 3 c g²).
// Elementwise; all three inputs of index i are read before either output is written, so the
// outputs may alias the inputs. For g << 0, e^-g overflows to inf and σ = 0: act and act'
// reach their limits (±0) without NaN; GELU's second term is skipped once 1 - t² is 0 (it
// would be 0 · inf for |g| near the f32 limit).
#include <cmath>

#include "cpu/cpu_backend.h"

namespace caprese {
namespace cpu {

Status GatedActivationBackward(ThreadPool& pool, const GatedActivationBackwardArgs& a) {
  const bool gelu = a.act == CAPRESE_ACTIVATION_GELU_TANH;
  pool.ParallelFor(a.count, kElementwiseGrain, [&](int64_t b, int64_t e) {
    constexpr float kSqrt2OverPi = 0.7978845608028654f;
    constexpr float kC = 0.044715f;
    for (int64_t i = b; i < e; ++i) {
      const float g = a.gate[i], u = a.up[i], d = a.dout[i];
      float act, dact;
      if (gelu) {
        const float t = std::tanh(kSqrt2OverPi * (g + kC * g * g * g));
        act = 0.5f * g * (1.0f + t);
        const float sech2 = 1.0f - t * t;  // exactly 0 once |g| is large, where g² may overflow
        dact = 0.5f * (1.0f + t) +
               (sech2 == 0.0f ? 0.0f : 0.5f * g * sech2 * kSqrt2OverPi * (1.0f + 3.0f * kC * g * g));
      } else {
        const float s = 1.0f / (1.0f + std::exp(-g));
        act = g * s;
        dact = s * (1.0f + g * (1.0f - s));
      }
      a.dgate[i] = d * u * dact;
      a.dup[i] = d * act;
    }
  });
  return Status::Ok();
}

}  // namespace cpu
}  // namespace caprese
