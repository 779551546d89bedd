// Sparse-gather gated FFN + always-active extra neurons (caprese_sparse_ffn), M <= 16.
//
// Work items: the active main neurons (ALL: 0..H-1; INDICES: the list; THRESHOLD: the
// device-side compacted list) followed by the r extra neurons (gate = 1). Nothing goes back
// to the host: the item count may live only on the device.
//
//  - FusedKernel: block b takes a contiguous slice of the items (sized from the device-side
//    count, so the slices stay balanced at any sparsity). Phase 1: each warp takes 1-4
//    neurons at a time and streams their gate and up rows once for all M rows with 16-byte
//    loads against x staged in shared memory (like gemv.cu), then h = act(g)·u lands in
//    shared memory. Phase 2: the block streams the slice's down rows (contiguous because the
//    down projection is stored transposed); each thread owns 4-8 output columns for all M
//    rows and adds h·wd in registers. The block writes its partial y to scratch.
//  - The partials are added without atomics (deterministic): SumPartialsKernel in block order,
//    one thread per output, or ReducePartialsKernel (sparse_ffn_reduce.cuh) with every thread
//    of many blocks over the partials. Partials cost 2·blocks·M·D·4 bytes (mostly L2 hits);
//    see LayOut for the block count. One block (tiny FFNs) writes y directly.
//
// Variants (llm.c style: the earlier kernels stay selectable, so a GPU run compares them),
// picked per call by CAPRESE_SPARSE_FFN_VARIANT (kVariants below; unset: the default):
//    serial  phase 2 with 8-byte loads for 16-bit weights at M >= 8, SumPartialsKernel
//    tree    as serial, with ReducePartialsKernel
//    wide    (default) phase 2 with 16-byte loads at every M and twice the down rows in flight
//            below M = 8, and ReducePartialsKernel
//  Odd D or weights not 16-byte aligned take the element-wise kernel in every variant (the
//  16-byte loads are never attempted on rows they cannot cover exactly).
//  - THRESHOLD (CATS): the gate GEMV over all H rows reuses gemv.cu; ThresholdSelectKernel
//    applies act + |.| >= threshold per row, keeps the masked act(g) and compacts the
//    active neurons per block of 256 (ballot + popc, ascending order) with a count per
//    block. FusedKernel<kGate = false> then turns the counts into a prefix sum in shared
//    memory, maps its slice of the active list onto neurons and reads only w_up, w_down_t.
//  - INDICES are read on the device: an entry outside [0, H) is skipped (never read out of
//    bounds) and raises the backend's error flag (value 2), reported by synchronize.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>

#include "cuda/kernels.h"
#include "cuda/sparse_ffn_reduce.cuh"
#include "cuda/weight_loads.cuh"

