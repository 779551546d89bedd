// C ABI of the training ops (backward passes, elementwise helpers, the Adam step): check every
// argument, including the aliasing rules of caprese.h, then dispatch to the context's backend
// inside an NVTX range (helpers shared with the other ops in op_common.h).
#include <cmath>
#include <cstdio>

#include "api/op_common.h"

using namespace caprese;

namespace {

// `out` must not overlap `in`. With `exact_ok`, the very same tensor (same data pointer; the
// callers have already checked that the shapes match) is allowed: the op reads each element
// before it writes it.
Status CheckAlias(const char* op, const char* out_name, const caprese_tensor& out, const char* in_name,
                  const caprese_tensor& in, bool exact_ok) {
  if (!TensorsOverlap(out, in)) return Status::Ok();
  if (exact_ok && out.data == in.data && SameShape(out, in)) return Status::Ok();
  if (exact_ok)
    return Fail(CAPRESE_ERROR_INVALID_ARGUMENT,
                "%s: %s: overlaps %s without being the same tensor (only an exact alias is allowed)", out_name, op,
                in_name);
  return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "%s: %s: must not overlap %s", out_name, op, in_name);
}

// Elementwise binary ops: a, b, out f32 of one shape; out may alias a or b exactly.
Status CheckBinary(const char* op, const caprese_tensor* a, const caprese_tensor* b, const caprese_tensor* out) {
  CAPRESE_RETURN_IF_ERROR(CheckTensor("a", a, 0, kF32));
  CAPRESE_RETURN_IF_ERROR(CheckTensor("b", b, 0, kF32));
  CAPRESE_RETURN_IF_ERROR(CheckTensor("out", out, 0, kF32));
  char what[64];
  std::snprintf(what, sizeof what, "%s: b must match a", op);
  if (!SameShape(*a, *b)) return ShapeMismatch(what, *b, "b", *a, "a");
  std::snprintf(what, sizeof what, "%s: out must match a", op);
  if (!SameShape(*a, *out)) return ShapeMismatch(what, *out, "out", *a, "a");
  CAPRESE_RETURN_IF_ERROR(CheckAlias(op, "out", *out, "a", *a, true));
  CAPRESE_RETURN_IF_ERROR(CheckAlias(op, "out", *out, "b", *b, true));
  return Status::Ok();
}

}  // namespace

extern "C" {

CAPRESE_API caprese_status caprese_rmsnorm_backward(caprese_context_t ctx, const caprese_tensor* x,
                                                    const caprese_tensor* w, const caprese_tensor* dy,
                                                    float eps, float weight_offset, caprese_tensor* dx) {
  return RunOp(ctx, "caprese_rmsnorm_backward", [&](Backend& be) -> Status {
    CAPRESE_RETURN_IF_ERROR(CheckTensor("x", x, 0, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("w", w, 1, kWeights));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("dy", dy, 0, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("dx", dx, 0, kF32));
    if (w->shape[0] != Cols(*x)) return ShapeMismatch("rmsnorm_backward: w must be [D]", *w, "w", *x, "x");
    if (!SameShape(*x, *dy)) return ShapeMismatch("rmsnorm_backward: dy must match x", *dy, "dy", *x, "x");
    if (!SameShape(*x, *dx)) return ShapeMismatch("rmsnorm_backward: dx must match x", *dx, "dx", *x, "x");
    if (!(eps > 0.0f) || !std::isfinite(eps))
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "eps: must be a finite value > 0 (got %g)", eps);
    if (!std::isfinite(weight_offset))
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "weight_offset: must be finite (got %g)", weight_offset);
    CAPRESE_RETURN_IF_ERROR(CheckAlias("rmsnorm_backward", "dx", *dx, "x", *x, true));
    CAPRESE_RETURN_IF_ERROR(CheckAlias("rmsnorm_backward", "dx", *dx, "dy", *dy, true));
    CAPRESE_RETURN_IF_ERROR(CheckAlias("rmsnorm_backward", "dx", *dx, "w", *w, false));
    RmsNormBackwardArgs a{static_cast<const float*>(x->data), w->data, static_cast<caprese_dtype>(w->dtype),
                          static_cast<const float*>(dy->data), static_cast<float*>(dx->data), Rows(*x), Cols(*x),
                          eps, weight_offset};
    return be.RmsNormBackward(a);
  });
}

