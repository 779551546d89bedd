// Weight-row helpers shared by the weight-streaming CPU kernels (matmul, sparse_ffn): one
// f32 / f16 / bf16 weight as a float, eight of them as an AVX2 vector, and the end of a dot
// product (lane reduction plus scalar tail). Header-only so every call inlines into the
// kernel's own loop; callers pick the AVX2 path at run time with UseAvx2() (cpu_backend.h).
#pragma once

#include <cstdint>

#include "caprese.h"
#include "core/half.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CAPRESE_X86 1
// AVX2 + FMA + F16C: exactly what UseAvx2() checks for.
#define CAPRESE_AVX2 __attribute__((target("avx2,fma,f16c")))
#endif

namespace caprese {
namespace cpu {

// Weight i of a row of dtype D (f32, f16 or bf16) as a float.
template <caprese_dtype D>
inline float LoadW(const void* w, int64_t i) {
  if constexpr (D == CAPRESE_DTYPE_F32) return static_cast<const float*>(w)[i];
  if constexpr (D == CAPRESE_DTYPE_F16) return F16ToF32(static_cast<const uint16_t*>(w)[i]);
  return BF16ToF32(static_cast<const uint16_t*>(w)[i]);
}

#ifdef CAPRESE_X86

// Weights i .. i+7 of a row of dtype D as floats.
template <caprese_dtype D>
CAPRESE_AVX2 inline __m256 LoadW8(const void* w, int64_t i) {
  if constexpr (D == CAPRESE_DTYPE_F32) {
    return _mm256_loadu_ps(static_cast<const float*>(w) + i);
  } else if constexpr (D == CAPRESE_DTYPE_F16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i)));
  } else {  // bf16 is the upper half of an f32
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
}

// Sum of the 8 lanes: the (l, l+4) pairs first, then (0+2) + (1+3).
CAPRESE_AVX2 inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));  // l + (l+4)
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));                                        // (0+2), (1+3)
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
  return _mm_cvtss_f32(s);
}

// Ends the dot product x · w whose first k8 terms are the lanes of acc: the lane sum, then
// the terms k8 .. k-1 added one by one in order.
template <caprese_dtype D>
CAPRESE_AVX2 inline float FinishDot(__m256 acc, const float* x, const void* w, int64_t k8, int64_t k) {
  float s = HorizontalSum(acc);
  for (int64_t i = k8; i < k; ++i) s += x[i] * LoadW<D>(w, i);
  return s;
}

// R weight rows (k apart) x C rows of x (ldx apart): out[c * ldo + r]. One accumulator per
// output, so every output is the same function of its row and x whatever R and C are (a batch
// of rows gives bitwise the results of single rows).
template <caprese_dtype D, int R, int C>
CAPRESE_AVX2 inline void DotTileAvx2(const float* x, int64_t ldx, const void* w, int64_t k, float* out, int64_t ldo) {
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
      const __m256 wv = LoadW8<D>(wb + r * k * wsize, i);
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_fmadd_ps(xv[c], wv, acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) out[c * ldo + r] = FinishDot<D>(acc[r][c], x + c * ldx, wb + r * k * wsize, k8, k);
}

// The same with two accumulator chains per output (even and odd 8-wide blocks, added before the
// lane sum): a single streaming row no longer waits on one chain's FMA latency, which caps a core
// at 8 weights per latency (~12 GB/s of f16 at 3 GHz). Every output is the same function of its
// row and x whatever R and C are. `prefetch` (kPrefetch): a row the caller reads next, requested
// from memory in step with this one, for gathered rows (sparse FFN) whose address the hardware
// prefetcher cannot guess.
template <caprese_dtype D, int R, int C, bool kPrefetch = false>
CAPRESE_AVX2 inline void DotTile2Avx2(const float* x, int64_t ldx, const void* w, int64_t k, float* out, int64_t ldo,
                                      const void* prefetch = nullptr) {
  const int64_t wsize = D == CAPRESE_DTYPE_F32 ? 4 : 2;
  const char* wb = static_cast<const char*>(w);
  __m256 a0[R][C], a1[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) a0[r][c] = a1[r][c] = _mm256_setzero_ps();
  const int64_t k16 = k / 16 * 16, k8 = k / 8 * 8;
  for (int64_t i = 0; i < k16; i += 16) {
    if constexpr (kPrefetch) _mm_prefetch(static_cast<const char*>(prefetch) + i * wsize, _MM_HINT_T0);
    for (int r = 0; r < R; ++r) {
      const __m256 w0 = LoadW8<D>(wb + r * k * wsize, i), w1 = LoadW8<D>(wb + r * k * wsize, i + 8);
      for (int c = 0; c < C; ++c) {
        a0[r][c] = _mm256_fmadd_ps(_mm256_loadu_ps(x + c * ldx + i), w0, a0[r][c]);
        a1[r][c] = _mm256_fmadd_ps(_mm256_loadu_ps(x + c * ldx + i + 8), w1, a1[r][c]);
      }
    }
  }
  if (k8 > k16)
    for (int r = 0; r < R; ++r) {
      const __m256 w0 = LoadW8<D>(wb + r * k * wsize, k16);
      for (int c = 0; c < C; ++c) a0[r][c] = _mm256_fmadd_ps(_mm256_loadu_ps(x + c * ldx + k16), w0, a0[r][c]);
    }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c)
      out[c * ldo + r] = FinishDot<D>(_mm256_add_ps(a0[r][c], a1[r][c]), x + c * ldx, wb + r * k * wsize, k8, k);
}

#endif  // CAPRESE_X86

// DotTile2Avx2's arithmetic on the scalar path: one weight row against c <= 4 rows of x,
// out[r * ldo]; 2 x 8 partial sums mirror the two chains of vector lanes.
template <caprese_dtype D>
void DotRow2Scalar(const float* x, int64_t ldx, int c, const void* w, int64_t k, float* out, int64_t ldo) {
  float acc[4][2][8] = {};
  const int64_t k8 = k / 8 * 8;
  for (int64_t i = 0; i < k8; i += 8) {
    const int chain = static_cast<int>((i / 8) & 1);
    for (int l = 0; l < 8; ++l) {
      const float wv = LoadW<D>(w, i + l);
      for (int r = 0; r < c; ++r) acc[r][chain][l] += x[r * ldx + i + l] * wv;
    }
  }
  for (int r = 0; r < c; ++r) {
    float t[8];
    for (int l = 0; l < 8; ++l) t[l] = acc[r][0][l] + acc[r][1][l];
    float s = ((t[0] + t[4]) + (t[2] + t[6])) + ((t[1] + t[5]) + (t[3] + t[7]));
    for (int64_t i = k8; i < k; ++i) s += x[r * ldx + i] * LoadW<D>(w, i);
    out[r * ldo] = s;
  }
}

}  // namespace cpu
}  // namespace caprese