namespace caprese {
namespace cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * kWarpSize;
constexpr int kMaxRows = 16;
constexpr int kMaxChunk = 256;           // items per fused block (h kept in shared memory)
constexpr int kMinItemsPerBlock = 8;     // fewer: the block's partial y costs more than its rows
constexpr int kCompactThreads = 256;     // neurons per compaction block
constexpr int kMaxCompactBlocks = 1024;  // THRESHOLD: H <= 262144
constexpr int kXSmemBytes = 24 * 1024;   // x tile without opt-in: with the static arrays < 48 KiB
constexpr int kXSmemMaxBytes = 128 * 1024;  // x tile with opt-in (sm_80 allows 163 KiB, sm_90 227 KiB)
constexpr int kMaxDevices = 64;          // opt-in bookkeeping per device ordinal
constexpr int kErrorFlagIndex = 2;       // CudaBackend::Synchronize maps it to the message

using sparse_ffn::ReducePartialsKernel;
using sparse_ffn::kReduceThreads;

// The variants, by the name CAPRESE_SPARSE_FFN_VARIANT takes (see the top of the file).
struct VariantTraits {
  const char* name;
  SparseFfnVariant id;
  bool wide_phase2;   // FusedKernel<..., kWide = true> on the 16-byte path
  bool tree_reduce;   // ReducePartialsKernel instead of SumPartialsKernel
};
constexpr VariantTraits kVariants[] = {
    {"serial", SparseFfnVariant::kSerial, false, false},
    {"tree", SparseFfnVariant::kTree, false, true},
    {"wide", SparseFfnVariant::kWide, true, true},
};
constexpr SparseFfnVariant kDefaultVariant = SparseFfnVariant::kWide;

const VariantTraits& Traits(SparseFfnVariant v) {
  for (const VariantTraits& t : kVariants)
    if (t.id == v) return t;
  return kVariants[0];
}

__device__ __forceinline__ float Act(float g, int act) {
  if (act == CAPRESE_ACTIVATION_GELU_TANH) {
    const float kSqrt2OverPi = 0.7978845608028654f;
    return 0.5f * g * (1.0f + tanhf(kSqrt2OverPi * (g + 0.044715f * g * g * g)));
  }
  return g / (1.0f + expf(-g));
}

struct FusedParams {
  const float* x;
  const void *wg, *wu, *wd, *eu, *ed;
  const int32_t* indices;    // INDICES
  const int32_t* list;       // THRESHOLD: [compact_blocks][256] compacted neurons
  const int32_t* counts;     // THRESHOLD: [compact_blocks]
  const float* gate_act;     // THRESHOLD: [H][M] masked act(gate)
  float* out;                // [blocks][M][D] partials, or y when blocks == 1
  int* error_flag;
  int m, d, h, k, r, selection, act, compact_blocks, k_tile, ks;
};

// E consecutive weights as floats (E = 1, 4 or 8; the pointer is aligned to E elements).
template <typename T, int E>
__device__ __forceinline__ void LoadRow(const T* p, float (&out)[E]) {
  if constexpr (E == 1) {
    out[0] = ToFloat(__ldg(p));
  } else if constexpr (sizeof(T) == 4) {
    static_assert(E == 4, "f32 rows load 4 at a time");
    Unpack(__ldg(reinterpret_cast<const uint4*>(p)), out);
  } else if constexpr (E == 8) {
    UnpackAs<T>(__ldg(reinterpret_cast<const uint4*>(p)), out);
  } else {
    static_assert(E == 4, "16-bit rows load 4 or 8 at a time");
    const uint2 v = __ldg(reinterpret_cast<const uint2*>(p));
    float tmp[8];
    UnpackAs<T>(make_uint4(v.x, v.y, 0u, 0u), tmp);
#pragma unroll
    for (int e = 0; e < 4; ++e) out[e] = tmp[e];
  }
}

// Rows per warp step grow with M (each x value from shared memory then feeds more FMAs),
// as in gemv.cu; THRESHOLD reads no gate row, so it takes twice the neurons.
template <int MB, bool kGate>
struct FusedConfig {
  static constexpr int kRowsPerNeuron = kGate ? 2 : 1;
  static constexpr int kNeurons = (MB >= 8 ? 2 : 1) * (kGate ? 1 : 2);
  static constexpr int kRows = kNeurons * kRowsPerNeuron;
  static constexpr int kUnroll = kRows >= 4 ? 2 : 4;
  // M >= 8 runs one block per SM (TargetBlocksPerSm), so those instances may use up to 255
  // registers instead of spilling at 128.
  static constexpr int kMinBlocks = MB >= 8 ? 1 : 2;
};

// kWide (variant "wide", 16-byte path only): phase 2 with 16-byte loads at every M, more down
// rows in flight; otherwise phase 2 as it was first written (variants "serial" and "tree").
template <typename T, int MB, bool kGate, bool kVec, bool kWide>
__global__ void __launch_bounds__(kThreads, FusedConfig<MB, kGate>::kMinBlocks)
FusedKernel(const FusedParams p) {
  static_assert(kVec || !kWide, "the wide phase 2 is a 16-byte path");
  using Cfg = FusedConfig<MB, kGate>;
  constexpr int NPW = Cfg::kNeurons, RPN = Cfg::kRowsPerNeuron, R = Cfg::kRows, U = Cfg::kUnroll;
  constexpr int kElems = kVec ? Pack16<T>::kElems : 1;  // weights per phase-1 load
  constexpr int C = kVec ? kElems / 4 : 1;               // float4 words of x per load
  // Phase 2 columns per thread: 16 bytes of weights, or 8 for 16-bit weights at M >= 8
  // (keeps the M x E accumulators at <= 64 registers).
  constexpr int E = !kVec ? 1 : (sizeof(T) == 4 ? 4 : (MB >= 8 ? 4 : 8));

  __shared__ int idx_s[kMaxChunk];             // neuron of each slot: j < H main, H + e extra, -1 skip
  __shared__ float h_s[kMaxChunk * MB];        // [slot][row]
  __shared__ int prefix_s[kMaxCompactBlocks + 1];
  CAPRESE_DYNAMIC_SHARED(float4, xs_raw);
  float* xs = reinterpret_cast<float*>(xs_raw);  // [m][ks]
  const float4* xs4 = xs_raw;
  const int ks4 = p.ks / 4;

  const int tid = threadIdx.x, lane = tid % kWarpSize, warp = tid / kWarpSize;
  const int m = p.m, d = p.d, h = p.h;
  const T* wg = static_cast<const T*>(p.wg);
  const T* wu = static_cast<const T*>(p.wu);
  const T* wd = static_cast<const T*>(p.wd);
  const T* eu = static_cast<const T*>(p.eu);
  const T* ed = static_cast<const T*>(p.ed);

  // ---- items and this block's slice
  int n_main;
  if (p.selection == CAPRESE_SPARSE_ALL) {
    n_main = h;
  } else if (p.selection == CAPRESE_SPARSE_INDICES) {
    n_main = p.k;
  } else {
    // Exclusive prefix of the per-block counts: one warp, each lane a contiguous run.
    for (int i = tid; i < p.compact_blocks; i += kThreads) prefix_s[i + 1] = p.counts[i];
    __syncthreads();
    if (warp == 0) {
      const int per = (p.compact_blocks + kWarpSize - 1) / kWarpSize;
      const int c0 = min(lane * per, p.compact_blocks), c1 = min(c0 + per, p.compact_blocks);
      int run = 0;
      for (int c = c0; c < c1; ++c) run += prefix_s[c + 1];
      int incl = run;
#pragma unroll
      for (int o = 1; o < kWarpSize; o <<= 1) {
        const int v = __shfl_up_sync(kFullMask, incl, o);
        if (lane >= o) incl += v;
      }
      int acc = incl - run;
      for (int c = c0; c < c1; ++c) {
        acc += prefix_s[c + 1];
        prefix_s[c + 1] = acc;
      }
      if (lane == 0) prefix_s[0] = 0;
    }
    __syncthreads();
    n_main = prefix_s[p.compact_blocks];
  }
  const int64_t items = static_cast<int64_t>(n_main) + p.r;
  const int begin = static_cast<int>(items * blockIdx.x / gridDim.x);
  const int chunk = min(static_cast<int>(items * (blockIdx.x + 1) / gridDim.x) - begin, kMaxChunk);

  for (int i = tid; i < chunk; i += kThreads) {
    const int s = begin + i;
    int j;
    if (s >= n_main) {
      j = h + (s - n_main);
    } else if (p.selection == CAPRESE_SPARSE_ALL) {
      j = s;
    } else if (p.selection == CAPRESE_SPARSE_INDICES) {
      j = __ldg(p.indices + s);
      if (j < 0 || j >= h) {
        atomicExch(p.error_flag, kErrorFlagIndex);  // many threads may flag at once: no plain stores
        j = -1;
      }
    } else {  // the compaction block c with prefix[c] <= s < prefix[c + 1]
      int lo = 0, hi = p.compact_blocks - 1;
      while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (prefix_s[mid + 1] <= s) lo = mid + 1; else hi = mid;
      }
      j = __ldg(p.list + lo * kCompactThreads + (s - prefix_s[lo]));
    }
    idx_s[i] = j;
  }

