// Causal grouped-query attention of q[M, Hq, hd] over a KV cache [S, Hkv, hd] (f32).
//
// Split-K ("flash decoding"): the keys visible to one query row are cut into `splits`
// contiguous chunks, one block each, so a single decode token still spreads over every SM.
// A block serves the query heads of one GQA group (up to 8), so each cache row is read
// once per group rather than once per query head. Inside a block each warp takes every
// kWarps-th group of 4 keys; the lanes hold the queries (hd/32 values each), a score is a
// warp-shuffle reduction, and the warp keeps an online softmax per head (running max,
// running sum, unnormalised output) so every key and value is read exactly once. Warps
// merge through shared memory; with splits > 1 each block writes (max, sum, output) per
// head to scratch and a small kernel merges the splits. Rows of a prefill chunk (M > 1)
// are separate blocks with their own causal range, so any M takes the same path.
#include "cuda/cuda_common.cuh"
#include "cuda/kernels.h"

namespace caprese {
namespace cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kKeysPerStep = 4;   // keys a warp scores together (independent loads/shuffles)
constexpr int kMinKeysPerWarp = 16;

struct Params {
  const float* q;
  const float* k;
  const float* v;
  float* out;
  float* part_o;   // [M, Hq, splits, hd] unnormalised outputs (splits > 1)
  float* part_ml;  // [M, Hq, splits, 2] running max and sum   (splits > 1)
  int hq, hkv, hd, pos0, window, splits;  // splits: the grid's (and the scratch layout's)
  float scale, softcap;
  // attention_at: the position is read here when the kernel runs; want_splits and rows let each
  // block work out the split count the by-value op picks at that position (SplitsFor).
  const int32_t* pos_device;
  int* error_flag;
  int want_splits, rows, cache_len;
  int layout_splits;  // stride of the partials in scratch: the grid's split count
};

// Split count for `visible` keys (the most any row sees) when ~2 waves want `want` splits:
// never fewer than kMinKeysPerWarp keys per warp, at least 1, at most 256. Host and device
// share it so the device-position op reproduces the by-value op's choice exactly.
__host__ __device__ __forceinline__ int SplitsFor(int64_t want, int64_t visible) {
  const int64_t cap = visible / (kWarps * kMinKeysPerWarp);
  int64_t splits = want < cap ? want : cap;
  if (splits < 1) splits = 1;
  return static_cast<int>(splits > 256 ? 256 : splits);
}

// The position and split count this launch runs at; false if a device position is out of
// range (flagged once, and the block does nothing).
__device__ __forceinline__ bool ResolvePosition(Params& p) {
  if (p.pos_device == nullptr) return true;
  const int pos = *p.pos_device;
  if (pos < 0 || static_cast<int64_t>(pos) + p.rows > p.cache_len) {
    if (blockIdx.x == 0 && blockIdx.y == 0 && blockIdx.z == 0 && threadIdx.x == 0) atomicExch(p.error_flag, 3);
    return false;
  }
  p.pos0 = pos;
  const int64_t last = static_cast<int64_t>(pos) + p.rows;  // keys seen by the last row
  const int64_t visible = p.window > 0 && p.window < last ? p.window : last;
  p.layout_splits = p.splits;
  p.splits = SplitsFor(p.want_splits, visible);
  return true;
}

// Keys row m may see: [lo, hi] (inclusive), causal and optionally windowed.
__device__ __forceinline__ void KeyRange(const Params& p, int m, int* lo, int* hi) {
  *hi = p.pos0 + m;
  *lo = p.window > 0 ? max(0, *hi - p.window + 1) : 0;
}

// One block serves up to G query heads that share a kv head (GQA), so each key and value
// row is loaded once for all of them instead of once per query head.
template <int DPL, int G>  // DPL: dims per lane (hd <= 32 * DPL); G: query heads per block
__global__ void __launch_bounds__(kWarps * kWarpSize) AttentionKernel(Params p) {
  if (!ResolvePosition(p) || static_cast<int>(blockIdx.z) >= p.splits) return;  // uniform per block
  const int group = p.hq / p.hkv;
  const int tiles = (group + G - 1) / G;  // blocks per kv head
  const int kvh = blockIdx.x / tiles;
  const int h0 = kvh * group + (blockIdx.x - kvh * tiles) * G;  // first query head here
  const int g = min(G, kvh * group + group - h0);                 // query heads here
  const int m = blockIdx.y, split = blockIdx.z;
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int64_t kv_stride = static_cast<int64_t>(p.hkv) * p.hd;

  int lo, hi;
  KeyRange(p, m, &lo, &hi);
  const int count = hi - lo + 1;
  const int chunk = (count + p.splits - 1) / p.splits;
  const int begin = lo + split * chunk;
  const int end = min(hi + 1, begin + chunk);

  // Queries, pre-multiplied by the scale, spread over the lanes; absent heads are zero.
  float q[G][DPL];
#pragma unroll
  for (int gi = 0; gi < G; ++gi) {
    const float* qrow = p.q + (static_cast<int64_t>(m) * p.hq + h0 + (gi < g ? gi : 0)) * p.hd;
#pragma unroll
    for (int i = 0; i < DPL; ++i) {
      const int d = lane + i * kWarpSize;
      q[gi][i] = gi < g && d < p.hd ? qrow[d] * p.scale : 0.0f;
    }
  }

  float run_max[G], run_sum[G], acc[G][DPL];
#pragma unroll
  for (int gi = 0; gi < G; ++gi) {
    run_max[gi] = -INFINITY;
    run_sum[gi] = 0.0f;
#pragma unroll
    for (int i = 0; i < DPL; ++i) acc[gi][i] = 0.0f;
  }

  const float* kbase = p.k + static_cast<int64_t>(kvh) * p.hd;
  const float* vbase = p.v + static_cast<int64_t>(kvh) * p.hd;
  for (int j0 = begin + warp * kKeysPerStep; j0 < end; j0 += kWarps * kKeysPerStep) {
    float s[kKeysPerStep][G];
#pragma unroll
    for (int u = 0; u < kKeysPerStep; ++u) {
      const int j = j0 + u;
      float kr[DPL];
#pragma unroll
      for (int i = 0; i < DPL; ++i) {
        const int d = lane + i * kWarpSize;
        kr[i] = j < end && d < p.hd ? kbase[j * kv_stride + d] : 0.0f;
      }
#pragma unroll
      for (int gi = 0; gi < G; ++gi) {
        float dot = 0.0f;
#pragma unroll
        for (int i = 0; i < DPL; ++i) dot = fmaf(q[gi][i], kr[i], dot);
        s[u][gi] = dot;
      }
    }
#pragma unroll
    for (int u = 0; u < kKeysPerStep; ++u)
#pragma unroll
      for (int gi = 0; gi < G; ++gi) s[u][gi] = WarpSum(s[u][gi]);
#pragma unroll
    for (int u = 0; u < kKeysPerStep; ++u) {
      const int j = j0 + u;
      if (j >= end) break;
      float vr[DPL];
#pragma unroll
      for (int i = 0; i < DPL; ++i) {
        const int d = lane + i * kWarpSize;
        vr[i] = d < p.hd ? vbase[j * kv_stride + d] : 0.0f;
      }
#pragma unroll
      for (int gi = 0; gi < G; ++gi) {
        if (gi >= g) break;
        float score = s[u][gi];
        if (p.softcap > 0.0f) score = p.softcap * tanhf(score / p.softcap);
        const float new_max = fmaxf(run_max[gi], score);
        const float corr = expf(run_max[gi] - new_max);  // 0 on the first key (run_max = -inf)
        const float w = expf(score - new_max);
        run_sum[gi] = run_sum[gi] * corr + w;
#pragma unroll
        for (int i = 0; i < DPL; ++i) acc[gi][i] = fmaf(w, vr[i], acc[gi][i] * corr);
        run_max[gi] = new_max;
      }
    }
  }

  // Merge the warps of the block, head by head.
  __shared__ float s_max[kWarps][G], s_sum[kWarps][G];
  __shared__ float s_acc[kWarps][G][DPL * kWarpSize];
#pragma unroll
  for (int gi = 0; gi < G; ++gi) {
    if (lane == 0) {
      s_max[warp][gi] = run_max[gi];
      s_sum[warp][gi] = run_sum[gi];
    }
#pragma unroll
    for (int i = 0; i < DPL; ++i) s_acc[warp][gi][lane + i * kWarpSize] = acc[gi][i];
  }
  __syncthreads();

  for (int gi = 0; gi < g; ++gi) {
    float block_max = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) block_max = fmaxf(block_max, s_max[w][gi]);
    float factor[kWarps], block_sum = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      // A warp that saw no key has max -inf: its weight is 0 (guarding -inf - -inf = NaN).
      factor[w] = s_max[w][gi] == -INFINITY ? 0.0f : expf(s_max[w][gi] - block_max);
      block_sum += s_sum[w][gi] * factor[w];
    }
    const int64_t head_row = static_cast<int64_t>(m) * p.hq + h0 + gi;
    if (p.splits == 1) {
      const float inv = 1.0f / block_sum;  // >= 1 key is always visible
      for (int d = threadIdx.x; d < p.hd; d += blockDim.x) {
        float o = 0.0f;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) o += s_acc[w][gi][d] * factor[w];
        p.out[head_row * p.hd + d] = o * inv;
      }
    } else {
      const int64_t slot = head_row * p.layout_splits + split;
      for (int d = threadIdx.x; d < p.hd; d += blockDim.x) {
        float o = 0.0f;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) o += s_acc[w][gi][d] * factor[w];
        p.part_o[slot * p.hd + d] = o;
      }
      if (threadIdx.x == 0) {
        p.part_ml[slot * 2] = block_max;
        p.part_ml[slot * 2 + 1] = block_sum;
      }
    }
  }
}

