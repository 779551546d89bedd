// y[M,N] = x[M,K] · W[N,K]ᵀ (+ bias) with f32 / f16 / bf16 weights, f32 accumulation.
//
// Decoding is bound by streaming W from memory. Variants (CAPRESE_CPU_MATMUL selects; older ones
// stay for comparison, llm.c style), each giving a batch of M rows bitwise the results of M single
// rows (Verify passes rely on it), because each fixes every output's summation order by K alone:
//  - "rows2" (default): two accumulator chains per output (even / odd 8-wide blocks). With one row
//    of x the weight rows are read one after another, one sequential stream per thread, without
//    waiting on a single chain's FMA latency. Dev VM (2 cores, f16, caprese_cpu_bench): ~30-32 GB/s
//    at M = 1, 84-98% of the read roofline. Its M >= 2 tiles hold fewer outputs per weight load
//    (8 accumulators serve 4 x rows, not 12), so verify passes and prefill run ~1.5-2x slower than
//    "tiles" on this CPU: the price of the M = 1 speed under the same order.
//  - "rows": one chain; single rows streamed at M = 1 (capped by the chain's latency at ~24 GB/s of
//    f16 on the dev VM), "tiles" from 2 rows of x up. Bitwise equal to "tiles".
//  - "tiles": R weight rows x C (<= 4) rows of x per micro-kernel, one chain, blocks of W kept in L2
//    while all tiles of x pass over them: the fastest at M >= 2; at M = 1 its 8 interleaved rows
//    are 8 short streams, which the hardware prefetcher tracks badly at small K (40-48% at K = 768).
// Threads split the weight rows (output columns). The AVX2+FMA+F16C path is picked at run time; the
// scalar path mirrors each variant's order.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "cpu/cpu_backend.h"
#include "cpu/dot.h"