  // ---- phase 1: h = act(x·wg)·(x·wu) for every slot, all rows
  const bool single_tile = p.k_tile >= d;
  auto stage_x = [&](int k0, int kt) {
    if constexpr (kVec)
      StageXWords<kThreads, 0>(p.x, d, k0, kt, m, xs, p.ks);  // in order: each lane reads C words
    else
      StageXElems<kThreads>(p.x, d, k0, kt, m, xs, p.ks);
  };
  __syncthreads();  // idx_s complete
  if (single_tile) {
    stage_x(0, d);
    __syncthreads();
  }

  constexpr int kPerRound = kWarps * NPW;
  const int rounds = (chunk + kPerRound - 1) / kPerRound;
  for (int round = 0; round < rounds; ++round) {
    int slot[NPW], neuron[NPW];
    const T* rows[R];
    bool valid[R];
    bool any = false;
#pragma unroll
    for (int n = 0; n < NPW; ++n) {
      slot[n] = round * kPerRound + warp * NPW + n;
      neuron[n] = slot[n] < chunk ? idx_s[slot[n]] : -1;
      const int j = neuron[n];
      const T* up = j < 0 ? nullptr : (j < h ? wu + static_cast<size_t>(j) * d : eu + static_cast<size_t>(j - h) * d);
      if constexpr (kGate) {
        rows[2 * n] = j >= 0 && j < h ? wg + static_cast<size_t>(j) * d : nullptr;  // extras: gate = 1
        rows[2 * n + 1] = up;
      } else {
        rows[n] = up;
      }
      any = any || j >= 0;
    }
#pragma unroll
    for (int i = 0; i < R; ++i) valid[i] = rows[i] != nullptr;

    float acc[R][MB];
#pragma unroll
    for (int i = 0; i < R; ++i)
#pragma unroll
      for (int r = 0; r < MB; ++r) acc[i][r] = 0.0f;

    for (int k0 = 0; k0 < d; k0 += p.k_tile) {
      const int kt = min(p.k_tile, d - k0);
      if (!single_tile) {
        __syncthreads();  // every warp is done with the previous tile
        stage_x(k0, kt);
        __syncthreads();
      }
      if (!any) continue;
      if constexpr (kVec) {
        const int nvec = kt / kElems;
        for (int v0 = lane; v0 < nvec; v0 += kWarpSize * U) {
          uint4 raw[U][R];
#pragma unroll
          for (int u = 0; u < U; ++u) LoadWeightWords<T, R>(rows, valid, k0, v0 + u * kWarpSize, nvec, raw[u]);
#pragma unroll
          for (int u = 0; u < U; ++u) {
            const int v = v0 + u * kWarpSize;
            if (v >= nvec) break;
            FmaWeightWords<T, R, MB, 1>(raw[u], xs4 + v * C, ks4, m, acc);
          }
        }
      } else {
        for (int c = lane; c < kt; c += kWarpSize) {
          float wf[R];
#pragma unroll
          for (int i = 0; i < R; ++i) wf[i] = valid[i] ? ToFloat(rows[i][k0 + c]) : 0.0f;
          FmaWeightElems<R, MB>(wf, xs + c, p.ks, m, acc);
        }
      }
    }

#pragma unroll
    for (int n = 0; n < NPW; ++n) {
      const int j = neuron[n];
      if (slot[n] >= chunk) break;  // warp-uniform
#pragma unroll
      for (int r = 0; r < MB; ++r) {
        if (r >= m) break;
        const float u = WarpSum(acc[n * RPN + RPN - 1][r]);
        float hv = u;  // extra neuron: gate = 1
        if constexpr (kGate) {
          const float g = WarpSum(acc[n * RPN][r]);
          if (j < h) hv = Act(g, p.act) * u;
        } else {
          if (j >= 0 && j < h) hv = p.gate_act[static_cast<size_t>(j) * m + r] * u;
        }
        if (lane == r) h_s[slot[n] * MB + r] = j < 0 ? 0.0f : hv;
      }
    }
  }
  __syncthreads();

