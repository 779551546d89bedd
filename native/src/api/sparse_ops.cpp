// C ABI of caprese_sparse_ffn: check every argument, then dispatch to the backend.
// Kept apart from ops.cpp because it has many more arguments than the other ops.
#include <cmath>

#include "api/op_common.h"

using namespace caprese;

namespace {

constexpr int64_t kSparseFfnMaxRows = 16;

Status SameDtype(const char* name, const caprese_tensor& t, const caprese_tensor& w_gate) {
  if (t.dtype != w_gate.dtype)
    return Fail(CAPRESE_ERROR_DTYPE, "%s: dtype %s differs from w_gate's %s (all weights share one dtype)", name,
                DtypeName(t.dtype), DtypeName(w_gate.dtype));
  return Status::Ok();
}

// [k] i32; k = 0 (an empty selection) is legal here, unlike in CheckTensor.
Status CheckIndices(const caprese_tensor* t, int64_t* k) {
  if (t == nullptr)
    return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "indices: NULL tensor (required by CAPRESE_SPARSE_INDICES)");
  if (t->ndim == 1 && t->shape[0] == 0) {
    if (t->dtype != CAPRESE_DTYPE_I32)
      return Fail(CAPRESE_ERROR_DTYPE, "indices: dtype %s not supported here (expected i32)", DtypeName(t->dtype));
    *k = 0;
    return Status::Ok();
  }
  CAPRESE_RETURN_IF_ERROR(CheckTensor("indices", t, 1, {CAPRESE_DTYPE_I32}));
  if (t->shape[0] > INT32_MAX)
    return Fail(CAPRESE_ERROR_SHAPE, "indices: at most 2^31-1 entries (got %lld)", (long long)t->shape[0]);
  *k = t->shape[0];
  return Status::Ok();
}

}  // namespace

extern "C" {

CAPRESE_API caprese_status caprese_sparse_ffn(caprese_context_t ctx, const caprese_tensor* x,
                                              const caprese_tensor* w_gate, const caprese_tensor* w_up,
                                              const caprese_tensor* w_down_t, const caprese_tensor* indices,
                                              const caprese_tensor* extra_up, const caprese_tensor* extra_down,
                                              const caprese_sparse_ffn_params* params, caprese_tensor* y) {
  return RunOp(ctx, "caprese_sparse_ffn", [&](Backend& be) -> Status {
    if (params == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "params: NULL pointer");
    const caprese_sparse_ffn_params p = *params;
    if (p.activation != CAPRESE_ACTIVATION_SILU && p.activation != CAPRESE_ACTIVATION_GELU_TANH)
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "params.activation: unknown activation %d", p.activation);
    if (p.selection != CAPRESE_SPARSE_ALL && p.selection != CAPRESE_SPARSE_INDICES &&
        p.selection != CAPRESE_SPARSE_THRESHOLD)
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "params.selection: unknown selection %d", p.selection);
    if (p.flags != 0) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "params.flags: reserved, must be 0 (got %d)", p.flags);
    if (p.selection == CAPRESE_SPARSE_THRESHOLD && !(p.threshold >= 0.0f && std::isfinite(p.threshold)))
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "params.threshold: must be finite and >= 0 (got %g)", p.threshold);

    CAPRESE_RETURN_IF_ERROR(CheckTensor("x", x, 2, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("w_gate", w_gate, 2, kWeights));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("w_up", w_up, 2, kWeights));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("w_down_t", w_down_t, 2, kWeights));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("y", y, 2, kF32));
    const int64_t m = x->shape[0], d = x->shape[1], h = w_gate->shape[0];
    if (m > kSparseFfnMaxRows)
      return Fail(CAPRESE_ERROR_SHAPE,
                  "sparse_ffn: x has %lld rows; at most %lld are supported (decode and chunked verification; "
                  "run prefill through the dense ops)",
                  (long long)m, (long long)kSparseFfnMaxRows);
    if (w_gate->shape[1] != d)
      return ShapeMismatch("sparse_ffn: w_gate must be [H, D] with D = x's last dim", *w_gate, "w_gate", *x, "x");
    if (!SameShape(*w_up, *w_gate))
      return ShapeMismatch("sparse_ffn: w_up must match w_gate", *w_up, "w_up", *w_gate, "w_gate");
    if (!SameShape(*w_down_t, *w_gate))
      return ShapeMismatch("sparse_ffn: w_down_t (the transposed down projection) must match w_gate", *w_down_t,
                           "w_down_t", *w_gate, "w_gate");
    CAPRESE_RETURN_IF_ERROR(SameDtype("w_up", *w_up, *w_gate));
    CAPRESE_RETURN_IF_ERROR(SameDtype("w_down_t", *w_down_t, *w_gate));
    if (!SameShape(*y, *x)) return ShapeMismatch("sparse_ffn: y must match x", *y, "y", *x, "x");
    if (TensorsOverlap(*x, *y)) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "y: must not overlap x");
    if (h > INT32_MAX / 2 || d > INT32_MAX / 2)
      return Fail(CAPRESE_ERROR_SHAPE, "sparse_ffn: H (%lld) and D (%lld) must be below 2^30", (long long)h,
                  (long long)d);

    int64_t k = 0;
    if (p.selection == CAPRESE_SPARSE_INDICES) {
      CAPRESE_RETURN_IF_ERROR(CheckIndices(indices, &k));
    } else if (indices != nullptr) {
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "indices: must be NULL unless params.selection is "
                  "CAPRESE_SPARSE_INDICES");
    }

    int64_t r = 0;
    if ((extra_up == nullptr) != (extra_down == nullptr))
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "%s: NULL while %s is given (pass both or neither)",
                  extra_up == nullptr ? "extra_up" : "extra_down", extra_up == nullptr ? "extra_down" : "extra_up");
    if (extra_up != nullptr) {
      CAPRESE_RETURN_IF_ERROR(CheckTensor("extra_up", extra_up, 2, kWeights));
      CAPRESE_RETURN_IF_ERROR(CheckTensor("extra_down", extra_down, 2, kWeights));
      CAPRESE_RETURN_IF_ERROR(SameDtype("extra_up", *extra_up, *w_gate));
      CAPRESE_RETURN_IF_ERROR(SameDtype("extra_down", *extra_down, *w_gate));
      if (extra_up->shape[1] != d)
        return ShapeMismatch("sparse_ffn: extra_up must be [r, D]", *extra_up, "extra_up", *x, "x");
      if (!SameShape(*extra_down, *extra_up))
        return ShapeMismatch("sparse_ffn: extra_down must match extra_up", *extra_down, "extra_down", *extra_up,
                             "extra_up");
      r = extra_up->shape[0];
      if (r > INT32_MAX / 2 - h)
        return Fail(CAPRESE_ERROR_SHAPE, "sparse_ffn: H + r must be below 2^30 (r = %lld)", (long long)r);
    }

    SparseFfnArgs a{static_cast<const float*>(x->data),
                    w_gate->data,
                    w_up->data,
                    w_down_t->data,
                    static_cast<caprese_dtype>(w_gate->dtype),
                    k > 0 ? static_cast<const int32_t*>(indices->data) : nullptr,
                    extra_up ? extra_up->data : nullptr,
                    extra_down ? extra_down->data : nullptr,
                    static_cast<float*>(y->data),
                    m,
                    d,
                    h,
                    k,
                    r,
                    static_cast<caprese_activation>(p.activation),
                    static_cast<caprese_sparse_selection>(p.selection),
                    p.threshold};
    return be.SparseFfn(a);
  });
}

}  // extern "C"