CAPRESE_API caprese_status caprese_rope_backward(caprese_context_t ctx, caprese_tensor* x, int32_t pos0,
                                                 float theta, const caprese_tensor* inv_freq, int32_t style) {
  return RunOp(ctx, "caprese_rope_backward", [&](Backend& be) -> Status {
    CAPRESE_RETURN_IF_ERROR(CheckRopeArgs("rope_backward", x, pos0, theta, inv_freq, style));
    if (inv_freq != nullptr) CAPRESE_RETURN_IF_ERROR(CheckAlias("rope_backward", "x", *x, "inv_freq", *inv_freq, false));
    RopeArgs a{static_cast<float*>(x->data), inv_freq ? static_cast<const float*>(inv_freq->data) : nullptr,
               x->shape[0], x->shape[1], x->shape[2], pos0, theta, static_cast<caprese_rope_style>(style)};
    return be.RopeBackward(a);
  });
}

CAPRESE_API caprese_status caprese_gated_activation_backward(caprese_context_t ctx, const caprese_tensor* gate,
                                                             const caprese_tensor* up, const caprese_tensor* dout,
                                                             int32_t act, caprese_tensor* dgate, caprese_tensor* dup) {
  return RunOp(ctx, "caprese_gated_activation_backward", [&](Backend& be) -> Status {
    CAPRESE_RETURN_IF_ERROR(CheckTensor("gate", gate, 0, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("up", up, 0, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("dout", dout, 0, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("dgate", dgate, 0, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("dup", dup, 0, kF32));
    const char* op = "gated_activation_backward";
    if (!SameShape(*gate, *up))
      return ShapeMismatch("gated_activation_backward: up must match gate", *up, "up", *gate, "gate");
    if (!SameShape(*gate, *dout))
      return ShapeMismatch("gated_activation_backward: dout must match gate", *dout, "dout", *gate, "gate");
    if (!SameShape(*gate, *dgate))
      return ShapeMismatch("gated_activation_backward: dgate must match gate", *dgate, "dgate", *gate, "gate");
    if (!SameShape(*gate, *dup))
      return ShapeMismatch("gated_activation_backward: dup must match gate", *dup, "dup", *gate, "gate");
    if (act != CAPRESE_ACTIVATION_SILU && act != CAPRESE_ACTIVATION_GELU_TANH)
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "act: unknown activation %d", act);
    CAPRESE_RETURN_IF_ERROR(CheckAlias(op, "dup", *dup, "dgate", *dgate, false));
    const caprese_tensor* ins[] = {gate, up, dout};
    const char* in_names[] = {"gate", "up", "dout"};
    for (int i = 0; i < 3; ++i) {
      CAPRESE_RETURN_IF_ERROR(CheckAlias(op, "dgate", *dgate, in_names[i], *ins[i], true));
      CAPRESE_RETURN_IF_ERROR(CheckAlias(op, "dup", *dup, in_names[i], *ins[i], true));
    }
    GatedActivationBackwardArgs a{static_cast<const float*>(gate->data), static_cast<const float*>(up->data),
                                  static_cast<const float*>(dout->data), static_cast<float*>(dgate->data),
                                  static_cast<float*>(dup->data), NumElements(*gate),
                                  static_cast<caprese_activation>(act)};
    return be.GatedActivationBackward(a);
  });
}

CAPRESE_API caprese_status caprese_attention_backward(caprese_context_t ctx, const caprese_tensor* q,
                                                      const caprese_tensor* k_cache, const caprese_tensor* v_cache,
                                                      const caprese_attention_params* params,
                                                      const caprese_tensor* dout, caprese_tensor* dq,
                                                      caprese_tensor* dk, caprese_tensor* dv) {
  return RunOp(ctx, "caprese_attention_backward", [&](Backend& be) -> Status {
    CAPRESE_RETURN_IF_ERROR(CheckTensor("q", q, 3, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("k_cache", k_cache, 3, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("v_cache", v_cache, 3, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("dout", dout, 3, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("dq", dq, 3, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("dk", dk, 3, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("dv", dv, 3, kF32));
    if (params == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "params: NULL pointer");
    const char* op = "attention_backward";
    if (!SameShape(*k_cache, *v_cache))
      return ShapeMismatch("attention_backward: k_cache and v_cache must match", *k_cache, "k_cache", *v_cache,
                           "v_cache");
    if (!SameShape(*q, *dout)) return ShapeMismatch("attention_backward: dout must match q", *dout, "dout", *q, "q");
    if (!SameShape(*q, *dq)) return ShapeMismatch("attention_backward: dq must match q", *dq, "dq", *q, "q");
    if (!SameShape(*k_cache, *dk))
      return ShapeMismatch("attention_backward: dk must match k_cache", *dk, "dk", *k_cache, "k_cache");
    if (!SameShape(*v_cache, *dv))
      return ShapeMismatch("attention_backward: dv must match v_cache", *dv, "dv", *v_cache, "v_cache");
    const int64_t m = q->shape[0], hq = q->shape[1], hd = q->shape[2];
    const int64_t s = k_cache->shape[0], hkv = k_cache->shape[1];
    if (k_cache->shape[2] != hd)
      return ShapeMismatch("attention_backward: head_dim of q and the cache differ", *q, "q", *k_cache, "k_cache");
    if (hd > 256)
      return Fail(CAPRESE_ERROR_SHAPE, "attention_backward: head_dim %lld exceeds the supported maximum of 256",
                  (long long)hd);
    if (hq % hkv != 0)
      return Fail(CAPRESE_ERROR_SHAPE,
                  "attention_backward: query heads (%lld) must be a multiple of kv heads (%lld)", (long long)hq,
                  (long long)hkv);
    if (params->pos0 < 0)
      return Fail(CAPRESE_ERROR_OUT_OF_RANGE, "params.pos0: must be >= 0 (got %d)", params->pos0);
    if (params->pos0 + m > s)
      return Fail(CAPRESE_ERROR_OUT_OF_RANGE,
                  "attention_backward: pos0 (%d) + rows (%lld) exceeds the cache length %lld", params->pos0,
                  (long long)m, (long long)s);
    if (params->sliding_window < 0)
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "params.sliding_window: must be >= 0 (got %d)",
                  params->sliding_window);
    if (!(params->scale > 0.0f) || !std::isfinite(params->scale))
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "params.scale: must be a finite value > 0 (got %g)", params->scale);
    if (params->softcap < 0.0f || !std::isfinite(params->softcap))
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "params.softcap: must be 0 (off) or finite > 0 (got %g)",
                  params->softcap);
    const caprese_tensor* outs[] = {dq, dk, dv};
    const char* out_names[] = {"dq", "dk", "dv"};
    const caprese_tensor* ins[] = {q, k_cache, v_cache, dout};
    const char* in_names[] = {"q", "k_cache", "v_cache", "dout"};
    for (int o = 0; o < 3; ++o) {
      for (int i = 0; i < 4; ++i)
        CAPRESE_RETURN_IF_ERROR(CheckAlias(op, out_names[o], *outs[o], in_names[i], *ins[i], false));
      for (int p = o + 1; p < 3; ++p)
        CAPRESE_RETURN_IF_ERROR(CheckAlias(op, out_names[p], *outs[p], out_names[o], *outs[o], false));
    }
    AttentionBackwardArgs a{static_cast<const float*>(q->data),  static_cast<const float*>(k_cache->data),
                            static_cast<const float*>(v_cache->data), static_cast<const float*>(dout->data),
                            static_cast<float*>(dq->data),       static_cast<float*>(dk->data),
                            static_cast<float*>(dv->data),       m,
                            hq,                                  hkv,
                            hd,                                  s,
                            *params};
    return be.AttentionBackward(a);
  });
}

CAPRESE_API caprese_status caprese_transpose(caprese_context_t ctx, const caprese_tensor* x, caprese_tensor* y) {
  return RunOp(ctx, "caprese_transpose", [&](Backend& be) -> Status {
    CAPRESE_RETURN_IF_ERROR(CheckTensor("x", x, 2, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("y", y, 2, kF32));
    if (y->shape[0] != x->shape[1] || y->shape[1] != x->shape[0])
      return ShapeMismatch("transpose: y must be [N, M] for x [M, N]", *y, "y", *x, "x");
    CAPRESE_RETURN_IF_ERROR(CheckAlias("transpose", "y", *y, "x", *x, false));
    TransposeArgs a{static_cast<const float*>(x->data), static_cast<float*>(y->data), x->shape[0], x->shape[1]};
    return be.Transpose(a);
  });
}

CAPRESE_API caprese_status caprese_axpby(caprese_context_t ctx, float alpha, const caprese_tensor* a, float beta,
                                         const caprese_tensor* b, caprese_tensor* out) {
  return RunOp(ctx, "caprese_axpby", [&](Backend& be) -> Status {
    CAPRESE_RETURN_IF_ERROR(CheckBinary("axpby", a, b, out));
    if (!std::isfinite(alpha)) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "alpha: must be finite (got %g)", alpha);
    if (!std::isfinite(beta)) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "beta: must be finite (got %g)", beta);
    AxpbyArgs args{alpha, static_cast<const float*>(a->data), beta, static_cast<const float*>(b->data),
                   static_cast<float*>(out->data), NumElements(*a)};
    return be.Axpby(args);
  });
}

CAPRESE_API caprese_status caprese_mul(caprese_context_t ctx, const caprese_tensor* a, const caprese_tensor* b,
                                       caprese_tensor* out) {
  return RunOp(ctx, "caprese_mul", [&](Backend& be) -> Status {
    CAPRESE_RETURN_IF_ERROR(CheckBinary("mul", a, b, out));
    MulArgs args{static_cast<const float*>(a->data), static_cast<const float*>(b->data),
                 static_cast<float*>(out->data), NumElements(*a)};
    return be.Mul(args);
  });
}

CAPRESE_API caprese_status caprese_adam_step(caprese_context_t ctx, caprese_tensor* param, const caprese_tensor* grad,
                                             caprese_tensor* m, caprese_tensor* v, float lr, float beta1, float beta2,
                                             float eps, float weight_decay, int32_t step) {
  return RunOp(ctx, "caprese_adam_step", [&](Backend& be) -> Status {
    CAPRESE_RETURN_IF_ERROR(CheckTensor("param", param, 0, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("grad", grad, 0, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("m", m, 0, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("v", v, 0, kF32));
    if (!SameShape(*param, *grad))
      return ShapeMismatch("adam_step: grad must match param", *grad, "grad", *param, "param");
    if (!SameShape(*param, *m)) return ShapeMismatch("adam_step: m must match param", *m, "m", *param, "param");
    if (!SameShape(*param, *v)) return ShapeMismatch("adam_step: v must match param", *v, "v", *param, "param");
    if (!(lr >= 0.0f) || !std::isfinite(lr))
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "lr: must be a finite value >= 0 (got %g)", lr);
    if (!(beta1 >= 0.0f && beta1 < 1.0f))
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "beta1: must be in [0, 1) (got %g)", beta1);
    if (!(beta2 >= 0.0f && beta2 < 1.0f))
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "beta2: must be in [0, 1) (got %g)", beta2);
    if (!(eps > 0.0f) || !std::isfinite(eps))
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "eps: must be a finite value > 0 (got %g)", eps);
    if (!(weight_decay >= 0.0f) || !std::isfinite(weight_decay))
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "weight_decay: must be a finite value >= 0 (got %g)", weight_decay);
    if (step < 1) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "step: must be >= 1 (got %d)", step);
    const caprese_tensor* ts[] = {param, grad, m, v};
    const char* names[] = {"param", "grad", "m", "v"};
    for (int i = 0; i < 4; ++i)
      for (int j = i + 1; j < 4; ++j) CAPRESE_RETURN_IF_ERROR(CheckAlias("adam_step", names[j], *ts[j], names[i], *ts[i], false));
    AdamArgs a{};
    a.param = static_cast<float*>(param->data);
    a.grad = static_cast<const float*>(grad->data);
    a.m = static_cast<float*>(m->data);
    a.v = static_cast<float*>(v->data);
    a.count = NumElements(*param);
    a.lr = lr;
    a.beta1 = beta1;
    a.beta2 = beta2;
    a.eps = eps;
    a.weight_decay = weight_decay;
    a.bias_correction1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
    a.bias_correction2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
    return be.AdamStep(a);
  });
}

}  // extern "C"
