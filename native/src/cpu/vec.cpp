#include "cpu/vec.h"

#include <algorithm>
#include <cmath>

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

void Dot8Scalar(const float* a, const float* b, int64_t stride, int64_t n, float* out) {
  for (int r = 0; r < 8; ++r) out[r] = DotScalar(a, b + r * stride, n);
}

void Axpy8Scalar(const float* alpha, const float* x, int64_t stride, float* y, int64_t n) {
  Axpy4Scalar(alpha, x, stride, y, n);
  Axpy4Scalar(alpha + 4, x + 4 * stride, stride, y, n);
}

void AxpyScalar(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

float ScaleMaxScalar(float* s, int64_t n, float scale) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, s[i] *= scale);
  return mx;
}

float ExpShiftSumScalar(float* s, int64_t n, float shift) {
  float total = 0.0f;
  for (int64_t i = 0; i < n; ++i) total += (s[i] = std::exp(s[i] - shift));
  return total;
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

// Eight rows at DotAvx2's arithmetic: per row the same two accumulators and tail; the lane sums
// of all eight rows come from one 8x8 transpose (columns c_l hold lane l of every row), then
// ((c0 + c4) + (c2 + c6)) + ((c1 + c5) + (c3 + c7)), HorizontalSum's order.
CAPRESE_AVX2 void Dot8Avx2(const float* a, const float* b, int64_t stride, int64_t n, float* out) {
  __m256 v[8];
  const int64_t n16 = n / 16 * 16, n8 = n / 8 * 8;
  for (int r = 0; r < 8; ++r) {
    const float* br = b + r * stride;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    for (int64_t i = 0; i < n16; i += 16) {
      s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(br + i), s0);
      s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(br + i + 8), s1);
    }
    if (n8 > n16) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + n16), _mm256_loadu_ps(br + n16), s0);
    v[r] = _mm256_add_ps(s0, s1);
  }
  const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
  const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
  const __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
  const __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]), t7 = _mm256_unpackhi_ps(v[6], v[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  // c_l: lane l of rows 0..7.
  const __m256 c0 = _mm256_permute2f128_ps(u0, u4, 0x20), c4 = _mm256_permute2f128_ps(u0, u4, 0x31);
  const __m256 c1 = _mm256_permute2f128_ps(u1, u5, 0x20), c5 = _mm256_permute2f128_ps(u1, u5, 0x31);
  const __m256 c2 = _mm256_permute2f128_ps(u2, u6, 0x20), c6 = _mm256_permute2f128_ps(u2, u6, 0x31);
  const __m256 c3 = _mm256_permute2f128_ps(u3, u7, 0x20), c7 = _mm256_permute2f128_ps(u3, u7, 0x31);
  const __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c4), _mm256_add_ps(c2, c6)),
                                   _mm256_add_ps(_mm256_add_ps(c1, c5), _mm256_add_ps(c3, c7)));
  _mm256_storeu_ps(out, sum);
  for (int r = 0; r < 8 && n8 < n; ++r) {
    float s = out[r];
    const float* br = b + r * stride;
    for (int64_t j = n8; j < n; ++j) s += a[j] * br[j];
    out[r] = s;
  }
}

CAPRESE_AVX2 void Axpy8Avx2(const float* alpha, const float* x, int64_t stride, float* y, int64_t n) {
  __m256 p[8];
  for (int r = 0; r < 8; ++r) p[r] = _mm256_set1_ps(alpha[r]);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 t = _mm256_loadu_ps(y + i);
    for (int r = 0; r < 8; ++r) t = _mm256_fmadd_ps(p[r], _mm256_loadu_ps(x + r * stride + i), t);
    _mm256_storeu_ps(y + i, t);
  }
  for (; i < n; ++i) {
    float t = y[i];
    for (int r = 0; r < 8; ++r) t += alpha[r] * x[r * stride + i];
    y[i] = t;
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

// exp(x) for x <= 0 (softmax after the max is subtracted): x = k ln2 + r with |r| <= ln2/2,
// a degree-6 minimax polynomial for e^r, and 2^k put into the exponent bits. Inputs below
// -87.3 (where expf reaches the subnormals) give about 1e-38 instead of a subnormal or 0,
// which leaves every softmax sum unchanged at float precision.
CAPRESE_AVX2 inline __m256 ExpNonPositive(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 y = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

CAPRESE_AVX2 float ScaleMaxAvx2(float* s, int64_t n, float scale) {
  const __m256 vs = _mm256_set1_ps(scale);
  __m256 vm = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(s + i), vs);
    _mm256_storeu_ps(s + i, v);
    vm = _mm256_max_ps(vm, v);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, vm);
  float mx = lanes[0];
  for (int l = 1; l < 8; ++l) mx = std::max(mx, lanes[l]);
  for (; i < n; ++i) mx = std::max(mx, s[i] *= scale);
  return mx;
}

CAPRESE_AVX2 float ExpShiftSumAvx2(float* s, int64_t n, float shift) {
  const __m256 vsh = _mm256_set1_ps(shift);
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = ExpNonPositive(_mm256_sub_ps(_mm256_loadu_ps(s + i), vsh));
    _mm256_storeu_ps(s + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 0x55));
  float total = _mm_cvtss_f32(h);
  for (; i < n; ++i) total += (s[i] = std::exp(s[i] - shift));
  return total;
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

void Dot8(const float* a, const float* b, int64_t stride, int64_t n, float* out) {
#ifdef CAPRESE_X86
  if (UseAvx2()) return Dot8Avx2(a, b, stride, n, out);
#endif
  Dot8Scalar(a, b, stride, n, out);
}

void Axpy8(const float* alpha, const float* x, int64_t stride, float* y, int64_t n) {
#ifdef CAPRESE_X86
  if (UseAvx2()) return Axpy8Avx2(alpha, x, stride, y, n);
#endif
  Axpy8Scalar(alpha, x, stride, y, n);
}

void Axpy(float alpha, const float* x, float* y, int64_t n) {
#ifdef CAPRESE_X86
  if (UseAvx2()) return AxpyAvx2(alpha, x, y, n);
#endif
  AxpyScalar(alpha, x, y, n);
}

float ScaleMax(float* s, int64_t n, float scale) {
#ifdef CAPRESE_X86
  if (UseAvx2()) return ScaleMaxAvx2(s, n, scale);
#endif
  return ScaleMaxScalar(s, n, scale);
}

float ExpShiftSum(float* s, int64_t n, float shift) {
#ifdef CAPRESE_X86
  if (UseAvx2()) return ExpShiftSumAvx2(s, n, shift);
#endif
  return ExpShiftSumScalar(s, n, shift);
}

double SumSquares(const float* x, int64_t n) {
#ifdef CAPRESE_X86
  if (UseAvx2()) return SumSquaresAvx2(x, n);
#endif
  return SumSquaresScalar(x, n);
}

}  // namespace cpu
}  // namespace caprese
