// The arithmetic of caprese_sample, shared by the CPU (cpu/sample.cpp) and CUDA (cuda/sample.cu)
// samplers so that both return the same id for the same seed.
//
// Every quantity that decides an id is either an integer or the result of a fixed sequence
// of correctly rounded IEEE single-precision operations (+, -, *, /, rint) written out one per
// statement, with no library transcendental: expf differs between glibc and CUDA in the last
// bits, and a different last bit can move a draw across a CDF boundary. On the device the
// operations are the _rn intrinsics, which nvcc never contracts into FMAs; the host file that
// uses this header disables contraction (see cpu/sample.cpp).
//
// The op, exactly (x one row of V logits, T the temperature):
//  1. A row holding NaN yields the index of its first NaN (as caprese_argmax: a broken forward
//     pass shows instead of being sampled around).
//  2. m = max x. Weight W_i = Weight(x_i, m, T) ~= 2^40 · exp((x_i - m) / T), an integer:
//     the maximum weighs exactly 2^40, weights below 2^-41 of the maximum are 0 (all of them
//     together carry < V·2^-41 of the mass: 1.2e-7 at V = 256K). Masses are sums of integers,
//     so they are exact and independent of summation order (threads, blocks).
//  3. Selection is on the order key of the logits (OrderKey: a monotone map of floats to
//     uint32, -0 = +0). top_k in (0, V): t_k = the k-th largest key (every entry tied with it
//     is kept). Else t_k = the smallest key.
//  4. top_p < 1: with S_k = Σ_{key >= t_k} W and P = ceil(top_p · 2^24) / 2^24, t_p = the
//     largest key t >= t_k with Σ_{key >= t} W >= P · S_k (compared exactly in 128 bits), i.e.
//     the smallest set of largest probabilities (renormalised after top-k) whose mass reaches
//     top_p, ties at the boundary kept. Else t_p = t_k.
//  5. u = Uniform24(seed, offset + row) (24 bits), S = Σ_{key >= t_p} W, target
//     R = floor(u · S / 2^24) < S, and the id is the smallest i with key_i >= t_p whose inclusive
//     prefix sum (in index order, over kept entries) exceeds R: the inverse CDF at u / 2^24.
//
// Both thresholds are found without sorting by a 256-way bisection of the 32-bit key space
// (radix select): four rounds of 8 bits, each a histogram of counts or masses over the keys
// still in the bracket, end with lo = hi, a single key, so the threshold is exact to the float
// (a binary bisection on float values would stop when lo and hi are adjacent floats, which is
// the same resolution reached in 32 halvings; the key form reaches it in 4 passes).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#ifdef __CUDACC__
#define CAPRESE_HD __host__ __device__ __forceinline__
#else
#define CAPRESE_HD inline
#endif