  // ---- phase 2: out[r][c] = Σ_slot h[slot][r] · wd_slot[c], in slot order
  float* out = p.out + (gridDim.x > 1 ? static_cast<size_t>(blockIdx.x) * m * d : 0);
  if constexpr (kWide) {
    // Each thread owns one 16-byte word of columns (W weights) for all M rows and keeps
    // kWideLoads down-row words in flight as raw words (4 registers each), unpacking one at a
    // time: at M = 16 that is 16·8 accumulators + 8·4 raw registers, within the 255 that
    // __launch_bounds__(256, 1) allows at M >= 8. Bytes in flight per thread: 128 (serial: 64,
    // or 32 for 16-bit weights at M >= 8, where it ran 8-byte loads to stay under 64
    // accumulators).
    constexpr int W = Pack16<T>::kElems;
    constexpr int kWideLoads = 8;
    for (int d0 = 0; d0 < d; d0 += kThreads * W) {
      const int c = d0 + tid * W;
      const bool in = c < d;  // d % W == 0 on this path: a word is wholly in or out
      float acc[MB][W];
#pragma unroll
      for (int r = 0; r < MB; ++r)
#pragma unroll
        for (int e = 0; e < W; ++e) acc[r][e] = 0.0f;
      for (int i0 = 0; i0 < chunk; i0 += kWideLoads) {
        uint4 raw[kWideLoads];
#pragma unroll
        for (int q = 0; q < kWideLoads; ++q) {
          const int i = i0 + q;
          const int j = i < chunk ? idx_s[i] : -1;
          if (in && j >= 0) {
            const T* row = j < h ? wd + static_cast<size_t>(j) * d : ed + static_cast<size_t>(j - h) * d;
            raw[q] = __ldg(reinterpret_cast<const uint4*>(row + c));
          } else {
            raw[q] = make_uint4(0u, 0u, 0u, 0u);
          }
        }
#pragma unroll
        for (int q = 0; q < kWideLoads; ++q) {
          const int i = i0 + q;
          if (i >= chunk) break;
          float w[W];
          UnpackAs<T>(raw[q], w);
#pragma unroll
          for (int r = 0; r < MB; ++r) {
            if (r >= m) break;
            const float hv = h_s[i * MB + r];
#pragma unroll
            for (int e = 0; e < W; ++e) acc[r][e] = fmaf(hv, w[e], acc[r][e]);
          }
        }
      }
      if (in) {
#pragma unroll
        for (int r = 0; r < MB; ++r) {
          if (r >= m) break;
          float* dst = out + static_cast<size_t>(r) * d + c;
#pragma unroll
          for (int e = 0; e < W; e += 4)
            *reinterpret_cast<float4*>(dst + e) = make_float4(acc[r][e], acc[r][e + 1], acc[r][e + 2], acc[r][e + 3]);
        }
      }
    }
    return;
  }
  constexpr int kLoads = 4;  // down rows in flight per thread
  for (int d0 = 0; d0 < d; d0 += kThreads * E) {
    const int c = d0 + tid * E;
    const bool in = c < d;
    float acc[MB][E];
#pragma unroll
    for (int r = 0; r < MB; ++r)
#pragma unroll
      for (int e = 0; e < E; ++e) acc[r][e] = 0.0f;
    for (int i0 = 0; i0 < chunk; i0 += kLoads) {
      float w[kLoads][E];
#pragma unroll
      for (int q = 0; q < kLoads; ++q) {
        const int i = i0 + q;
        const int j = i < chunk ? idx_s[i] : -1;
        if (in && j >= 0) {
          const T* row = j < h ? wd + static_cast<size_t>(j) * d : ed + static_cast<size_t>(j - h) * d;
          LoadRow<T, E>(row + c, w[q]);
        } else {
#pragma unroll
          for (int e = 0; e < E; ++e) w[q][e] = 0.0f;
        }
      }
#pragma unroll
      for (int q = 0; q < kLoads; ++q) {
        const int i = i0 + q;
        if (i >= chunk) break;
#pragma unroll
        for (int r = 0; r < MB; ++r) {
          if (r >= m) break;
          const float hv = h_s[i * MB + r];
#pragma unroll
          for (int e = 0; e < E; ++e) acc[r][e] = fmaf(hv, w[q][e], acc[r][e]);
        }
      }
    }
    if (in) {
#pragma unroll
      for (int r = 0; r < MB; ++r) {
        if (r >= m) break;
        float* dst = out + static_cast<size_t>(r) * d + c;
        if constexpr (E >= 4) {
#pragma unroll
          for (int e = 0; e < E; e += 4)
            *reinterpret_cast<float4*>(dst + e) = make_float4(acc[r][e], acc[r][e + 1], acc[r][e + 2], acc[r][e + 3]);
        } else {
          dst[0] = acc[r][0];
        }
      }
    }
  }
}

