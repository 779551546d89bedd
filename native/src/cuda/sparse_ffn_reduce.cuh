// The sparse FFN's partial-sum reduction, parallel over the partials (variants "tree" and
// "wide" of sparse_ffn.cu): y[i] = Σ_b partial[b][i] for n = M·D outputs.
//
// The serial form (one thread per output adding every partial in turn) has, at batch 1 on
// Llama-3.1-8B (n = 4096 outputs, ~264 partials on an H100), only 16 blocks in the grid and 264
// dependent adds per thread: ~33 rounds of L2 latency with 8 loads in flight, 10-15 µs. Here a
// block takes Q column words (V floats each: 16-byte words where n and y allow) and its 256
// threads split the partials among G = 256/Q groups: thread (g, q) adds partials g, g+G, ...
// of word q with four loads in flight, the groups inside a warp are added with shuffles and
// the warps' sums in shared memory. At batch 1 that is 512 blocks reading ~2 partials per
// thread: about one L2 round trip plus the 4.3 MB of partials at L2 bandwidth, ~1-2 µs
// (an estimate, to be measured by caprese_kernel_bench --suite sparse_variants).
// The order of every addition is fixed by (g, q) and the block shape, so results are
// reproducible bit for bit from run to run (though not equal to the serial order's bits).
#pragma once

#include "cuda/cuda_common.cuh"

namespace caprese {
namespace cuda {
namespace sparse_ffn {

constexpr int kReduceThreads = 256;
constexpr int kReduceMaxWords = 32;  // Q <= one warp's lanes (see the shuffle step)

template <int V>
__device__ __forceinline__ void LoadPartialWord(const float* p, float (&v)[V]) {
  if constexpr (V == 4) {
    const float4 w = __ldg(reinterpret_cast<const float4*>(p));
    v[0] = w.x;
    v[1] = w.y;
    v[2] = w.z;
    v[3] = w.w;
  } else {
    static_assert(V == 1, "words of 4 floats (16 bytes) or of one");
    v[0] = __ldg(p);
  }
}

// Block: kReduceThreads threads, Q column words of V floats; grid: ceil(words / Q) blocks.
// words = n / V; the partials are `blocks` arrays of n floats one after the other.
template <int V, int Q>
__global__ void __launch_bounds__(kReduceThreads)
ReducePartialsKernel(const float* __restrict__ partial, int blocks, int64_t words, float* __restrict__ y) {
  static_assert(Q >= 1 && Q <= kReduceMaxWords && (Q & (Q - 1)) == 0, "Q: a power of two up to a warp");
  constexpr int G = kReduceThreads / Q;
  constexpr int kWarps = kReduceThreads / kWarpSize;
  constexpr int kInFlight = 4;
  __shared__ float warp_sums[kWarps][Q][V];

  const int tid = threadIdx.x, q = tid % Q, g = tid / Q, lane = tid % kWarpSize, warp = tid / kWarpSize;
  const int64_t word = static_cast<int64_t>(blockIdx.x) * Q + q;
  const bool in = word < words;
  const size_t n = static_cast<size_t>(words) * V;  // floats per partial
  float acc[V];
#pragma unroll
  for (int e = 0; e < V; ++e) acc[e] = 0.0f;
  if (in) {
    const float* p = partial + static_cast<size_t>(word) * V;
    int b = g;
    for (; b + (kInFlight - 1) * G < blocks; b += kInFlight * G) {
      float v[kInFlight][V];
#pragma unroll
      for (int u = 0; u < kInFlight; ++u) LoadPartialWord<V>(p + static_cast<size_t>(b + u * G) * n, v[u]);
#pragma unroll
      for (int u = 0; u < kInFlight; ++u)
#pragma unroll
        for (int e = 0; e < V; ++e) acc[e] += v[u][e];
    }
    for (; b < blocks; b += G) {
      float v[V];
      LoadPartialWord<V>(p + static_cast<size_t>(b) * n, v);
#pragma unroll
      for (int e = 0; e < V; ++e) acc[e] += v[e];
    }
  }
  // Lanes q, q + Q, q + 2Q, ... of a warp hold the same word (groups of the same warp): every
  // lane takes part, out-of-range ones with zeros.
#pragma unroll
  for (int o = Q; o < kWarpSize; o <<= 1)
#pragma unroll
    for (int e = 0; e < V; ++e) acc[e] += __shfl_xor_sync(kFullMask, acc[e], o);
  if (lane < Q) {  // the warp's first group: lane == q
#pragma unroll
    for (int e = 0; e < V; ++e) warp_sums[warp][lane][e] = acc[e];
  }
  __syncthreads();
  if (tid < Q && in) {
    float s[V];
#pragma unroll
    for (int e = 0; e < V; ++e) s[e] = warp_sums[0][tid][e];
#pragma unroll
    for (int w = 1; w < kWarps; ++w)
#pragma unroll
      for (int e = 0; e < V; ++e) s[e] += warp_sums[w][tid][e];
    float* dst = y + static_cast<size_t>(word) * V;
    if constexpr (V == 4) {
      *reinterpret_cast<float4*>(dst) = make_float4(s[0], s[1], s[2], s[3]);
    } else {
      dst[0] = s[0];
    }
  }
}

// Words per block: the largest power of two (<= 32) that still gives at least two blocks per
// SM (the reduction is latency-bound: more blocks, more loads in flight), but no fewer words
// than leave every thread at least one partial (G <= blocks).
inline int ReduceWordsPerBlock(int64_t words, int partials, int multiprocessors) {
  int q = 1;
  while (q < kReduceMaxWords && (words + 2 * q - 1) / (2 * q) >= 2LL * multiprocessors) q *= 2;
  while (q < kReduceMaxWords && kReduceThreads / q > partials) q *= 2;
  return q;
}

}  // namespace sparse_ffn
}  // namespace cuda
}  // namespace caprese
