// C ABI of caprese_sample: check every argument, then dispatch to the backend (the arithmetic
// both backends share is core/sampling.h).
#include <cmath>

#include "api/op_common.h"
#include "core/sampling.h"

using namespace caprese;

extern "C" {

CAPRESE_API caprese_status caprese_sample(caprese_context_t ctx, const caprese_tensor* x,
                                          const caprese_sampling_params* params, caprese_tensor* out) {
  return RunOp(ctx, "caprese_sample", [&](Backend& be) -> Status {
    CAPRESE_RETURN_IF_ERROR(CheckTensor("x", x, 2, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("out", out, 1, {CAPRESE_DTYPE_I32}));
    const int64_t m = x->shape[0], v = x->shape[1];
    if (out->shape[0] != m) return ShapeMismatch("sample: out must be [rows of x]", *out, "out", *x, "x");
    if (v > sampling::kMaxVocab)
      return Fail(CAPRESE_ERROR_SHAPE, "x: at most %lld columns (vocabulary entries) are supported (got %lld)",
                  static_cast<long long>(sampling::kMaxVocab), static_cast<long long>(v));
    if (m > INT32_MAX)
      return Fail(CAPRESE_ERROR_SHAPE, "x: at most 2^31-1 rows (got %lld)", static_cast<long long>(m));
    if (params == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "params: NULL pointer");
    const caprese_sampling_params p = *params;
    if (!(p.temperature > 0.0f) || !std::isfinite(p.temperature))
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT,
                  "params.temperature: must be a finite value > 0 (got %g; use caprese_argmax for greedy)",
                  p.temperature);
    if (p.top_k < 0)
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "params.top_k: must be >= 0 (0 = off; got %d)", p.top_k);
    if (!(p.top_p > 0.0f && p.top_p <= 1.0f))
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "params.top_p: must be in (0, 1] (1 = off; got %g)", p.top_p);
    if (p.flags != 0)
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "params.flags: reserved, must be 0 (got %d)", p.flags);
    SampleArgs a{static_cast<const float*>(x->data), static_cast<int32_t*>(out->data), m, v, p};
    return be.Sample(a);
  });
}

}  // extern "C"
