// C ABI of the ops: check every argument, then dispatch to the context's backend inside an
// NVTX range. Shapes use M rows (tokens), K input and N output features.
#include <cmath>
#include <cstdio>

#include "api/op_common.h"

using namespace caprese;

namespace caprese {

Status CheckRopeArgs(const char* op, const caprese_tensor* x, int32_t pos0, float theta,
                     const caprese_tensor* inv_freq, int32_t style) {
  CAPRESE_RETURN_IF_ERROR(CheckTensor("x", x, 3, kF32));
  const int64_t hd = x->shape[2];
  if (hd % 2 != 0) return Fail(CAPRESE_ERROR_SHAPE, "%s: head_dim must be even (got %lld)", op, (long long)hd);
  if (pos0 < 0) return Fail(CAPRESE_ERROR_OUT_OF_RANGE, "pos0: must be >= 0 (got %d)", pos0);
  if (style != CAPRESE_ROPE_INTERLEAVED && style != CAPRESE_ROPE_HALF_SPLIT)
    return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "style: unknown rope style %d", style);
  if (inv_freq != nullptr) {
    CAPRESE_RETURN_IF_ERROR(CheckTensor("inv_freq", inv_freq, 1, kF32));
    if (inv_freq->shape[0] != hd / 2) {
      char what[64];
      std::snprintf(what, sizeof what, "%s: inv_freq must be [head_dim / 2]", op);
      return ShapeMismatch(what, *inv_freq, "inv_freq", *x, "x");
    }
  } else if (!(theta > 0.0f) || !std::isfinite(theta)) {
    return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "theta: must be a finite value > 0 (got %g)", theta);
  }
  return Status::Ok();
}

Status CheckAttentionArgs(const caprese_tensor* q, const caprese_tensor* k_cache, const caprese_tensor* v_cache,
                          const caprese_attention_params* params, const caprese_tensor* out, bool pos_on_device) {
  CAPRESE_RETURN_IF_ERROR(CheckTensor("q", q, 3, kF32));
  CAPRESE_RETURN_IF_ERROR(CheckTensor("k_cache", k_cache, 3, kF32));
  CAPRESE_RETURN_IF_ERROR(CheckTensor("v_cache", v_cache, 3, kF32));
  CAPRESE_RETURN_IF_ERROR(CheckTensor("out", out, 3, kF32));
  if (params == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "params: NULL pointer");
  if (!SameShape(*k_cache, *v_cache))
    return ShapeMismatch("attention: k_cache and v_cache must match", *k_cache, "k_cache", *v_cache, "v_cache");
  if (!SameShape(*q, *out)) return ShapeMismatch("attention: out must match q", *out, "out", *q, "q");
  int64_t m = q->shape[0], hq = q->shape[1], hd = q->shape[2];
  int64_t s = k_cache->shape[0], hkv = k_cache->shape[1];
  if (k_cache->shape[2] != hd)
    return ShapeMismatch("attention: head_dim of q and the cache differ", *q, "q", *k_cache, "k_cache");
  if (hd > 256)
    return Fail(CAPRESE_ERROR_SHAPE, "attention: head_dim %lld exceeds the supported maximum of 256", (long long)hd);
  if (hq % hkv != 0)
    return Fail(CAPRESE_ERROR_SHAPE, "attention: query heads (%lld) must be a multiple of kv heads (%lld)",
                (long long)hq, (long long)hkv);
  if (pos_on_device) {
    if (params->pos0 != 0)
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT,
                  "params.pos0: must be 0 for attention_at, whose position is read from `pos` (got %d)", params->pos0);
    if (m > s)
      return Fail(CAPRESE_ERROR_SHAPE, "attention_at: rows (%lld) exceed the cache length %lld", (long long)m,
                  (long long)s);
  } else {
    if (params->pos0 < 0) return Fail(CAPRESE_ERROR_OUT_OF_RANGE, "params.pos0: must be >= 0 (got %d)", params->pos0);
    if (params->pos0 + m > s)
      return Fail(CAPRESE_ERROR_OUT_OF_RANGE, "attention: pos0 (%d) + rows (%lld) exceeds the cache length %lld",
                  params->pos0, (long long)m, (long long)s);
  }
  if (params->sliding_window < 0)
    return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "params.sliding_window: must be >= 0 (got %d)", params->sliding_window);
  if (!(params->scale > 0.0f) || !std::isfinite(params->scale))
    return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "params.scale: must be a finite value > 0 (got %g)", params->scale);
  if (params->softcap < 0.0f || !std::isfinite(params->softcap))
    return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "params.softcap: must be 0 (off) or finite > 0 (got %g)", params->softcap);
  return Status::Ok();
}

}  // namespace caprese