namespace caprese {
namespace cpu {
namespace {

// ================================================================= "tiles" variant

constexpr int kTilesMaxX = 4;  // rows of x per tile (C)

// One weight row against c rows of x; 8 partial sums per row mirror the vector lanes and are
// added in HorizontalSum's order (dot.h).
template <caprese_dtype D>
void RowScalar(const float* x, int64_t ldx, int c, const void* w_row, int64_t k, float* out) {
  float acc[kTilesMaxX][8] = {};
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

#ifdef CAPRESE_X86
// Rows [n0, n1) of W against c (1..4) rows of x. Tiles hold 8-12 accumulators (AVX2 has 16
// registers) to hide FMA latency and keep several weight streams in flight.
template <caprese_dtype D, int C>
CAPRESE_AVX2 void TilesAvx2(const float* x, int64_t ldx, const void* w, int64_t k, int64_t n0, int64_t n1, float* y,
                            int64_t ldy) {
  constexpr int R = C == 1 ? 8 : (C == 2 ? 6 : (C == 3 ? 4 : 3));
  const int64_t wsize = D == CAPRESE_DTYPE_F32 ? 4 : 2;
  const char* wb = static_cast<const char*>(w);
  int64_t n = n0;
  for (; n + R <= n1; n += R) DotTileAvx2<D, R, C>(x, ldx, wb + n * k * wsize, k, y + n, ldy);
  for (; n < n1; ++n) DotTileAvx2<D, 1, C>(x, ldx, wb + n * k * wsize, k, y + n, ldy);
}

template <caprese_dtype D>
CAPRESE_AVX2 void TilesRangeAvx2(const float* x, int64_t ldx, int c, const void* w, int64_t k, int64_t n0, int64_t n1,
                                 float* y, int64_t ldy) {
  switch (c) {
    case 1: TilesAvx2<D, 1>(x, ldx, w, k, n0, n1, y, ldy); break;
    case 2: TilesAvx2<D, 2>(x, ldx, w, k, n0, n1, y, ldy); break;
    case 3: TilesAvx2<D, 3>(x, ldx, w, k, n0, n1, y, ldy); break;
    default: TilesAvx2<D, 4>(x, ldx, w, k, n0, n1, y, ldy); break;
  }
}
// "rows": one x row streams the weight rows one after another; more use the tiles.
template <caprese_dtype D>
CAPRESE_AVX2 void RowsRangeAvx2(const float* x, int64_t ldx, int c, const void* w, int64_t k, int64_t n0, int64_t n1,
                                float* y, int64_t ldy) {
  if (c > 1) return TilesRangeAvx2<D>(x, ldx, c, w, k, n0, n1, y, ldy);
  const int64_t wsize = D == CAPRESE_DTYPE_F32 ? 4 : 2;
  const char* wb = static_cast<const char*>(w);
  for (int64_t n = n0; n < n1; ++n) DotTileAvx2<D, 1, 1>(x, ldx, wb + n * k * wsize, k, y + n, ldy);
}
#endif  // CAPRESE_X86

template <caprese_dtype D>
void TilesRangeScalar(const float* x, int64_t ldx, int c, const void* w, int64_t k, int64_t n0, int64_t n1, float* y,
                      int64_t ldy) {
  const int64_t wsize = D == CAPRESE_DTYPE_F32 ? 4 : 2;
  float out[kTilesMaxX];
  for (int64_t n = n0; n < n1; ++n) {
    RowScalar<D>(x, ldx, c, static_cast<const char*>(w) + n * k * wsize, k, out);
    for (int r = 0; r < c; ++r) y[r * ldy + n] = out[r];
  }
}

// ================================================================= "rows2" variant

constexpr int kRows2MaxX = 4;  // rows of x per pass
// Like "rows", but every output sums in two accumulator chains (even and odd 8-wide blocks), so
// a single weight row streams without waiting on one chain's FMA latency (one chain caps a core
// at 8 weights per FMA latency: ~24 GB/s of f16 on two 3 GHz cores). Tiles of 2+ rows of x use
// the same order, with x loads shared by the weight rows of a tile.

template <caprese_dtype D>
void Rows2RangeScalar(const float* x, int64_t ldx, int c, const void* w, int64_t k, int64_t n0, int64_t n1, float* y,
                      int64_t ldy) {
  const int64_t wsize = D == CAPRESE_DTYPE_F32 ? 4 : 2;
  for (int64_t n = n0; n < n1; ++n) DotRow2Scalar<D>(x, ldx, c, static_cast<const char*>(w) + n * k * wsize, k, y + n, ldy);
}

#ifdef CAPRESE_X86
// One x row: weight rows one after another (one stream per thread). 2 rows: pairs of weight rows
// (8 accumulators); 3-4 rows: one weight row (6-8 accumulators, x read as memory operands).
template <caprese_dtype D, int C>
CAPRESE_AVX2 void Rows2Tiles(const float* x, int64_t ldx, const void* w, int64_t k, int64_t n0, int64_t n1, float* y,
                             int64_t ldy) {
  constexpr int R = C == 2 ? 2 : 1;
  const int64_t wsize = D == CAPRESE_DTYPE_F32 ? 4 : 2;
  const char* wb = static_cast<const char*>(w);
  int64_t n = n0;
  for (; n + R <= n1; n += R) DotTile2Avx2<D, R, C>(x, ldx, wb + n * k * wsize, k, y + n, ldy);
  for (; n < n1; ++n) DotTile2Avx2<D, 1, C>(x, ldx, wb + n * k * wsize, k, y + n, ldy);
}

template <caprese_dtype D>
CAPRESE_AVX2 void Rows2RangeAvx2(const float* x, int64_t ldx, int c, const void* w, int64_t k, int64_t n0, int64_t n1,
                                 float* y, int64_t ldy) {
  switch (c) {
    case 1: Rows2Tiles<D, 1>(x, ldx, w, k, n0, n1, y, ldy); break;
    case 2: Rows2Tiles<D, 2>(x, ldx, w, k, n0, n1, y, ldy); break;
    case 3: Rows2Tiles<D, 3>(x, ldx, w, k, n0, n1, y, ldy); break;
    default: Rows2Tiles<D, 4>(x, ldx, w, k, n0, n1, y, ldy); break;
  }
}
#endif  // CAPRESE_X86

// ================================================================= dispatch

// Weight rows [n0, n1) against c rows of x (c at most the variant's max_x).
using RangeFn = void (*)(const float*, int64_t, int, const void*, int64_t, int64_t, int64_t, float*, int64_t);

struct Variant {
  const char* name;
  int max_x;
  RangeFn (*pick)(caprese_dtype);
};

template <caprese_dtype D>
RangeFn PickRows() {
#ifdef CAPRESE_X86
  if (UseAvx2()) return &RowsRangeAvx2<D>;
#endif
  return &TilesRangeScalar<D>;  // the scalar path has no stream to save
}

template <caprese_dtype D>
RangeFn PickRows2() {
#ifdef CAPRESE_X86
  if (UseAvx2()) return &Rows2RangeAvx2<D>;
#endif
  return &Rows2RangeScalar<D>;
}

template <caprese_dtype D>
RangeFn PickTiles() {
#ifdef CAPRESE_X86
  if (UseAvx2()) return &TilesRangeAvx2<D>;
#endif
  return &TilesRangeScalar<D>;
}

template <RangeFn (*F32)(), RangeFn (*F16)(), RangeFn (*BF16)()>
RangeFn ByDtype(caprese_dtype d) {
  switch (d) {
    case CAPRESE_DTYPE_F16: return F16();
    case CAPRESE_DTYPE_BF16: return BF16();
    default: return F32();
  }
}

// The first entry is the default; CAPRESE_CPU_MATMUL=<name> picks another (read once).
constexpr Variant kVariants[] = {
    {"rows2", kRows2MaxX,
     &ByDtype<&PickRows2<CAPRESE_DTYPE_F32>, &PickRows2<CAPRESE_DTYPE_F16>, &PickRows2<CAPRESE_DTYPE_BF16>>},
    {"rows", kTilesMaxX,
     &ByDtype<&PickRows<CAPRESE_DTYPE_F32>, &PickRows<CAPRESE_DTYPE_F16>, &PickRows<CAPRESE_DTYPE_BF16>>},
    {"tiles", kTilesMaxX,
     &ByDtype<&PickTiles<CAPRESE_DTYPE_F32>, &PickTiles<CAPRESE_DTYPE_F16>, &PickTiles<CAPRESE_DTYPE_BF16>>},
};

// The selected variant, or null when CAPRESE_CPU_MATMUL names none.
const Variant* SelectedVariant() {
  static const Variant* selected = []() -> const Variant* {
    const char* env = std::getenv("CAPRESE_CPU_MATMUL");
    if (env == nullptr || *env == '\0') return &kVariants[0];
    for (const Variant& v : kVariants)
      if (std::strcmp(env, v.name) == 0) return &v;
    return nullptr;
  }();
  return selected;
}

}  // namespace

Status Matmul(ThreadPool& pool, const MatmulArgs& a) {
  const Variant* variant = SelectedVariant();
  if (variant == nullptr)
    return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "CAPRESE_CPU_MATMUL=%s names no CPU matmul variant (rows2, rows, tiles)",
                std::getenv("CAPRESE_CPU_MATMUL"));
  const RangeFn kernel = variant->pick(a.w_dtype);
  const int64_t max_x = variant->max_x;
  const int64_t wsize = a.w_dtype == CAPRESE_DTYPE_F32 ? 4 : 2;
  const int64_t row_bytes = a.k * wsize;
  // Rows of W are handed out in units of 24, a multiple of every tile height (1, 2, 3, 4, 6, 8),
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
      for (int64_t m0 = 0; m0 < a.m; m0 += max_x) {
        const int c = static_cast<int>(std::min<int64_t>(max_x, a.m - m0));
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
