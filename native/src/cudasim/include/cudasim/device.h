// cuda-sim: what device code sees. CUDA's keywords become plain C++ (a kernel is an ordinary
// function that every simulated thread calls), the built-in indices read the running
// thread's coordinates, and barriers and warp collectives are calls into the scheduler,
// which checks what a GPU tool would: a __syncthreads that some thread of the block never
// reaches, a warp collective whose mask names a lane that does not arrive (or that exists
// not at all), lanes that disagree on the mask, a shuffle that reads a lane outside it.
#pragma once

#include <math.h>  // the C names (expf, isnan, ...) in the global namespace, as device code uses them

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cudasim/config.h"
#include "cudasim/types.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
// Block-scope thread_local is static: one copy per simulator worker thread, and a worker
// runs one block at a time, all of its CUDA threads as fibers on that OS thread.
#define __shared__ thread_local

namespace cudasim {

struct ThreadCoords {
  uint3 thread_idx;
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
};

// The coordinates of the simulated thread that is running (only valid inside a kernel).
CUDASIM_API const ThreadCoords& Coords();
CUDASIM_API void SyncThreads();
CUDASIM_API void* DynamicSharedMemory();

enum WarpOpKind { kShflXor = 0, kShflUp, kShflDown, kShflIdx, kBallot, kAny, kAll, kSyncWarp };
// One lane's part of a warp collective; returns its result once every lane of `mask` is there.
CUDASIM_API uint64_t WarpCollective(WarpOpKind kind, unsigned mask, uint64_t value, int arg, int width);

template <typename T>
__forceinline__ T Shuffle(WarpOpKind kind, unsigned mask, T v, int arg, int width) {
  static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8, "shuffles move up to 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  bits = WarpCollective(kind, mask, bits, arg, width);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

}  // namespace cudasim

#define threadIdx (::cudasim::Coords().thread_idx)
#define blockIdx (::cudasim::Coords().block_idx)
#define blockDim (::cudasim::Coords().block_dim)
#define gridDim (::cudasim::Coords().grid_dim)
constexpr int warpSize = 32;

// Dynamic shared memory: `extern __shared__ T name[];` cannot be expressed in host C++, so
// kernels spell it CAPRESE_DYNAMIC_SHARED(T, name) (cuda/launch.cuh). The region is exactly
// the launch's size and ends at a guard page: an access past it faults with a report.
#define CUDASIM_DYNAMIC_SHARED(T, name) T* const name = static_cast<T*>(::cudasim::DynamicSharedMemory())

__forceinline__ void __syncthreads() { ::cudasim::SyncThreads(); }
__forceinline__ void __syncwarp(unsigned mask = 0xffffffffu) {
  ::cudasim::WarpCollective(::cudasim::kSyncWarp, mask, 0, 0, 32);
}
__forceinline__ void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
__forceinline__ void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

template <typename T>
__forceinline__ T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  return ::cudasim::Shuffle(::cudasim::kShflXor, mask, v, lane_mask, width);
}
template <typename T>
__forceinline__ T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return ::cudasim::Shuffle(::cudasim::kShflUp, mask, v, static_cast<int>(delta), width);
}
template <typename T>
__forceinline__ T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return ::cudasim::Shuffle(::cudasim::kShflDown, mask, v, static_cast<int>(delta), width);
}
template <typename T>
__forceinline__ T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
  return ::cudasim::Shuffle(::cudasim::kShflIdx, mask, v, src_lane, width);
}
__forceinline__ unsigned __ballot_sync(unsigned mask, int predicate) {
  return static_cast<unsigned>(::cudasim::WarpCollective(::cudasim::kBallot, mask, predicate != 0, 0, 32));
}
__forceinline__ int __any_sync(unsigned mask, int predicate) {
  return static_cast<int>(::cudasim::WarpCollective(::cudasim::kAny, mask, predicate != 0, 0, 32));
}
__forceinline__ int __all_sync(unsigned mask, int predicate) {
  return static_cast<int>(::cudasim::WarpCollective(::cudasim::kAll, mask, predicate != 0, 0, 32));
}