extern "C" {

CAPRESE_API caprese_status caprese_matmul(caprese_context_t ctx, const caprese_tensor* x,
                                          const caprese_tensor* w, const caprese_tensor* bias,
                                          caprese_tensor* y) {
  return RunOp(ctx, "caprese_matmul", [&](Backend& be) -> Status {
    CAPRESE_RETURN_IF_ERROR(CheckTensor("x", x, 0, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("w", w, 2, kWeights));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("y", y, 0, kF32));
    int64_t k = Cols(*x), n = w->shape[0];
    if (w->shape[1] != k) return ShapeMismatch("matmul: w must be [N, K] with K = x's last dim", *x, "x", *w, "w");
    if (Cols(*y) != n || Rows(*y) != Rows(*x))
      return ShapeMismatch("matmul: y must be [rows of x, N]", *y, "y", *w, "w");
    if (bias != nullptr) {
      CAPRESE_RETURN_IF_ERROR(CheckTensor("bias", bias, 1, kF32));
      if (bias->shape[0] != n) return ShapeMismatch("matmul: bias must be [N]", *bias, "bias", *w, "w");
    }
    // The kernels read x, w and bias through __restrict__ pointers while writing y.
    if (TensorsOverlap(*y, *x)) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "matmul: y must not overlap x");
    if (TensorsOverlap(*y, *w)) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "matmul: y must not overlap w");
    if (bias != nullptr && TensorsOverlap(*y, *bias))
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "matmul: y must not overlap bias");
    MatmulArgs a{static_cast<const float*>(x->data), w->data, static_cast<caprese_dtype>(w->dtype),
                 bias ? static_cast<const float*>(bias->data) : nullptr, static_cast<float*>(y->data),
                 Rows(*x), n, k};
    return be.Matmul(a);
  });
}

CAPRESE_API caprese_status caprese_rmsnorm(caprese_context_t ctx, const caprese_tensor* x,
                                           const caprese_tensor* w, float eps,
                                           float weight_offset, caprese_tensor* y) {
  return RunOp(ctx, "caprese_rmsnorm", [&](Backend& be) -> Status {
    CAPRESE_RETURN_IF_ERROR(CheckTensor("x", x, 0, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("w", w, 1, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("y", y, 0, kF32));
    if (w->shape[0] != Cols(*x)) return ShapeMismatch("rmsnorm: w must be [D]", *w, "w", *x, "x");
    if (!SameShape(*x, *y)) return ShapeMismatch("rmsnorm: y must match x", *y, "y", *x, "x");
    if (!(eps > 0.0f) || !std::isfinite(eps))
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "eps: must be a finite value > 0 (got %g)", eps);
    if (!std::isfinite(weight_offset))
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "weight_offset: must be finite");
    RmsNormArgs a{static_cast<const float*>(x->data), static_cast<const float*>(w->data),
                  static_cast<float*>(y->data), Rows(*x), Cols(*x), eps, weight_offset};
    return be.RmsNorm(a);
  });
}

CAPRESE_API caprese_status caprese_rope(caprese_context_t ctx, caprese_tensor* x, int32_t pos0,
                                        float theta, const caprese_tensor* inv_freq,
                                        int32_t style) {
  return RunOp(ctx, "caprese_rope", [&](Backend& be) -> Status {
    CAPRESE_RETURN_IF_ERROR(CheckRopeArgs("rope", x, pos0, theta, inv_freq, style));
    const int64_t hd = x->shape[2];
    RopeArgs a{static_cast<float*>(x->data), inv_freq ? static_cast<const float*>(inv_freq->data) : nullptr,
               x->shape[0], x->shape[1], hd, pos0, theta, static_cast<caprese_rope_style>(style)};
    return be.Rope(a);
  });
}

CAPRESE_API caprese_status caprese_attention(caprese_context_t ctx, const caprese_tensor* q,
                                             const caprese_tensor* k_cache,
                                             const caprese_tensor* v_cache,
                                             const caprese_attention_params* params,
                                             caprese_tensor* out) {
  return RunOp(ctx, "caprese_attention", [&](Backend& be) -> Status {
    CAPRESE_RETURN_IF_ERROR(CheckAttentionArgs(q, k_cache, v_cache, params, out, /*pos_on_device=*/false));
    const int64_t m = q->shape[0], hq = q->shape[1], hd = q->shape[2], s = k_cache->shape[0], hkv = k_cache->shape[1];
    AttentionArgs a{static_cast<const float*>(q->data), static_cast<const float*>(k_cache->data),
                    static_cast<const float*>(v_cache->data), static_cast<float*>(out->data),
                    m, hq, hkv, hd, s, *params};
    return be.Attention(a);
  });
}