// y[i] = Σ_b partial[b][i], in block order.
__global__ void SumPartialsKernel(const float* __restrict__ partial, int blocks, int64_t n, float* __restrict__ y) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  float s = partial[i];
#pragma unroll 8
  for (int b = 1; b < blocks; ++b) s += partial[static_cast<size_t>(b) * n + i];
  y[i] = s;
}

// act(g) per row, masked by |act(g)| >= threshold; active neurons (any row) compacted per
// block of 256 in ascending order.
__global__ void __launch_bounds__(kCompactThreads)
ThresholdSelectKernel(const float* __restrict__ g, int m, int h, int act, float threshold, float* __restrict__ gate_act,
                      int32_t* __restrict__ list, int32_t* __restrict__ counts) {
  __shared__ int warp_counts[kCompactThreads / kWarpSize];
  const int tid = threadIdx.x, lane = tid % kWarpSize, warp = tid / kWarpSize;
  const int j = blockIdx.x * kCompactThreads + tid;
  bool keep_any = false;
  if (j < h) {
    for (int r = 0; r < m; ++r) {
      const float v = Act(g[static_cast<size_t>(r) * h + j], act);
      const bool keep = fabsf(v) >= threshold;
      gate_act[static_cast<size_t>(j) * m + r] = keep ? v : 0.0f;
      keep_any = keep_any || keep;
    }
  }
  const unsigned ballot = __ballot_sync(kFullMask, keep_any);
  if (lane == 0) warp_counts[warp] = __popc(ballot);
  __syncthreads();
  int offset = 0, total = 0;
#pragma unroll
  for (int w = 0; w < kCompactThreads / kWarpSize; ++w) {
    offset += w < warp ? warp_counts[w] : 0;
    total += warp_counts[w];
  }
  if (keep_any) list[blockIdx.x * kCompactThreads + offset + __popc(ballot & ((1u << lane) - 1u))] = j;
  if (tid == 0) counts[blockIdx.x] = total;
}

// ------------------------------------------------------------------ plan and launch

size_t AlignUp(size_t v) { return (v + 255) / 256 * 256; }

// The grid and the scratch layout. blocks_per_sm comes from the occupancy API for the kernel
// instance that will run (see ResolveFused): a guess could make the grid two waves, e.g. the
// element path runs the MB = 16 instance, whose __launch_bounds__(256, 1) allows one block per SM.
void LayOut(const SparseFfnArgs& a, int multiprocessors, int blocks_per_sm, SparseFfnPlan& p) {
  const int64_t max_items = (a.selection == CAPRESE_SPARSE_INDICES ? a.k : a.h) + a.r;
  // Streaming needs every SM busy (one SM alone pulls a small fraction of HBM bandwidth),
  // so the grid fills the GPU whenever there are >= kMinItemsPerBlock items per block, even
  // though each block adds M·D partial sums to write and read back (mostly L2 hits; at
  // high sparsity and M = 16 they approach the weight bytes: the knob to tune on a GPU).
  // At most kMaxChunk items per block.
  int64_t blocks = std::min<int64_t>(static_cast<int64_t>(blocks_per_sm) * multiprocessors,
                                     (max_items + kMinItemsPerBlock - 1) / kMinItemsPerBlock);
  blocks = std::max<int64_t>(blocks, (max_items + kMaxChunk - 1) / kMaxChunk);
  blocks = std::max<int64_t>(1, std::min<int64_t>(blocks, std::max<int64_t>(1, max_items)));
  p.blocks = static_cast<int>(blocks);
  size_t off = 0;
  if (p.blocks > 1) {
    p.off_partial = off;
    off = AlignUp(off + static_cast<size_t>(p.blocks) * a.m * a.d * sizeof(float));
  }
  if (a.selection == CAPRESE_SPARSE_THRESHOLD) {
    p.compact_blocks = static_cast<int>((a.h + kCompactThreads - 1) / kCompactThreads);
    p.off_gate = off;
    off = AlignUp(off + static_cast<size_t>(a.m * a.h) * sizeof(float));
    p.off_act = off;
    off = AlignUp(off + static_cast<size_t>(a.m * a.h) * sizeof(float));
    p.off_list = off;
    off = AlignUp(off + static_cast<size_t>(p.compact_blocks) * kCompactThreads * sizeof(int32_t));
    p.off_counts = off;
    off = AlignUp(off + static_cast<size_t>(p.compact_blocks) * sizeof(int32_t));
  }
  p.scratch_bytes = off;
}

// Shared memory for the x tile. Small tiles cost a barrier pair and a pipeline drain every
// few loads per lane (at M = 16 the 48 KiB default leaves 384 floats per row), so the tile
// may use the device's opt-in limit, split between the blocks we aim to put on one SM (two
// below M = 8, where the register budget allows it; one above).
template <int MB>
constexpr int StaticSmemBytes() {
  return static_cast<int>(sizeof(int)) * (kMaxChunk + kMaxChunk * MB + kMaxCompactBlocks + 1);
}

