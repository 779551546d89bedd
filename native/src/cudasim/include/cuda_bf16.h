// cuda-sim's stand-in for <cuda_bf16.h>: bfloat16 storage with the device conversions
// (__bfloat162float exact, __float2bfloat16_rn round-to-nearest-even, NaN kept quiet).
#pragma once

#include <cstdint>

#include "cudasim/config.h"
#include "cudasim/types.h"

struct __nv_bfloat16 {
  unsigned short __x;
};

inline float __bfloat162float(__nv_bfloat16 b) {
  return cudasim::BitCast<float>(static_cast<uint32_t>(b.__x) << 16);
}
inline __nv_bfloat16 __float2bfloat16_rn(float f) {
  const uint32_t x = cudasim::BitCast<uint32_t>(f);
  __nv_bfloat16 b;
  if ((x & 0x7fffffffu) > 0x7f800000u) {
    b.__x = static_cast<uint16_t>((x >> 16) | 0x40u);
    return b;
  }
  b.__x = static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
  return b;
}
inline __nv_bfloat16 __float2bfloat16(float f) { return __float2bfloat16_rn(f); }
