// cuda-sim's stand-in for <cuda_fp16.h>: IEEE binary16 storage with the device conversions
// (__half2float exact, __float2half_rn round-to-nearest-even with subnormals, inf and NaN).
#pragma once

#include <cstdint>

#include "cudasim/config.h"
#include "cudasim/types.h"

struct __half {
  unsigned short __x;
};
struct alignas(4) __half2 {
  __half x, y;
};

inline float __half2float(__half h) {
  const uint32_t sign = static_cast<uint32_t>(h.__x & 0x8000u) << 16;
  const uint32_t exp = (h.__x >> 10) & 0x1fu, man = h.__x & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);  // inf, NaN (payload kept)
  } else if (exp != 0) {
    bits = sign | ((exp + 112u) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else {  // subnormal: value = man * 2^-24, exact in f32
    bits = cudasim::BitCast<uint32_t>(static_cast<float>(man) * 5.9604644775390625e-8f) | sign;
  }
  return cudasim::BitCast<float>(bits);
}

inline __half __float2half_rn(float f) {
  const uint32_t x = cudasim::BitCast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  __half h;
  if (ax > 0x7f800000u) {  // NaN: quiet, keep the top payload bits
    h.__x = static_cast<uint16_t>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    return h;
  }
  if (ax >= 0x477ff000u) {  // rounds to >= 65520: inf
    h.__x = static_cast<uint16_t>(sign | 0x7c00u);
    return h;
  }
  if (ax < 0x38800000u) {  // below 2^-14: subnormal half (or zero), round to nearest even in units of 2^-24
    const float scaled = cudasim::BitCast<float>(ax) * 16777216.0f;  // exact: a power of two
    // nearbyint under the default rounding mode (ties to even)
    const float r = __builtin_nearbyintf(scaled);
    h.__x = static_cast<uint16_t>(sign | static_cast<uint16_t>(r));
    return h;
  }
  // Normal: drop 13 mantissa bits with round-to-nearest-even (a carry into the exponent is right).
  const uint32_t rounded = ax + 0xfffu + ((ax >> 13) & 1u);
  h.__x = static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
  return h;
}
inline __half __float2half(float f) { return __float2half_rn(f); }
inline float2 __half22float2(__half2 h) { return make_float2(__half2float(h.x), __half2float(h.y)); }
inline __half2 __floats2half2_rn(float a, float b) { return __half2{__float2half_rn(a), __float2half_rn(b)}; }
