// y[M,N] = x[M,K] · W[N,K]ᵀ (+ bias) with f32 / f16 / bf16 weights, f32 accumulation.
//
// Decoding is bound by streaming W from memory, so the loop nest reads each weight row once
// per call for small M: a micro-kernel computes an R x C tile (R weight rows against C rows
// of x) with R*C vector accumulators, converting each 8-wide weight vector once and reusing
// it for all C rows of x. Weight rows are walked in blocks that stay in L2 while every tile
// of x rows passes over them, so larger M re-reads weights from cache, not memory.
// Threads split the weight rows (output columns). The AVX2+FMA+F16C path is picked at run
// time; the scalar path keeps the same structure for other machines.
//
// Every output is one dot product whose summation order does not depend on M or on the
// tile it landed in, so a batch of M rows gives bitwise the same result as M single rows.
#include <algorithm>
#include <cstring>

#include "cpu/cpu_backend.h"
#include "cpu/dot.h"

namespace caprese {
namespace cpu {
namespace {

constexpr int kMaxRows = 4;  // rows of x per tile (C)

// ----------------------------------------------------------------- scalar path

// One weight row against c rows of x; 8 partial sums per row mirror the vector lanes and are
// added in HorizontalSum's order (dot.h).
template <caprese_dtype D>
void RowScalar(const float* x, int64_t ldx, int c, const void* w_row, int64_t k, float* out) {
  float acc[kMaxRows][8] = {};
  int64_t k8 = k / 8 * 8;
  for (int64_t i = 0; i < k8; i += 8)
    for (int l = 0; l < 8; ++l) {
      float wv = LoadW<D>(w_row, i + l);
      for (int r = 0; r < c; ++r) acc[r][l] += x[r * ldx + i + l] * wv;
    }
  for (int r = 0; r < c; ++r) {
    float s = ((acc[r][0] + acc[r][4]) + (acc[r][2] + acc[r][6])) + ((acc[r][1] + acc[r][5]) + (acc[r][3] + acc[r][7]));
    for (int64_t i = k8; i < k; ++i) s += x[r * ldx + i] * LoadW<D>(w_row, i);
    out[r] = s;
  }
}

// ----------------------------------------------------------------- AVX2 path
#ifdef CAPRESE_X86
// R weight rows x C rows of x; out[c * ldo + r].
template <caprese_dtype D, int R, int C>
CAPRESE_AVX2 void TileAvx2(const float* x, int64_t ldx, const void* w, int64_t k, float* out, int64_t ldo) {
  const int64_t wsize = D == CAPRESE_DTYPE_F32 ? 4 : 2;
  const char* wb = static_cast<const char*>(w);
  __m256 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  const int64_t k8 = k / 8 * 8;
  for (int64_t i = 0; i < k8; i += 8) {
    __m256 xv[C];
    for (int c = 0; c < C; ++c) xv[c] = _mm256_loadu_ps(x + c * ldx + i);
    for (int r = 0; r < R; ++r) {
      __m256 wv = LoadW8<D>(wb + r * k * wsize, i);
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_fmadd_ps(xv[c], wv, acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) out[c * ldo + r] = FinishDot<D>(acc[r][c], x + c * ldx, wb + r * k * wsize, k8, k);
}

// Rows [n0, n1) of W against c (1..4) rows of x. Tiles hold 8-12 accumulators (AVX2 has 16
// registers): enough independent FMA chains to hide FMA latency and keep several weight
// streams in flight, which matters most at M = 1 (measured: 4 rows -> 8 rows per tile took
// a 4096x4096 f16 matmul from ~13 to ~25 GB/s on one core).
template <caprese_dtype D, int C>
CAPRESE_AVX2 void RowsAvx2(const float* x, int64_t ldx, const void* w, int64_t k, int64_t n0, int64_t n1,
                           float* y, int64_t ldy) {
  constexpr int R = C == 1 ? 8 : (C == 2 ? 6 : (C == 3 ? 4 : 3));
  const int64_t wsize = D == CAPRESE_DTYPE_F32 ? 4 : 2;
  const char* wb = static_cast<const char*>(w);
  int64_t n = n0;
  for (; n + R <= n1; n += R) TileAvx2<D, R, C>(x, ldx, wb + n * k * wsize, k, y + n, ldy);
  for (; n < n1; ++n) TileAvx2<D, 1, C>(x, ldx, wb + n * k * wsize, k, y + n, ldy);
}

template <caprese_dtype D>
CAPRESE_AVX2 void TileRowsAvx2(const float* x, int64_t ldx, int c, const void* w, int64_t k, int64_t n0,
                               int64_t n1, float* y, int64_t ldy) {
  switch (c) {
    case 1: RowsAvx2<D, 1>(x, ldx, w, k, n0, n1, y, ldy); break;
    case 2: RowsAvx2<D, 2>(x, ldx, w, k, n0, n1, y, ldy); break;
    case 3: RowsAvx2<D, 3>(x, ldx, w, k, n0, n1, y, ldy); break;
    default: RowsAvx2<D, 4>(x, ldx, w, k, n0, n1, y, ldy); break;
  }
}

#endif  // CAPRESE_X86

template <caprese_dtype D>
void TileRowsScalar(const float* x, int64_t ldx, int c, const void* w, int64_t k, int64_t n0, int64_t n1,
                    float* y, int64_t ldy) {
  const int64_t wsize = D == CAPRESE_DTYPE_F32 ? 4 : 2;
  float out[kMaxRows];
  for (int64_t n = n0; n < n1; ++n) {
    RowScalar<D>(x, ldx, c, static_cast<const char*>(w) + n * k * wsize, k, out);
    for (int r = 0; r < c; ++r) y[r * ldy + n] = out[r];
  }
}

using TileRowsFn = void (*)(const float*, int64_t, int, const void*, int64_t, int64_t, int64_t, float*, int64_t);

template <caprese_dtype D>
TileRowsFn Pick() {
#ifdef CAPRESE_X86
  if (UseAvx2()) return &TileRowsAvx2<D>;
#endif
  return &TileRowsScalar<D>;
}

TileRowsFn PickKernel(caprese_dtype d) {
  switch (d) {
    case CAPRESE_DTYPE_F16: return Pick<CAPRESE_DTYPE_F16>();
    case CAPRESE_DTYPE_BF16: return Pick<CAPRESE_DTYPE_BF16>();
    default: return Pick<CAPRESE_DTYPE_F32>();
  }
}

}  // namespace

Status Matmul(ThreadPool& pool, const MatmulArgs& a) {
  const TileRowsFn kernel = PickKernel(a.w_dtype);
  const int64_t wsize = a.w_dtype == CAPRESE_DTYPE_F32 ? 4 : 2;
  const int64_t row_bytes = a.k * wsize;
  // Rows of W are handed out in units of 24, a multiple of every tile height (8, 6, 4, 3),
  // so tiles only run short at the very end of W.
  constexpr int64_t kUnit = 24;
  // Weight rows per cache block: ~256 KiB stays in L2 while all tiles of x pass over it.
  const int64_t block = std::max<int64_t>(1, (int64_t{256} << 10) / (row_bytes * kUnit)) * kUnit;
  // Each thread's share is at least ~64K multiply-adds, so tiny matmuls stay on one thread.
  const int64_t units = (a.n + kUnit - 1) / kUnit;
  const int64_t macs_per_unit = kUnit * a.k * a.m;
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(1, macs_per_unit));
  pool.ParallelFor(units, grain, [&](int64_t u0, int64_t u1) {
    const int64_t n_begin = u0 * kUnit, n_end = std::min(a.n, u1 * kUnit);
    for (int64_t nb = n_begin; nb < n_end; nb += block) {
      const int64_t ne = std::min(n_end, nb + block);
      for (int64_t m0 = 0; m0 < a.m; m0 += kMaxRows) {
        const int c = static_cast<int>(std::min<int64_t>(kMaxRows, a.m - m0));
        kernel(a.x + m0 * a.k, a.k, c, a.w, a.k, nb, ne, a.y + m0 * a.n, a.n);
      }
      if (a.bias != nullptr)
        for (int64_t m = 0; m < a.m; ++m)
          for (int64_t n = nb; n < ne; ++n) a.y[m * a.n + n] += a.bias[n];
    }
  });
  return Status::Ok();
}

}  // namespace cpu
}  // namespace caprese