int TargetBlocksPerSm(int m) { return m >= 8 ? 1 : 2; }

// The device's opt-in shared memory per block, queried once per device ordinal (0: not yet).
int OptinSmemBytes(int device) {
  static std::atomic<int> cached[kMaxDevices] = {};
  if (device >= 0 && device < kMaxDevices) {
    const int known = cached[device].load(std::memory_order_acquire);
    if (known > 0) return known;
  }
  int optin = 0;
  if (cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess || optin <= 0) {
    cudaGetLastError();
    return 0;
  }
  if (device >= 0 && device < kMaxDevices) cached[device].store(optin, std::memory_order_release);
  return optin;
}

int XTileBudgetBytes(int m, int static_bytes) {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) {
    cudaGetLastError();
    return kXSmemBytes;
  }
  const int optin = OptinSmemBytes(device);
  if (optin <= 0) return kXSmemBytes;
  const int room = optin / TargetBlocksPerSm(m) - static_bytes - 1024;
  return std::max(kXSmemBytes, std::min(kXSmemMaxBytes, room));
}

// The dynamic shared-memory limit each kernel was raised to, per device. One table per
// kernel (not per launcher: the vector and element paths are different kernels and each
// needs its own cudaFuncSetAttribute), atomic because host threads launch concurrently.
template <typename T, int MB, bool kGate, bool kVec, bool kWide>
std::atomic<int>* AllowedSmemTable() {
  static std::atomic<int> allowed[kMaxDevices] = {};
  return allowed;
}

cudaError_t AllowSmem(void (*kernel)(FusedParams), std::atomic<int>* allowed, size_t bytes) {
  if (bytes <= static_cast<size_t>(kXSmemBytes)) return cudaSuccess;  // within the default 48 KiB
  int device = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) return err;
  if (device < kMaxDevices && static_cast<size_t>(allowed[device].load(std::memory_order_acquire)) >= bytes)
    return cudaSuccess;
  err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
  if (err != cudaSuccess || device >= kMaxDevices) return err;
  // Keep the largest size raised so far (two threads may raise different sizes).
  int seen = allowed[device].load(std::memory_order_relaxed);
  while (seen < static_cast<int>(bytes) &&
         !allowed[device].compare_exchange_weak(seen, static_cast<int>(bytes), std::memory_order_release)) {
  }
  return cudaSuccess;
}

// Resident blocks per SM of (kernel, 256 threads, dynamic shared memory) on the current
// device: the occupancy API's answer, asked once per kernel, size and device and kept for
// the process (a decode step plans ~32 sparse FFN calls per token with the same few keys).
cudaError_t CachedBlocksPerSm(const void* kernel, size_t smem, int* fit) {
  int device = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) return err;
  using Key = std::tuple<const void*, size_t, int>;
  static std::mutex mu;
  static std::map<Key, int> cache;
  const Key key{kernel, smem, device};
  {
    std::lock_guard<std::mutex> lock(mu);
    const auto it = cache.find(key);
    if (it != cache.end()) {
      *fit = it->second;
      return cudaSuccess;
    }
  }
  err = cudaOccupancyMaxActiveBlocksPerMultiprocessor(fit, reinterpret_cast<void (*)(FusedParams)>(kernel), kThreads,
                                                      smem);
  if (err != cudaSuccess) return err;
  std::lock_guard<std::mutex> lock(mu);
  if (cache.size() >= 4096) cache.clear();  // shapes without end (a sweep): stay bounded
  cache.emplace(key, *fit);
  return cudaSuccess;
}

// The fused kernel instance a call runs and its x tile (into *plan), and how many of its
// blocks to put on one SM.
template <typename T, int MB, bool kGate>
cudaError_t ResolveFusedFor(int m, int d, bool vec, bool wide, SparseFfnPlan* plan, int* blocks_per_sm) {
  constexpr int kElems = Pack16<T>::kElems;
  // Odd D or unaligned views take the element path: correctness over speed, one instance.
  void (*kernel)(FusedParams) = !vec   ? FusedKernel<T, kMaxRows, kGate, false, false>
                                : wide ? FusedKernel<T, MB, kGate, true, true>
                                       : FusedKernel<T, MB, kGate, true, false>;
  std::atomic<int>* allowed = !vec   ? AllowedSmemTable<T, kMaxRows, kGate, false, false>()
                              : wide ? AllowedSmemTable<T, MB, kGate, true, true>()
                                     : AllowedSmemTable<T, MB, kGate, true, false>();
  const int quantum = vec ? kElems : 1;
  const int static_bytes = vec ? StaticSmemBytes<MB>() : StaticSmemBytes<kMaxRows>();
  const int budget = XTileBudgetBytes(m, static_bytes) / (m * static_cast<int>(sizeof(float)));  // floats per row
  const int padded = (d + quantum - 1) / quantum * quantum;
  plan->kernel = reinterpret_cast<const void*>(kernel);
  plan->ks = padded <= budget ? padded : budget / quantum * quantum;
  plan->k_tile = padded <= budget ? d : plan->ks;
  plan->smem = static_cast<size_t>(m) * plan->ks * sizeof(float);
  cudaError_t err = AllowSmem(kernel, allowed, plan->smem);
  if (err != cudaSuccess) return err;
  // After AllowSmem: the occupancy API counts a request over the kernel's limit as 0 blocks.
  int fit = 0;
  err = CachedBlocksPerSm(reinterpret_cast<const void*>(kernel), plan->smem, &fit);
  if (err != cudaSuccess) return err;
  if (fit < 1) return kShapeNotSupported;  // cannot be resident at all: a shape we do not serve
  // Aim for the blocks per SM the x tile was sized for (more would only add partial sums),
  // fewer where the instance's registers or shared memory do not allow them.
  *blocks_per_sm = std::min(fit, TargetBlocksPerSm(m));
  return cudaSuccess;
}

