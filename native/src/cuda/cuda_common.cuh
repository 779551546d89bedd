// Device helpers shared by the kernels: dtype conversion, 16-byte weight unpacking and
// warp/block reductions. Header-only and internal to libcaprese_cuda.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "cuda/launch.cuh"

#include <cstdint>

namespace caprese {
namespace cuda {

constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ float ToFloat(float v) { return v; }
__device__ __forceinline__ float ToFloat(__half v) { return __half2float(v); }
__device__ __forceinline__ float ToFloat(__nv_bfloat16 v) { return __bfloat162float(v); }

// Elements of T in one 16-byte load.
template <typename T>
struct Pack16 {
  static constexpr int kElems = 16 / static_cast<int>(sizeof(T));
};

// Unpacks one 16-byte load of weights into floats.
__device__ __forceinline__ void Unpack(const uint4& raw, float (&out)[4]) {
  out[0] = __uint_as_float(raw.x);
  out[1] = __uint_as_float(raw.y);
  out[2] = __uint_as_float(raw.z);
  out[3] = __uint_as_float(raw.w);
}

__device__ __forceinline__ void Unpack(const uint4& raw, float (&out)[8], __half) {
  const __half2* h = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float2 f = __half22float2(h[i]);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}

__device__ __forceinline__ void Unpack(const uint4& raw, float (&out)[8], __nv_bfloat16) {
  // bf16 -> f32 is a 16-bit shift; done by hand so it is identical on every arch/toolkit.
  const uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    out[2 * i] = __uint_as_float(words[i] << 16);
    out[2 * i + 1] = __uint_as_float(words[i] & 0xffff0000u);
  }
}

template <typename T>
__device__ __forceinline__ void UnpackAs(const uint4& raw, float (&out)[Pack16<T>::kElems]);
template <>
__device__ __forceinline__ void UnpackAs<float>(const uint4& raw, float (&out)[4]) { Unpack(raw, out); }
template <>
__device__ __forceinline__ void UnpackAs<__half>(const uint4& raw, float (&out)[8]) {
  Unpack(raw, out, __half());
}
template <>
__device__ __forceinline__ void UnpackAs<__nv_bfloat16>(const uint4& raw, float (&out)[8]) {
  Unpack(raw, out, __nv_bfloat16());
}

__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int o = kWarpSize / 2; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}

__device__ __forceinline__ float WarpMax(float v) {
#pragma unroll
  for (int o = kWarpSize / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, o));
  return v;
}

// Sum over the block; every thread gets the result. `scratch` holds >= 32 floats and may
// be reused right after the call returns (the trailing barrier protects it).
__device__ __forceinline__ float BlockSum(float v, float* scratch) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int warps = (blockDim.x + kWarpSize - 1) / kWarpSize;
  v = WarpSum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float r = lane < warps ? scratch[lane] : 0.0f;
  r = WarpSum(r);
  __syncthreads();
  return r;
}

__device__ __forceinline__ float BlockMax(float v, float* scratch) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int warps = (blockDim.x + kWarpSize - 1) / kWarpSize;
  v = WarpMax(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float r = lane < warps ? scratch[lane] : -INFINITY;
  r = WarpMax(r);
  __syncthreads();
  return r;
}

inline bool IsAligned(const void* p, size_t bytes) {
  return reinterpret_cast<uintptr_t>(p) % bytes == 0;
}

inline unsigned CeilDiv(int64_t a, int64_t b) { return static_cast<unsigned>((a + b - 1) / b); }

}  // namespace cuda
}  // namespace caprese