// Merges the splits of one (row, head): out = Σ o_s e^(m_s - M) / Σ l_s e^(m_s - M).
__global__ void CombineKernel(Params p) {
  if (!ResolvePosition(p) || p.splits == 1) return;  // one split: the main kernel wrote out
  const int64_t head_row = static_cast<int64_t>(blockIdx.y) * p.hq + blockIdx.x;
  const float* ml = p.part_ml + head_row * p.layout_splits * 2;
  float gmax = -INFINITY;
  for (int s = 0; s < p.splits; ++s) gmax = fmaxf(gmax, ml[2 * s]);
  float total = 0.0f;
  for (int s = 0; s < p.splits; ++s)
    if (ml[2 * s] != -INFINITY) total += ml[2 * s + 1] * expf(ml[2 * s] - gmax);
  const float inv = 1.0f / total;
  const float* po = p.part_o + head_row * p.layout_splits * p.hd;
  for (int d = threadIdx.x; d < p.hd; d += blockDim.x) {
    float o = 0.0f;
    for (int s = 0; s < p.splits; ++s)
      if (ml[2 * s] != -INFINITY) o += po[s * p.hd + d] * expf(ml[2 * s] - gmax);
    p.out[head_row * p.hd + d] = o * inv;
  }
}

int MaxVisibleKeys(const AttentionArgs& a) {
  const int64_t last = a.params.pos0 + a.m;  // keys seen by the last row
  const int64_t w = a.params.sliding_window;
  return static_cast<int>(w > 0 && w < last ? w : last);
}

