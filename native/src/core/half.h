// Host-side f32 <-> f16 / bf16 conversions, bit-exact with IEEE round-to-nearest-even.
// Plain C++17 and header-only so the CPU backend, the CUDA plugin's host code and the tests
// share one definition of "the f16 value of x".
#pragma once

#include <cstdint>
#include <cstring>

namespace caprese {

inline uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

inline float BitsToFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// f32 -> f16, round to nearest even; overflow gives inf, NaN stays NaN (quiet, payload kept
// where it fits), tiny values become f16 subnormals or signed zero.
inline uint16_t F32ToF16(float f) {
  const uint32_t x = FloatBits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t a = x & 0x7fffffffu;
  if (a >= 0x7f800000u) {  // inf or NaN
    if (a == 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u);
    return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  }
  // 65520 = halfway between 65504 (max f16) and 2^16; ties go to the even neighbour, inf.
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (a < 0x38800000u) {  // below 2^-14: f16 subnormal (units of 2^-24) or zero
    if (a < 0x33000000u) return static_cast<uint16_t>(sign);  // < 2^-25 (2^-25 itself ties to 0)
    const uint32_t exp = a >> 23;                      // 102 .. 112
    const uint32_t mant = (a & 0x7fffffu) | 0x800000u;  // with the implicit bit
    const uint32_t shift = 126u - exp;                 // 14 .. 24
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1u);
    const uint32_t halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (h & 1u))) ++h;  // may carry into the smallest normal: correct
    return static_cast<uint16_t>(sign | h);
  }
  // Normal: rebias the exponent (127 -> 15) and drop 13 mantissa bits with RNE; a carry
  // out of the mantissa correctly bumps the exponent.
  uint32_t h = (a - 0x38000000u) >> 13;
  const uint32_t rem = a & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

inline float F16ToF32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1fu) return BitsToFloat(sign | 0x7f800000u | (mant << 13));  // inf / NaN
  if (exp == 0) {
    if (mant == 0) return BitsToFloat(sign);
    // Subnormal: shift the leading 1 up to the implicit position, lowering the exponent.
    uint32_t e = 113;  // exponent field of 2^-14, the f16 subnormal scale
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --e;
    }
    return BitsToFloat(sign | (e << 23) | ((mant & 0x3ffu) << 13));
  }
  return BitsToFloat(sign | ((exp + 112u) << 23) | (mant << 13));
}

// f32 -> bf16, round to nearest even (overflow rounds to inf as IEEE says); NaN stays a
// quiet NaN instead of possibly rounding into inf.
inline uint16_t F32ToBF16(float f) {
  uint32_t x = FloatBits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

inline float BF16ToF32(uint16_t b) { return BitsToFloat(static_cast<uint32_t>(b) << 16); }

// The value a float takes after a round trip through the narrow type.
inline float RoundToF16(float f) { return F16ToF32(F32ToF16(f)); }
inline float RoundToBF16(float f) { return BF16ToF32(F32ToBF16(f)); }

}  // namespace caprese
