// C ABI of the ops that read the position from an i32 tensor in the backend's memory instead of
// taking it by value, so a captured graph can be replayed at every position (see caprese.h).
#include "api/op_common.h"

using namespace caprese;

namespace {

Status CheckPosition(const caprese_tensor* pos) {
  CAPRESE_RETURN_IF_ERROR(CheckTensor("pos", pos, 1, {CAPRESE_DTYPE_I32}));
  if (pos->shape[0] != 1)
    return Fail(CAPRESE_ERROR_SHAPE, "pos: must be [1] (one i32 position), got [%lld]", (long long)pos->shape[0]);
  return Status::Ok();
}

}  // namespace

extern "C" {

CAPRESE_API caprese_status caprese_rope_at(caprese_context_t ctx, caprese_tensor* x, const caprese_tensor* pos,
                                           float theta, const caprese_tensor* inv_freq, int32_t style) {
  return RunOp(ctx, "caprese_rope_at", [&](Backend& be) -> Status {
    CAPRESE_RETURN_IF_ERROR(CheckRopeArgs("rope_at", x, 0, theta, inv_freq, style));
    CAPRESE_RETURN_IF_ERROR(CheckPosition(pos));
    if (TensorsOverlap(*x, *pos)) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "rope_at: x must not overlap pos");
    RopeArgs a{static_cast<float*>(x->data), inv_freq ? static_cast<const float*>(inv_freq->data) : nullptr,
               x->shape[0], x->shape[1], x->shape[2], 0, theta, static_cast<caprese_rope_style>(style),
               static_cast<const int32_t*>(pos->data)};
    return be.Rope(a);
  });
}

CAPRESE_API caprese_status caprese_attention_at(caprese_context_t ctx, const caprese_tensor* q,
                                                const caprese_tensor* k_cache, const caprese_tensor* v_cache,
                                                const caprese_attention_params* params, const caprese_tensor* pos,
                                                caprese_tensor* out) {
  return RunOp(ctx, "caprese_attention_at", [&](Backend& be) -> Status {
    CAPRESE_RETURN_IF_ERROR(CheckAttentionArgs(q, k_cache, v_cache, params, out, /*pos_on_device=*/true));
    CAPRESE_RETURN_IF_ERROR(CheckPosition(pos));
    if (TensorsOverlap(*out, *pos)) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "attention_at: out must not overlap pos");
    AttentionArgs a{static_cast<const float*>(q->data), static_cast<const float*>(k_cache->data),
                    static_cast<const float*>(v_cache->data), static_cast<float*>(out->data),
                    q->shape[0], q->shape[1], k_cache->shape[1], q->shape[2], k_cache->shape[0], *params,
                    static_cast<const int32_t*>(pos->data)};
    return be.Attention(a);
  });
}

CAPRESE_API caprese_status caprese_write_rows_at(caprese_context_t ctx, const caprese_tensor* src,
                                                 const caprese_tensor* pos, caprese_tensor* dst) {
  return RunOp(ctx, "caprese_write_rows_at", [&](Backend& be) -> Status {
    const std::initializer_list<caprese_dtype> any = {CAPRESE_DTYPE_F32, CAPRESE_DTYPE_F16, CAPRESE_DTYPE_BF16,
                                                      CAPRESE_DTYPE_I32};
    CAPRESE_RETURN_IF_ERROR(CheckTensor("src", src, 0, any));
    CAPRESE_RETURN_IF_ERROR(CheckTensor("dst", dst, 0, any));
    CAPRESE_RETURN_IF_ERROR(CheckPosition(pos));
    if (src->dtype != dst->dtype)
      return Fail(CAPRESE_ERROR_DTYPE, "write_rows_at: src is %s but dst is %s", DtypeName(src->dtype),
                  DtypeName(dst->dtype));
    const int64_t rows = src->shape[0], dst_rows = dst->shape[0];
    const int64_t row_elems = NumElements(*src) / rows;
    if (NumElements(*dst) / dst_rows != row_elems)
      return ShapeMismatch("write_rows_at: src and dst rows (all dims after the first) must hold as many elements",
                           *src, "src", *dst, "dst");
    if (rows > dst_rows)
      return ShapeMismatch("write_rows_at: src has more rows than dst", *src, "src", *dst, "dst");
    if (TensorsOverlap(*src, *dst)) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "write_rows_at: dst must not overlap src");
    if (TensorsOverlap(*dst, *pos)) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "write_rows_at: dst must not overlap pos");
    WriteRowsArgs a{src->data, dst->data, rows, dst_rows, row_elems * DtypeSize(src->dtype),
                    static_cast<const int32_t*>(pos->data)};
    return be.WriteRows(a);
  });
}

}  // extern "C"