int DimsPerLane(int64_t hd) { return hd <= 32 ? 1 : hd <= 64 ? 2 : hd <= 128 ? 4 : 8; }

// Query heads per block: the whole GQA group up to 8, and at most 32 / DPL so the queries
// and accumulators (2 * G * DPL floats per lane) stay in registers.
int GroupTile(const AttentionArgs& a) {
  const int64_t group = a.q_heads / a.kv_heads;
  const int cap = 32 / DimsPerLane(a.head_dim) < 8 ? 32 / DimsPerLane(a.head_dim) : 8;
  int g = 1;
  while (g < group && g < cap) g *= 2;
  return g;
}

int64_t BlocksPerSplit(const AttentionArgs& a) {
  const int64_t group = a.q_heads / a.kv_heads, g = GroupTile(a);
  return a.m * a.kv_heads * ((group + g - 1) / g);
}

// Returns kShapeNotSupported for a tile with no kernel instead of launching nothing and
// reporting success (the output would be left unwritten).
template <int DPL>
cudaError_t LaunchGroup(int g, dim3 grid, const Params& p, cudaStream_t stream) {
  const dim3 block(kWarps * kWarpSize);
  switch (g) {
    case 1: CAPRESE_LAUNCH(AttentionKernel<DPL, 1>, grid, block, 0, stream, p); break;
    case 2: CAPRESE_LAUNCH(AttentionKernel<DPL, 2>, grid, block, 0, stream, p); break;
    case 4: CAPRESE_LAUNCH(AttentionKernel<DPL, 4>, grid, block, 0, stream, p); break;
    case 8:
      // GroupTile never picks 8 heads when DPL = 8 (register budget), so no such kernel.
      if constexpr (DPL * 8 <= 32) {
        CAPRESE_LAUNCH(AttentionKernel<DPL, 8>, grid, block, 0, stream, p);
        break;
      } else {
        return kShapeNotSupported;
      }
    default: return kShapeNotSupported;
  }
  return cudaSuccess;
}

}  // namespace

