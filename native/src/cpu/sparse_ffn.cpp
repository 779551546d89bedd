// Sparse-gather gated FFN plus always-active extra neurons (see caprese_sparse_ffn):
//   y[m] = Σ_{j active for m} act(x_m·wg_j)(x_m·wu_j) wd_j + Σ_e (x_m·eu_e) ed_e
//
// Steps: (1) list the neurons to compute ("items": active main neurons, then the extras);
// THRESHOLD first computes the gate of every neuron for all rows, masks it per row and keeps
// the union. (2) Each item's gate and up rows are streamed once for all M rows into its
// coefficients h[item][m]: per chunk of items all gate rows, then all up rows (two sequential
// streams for contiguous rows; gathered rows are prefetched one ahead). (3) The items are cut into parts whose
// number depends only on the item count; each part adds h·wd of its items, in order, into its own
// partial y (column blocks sized to L1, rows padded against cache-set conflicts), and the partials
// are added in part order. So the result is bitwise independent of the thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/cpu_backend.h"
#include "cpu/dot.h"

namespace caprese {
namespace cpu {
namespace {

constexpr int kMaxRows = 16;
constexpr int64_t kYBlockFloats = 8192;  // M rows x block columns of y: 32 KB, an L1's worth
constexpr int64_t kMaxParts = 16;        // partial y buffers (parallelism of the down projection)
constexpr int64_t kItemsPerPart = 128;   // fewer items than this per part: the partials cost more than they give
constexpr int64_t kItemsPerSweep = 32;   // items applied per pass over the column blocks

inline float Act(float g, bool gelu) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  if (gelu) return 0.5f * g * (1.0f + std::tanh(kSqrt2OverPi * (g + 0.044715f * g * g * g)));
  return g / (1.0f + std::exp(-g));  // g << 0: e^-g = inf and g / inf = -0, no NaN
}

// ----------------------------------------------------------------- scalar path

// out_a[r] = x_r · a, out_b[r] = x_r · b (b may be null) for r < m, over d elements with the rows
// of x `stride` apart, in dot.h's two-chain order (the AVX2 path's, mirrored).
template <caprese_dtype D>
void Dots2Scalar(const float* x, int m, int64_t d, int64_t stride, const void* a, const void* b, float* out_a, float* out_b,
                 const void* /*next*/) {
  for (int r = 0; r < m; r += 4) {
    const int c = std::min(4, m - r);
    DotRow2Scalar<D>(x + r * stride, stride, c, a, d, out_a + r, 1);
    if (b) DotRow2Scalar<D>(x + r * stride, stride, c, b, d, out_b + r, 1);
  }
}

// y_r[0..len) += h[r] * w[0..len) for r < m (rows of y are `stride` apart).
template <caprese_dtype D>
void AxpyRowsScalar(const float* h, int m, const void* w, int64_t len, int64_t stride, float* y, const void* /*next*/) {
  for (int64_t i = 0; i < len; ++i) {
    const float wv = LoadW<D>(w, i);
    for (int r = 0; r < m; ++r) y[r * stride + i] += h[r] * wv;
  }
}

// ----------------------------------------------------------------- AVX2 path
#ifdef CAPRESE_X86
// Rows of x against one weight row w in tiles of 4 (8 accumulators); the first tile (the pass that
// reads w from memory) also prefetches `next` when given.
template <caprese_dtype D>
CAPRESE_AVX2 void DotsAvx2(const float* x, int m, int64_t d, int64_t stride, const void* w, float* out, const void* next) {
  int r = 0;
  for (; r + 4 <= m; r += 4) {
    if (r == 0 && next != nullptr)
      DotTile2Avx2<D, 1, 4, true>(x, stride, w, d, out, 1, next);
    else
      DotTile2Avx2<D, 1, 4>(x + r * stride, stride, w, d, out + r, 1);
  }
  for (; r < m; ++r) {
    if (r == 0 && next != nullptr)
      DotTile2Avx2<D, 1, 1, true>(x, stride, w, d, out, 1, next);
    else
      DotTile2Avx2<D, 1, 1>(x + r * stride, stride, w, d, out + r, 1);
  }
}

// Row a, then row b: each one sequential stream (two rows read side by side stream measurably
// slower, as in matmul.cpp), b prefetched while a streams, then `next` while b does.
template <caprese_dtype D>
CAPRESE_AVX2 void Dots2Avx2(const float* x, int m, int64_t d, int64_t stride, const void* a, const void* b, float* out_a,
                            float* out_b, const void* next) {
  DotsAvx2<D>(x, m, d, stride, a, out_a, b != nullptr ? b : next);
  if (b) DotsAvx2<D>(x, m, d, stride, b, out_b, next);
}

// `next` (may be null): the row piece the caller reads next, prefetched in step with this one.
template <caprese_dtype D>
CAPRESE_AVX2 void AxpyRowsAvx2(const float* h, int m, const void* w, int64_t len, int64_t stride, float* y,
                               const void* next) {
  __m256 hv[kMaxRows];
  for (int r = 0; r < m; ++r) hv[r] = _mm256_set1_ps(h[r]);
  const int64_t len8 = len / 8 * 8;
  constexpr int64_t wsize = D == CAPRESE_DTYPE_F32 ? 4 : 2;
  for (int64_t i = 0; i < len8; i += 8) {
    if (next != nullptr && (i & 15) == 0) _mm_prefetch(static_cast<const char*>(next) + i * wsize, _MM_HINT_T0);
    const __m256 wv = LoadW8<D>(w, i);  // converted once for all M rows
    for (int r = 0; r < m; ++r) {
      float* yr = y + r * stride + i;
      _mm256_storeu_ps(yr, _mm256_fmadd_ps(hv[r], wv, _mm256_loadu_ps(yr)));
    }
  }
  for (int64_t i = len8; i < len; ++i) {
    const float wv = LoadW<D>(w, i);
    for (int r = 0; r < m; ++r) y[r * stride + i] = std::fma(h[r], wv, y[r * stride + i]);
  }
}
#endif  // CAPRESE_X86

// The trailing pointer of each kernel: the weight row read next (prefetched on the AVX2 path; may be null).
struct Kernels {
  void (*dots2)(const float*, int, int64_t, int64_t, const void*, const void*, float*, float*, const void*);
  void (*axpy_rows)(const float*, int, const void*, int64_t, int64_t, float*, const void*);
};

template <caprese_dtype D>
Kernels Pick() {
#ifdef CAPRESE_X86
  if (UseAvx2()) return {&Dots2Avx2<D>, &AxpyRowsAvx2<D>};
#endif
  return {&Dots2Scalar<D>, &AxpyRowsScalar<D>};
}

Kernels PickKernels(caprese_dtype d) {
  switch (d) {
    case CAPRESE_DTYPE_F16: return Pick<CAPRESE_DTYPE_F16>();
    case CAPRESE_DTYPE_BF16: return Pick<CAPRESE_DTYPE_BF16>();
    default: return Pick<CAPRESE_DTYPE_F32>();
  }
}

}  // namespace

Status SparseFfn(ThreadPool& pool, const SparseFfnArgs& a) {
  const Kernels kern = PickKernels(a.w_dtype);
  const int m = static_cast<int>(a.m);
  const int64_t d = a.d, h = a.h;
  const int64_t row_bytes = d * (a.w_dtype == CAPRESE_DTYPE_F32 ? 4 : 2);
  const char* wg = static_cast<const char*>(a.w_gate);
  const char* wu = static_cast<const char*>(a.w_up);
  const char* wd = static_cast<const char*>(a.w_down_t);
  const char* eu = static_cast<const char*>(a.extra_up);
  const char* ed = static_cast<const char*>(a.extra_down);
  const bool gelu = a.act == CAPRESE_ACTIVATION_GELU_TANH;

  // Scratch kept per calling thread across calls (a decode step makes one call per sparse layer); every
  // element read below is written first in this call.
  // Bound to locals: the lambdas below run on pool threads, where the names of thread_locals would
  // mean those threads' own (empty) vectors.
  thread_local std::vector<int64_t> tl_items;
  thread_local std::vector<float> tl_gate_act, tl_coef, tl_partial;
  thread_local std::vector<uint8_t> tl_any;
  std::vector<int64_t>& items = tl_items;
  std::vector<float>&gate_act = tl_gate_act, &coef = tl_coef, &partial = tl_partial;
  std::vector<uint8_t>& any = tl_any;
  items.clear();

  // (1) Items: main neuron j as j, extra neuron e as h + e.
  // THRESHOLD: gate_act holds the masked act(gate), [H][M].
  if (a.selection == CAPRESE_SPARSE_INDICES) {
    // Checked up front so a bad index fails the call before y is touched.
    for (int64_t i = 0; i < a.k; ++i)
      if (a.indices[i] < 0 || a.indices[i] >= h)
        return Fail(CAPRESE_ERROR_OUT_OF_RANGE, "indices[%lld] = %d is outside [0, H = %lld)", (long long)i,
                    a.indices[i], (long long)h);
    items.assign(a.indices, a.indices + a.k);
  } else if (a.selection == CAPRESE_SPARSE_ALL) {
    items.resize(h);
    for (int64_t j = 0; j < h; ++j) items[j] = j;
  } else {
    gate_act.resize(static_cast<size_t>(h * m));
    any.resize(static_cast<size_t>(h));
    const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(1, d * m));
    pool.ParallelFor(h, grain, [&](int64_t j0, int64_t j1) {
      float g[kMaxRows];
      for (int64_t j = j0; j < j1; ++j) {
        kern.dots2(a.x, m, d, d, wg + j * row_bytes, nullptr, g, nullptr, nullptr);  // sequential: no prefetch needed
        bool keep_any = false;
        for (int r = 0; r < m; ++r) {
          const float v = Act(g[r], gelu);
          const bool keep = std::fabs(v) >= a.threshold;
          gate_act[j * m + r] = keep ? v : 0.0f;
          keep_any = keep_any || keep;
        }
        any[j] = keep_any;
      }
    });
    for (int64_t j = 0; j < h; ++j)
      if (any[j]) items.push_back(j);
  }
  for (int64_t e = 0; e < a.r; ++e) items.push_back(h + e);