template <typename T, bool kGate>
cudaError_t ResolveForRows(int m, int d, bool vec, bool wide, SparseFfnPlan* plan, int* blocks_per_sm) {
  if (m <= 1) return ResolveFusedFor<T, 1, kGate>(m, d, vec, wide, plan, blocks_per_sm);
  if (m <= 2) return ResolveFusedFor<T, 2, kGate>(m, d, vec, wide, plan, blocks_per_sm);
  if (m <= 4) return ResolveFusedFor<T, 4, kGate>(m, d, vec, wide, plan, blocks_per_sm);
  if (m <= 8) return ResolveFusedFor<T, 8, kGate>(m, d, vec, wide, plan, blocks_per_sm);
  return ResolveFusedFor<T, 16, kGate>(m, d, vec, wide, plan, blocks_per_sm);
}

template <typename T>
bool UsesVectorPath(const SparseFfnArgs& a) {
  // y must be aligned too, although with several blocks the kernel writes scratch instead:
  // the choice then does not depend on the block count, which depends on the choice.
  return a.d % Pack16<T>::kElems == 0 && IsAligned(a.x, 16) && IsAligned(a.w_gate, 16) && IsAligned(a.w_up, 16) &&
         IsAligned(a.w_down_t, 16) && IsAligned(a.extra_up, 16) && IsAligned(a.extra_down, 16) && IsAligned(a.y, 16);
}

template <typename T>
cudaError_t ResolveTyped(const SparseFfnArgs& a, bool wide, SparseFfnPlan* plan, int* blocks_per_sm) {
  const bool vec = UsesVectorPath<T>(a);
  const int m = static_cast<int>(a.m), d = static_cast<int>(a.d);
  return a.selection == CAPRESE_SPARSE_THRESHOLD ? ResolveForRows<T, false>(m, d, vec, wide, plan, blocks_per_sm)
                                                 : ResolveForRows<T, true>(m, d, vec, wide, plan, blocks_per_sm);
}

cudaError_t ResolveFused(const SparseFfnArgs& a, bool wide, SparseFfnPlan* plan, int* blocks_per_sm) {
  if (a.m < 1 || a.m > kMaxRows || a.h + a.r > INT32_MAX / 2 || a.d > INT32_MAX / 2 || a.k > INT32_MAX / 2)
    return kShapeNotSupported;
  if (a.selection == CAPRESE_SPARSE_THRESHOLD && (a.h + kCompactThreads - 1) / kCompactThreads > kMaxCompactBlocks)
    return kShapeNotSupported;
  switch (a.w_dtype) {
    case CAPRESE_DTYPE_F32: return ResolveTyped<float>(a, wide, plan, blocks_per_sm);
    case CAPRESE_DTYPE_F16: return ResolveTyped<__half>(a, wide, plan, blocks_per_sm);
    case CAPRESE_DTYPE_BF16: return ResolveTyped<__nv_bfloat16>(a, wide, plan, blocks_per_sm);
    default: return kShapeNotSupported;
  }
}

template <int V, int Q>
const void* ReduceInstance() {
  return reinterpret_cast<const void*>(ReducePartialsKernel<V, Q>);
}

template <int V>
const void* ReduceInstanceFor(int q) {
  switch (q) {
    case 1: return ReduceInstance<V, 1>();
    case 2: return ReduceInstance<V, 2>();
    case 4: return ReduceInstance<V, 4>();
    case 8: return ReduceInstance<V, 8>();
    case 16: return ReduceInstance<V, 16>();
    default: return ReduceInstance<V, 32>();
  }
}

// The parallel reduction's instance and grid: 16-byte words where M·D is a multiple of 4
// and y is 16-byte aligned (the partials always are: scratch rows of M·D floats from a
// 256-byte aligned base), else single floats.
void PlanReduce(const SparseFfnArgs& a, int multiprocessors, SparseFfnPlan* plan) {
  const int64_t n = a.m * a.d;
  const int v = n % 4 == 0 && IsAligned(a.y, 16) ? 4 : 1;
  const int64_t words = n / v;
  const int q = sparse_ffn::ReduceWordsPerBlock(words, plan->blocks, multiprocessors);
  plan->reduce_kernel = v == 4 ? ReduceInstanceFor<4>(q) : ReduceInstanceFor<1>(q);
  plan->reduce_words = words;
  plan->reduce_blocks = CeilDiv(words, q);
}

}  // namespace

const char* SparseFfnVariantName(SparseFfnVariant v) { return Traits(v).name; }

