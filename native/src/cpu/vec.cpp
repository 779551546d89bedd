#include "cpu/vec.h"

#include "cpu/cpu_backend.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CAPRESE_X86 1
#define CAPRESE_AVX2 __attribute__((target("avx2,fma")))
#endif

namespace caprese {
namespace cpu {
namespace {

float DotScalar(const float* a, const float* b, int64_t n) {
  float acc[4] = {0, 0, 0, 0};  // four chains, so the compiler need not reassociate
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int l = 0; l < 4; ++l) acc[l] += a[i + l] * b[i + l];
  float s = (acc[0] + acc[2]) + (acc[1] + acc[3]);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void Dot4Scalar(const float* a, const float* b, int64_t stride, int64_t n, float* out) {
  for (int r = 0; r < 4; ++r) out[r] = DotScalar(a, b + r * stride, n);
}

void Axpy4Scalar(const float* alpha, const float* x, int64_t stride, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float t = y[i];
    for (int r = 0; r < 4; ++r) t += alpha[r] * x[r * stride + i];
    y[i] = t;
  }
}

void AxpyScalar(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

double SumSquaresScalar(const float* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]) * x[i];
  return s;
}

#ifdef CAPRESE_X86
CAPRESE_AVX2 float DotAvx2(const float* a, const float* b, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  s0 = _mm256_add_ps(s0, s1);
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
  float r = _mm_cvtss_f32(s);
  for (; i < n; ++i) r += a[i] * b[i];
  return r;
}

// The same per-row arithmetic as DotAvx2 (two accumulators, same tail), four rows at once.
CAPRESE_AVX2 void Dot4Avx2(const float* a, const float* b, int64_t stride, int64_t n, float* out) {
  const float* b0 = b;
  const float* b1 = b + stride;
  const float* b2 = b + 2 * stride;
  const float* b3 = b + 3 * stride;
  __m256 s0[4], s1[4];
  for (int r = 0; r < 4; ++r) s0[r] = s1[r] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 a0 = _mm256_loadu_ps(a + i), a1 = _mm256_loadu_ps(a + i + 8);
    s0[0] = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b0 + i), s0[0]);
    s0[1] = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b1 + i), s0[1]);
    s0[2] = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b2 + i), s0[2]);
    s0[3] = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b3 + i), s0[3]);
    s1[0] = _mm256_fmadd_ps(a1, _mm256_loadu_ps(b0 + i + 8), s1[0]);
    s1[1] = _mm256_fmadd_ps(a1, _mm256_loadu_ps(b1 + i + 8), s1[1]);
    s1[2] = _mm256_fmadd_ps(a1, _mm256_loadu_ps(b2 + i + 8), s1[2]);
    s1[3] = _mm256_fmadd_ps(a1, _mm256_loadu_ps(b3 + i + 8), s1[3]);
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 a0 = _mm256_loadu_ps(a + i);
    for (int r = 0; r < 4; ++r) s0[r] = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b + r * stride + i), s0[r]);
  }
  for (int r = 0; r < 4; ++r) {
    const __m256 t = _mm256_add_ps(s0[r], s1[r]);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
    float v = _mm_cvtss_f32(s);
    const float* br = b + r * stride;
    for (int64_t j = i; j < n; ++j) v += a[j] * br[j];
    out[r] = v;
  }
}

CAPRESE_AVX2 void Axpy4Avx2(const float* alpha, const float* x, int64_t stride, float* y, int64_t n) {
  const __m256 p0 = _mm256_set1_ps(alpha[0]), p1 = _mm256_set1_ps(alpha[1]);
  const __m256 p2 = _mm256_set1_ps(alpha[2]), p3 = _mm256_set1_ps(alpha[3]);
  const float* x0 = x;
  const float* x1 = x + stride;
  const float* x2 = x + 2 * stride;
  const float* x3 = x + 3 * stride;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 t = _mm256_loadu_ps(y + i);
    t = _mm256_fmadd_ps(p0, _mm256_loadu_ps(x0 + i), t);
    t = _mm256_fmadd_ps(p1, _mm256_loadu_ps(x1 + i), t);
    t = _mm256_fmadd_ps(p2, _mm256_loadu_ps(x2 + i), t);
    t = _mm256_fmadd_ps(p3, _mm256_loadu_ps(x3 + i), t);
    _mm256_storeu_ps(y + i, t);
  }
  for (; i < n; ++i) {
    float t = y[i];
    for (int r = 0; r < 4; ++r) t += alpha[r] * x[r * stride + i];
    y[i] = t;
  }
}

CAPRESE_AVX2 void AxpyAvx2(float alpha, const float* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(alpha);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += alpha * x[i];
}

CAPRESE_AVX2 double SumSquaresAvx2(const float* x, int64_t n) {
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256d lo = _mm256_cvtps_pd(_mm_loadu_ps(x + i)), hi = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4));
    s0 = _mm256_fmadd_pd(lo, lo, s0);
    s1 = _mm256_fmadd_pd(hi, hi, s1);
  }
  alignas(32) double t[4];
  _mm256_store_pd(t, _mm256_add_pd(s0, s1));
  double r = (t[0] + t[2]) + (t[1] + t[3]);
  for (; i < n; ++i) r += static_cast<double>(x[i]) * x[i];
  return r;
}

#endif

}  // namespace

float Dot(const float* a, const float* b, int64_t n) {
#ifdef CAPRESE_X86
  if (UseAvx2()) return DotAvx2(a, b, n);
#endif
  return DotScalar(a, b, n);
}

void Dot4(const float* a, const float* b, int64_t stride, int64_t n, float* out) {
#ifdef CAPRESE_X86
  if (UseAvx2()) return Dot4Avx2(a, b, stride, n, out);
#endif
  Dot4Scalar(a, b, stride, n, out);
}

void Axpy4(const float* alpha, const float* x, int64_t stride, float* y, int64_t n) {
#ifdef CAPRESE_X86
  if (UseAvx2()) return Axpy4Avx2(alpha, x, stride, y, n);
#endif
  Axpy4Scalar(alpha, x, stride, y, n);
}

void Axpy(float alpha, const float* x, float* y, int64_t n) {
#ifdef CAPRESE_X86
  if (UseAvx2()) return AxpyAvx2(alpha, x, y, n);
#endif
  AxpyScalar(alpha, x, y, n);
}

double SumSquares(const float* x, int64_t n) {
#ifdef CAPRESE_X86
  if (UseAvx2()) return SumSquaresAvx2(x, n);
#endif
  return SumSquaresScalar(x, n);
}

}  // namespace cpu
}  // namespace caprese