// ------------------------------------------------------------------ integer and bit intrinsics
__forceinline__ int __popc(unsigned v) { return __builtin_popcount(v); }
__forceinline__ int __popcll(unsigned long long v) { return __builtin_popcountll(v); }
__forceinline__ int __ffs(int v) { return __builtin_ffs(v); }
__forceinline__ int __ffsll(long long v) { return __builtin_ffsll(v); }
__forceinline__ int __clz(int v) { return v == 0 ? 32 : __builtin_clz(static_cast<unsigned>(v)); }
__forceinline__ float __uint_as_float(unsigned v) { return ::cudasim::BitCast<float>(v); }
__forceinline__ unsigned __float_as_uint(float f) { return ::cudasim::BitCast<unsigned>(f); }
__forceinline__ float __int_as_float(int v) { return ::cudasim::BitCast<float>(v); }
__forceinline__ int __float_as_int(float f) { return ::cudasim::BitCast<int>(f); }
template <typename T>
__forceinline__ T __ldg(const T* p) {
  return *p;
}

// ------------------------------------------------------------------ float intrinsics
// IEEE single precision with the named rounding; the simulator is built with
// -ffp-contract=off, so a*b+c is never fused unless the kernel asks for fmaf.
__forceinline__ float __fadd_rn(float a, float b) { return a + b; }
__forceinline__ float __fsub_rn(float a, float b) { return a - b; }
__forceinline__ float __fmul_rn(float a, float b) { return a * b; }
__forceinline__ float __fdiv_rn(float a, float b) { return a / b; }
__forceinline__ float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
__forceinline__ float __expf(float x) { return expf(x); }
__forceinline__ float __logf(float x) { return logf(x); }
__forceinline__ float __fdividef(float a, float b) { return a / b; }
__forceinline__ float rsqrtf(float x) { return 1.0f / sqrtf(x); }
__forceinline__ float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }

// CUDA's min/max overloads for every arithmetic pair (the usual conversions apply).
template <typename A, typename B,
          typename = std::enable_if_t<std::is_arithmetic<A>::value && std::is_arithmetic<B>::value>>
__forceinline__ std::common_type_t<A, B> min(A a, B b) {
  using C = std::common_type_t<A, B>;
  return static_cast<C>(b) < static_cast<C>(a) ? static_cast<C>(b) : static_cast<C>(a);
}
template <typename A, typename B,
          typename = std::enable_if_t<std::is_arithmetic<A>::value && std::is_arithmetic<B>::value>>
__forceinline__ std::common_type_t<A, B> max(A a, B b) {
  using C = std::common_type_t<A, B>;
  return static_cast<C>(a) < static_cast<C>(b) ? static_cast<C>(b) : static_cast<C>(a);
}

// ------------------------------------------------------------------ atomics
// Blocks run on several OS threads at once, so these are real atomic operations.
template <typename T>
__forceinline__ T AtomicFetchAdd(T* p, T v) {
  return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
__forceinline__ int atomicAdd(int* p, int v) { return AtomicFetchAdd(p, v); }
__forceinline__ unsigned atomicAdd(unsigned* p, unsigned v) { return AtomicFetchAdd(p, v); }
__forceinline__ unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
  return AtomicFetchAdd(p, v);
}
__forceinline__ float atomicAdd(float* p, float v) {
  unsigned* bits = reinterpret_cast<unsigned*>(p);
  unsigned old = __atomic_load_n(bits, __ATOMIC_RELAXED);
  while (!__atomic_compare_exchange_n(bits, &old, __float_as_uint(__uint_as_float(old) + v), true, __ATOMIC_RELAXED,
                                      __ATOMIC_RELAXED)) {
  }
  return __uint_as_float(old);
}
template <typename T, typename Pick>
__forceinline__ T AtomicUpdate(T* p, T v, Pick pick) {
  T old = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (!__atomic_compare_exchange_n(p, &old, pick(old, v), true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}
__forceinline__ int atomicMax(int* p, int v) { return AtomicUpdate(p, v, [](int a, int b) { return a < b ? b : a; }); }
__forceinline__ int atomicMin(int* p, int v) { return AtomicUpdate(p, v, [](int a, int b) { return b < a ? b : a; }); }
__forceinline__ unsigned atomicMax(unsigned* p, unsigned v) {
  return AtomicUpdate(p, v, [](unsigned a, unsigned b) { return a < b ? b : a; });
}
__forceinline__ int atomicExch(int* p, int v) { return __atomic_exchange_n(p, v, __ATOMIC_RELAXED); }
__forceinline__ int atomicCAS(int* p, int expected, int desired) {
  __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  return expected;
}
__forceinline__ unsigned long long atomicCAS(unsigned long long* p, unsigned long long expected,
                                             unsigned long long desired) {
  __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  return expected;
}
