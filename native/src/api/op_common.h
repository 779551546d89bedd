// What every op entry point of the API layer shares (ops.cpp, sparse_ops.cpp, training_ops.cpp):
// the accepted dtype lists, the shape-mismatch message, the entry wrapper (no exception crosses
// the ABI, NULL context check, NVTX range), and RoPE's argument checks (forward and gradient).
#pragma once

#include <initializer_list>

#include "api/errors.h"
#include "api/handles.h"
#include "api/nvtx.h"
#include "api/tensor_check.h"

namespace caprese {

inline constexpr std::initializer_list<caprese_dtype> kF32 = {CAPRESE_DTYPE_F32};
inline constexpr std::initializer_list<caprese_dtype> kWeights = {CAPRESE_DTYPE_F32, CAPRESE_DTYPE_F16,
                                                                  CAPRESE_DTYPE_BF16};

// "<what>: <an> [shape] vs <bn> [shape]".
inline Status ShapeMismatch(const char* what, const caprese_tensor& a, const char* an, const caprese_tensor& b,
                            const char* bn) {
  char sa[96], sb[96];
  return Fail(CAPRESE_ERROR_SHAPE, "%s: %s %s vs %s %s", what, an, ShapeString(a, sa, sizeof sa), bn,
              ShapeString(b, sb, sizeof sb));
}

// Runs an op's checks and dispatch: exceptions become statuses, a NULL context is an error, and
// the op shows up in Nsight under `name`.
template <typename F>
caprese_status RunOp(caprese_context_t ctx, const char* name, F&& body) {
  return Guard([&]() -> Status {
    if (ctx == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "ctx: NULL context");
    NvtxRange range(name);
    return body(*ctx->backend);
  });
}

// x [M, heads, head_dim] f32 with an even head_dim, pos0 >= 0, a known style, and either inv_freq
// [head_dim / 2] f32 or a finite theta > 0; `op` ("rope", "rope_backward") prefixes the shape messages.
Status CheckRopeArgs(const char* op, const caprese_tensor* x, int32_t pos0, float theta,
                     const caprese_tensor* inv_freq, int32_t style);

// q [M, Hq, hd], caches [S, Hkv, hd], out like q, all f32, head_dim <= 256, Hq % Hkv == 0, and the
// params. pos_on_device (attention_at): params->pos0 must be 0 and M <= S; else pos0 + M <= S.
Status CheckAttentionArgs(const caprese_tensor* q, const caprese_tensor* k_cache, const caprese_tensor* v_cache,
                          const caprese_attention_params* params, const caprese_tensor* out, bool pos_on_device);

}  // namespace caprese