namespace caprese {
namespace sampling {

constexpr int kWeightBits = 40;
constexpr uint64_t kWeightOne = uint64_t{1} << kWeightBits;
constexpr int kUniformBits = 24;
// Σ W <= V · 1.5 · 2^40 must fit in 64 bits.
constexpr int64_t kMaxVocab = int64_t{1} << 22;

// ------------------------------------------------------------------ uniform numbers

// SplitMix64's finaliser (Steele, Lea, Flood 2014), a bijection of 64-bit integers with
// good avalanche.
CAPRESE_HD uint64_t SplitMix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Counter-based uniform integer in [0, 2^24): the top 24 bits of
// SplitMix64(seed ^ counter · 0x9E3779B97F4A7C15). The uniform real is this · 2^-24.
CAPRESE_HD uint32_t Uniform24(uint64_t seed, uint64_t counter) {
  return static_cast<uint32_t>(SplitMix64(seed ^ (counter * 0x9E3779B97F4A7C15ull)) >> (64 - kUniformBits));
}

// -------------------------------------------------------------------- 128-bit helpers

struct U128 {
  uint64_t hi, lo;
};

// a · b exactly, from 32-bit halves (the same code on every compiler and the device).
CAPRESE_HD U128 MulWide(uint64_t a, uint64_t b) {
  const uint64_t a0 = a & 0xffffffffull, a1 = a >> 32, b0 = b & 0xffffffffull, b1 = b >> 32;
  const uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const uint64_t mid = (p00 >> 32) + (p01 & 0xffffffffull) + (p10 & 0xffffffffull);
  U128 r;
  r.lo = (mid << 32) | (p00 & 0xffffffffull);
  r.hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
  return r;
}

// top_p as a 24-bit fraction rounded up: P = ceil(top_p · 2^24) in [1, 2^24].
CAPRESE_HD uint64_t TopPFraction(float top_p) {
  // top_p · 2^24 is exact (a power-of-two scaling of a float in (0, 1]).
  const float scaled = top_p * 16777216.0f;
  uint64_t p = static_cast<uint64_t>(scaled);  // truncation, then round up by hand
  if (static_cast<float>(p) < scaled) ++p;
  return p < 1 ? 1 : p;
}

// mass >= (p / 2^24) · total, exactly: mass · 2^24 >= total · p.
CAPRESE_HD bool MassReaches(uint64_t mass, uint64_t total, uint64_t p) {
  const uint64_t lhs_hi = mass >> (64 - kUniformBits), lhs_lo = mass << kUniformBits;
  const U128 rhs = MulWide(total, p);
  return lhs_hi != rhs.hi ? lhs_hi > rhs.hi : lhs_lo >= rhs.lo;
}

// floor(u · total / 2^24) for u < 2^24: the inverse-CDF target, < total.
CAPRESE_HD uint64_t Target(uint32_t u, uint64_t total) {
  const U128 prod = MulWide(total, u);
  return (prod.hi << (64 - kUniformBits)) | (prod.lo >> kUniformBits);
}

// ----------------------------------------------------------------------- float helpers

CAPRESE_HD uint32_t FloatBits(float v) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(v);
#else
  uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
#endif
}

CAPRESE_HD float BitsFloat(uint32_t b) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(b);
#else
  float v;
  std::memcpy(&v, &b, sizeof v);
  return v;
#endif
}

// Monotone map of non-NaN floats to uint32 (a < b  <=>  key(a) < key(b)); -0 maps like +0.
CAPRESE_HD uint32_t OrderKey(float v) {
  uint32_t b = FloatBits(v);
  if (b == 0x80000000u) b = 0;
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

CAPRESE_HD float Sub(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
CAPRESE_HD float Add(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
CAPRESE_HD float Mul(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
CAPRESE_HD float Div(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
CAPRESE_HD float Rint(float a) {  // round half to even
#ifdef __CUDA_ARCH__
  return rintf(a);
#else
  return std::nearbyint(a);
#endif
}

// W = 2^40 · 2^y with y = ((x - m) / T) · log2(e) <= 0, truncated to an integer.
// 2^y = 2^n · 2^f with n = rint(y), f = y - n in [-1/2, 1/2] (exact), and 2^f by its Taylor
// polynomial of degree 7 in Horner form: truncation error < (ln2/2)^8 / 8! = 5e-9, rounding
// ~1e-7 relative: the weight carries float-softmax accuracy, computed bit-identically everywhere.
CAPRESE_HD uint64_t Weight(float x, float m, float temperature) {
  if (x == m) return kWeightOne;           // the maximum (also: all -inf rows, +inf entries)
  if (!(m <= 3.402823466e38f)) return 0;   // m = +inf and x below it
  const float d = Sub(x, m);               // < 0, -inf for x = -inf
  const float z = Div(d, temperature);
  const float y = Mul(z, 1.44269502f);     // log2(e)
  if (!(y > -41.0f)) return 0;             // < 2^-41 of the maximum (also -inf)
  const float n = Rint(y);
  const float f = Sub(y, n);
  float p = 1.52527338e-05f;               // ln2^7 / 7!
  p = Add(Mul(p, f), 1.54035304e-04f);     // ln2^6 / 6!
  p = Add(Mul(p, f), 1.33335581e-03f);     // ln2^5 / 5!
  p = Add(Mul(p, f), 9.61812911e-03f);     // ln2^4 / 4!
  p = Add(Mul(p, f), 5.55041087e-02f);     // ln2^3 / 3!
  p = Add(Mul(p, f), 2.40226507e-01f);     // ln2^2 / 2!
  p = Add(Mul(p, f), 6.93147181e-01f);     // ln2
  p = Add(Mul(p, f), 1.0f);
  const int e = kWeightBits + static_cast<int>(n);  // in [-1, 40]
  const float scale = BitsFloat(static_cast<uint32_t>(127 + e) << 23);  // 2^e, exact
  const float w = Mul(p, scale);                     // exact scaling
  return static_cast<uint64_t>(w);                   // truncation toward zero
}

}  // namespace sampling
}  // namespace caprese