bool SparseFfnVariantFromEnv(SparseFfnVariant* out) {
  const char* env = std::getenv("CAPRESE_SPARSE_FFN_VARIANT");
  if (env == nullptr || env[0] == '\0') {
    *out = kDefaultVariant;
    return true;
  }
  for (const VariantTraits& t : kVariants) {
    if (std::strcmp(env, t.name) == 0) {
      *out = t.id;
      return true;
    }
  }
  return false;
}

cudaError_t PlanSparseFfn(const SparseFfnArgs& a, int multiprocessors, SparseFfnPlan* plan) {
  SparseFfnVariant v;
  if (!SparseFfnVariantFromEnv(&v)) {
    // Loudly, once per process, and the call fails: a typo must not time the wrong kernel.
    static std::atomic<bool> said{false};
    if (!said.exchange(true)) {
      std::fprintf(stderr, "caprese: CAPRESE_SPARSE_FFN_VARIANT=%s is not a sparse FFN variant (one of:",
                   std::getenv("CAPRESE_SPARSE_FFN_VARIANT"));
      for (const VariantTraits& t : kVariants) std::fprintf(stderr, " %s", t.name);
      std::fprintf(stderr, "; unset for %s)\n", Traits(kDefaultVariant).name);
    }
    *plan = SparseFfnPlan{};
    return cudaErrorInvalidValue;
  }
  return PlanSparseFfnVariant(a, multiprocessors, v, plan);
}

cudaError_t PlanSparseFfnVariant(const SparseFfnArgs& a, int multiprocessors, SparseFfnVariant variant,
                                 SparseFfnPlan* plan) {
  *plan = SparseFfnPlan{};
  const VariantTraits& traits = Traits(variant);
  plan->variant = traits.id;
  int blocks_per_sm = 0;
  const cudaError_t err = ResolveFused(a, traits.wide_phase2, plan, &blocks_per_sm);
  if (err != cudaSuccess) return err;
  LayOut(a, multiprocessors, blocks_per_sm, *plan);
  if (plan->blocks > 1 && traits.tree_reduce) PlanReduce(a, multiprocessors, plan);
  return cudaSuccess;
}

cudaError_t LaunchSparseFfn(const SparseFfnArgs& a, const SparseFfnPlan& plan, void* scratch_base, int* error_flag,
                            cudaStream_t stream) {
  char* scratch = static_cast<char*>(scratch_base);
  FusedParams fp{};
  fp.x = a.x;
  fp.wg = a.w_gate;
  fp.wu = a.w_up;
  fp.wd = a.w_down_t;
  fp.eu = a.extra_up;
  fp.ed = a.extra_down;
  fp.indices = a.indices;
  fp.error_flag = error_flag;
  fp.m = static_cast<int>(a.m);
  fp.d = static_cast<int>(a.d);
  fp.h = static_cast<int>(a.h);
  fp.k = static_cast<int>(a.k);
  fp.r = static_cast<int>(a.r);
  fp.selection = a.selection;
  fp.act = a.act;
  fp.out = plan.blocks > 1 ? reinterpret_cast<float*>(scratch + plan.off_partial) : a.y;
  fp.ks = plan.ks;
  fp.k_tile = plan.k_tile;

  cudaError_t err;
  if (a.selection == CAPRESE_SPARSE_THRESHOLD) {
    float* g = reinterpret_cast<float*>(scratch + plan.off_gate);
    float* gate_act = reinterpret_cast<float*>(scratch + plan.off_act);
    int32_t* list = reinterpret_cast<int32_t*>(scratch + plan.off_list);
    int32_t* counts = reinterpret_cast<int32_t*>(scratch + plan.off_counts);
    MatmulArgs gate{a.x, a.w_gate, a.w_dtype, nullptr, g, a.m, a.h, a.d};
    if ((err = LaunchGemv(gate, stream)) != cudaSuccess) return err;
    CAPRESE_LAUNCH(ThresholdSelectKernel, plan.compact_blocks, kCompactThreads, 0, stream, g, fp.m, fp.h, a.act, a.threshold,
                                                                             gate_act, list, counts);
    if ((err = cudaGetLastError()) != cudaSuccess) return err;
    fp.list = list;
    fp.counts = counts;
    fp.gate_act = gate_act;
    fp.compact_blocks = plan.compact_blocks;
  }
  const auto kernel = reinterpret_cast<void (*)(FusedParams)>(plan.kernel);
  CAPRESE_LAUNCH(kernel, plan.blocks, kThreads, plan.smem, stream, fp);
  if ((err = cudaGetLastError()) != cudaSuccess || plan.blocks == 1) return err;
  if (plan.reduce_kernel != nullptr) {
    const auto reduce = reinterpret_cast<void (*)(const float*, int, int64_t, float*)>(plan.reduce_kernel);
    CAPRESE_LAUNCH(reduce, plan.reduce_blocks, kReduceThreads, 0, stream, fp.out, plan.blocks, plan.reduce_words, a.y);
    return cudaGetLastError();
  }
  const int64_t n = a.m * a.d;
  CAPRESE_LAUNCH(SumPartialsKernel, CeilDiv(n, 256), 256, 0, stream, fp.out, plan.blocks, n, a.y);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace caprese