CAPRESE_API caprese_status caprese_gated_activation(caprese_context_t ctx,
                                                    const caprese_tensor* gate,
                                                    const caprese_tensor* up,
                                                    int32_t act, caprese_tensor* out) {
  return RunOp(ctx, "caprese_gated_activation", [&](Backend& be) -> Status {
    CAPRESE_RETURN_IF_ERROR(CheckTensor("gate", gate, 0, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("up", up, 0, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("out", out, 0, kF32));
    if (!SameShape(*gate, *up)) return ShapeMismatch("gated_activation: up must match gate", *up, "up", *gate, "gate");
    if (!SameShape(*gate, *out)) return ShapeMismatch("gated_activation: out must match gate", *out, "out", *gate, "gate");
    if (act != CAPRESE_ACTIVATION_SILU && act != CAPRESE_ACTIVATION_GELU_TANH)
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "act: unknown activation %d", act);
    GatedActivationArgs a{static_cast<const float*>(gate->data), static_cast<const float*>(up->data),
                          static_cast<float*>(out->data), NumElements(*gate), static_cast<caprese_activation>(act)};
    return be.GatedActivation(a);
  });
}

CAPRESE_API caprese_status caprese_add(caprese_context_t ctx, const caprese_tensor* a,
                                       const caprese_tensor* b, caprese_tensor* out) {
  return RunOp(ctx, "caprese_add", [&](Backend& be) -> Status {
    CAPRESE_RETURN_IF_ERROR(CheckTensor("a", a, 0, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("b", b, 0, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("out", out, 0, kF32));
    if (!SameShape(*a, *b)) return ShapeMismatch("add: b must match a", *b, "b", *a, "a");
    if (!SameShape(*a, *out)) return ShapeMismatch("add: out must match a", *out, "out", *a, "a");
    AddArgs args{static_cast<const float*>(a->data), static_cast<const float*>(b->data),
                 static_cast<float*>(out->data), NumElements(*a)};
    return be.Add(args);
  });
}

CAPRESE_API caprese_status caprese_softmax(caprese_context_t ctx, const caprese_tensor* x,
                                           float temperature, caprese_tensor* y) {
  return RunOp(ctx, "caprese_softmax", [&](Backend& be) -> Status {
    CAPRESE_RETURN_IF_ERROR(CheckTensor("x", x, 0, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("y", y, 0, kF32));
    if (!SameShape(*x, *y)) return ShapeMismatch("softmax: y must match x", *y, "y", *x, "x");
    if (!(temperature > 0.0f) || !std::isfinite(temperature))
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "temperature: must be a finite value > 0 (got %g)", temperature);
    SoftmaxArgs a{static_cast<const float*>(x->data), static_cast<float*>(y->data), Rows(*x), Cols(*x), temperature};
    return be.Softmax(a);
  });
}

CAPRESE_API caprese_status caprese_softcap(caprese_context_t ctx, const caprese_tensor* x,
                                           float cap, caprese_tensor* y) {
  return RunOp(ctx, "caprese_softcap", [&](Backend& be) -> Status {
    CAPRESE_RETURN_IF_ERROR(CheckTensor("x", x, 0, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("y", y, 0, kF32));
    if (!SameShape(*x, *y)) return ShapeMismatch("softcap: y must match x", *y, "y", *x, "x");
    if (!(cap > 0.0f) || !std::isfinite(cap))
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "cap: must be a finite value > 0 (got %g)", cap);
    SoftcapArgs a{static_cast<const float*>(x->data), static_cast<float*>(y->data), NumElements(*x), cap};
    return be.Softcap(a);
  });
}

CAPRESE_API caprese_status caprese_argmax(caprese_context_t ctx, const caprese_tensor* x,
                                          caprese_tensor* out) {
  return RunOp(ctx, "caprese_argmax", [&](Backend& be) -> Status {
    CAPRESE_RETURN_IF_ERROR(CheckTensor("x", x, 0, kF32));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("out", out, 1, {CAPRESE_DTYPE_I32}));
    if (out->shape[0] != Rows(*x)) return ShapeMismatch("argmax: out must be [rows of x]", *out, "out", *x, "x");
    ArgmaxArgs a{static_cast<const float*>(x->data), static_cast<int32_t*>(out->data), Rows(*x), Cols(*x)};
    return be.Argmax(a);
  });
}

CAPRESE_API caprese_status caprese_embedding(caprese_context_t ctx, const caprese_tensor* table,
                                             const caprese_tensor* ids, float scale,
                                             caprese_tensor* out) {
  return RunOp(ctx, "caprese_embedding", [&](Backend& be) -> Status {
    CAPRESE_RETURN_IF_ERROR(CheckTensor("table", table, 2, kWeights));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("ids", ids, 1, {CAPRESE_DTYPE_I32}));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("out", out, 2, kF32));
    if (out->shape[0] != ids->shape[0] || out->shape[1] != table->shape[1])
      return ShapeMismatch("embedding: out must be [M, D] for ids [M] and table [V, D]", *out, "out", *table, "table");
    if (!std::isfinite(scale)) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "scale: must be finite");
    EmbeddingArgs a{table->data, static_cast<caprese_dtype>(table->dtype), static_cast<const int32_t*>(ids->data),
                    static_cast<float*>(out->data), ids->shape[0], table->shape[0], table->shape[1], scale};
    return be.Embedding(a);
  });
}

}  // extern "C"