// ~2 waves of blocks over the device.
int64_t WantSplits(const AttentionArgs& a, int multiprocessors) {
  const int64_t blocks = BlocksPerSplit(a);
  return (2LL * multiprocessors + blocks - 1) / blocks;
}

int AttentionSplits(const AttentionArgs& a, int multiprocessors) {
  if (a.pos_device == nullptr) return SplitsFor(WantSplits(a, multiprocessors), MaxVisibleKeys(a));
  AttentionArgs last = a;  // the grid for the largest position the cache allows
  last.params.pos0 = static_cast<int32_t>(a.cache_len - a.m);
  return SplitsFor(WantSplits(a, multiprocessors), MaxVisibleKeys(last));
}

size_t AttentionScratchBytes(const AttentionArgs& a, int splits) {
  if (splits <= 1) return 0;
  return static_cast<size_t>(a.m * a.q_heads) * splits * (a.head_dim + 2) * sizeof(float);
}

cudaError_t LaunchAttention(const AttentionArgs& a, int splits, void* scratch, int multiprocessors, int* error_flag,
                            cudaStream_t stream) {
  if (a.head_dim > kAttentionMaxHeadDim || a.m > 65535 || a.q_heads > INT32_MAX ||
      a.cache_len > INT32_MAX || splits < 1 || splits > 65535)
    return kShapeNotSupported;
  Params p;
  p.q = a.q;
  p.k = a.k_cache;
  p.v = a.v_cache;
  p.out = a.out;
  p.part_o = static_cast<float*>(scratch);
  p.part_ml = splits > 1 ? p.part_o + static_cast<size_t>(a.m * a.q_heads) * splits * a.head_dim : nullptr;
  p.hq = static_cast<int>(a.q_heads);
  p.hkv = static_cast<int>(a.kv_heads);
  p.hd = static_cast<int>(a.head_dim);
  p.pos0 = a.params.pos0;
  p.window = a.params.sliding_window;
  p.splits = splits;
  p.scale = a.params.scale;
  p.softcap = a.params.softcap;
  p.pos_device = a.pos_device;
  p.error_flag = error_flag;
  p.want_splits = static_cast<int>(WantSplits(a, multiprocessors) > 65535 ? 65535 : WantSplits(a, multiprocessors));
  p.rows = static_cast<int>(a.m);
  p.cache_len = static_cast<int>(a.cache_len);
  p.layout_splits = splits;
  const int g = GroupTile(a);
  const int64_t tiles = (a.q_heads / a.kv_heads + g - 1) / g;
  const dim3 grid(static_cast<unsigned>(a.kv_heads * tiles), static_cast<unsigned>(a.m), static_cast<unsigned>(splits));
  cudaError_t err;
  switch (DimsPerLane(a.head_dim)) {
    case 1: err = LaunchGroup<1>(g, grid, p, stream); break;
    case 2: err = LaunchGroup<2>(g, grid, p, stream); break;
    case 4: err = LaunchGroup<4>(g, grid, p, stream); break;
    default: err = LaunchGroup<8>(g, grid, p, stream); break;
  }
  if (err != cudaSuccess) return err;
  err = cudaGetLastError();
  if (err != cudaSuccess || splits == 1) return err;
  CAPRESE_LAUNCH(CombineKernel, dim3(static_cast<unsigned>(a.q_heads), static_cast<unsigned>(a.m)), 128, 0, stream, p);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace caprese
