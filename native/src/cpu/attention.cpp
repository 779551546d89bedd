// Causal grouped-query attention over a KV cache.
// Query row m sits at position p = pos0 + m and attends keys j in [lo, p], lo = 0 or, with a
// sliding window w, max(0, p - w + 1). Scores are stored, softmaxed after subtracting their
// maximum (exact and overflow-free), then used to weight the value rows.
//
// A task is one query row and a run of query heads that share a KV head: each key and value
// row is then read once for all of them, instead of once per query head (GQA groups are
// 2-8 heads wide). Runs are shortened when that is needed to give every thread work.
// Keys are taken eight, then four at a time (Dot8/Dot4, Axpy8/Axpy4: bit-identical to one key
// at a time) for independent FMA chains, shared lane reductions and fewer passes over the
// accumulator. Per (row, head) the arithmetic is the same whatever the grouping, so results do not depend
// on the thread count or on how many rows a call holds.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/cpu_backend.h"
#include "cpu/vec.h"

namespace caprese {
namespace cpu {

Status Attention(ThreadPool& pool, const AttentionArgs& a) {
  const int64_t hd = a.head_dim, group = a.q_heads / a.kv_heads;
  const int64_t kv_row = a.kv_heads * hd;
  const int32_t window = a.params.sliding_window;
  const float scale = a.params.scale, cap = a.params.softcap;

  // Query heads per task: the widest divisor of the group that still leaves >= 2 tasks per
  // thread (or 1 head).
  int64_t run = group;
  while (run > 1 && a.m * (a.q_heads / run) < 2 * pool.num_threads()) {
    int64_t d = run - 1;
    while (group % d != 0) --d;
    run = d;
  }
  const int64_t runs_per_row = a.q_heads / run;
  const int64_t tasks = a.m * runs_per_row;
  const int64_t last = a.params.pos0 + a.m - 1;
  const int64_t keys = window > 0 ? std::min<int64_t>(window, last + 1) : last + 1;
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(1, keys * hd * 2 * run));

  pool.ParallelFor(tasks, grain, [&](int64_t t0, int64_t t1) {
    // Per-thread scratch, reused across calls (a decode step makes one call per layer).
    thread_local std::vector<float> scores, acc, mx, sum;
    acc.resize(run * hd);
    mx.resize(run);
    sum.resize(run);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t m = t / runs_per_row, h0 = (t % runs_per_row) * run, kvh = h0 / group;
      const int64_t p = a.params.pos0 + m;
      const int64_t lo = window > 0 ? std::max<int64_t>(0, p - window + 1) : 0;
      const int64_t n = p - lo + 1;
      const float* q = a.q + (m * a.q_heads + h0) * hd;  // run consecutive heads
      scores.resize(run * n);
      std::fill(mx.begin(), mx.end(), -INFINITY);
      // Raw q·k, eight then four keys at a time while that many remain.
      int64_t j = lo;
      for (; j + 7 <= p; j += 8) {
        const float* k = a.k_cache + j * kv_row + kvh * hd;
        for (int64_t h = 0; h < run; ++h) Dot8(q + h * hd, k, kv_row, hd, &scores[h * n + (j - lo)]);
      }
      for (; j + 3 <= p; j += 4) {
        const float* k = a.k_cache + j * kv_row + kvh * hd;
        for (int64_t h = 0; h < run; ++h) Dot4(q + h * hd, k, kv_row, hd, &scores[h * n + (j - lo)]);
      }
      for (; j <= p; ++j) {
        const float* k = a.k_cache + j * kv_row + kvh * hd;
        for (int64_t h = 0; h < run; ++h) scores[h * n + (j - lo)] = Dot(q + h * hd, k, hd);
      }
      for (int64_t h = 0; h < run; ++h) {
        float* sh = &scores[h * n];
        if (cap > 0.0f) {
          for (int64_t i = 0; i < n; ++i) {
            const float s = cap * std::tanh(sh[i] * scale / cap);
            sh[i] = s;
            mx[h] = std::max(mx[h], s);
          }
        } else {
          mx[h] = ScaleMax(sh, n, scale);
        }
        sum[h] = ExpShiftSum(sh, n, mx[h]);
      }
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (j = lo; j + 7 <= p; j += 8) {
        const float* v = a.v_cache + j * kv_row + kvh * hd;
        for (int64_t h = 0; h < run; ++h) Axpy8(&scores[h * n + (j - lo)], v, kv_row, acc.data() + h * hd, hd);
      }
      for (; j + 3 <= p; j += 4) {
        const float* v = a.v_cache + j * kv_row + kvh * hd;
        for (int64_t h = 0; h < run; ++h) Axpy4(&scores[h * n + (j - lo)], v, kv_row, acc.data() + h * hd, hd);
      }
      for (; j <= p; ++j) {
        const float* v = a.v_cache + j * kv_row + kvh * hd;
        for (int64_t h = 0; h < run; ++h) Axpy(scores[h * n + (j - lo)], v, acc.data() + h * hd, hd);
      }
      for (int64_t h = 0; h < run; ++h) {
        const float inv = 1.0f / sum[h];
        float* out = a.out + (m * a.q_heads + h0 + h) * hd;
        for (int64_t i = 0; i < hd; ++i) out[i] = acc[h * hd + i] * inv;
      }
    }
  });
  return Status::Ok();
}

}  // namespace cpu
}  // namespace caprese