  // (2) Coefficients h[i][r] of every item for every row.
  const int64_t n = static_cast<int64_t>(items.size());
  coef.resize(static_cast<size_t>(n * m));
  const int64_t item_grain = std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(1, d));
  pool.ParallelFor(n, item_grain, [&](int64_t i0, int64_t i1) {
    float u[kMaxRows];
    // A chunk's gate rows are streamed first (gate pre-activations parked in coef), then its up rows: two
    // sequential streams one after the other (for ALL and GRIFFIN's compact rows), rather than alternating
    // between two matrices row by row. Gathered rows get the row read next prefetched in step.
    auto gate_row = [&](int64_t i) -> const void* {
      const int64_t j = items[i];
      return j >= h ? eu + (j - h) * row_bytes : (a.selection == CAPRESE_SPARSE_THRESHOLD ? nullptr : wg + j * row_bytes);
    };
    auto up_row = [&](int64_t i) -> const void* {
      const int64_t j = items[i];
      return j >= h ? nullptr : wu + j * row_bytes;  // extra neurons have no up row (gate = 1)
    };
    // Pass 1: gate (or, for an extra neuron, its single row) into coef.
    for (int64_t i = i0; i < i1; ++i) {
      const void* row = gate_row(i);
      if (row == nullptr) continue;
      const void* next = nullptr;
      for (int64_t t = i + 1; t < i1 && next == nullptr; ++t) next = gate_row(t);
      kern.dots2(a.x, m, d, d, row, nullptr, coef.data() + i * m, nullptr, next);
    }
    // Pass 2: up rows; coef becomes act(gate) * up (CATS: the masked act(gate) from step 1).
    for (int64_t i = i0; i < i1; ++i) {
      const void* row = up_row(i);
      if (row == nullptr) continue;
      const void* next = nullptr;
      for (int64_t t = i + 1; t < i1 && next == nullptr; ++t) next = up_row(t);
      kern.dots2(a.x, m, d, d, row, nullptr, u, nullptr, next);
      float* hv = coef.data() + i * m;
      const int64_t j = items[i];
      if (a.selection == CAPRESE_SPARSE_THRESHOLD)
        for (int r = 0; r < m; ++r) hv[r] = gate_act[j * m + r] * u[r];
      else
        for (int r = 0; r < m; ++r) hv[r] = Act(hv[r], gelu) * u[r];
    }
  });

  // (3) y = Σ_i h[i] wd_i. The items are cut into parts (a function of their count only, for a fixed summation
  // order); each part adds its items into its own partial y, walking 32 items at a time across column blocks that
  // keep M rows of y in L1, so every weight row is read in a few long contiguous pieces while it is hot in the TLB.
  // Partials have a non-power-of-two row pitch: with a pitch of D floats (often 8 KB) the M rows of a column all
  // fall into one L1 set and 16 rows overflow its 8 ways. The partials are then added in part order.
  const int64_t esize = a.w_dtype == CAPRESE_DTYPE_F32 ? 4 : 2;
  const int64_t parts = std::clamp<int64_t>((n + kItemsPerPart - 1) / kItemsPerPart, 1, kMaxParts);
  const int64_t pitch = (d + 7) / 8 * 8 + 16;
  const int64_t block = std::clamp<int64_t>(kYBlockFloats / m / 8 * 8, 64, std::max<int64_t>(64, (d + 7) / 8 * 8));
  partial.resize(static_cast<size_t>(parts * m * pitch));
  pool.ParallelFor(parts, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      float* acc = partial.data() + p * m * pitch;
      std::fill_n(acc, m * pitch, 0.0f);
      const int64_t first = n * p / parts, end = n * (p + 1) / parts;
      for (int64_t i0 = first; i0 < end; i0 += kItemsPerSweep) {
        const int64_t i1 = std::min(end, i0 + kItemsPerSweep);
        for (int64_t c0 = 0; c0 < d; c0 += block) {
          const int64_t len = std::min(block, d - c0);
          auto down_row = [&](int64_t i) {
            const int64_t j = items[i];
            return j >= h ? ed + (j - h) * row_bytes : wd + j * row_bytes;
          };
          for (int64_t i = i0; i < i1; ++i) {
            // The next item's piece of its row, prefetched while this one streams (gathered rows).
            const char* next = i + 1 < i1 ? down_row(i + 1) + c0 * esize : nullptr;
            kern.axpy_rows(coef.data() + i * m, m, down_row(i) + c0 * esize, len, pitch, acc + c0, next);
          }
        }
      }
    }
  });
  pool.ParallelFor(m * d, kElementwiseGrain, [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e) {
      const int64_t r = e / d, c = e % d;
      float sum = 0.0f;
      for (int64_t p = 0; p < parts; ++p) sum += partial[(p * m + r) * pitch + c];
      a.y[e] = sum;
    }
  });
  return Status::Ok();
}

}  // namespace cpu
}  // namespace caprese
