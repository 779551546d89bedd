// caprese_sample on the GPU: one block per row (V up to 2^22), no scratch memory, no sort.
// The arithmetic is core/sampling.h, shared with the CPU backend, so the ids are identical:
// weights are integers built from _rn float intrinsics (never contracted), every mass is an
// exact integer sum (the order threads add in does not matter), and the thresholds are exact
// keys found by the same 256-way radix bisection as on the CPU.
//
// Passes over the row (x stays in L2 for realistic V: 1 MB at V = 256K):
//   1    first NaN and the maximum;
//   4    top-k: histograms of key counts, 8 bits per round (only when 0 < top_k < V);
//   1+4  top-p: the mass above t_k, then histograms of masses (only when top_p < 1);
//   1+   the kept mass per warp segment, then one warp scans its segment for the draw.
// Histogram updates are batched per thread while consecutive elements fall into the same bin
// (the common case in the first rounds, where most logits share a few exponent values), so
// shared-memory atomics rarely collide.
#include "core/sampling.h"
#include "cuda/cuda_common.cuh"
#include "cuda/kernels.h"

namespace caprese {
namespace cuda {
namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / kWarpSize;

__device__ __forceinline__ uint64_t WarpSumU64(uint64_t v) {
#pragma unroll
  for (int o = kWarpSize / 2; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}

// Sum (or min) over the block; every thread gets the result. `scratch` holds kWarps values.
__device__ __forceinline__ uint64_t BlockSumU64(uint64_t v, uint64_t* scratch) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  v = WarpSumU64(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  uint64_t r = lane < kWarps ? scratch[lane] : 0;
  r = WarpSumU64(r);
  __syncthreads();
  return r;
}

__device__ __forceinline__ uint64_t BlockMinU64(uint64_t v, uint64_t* scratch) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
#pragma unroll
  for (int o = kWarpSize / 2; o > 0; o >>= 1) {
    const uint64_t y = __shfl_xor_sync(kFullMask, v, o);
    v = y < v ? y : v;
  }
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  uint64_t r = lane < kWarps ? scratch[lane] : ~0ull;
#pragma unroll
  for (int o = kWarpSize / 2; o > 0; o >>= 1) {
    const uint64_t y = __shfl_xor_sync(kFullMask, r, o);
    r = y < r ? y : r;
  }
  __syncthreads();
  return r;
}

__device__ __forceinline__ uint32_t HighMask(int shift) { return shift >= 24 ? 0u : (0xffffffffu << (shift + 8)); }

// Adds `amount` to hist[bin], batching runs of the same bin in registers.
struct BinAccumulator {
  int bin = -1;
  unsigned long long sum = 0;
  __device__ __forceinline__ void Add(unsigned long long* hist, int b, unsigned long long amount) {
    if (b != bin) {
      Flush(hist);
      bin = b;
    }
    sum += amount;
  }
  __device__ __forceinline__ void Flush(unsigned long long* hist) {
    if (bin >= 0 && sum != 0) atomicAdd(&hist[bin], sum);
    bin = -1;
    sum = 0;
  }
};

// One radix round: zero the histogram, fill it, let thread 0 pick the bin, broadcast.
// kMass: histogram of weights and the top-p condition; else counts and the top-k condition.
template <bool kMass>
__device__ uint32_t RadixSelect(const float* __restrict__ xr, int64_t v, float mx, float temperature, uint32_t lo,
                                uint64_t need, uint64_t total, uint64_t pfrac, unsigned long long* hist,
                                uint32_t* s_prefix, unsigned long long* s_above) {
  uint32_t prefix = 0;
  unsigned long long above = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 256; b += kThreads) hist[b] = 0;
    __syncthreads();
    const uint32_t mask = HighMask(shift);
    BinAccumulator acc;
    for (int64_t i = threadIdx.x; i < v; i += kThreads) {
      const float xi = xr[i];
      const uint32_t key = sampling::OrderKey(xi);
      if (key < lo || (key & mask) != prefix) continue;
      const int b = static_cast<int>((key >> shift) & 255u);
      acc.Add(hist, b, kMass ? sampling::Weight(xi, mx, temperature) : 1ull);
    }
    acc.Flush(hist);
    __syncthreads();
    if (threadIdx.x == 0) {
      for (int b = 255; b >= 0; --b) {
        const bool reached = kMass ? sampling::MassReaches(above + hist[b], total, pfrac) : above + hist[b] >= need;
        if (reached) {
          prefix |= static_cast<uint32_t>(b) << shift;
          break;
        }
        above += hist[b];
      }
      *s_prefix = prefix;
      *s_above = above;
    }
    __syncthreads();
    prefix = *s_prefix;
    above = *s_above;
  }
  return prefix;
}

