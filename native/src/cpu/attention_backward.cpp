// Gradients of causal grouped-query attention (cpu/attention.cpp), recomputing the softmax.
// For query row m (position p = pos0 + m), query head h and kv head kh = h / group, over the
// visible keys j in [lo, p]:
//   s_j = scale q·k_j,  c_j = softcap ? cap tanh(s_j / cap) : s_j,  P = softmax(c),
//   dP_j = dout·v_j,  D = Σ_j P_j dP_j (= dout·out),  dc_j = P_j (dP_j - D),
//   ds_j = dc_j (1 - (c_j / cap)²) with softcap, else dc_j,
//   dq = scale Σ_j ds_j k_j,  dk_j += scale ds_j q,  dv_j += P_j dout.
// Two passes, each race-free and so deterministic for any thread count:
//  1. per (row, query head): the scores, P, D and dq; keeps lse = max + log(sum) and D.
//  2. per (kv head, cache row j < pos0 + M): dk_j and dv_j summed over every (row, head of the
//     group) that sees j, with P_j = exp(c_j - lse) recomputed. Rows nobody sees get zeros.
// Dots are f32 (the forward's kernels); softmax sums, lse and D are double.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/cpu_backend.h"
#include "cpu/vec.h"

namespace caprese {
namespace cpu {

Status AttentionBackward(ThreadPool& pool, const AttentionBackwardArgs& a) {
  const int64_t hd = a.head_dim, hq = a.q_heads, group = a.q_heads / a.kv_heads;
  const int64_t kv_row = a.kv_heads * hd;
  const int64_t pos0 = a.params.pos0, window = a.params.sliding_window;
  const float scale = a.params.scale, cap = a.params.softcap;
  const int64_t last = pos0 + a.m - 1;
  const int64_t keys = window > 0 ? std::min<int64_t>(window, last + 1) : last + 1;
  std::vector<double> lse(a.m * hq), dsum(a.m * hq);

  auto capped = [&](float s) { return cap > 0.0f ? cap * std::tanh(s / cap) : s; };
  auto cap_grad = [&](float c) { return cap > 0.0f ? 1.0f - (c / cap) * (c / cap) : 1.0f; };

  // ---- pass 1: per (row, query head)
  const int64_t grain1 = std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(1, keys * hd * 3));
  pool.ParallelFor(a.m * hq, grain1, [&](int64_t t0, int64_t t1) {
    std::vector<float> c, dp;
    std::vector<double> dq(hd);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t m = t / hq, h = t % hq, kh = h / group;
      const int64_t p = pos0 + m;
      const int64_t lo = window > 0 ? std::max<int64_t>(0, p - window + 1) : 0;
      const int64_t n = p - lo + 1;
      const float* q = a.q + t * hd;
      const float* go = a.dout + t * hd;
      c.resize(n);
      dp.resize(n);
      float mx = -INFINITY;
      for (int64_t j = lo; j <= p; ++j) {
        const float* k = a.k_cache + j * kv_row + kh * hd;
        const float* v = a.v_cache + j * kv_row + kh * hd;
        c[j - lo] = capped(Dot(q, k, hd) * scale);
        dp[j - lo] = Dot(go, v, hd);
        mx = std::max(mx, c[j - lo]);
      }
      double sum = 0.0;
      for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(c[i]) - mx);
      const double l = mx + std::log(sum);
      double d = 0.0;
      for (int64_t i = 0; i < n; ++i) d += std::exp(static_cast<double>(c[i]) - l) * dp[i];
      lse[t] = l;
      dsum[t] = d;
      std::fill(dq.begin(), dq.end(), 0.0);
      for (int64_t j = lo; j <= p; ++j) {
        const double pj = std::exp(static_cast<double>(c[j - lo]) - l);
        const double ds = pj * (dp[j - lo] - d) * cap_grad(c[j - lo]);
        const float* k = a.k_cache + j * kv_row + kh * hd;
        for (int64_t i = 0; i < hd; ++i) dq[i] += ds * k[i];
      }
      float* out = a.dq + t * hd;
      for (int64_t i = 0; i < hd; ++i) out[i] = static_cast<float>(dq[i] * scale);
    }
  });

  // ---- pass 2: per (kv head, cache row)
  const int64_t rows = pos0 + a.m;
  const int64_t per_key = std::max<int64_t>(1, std::min<int64_t>(a.m, keys) * group * hd * 4);
  const int64_t grain2 = std::max<int64_t>(1, (int64_t{1} << 15) / per_key);
  pool.ParallelFor(a.kv_heads * rows, grain2, [&](int64_t t0, int64_t t1) {
    std::vector<double> dk(hd), dv(hd);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t kh = t / rows, j = t % rows;
      const float* k = a.k_cache + j * kv_row + kh * hd;
      const float* v = a.v_cache + j * kv_row + kh * hd;
      std::fill(dk.begin(), dk.end(), 0.0);
      std::fill(dv.begin(), dv.end(), 0.0);
      // Rows that see key j: p >= j, and with a window p - window + 1 <= j.
      const int64_t m_lo = std::max<int64_t>(0, j - pos0);
      const int64_t m_hi = window > 0 ? std::min<int64_t>(a.m - 1, j + window - 1 - pos0) : a.m - 1;
      for (int64_t m = m_lo; m <= m_hi; ++m)
        for (int64_t h = kh * group; h < (kh + 1) * group; ++h) {
          const int64_t row = m * hq + h;
          const float* q = a.q + row * hd;
          const float* go = a.dout + row * hd;
          const float cj = capped(Dot(q, k, hd) * scale);
          const double pj = std::exp(static_cast<double>(cj) - lse[row]);
          const double ds = pj * (static_cast<double>(Dot(go, v, hd)) - dsum[row]) * cap_grad(cj) * scale;
          for (int64_t i = 0; i < hd; ++i) {
            dv[i] += pj * go[i];
            dk[i] += ds * q[i];
          }
        }
      float* dko = a.dk + j * kv_row + kh * hd;
      float* dvo = a.dv + j * kv_row + kh * hd;
      for (int64_t i = 0; i < hd; ++i) {
        dko[i] = static_cast<float>(dk[i]);
        dvo[i] = static_cast<float>(dv[i]);
      }
    }
  });
  return Status::Ok();
}

}  // namespace cpu
}  // namespace caprese