__global__ void __launch_bounds__(kThreads)
SampleKernel(const float* __restrict__ x, int32_t* __restrict__ out, int64_t v, caprese_sampling_params p) {
  __shared__ unsigned long long hist[256];
  __shared__ uint64_t red[kWarps];
  __shared__ float redf[kWarpSize];
  __shared__ uint32_t s_prefix;
  __shared__ unsigned long long s_above;
  __shared__ int s_warp;
  __shared__ uint64_t s_rest;

  const float* xr = x + static_cast<int64_t>(blockIdx.x) * v;
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;

  // 1. The first NaN wins (as in caprese_argmax); else the maximum.
  uint64_t nan_at = static_cast<uint64_t>(v);
  float mx = -INFINITY;
  for (int64_t i = threadIdx.x; i < v; i += kThreads) {
    const float xi = xr[i];
    if (isnan(xi)) {
      if (static_cast<uint64_t>(i) < nan_at) nan_at = static_cast<uint64_t>(i);
    } else if (xi > mx) {
      mx = xi;
    }
  }
  nan_at = BlockMinU64(nan_at, red);
  if (nan_at < static_cast<uint64_t>(v)) {  // block-uniform
    if (threadIdx.x == 0) out[blockIdx.x] = static_cast<int32_t>(nan_at);
    return;
  }
  mx = BlockMax(mx, redf);  // exact in any order

  // 2. top-k threshold, 3. top-p threshold (core/sampling.h).
  uint32_t t = 0;
  if (p.top_k > 0 && p.top_k < v)
    t = RadixSelect<false>(xr, v, mx, p.temperature, 0, static_cast<uint64_t>(p.top_k), 0, 0, hist, &s_prefix,
                           &s_above);
  if (p.top_p < 1.0f) {
    uint64_t s = 0;
    for (int64_t i = threadIdx.x; i < v; i += kThreads) {
      const float xi = xr[i];
      if (sampling::OrderKey(xi) >= t) s += sampling::Weight(xi, mx, p.temperature);
    }
    const uint64_t total = BlockSumU64(s, red);
    t = RadixSelect<true>(xr, v, mx, p.temperature, t, 0, total, sampling::TopPFraction(p.top_p), hist, &s_prefix,
                          &s_above);
  }

  // 4. Inverse CDF in index order: kept mass per warp segment, pick the segment, then its warp
  //    scans 32 entries at a time.
  const int64_t seg = (v + kWarps - 1) / kWarps;
  const int64_t begin = warp * seg < v ? warp * seg : v;
  const int64_t end = begin + seg < v ? begin + seg : v;
  uint64_t s = 0;
  for (int64_t i = begin + lane; i < end; i += kWarpSize) {
    const float xi = xr[i];
    if (sampling::OrderKey(xi) >= t) s += sampling::Weight(xi, mx, p.temperature);
  }
  s = WarpSumU64(s);
  if (lane == 0) red[warp] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    uint64_t total = 0;
    for (int w = 0; w < kWarps; ++w) total += red[w];
    const uint64_t target =
        sampling::Target(sampling::Uniform24(p.seed, p.offset + static_cast<uint64_t>(blockIdx.x)), total);
    uint64_t acc = 0;
    int w = 0;
    for (; w < kWarps - 1; ++w) {  // target < total, so the last segment is reached only if it holds it
      if (acc + red[w] > target) break;
      acc += red[w];
    }
    s_warp = w;
    s_rest = target - acc;
  }
  __syncthreads();
  if (warp != s_warp) return;
  const uint64_t rest = s_rest;
  uint64_t acc = 0;
  for (int64_t base = begin; base < end; base += kWarpSize) {  // warp-uniform bounds
    const int64_t i = base + lane;
    uint64_t wi = 0;
    if (i < end) {
      const float xi = xr[i];
      if (sampling::OrderKey(xi) >= t) wi = sampling::Weight(xi, mx, p.temperature);
    }
    uint64_t incl = wi;
#pragma unroll
    for (int o = 1; o < kWarpSize; o <<= 1) {
      const uint64_t y = __shfl_up_sync(kFullMask, incl, o);
      if (lane >= o) incl += y;
    }
    const unsigned hit = __ballot_sync(kFullMask, acc + incl > rest);
    if (hit != 0) {
      if (lane == __ffs(hit) - 1) out[blockIdx.x] = static_cast<int32_t>(i);
      return;
    }
    acc += __shfl_sync(kFullMask, incl, kWarpSize - 1);
  }
}

}  // namespace

cudaError_t LaunchSample(const SampleArgs& a, cudaStream_t stream) {
  if (a.m > INT32_MAX || a.v > sampling::kMaxVocab) return kShapeNotSupported;
  if (a.m == 0) return cudaSuccess;
  CAPRESE_LAUNCH(SampleKernel, static_cast<unsigned>(a.m), kThreads, 0, stream, a.x, a.out, a.v, a.params);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace caprese
