// Gradients of causal grouped-query attention (attention.cu), recomputing the softmax; the
// math is in cpu/attention_backward.cpp. Two kernels, both deterministic (no atomics):
//
//  1. RowKernel: one block (kWarps warps) per (query row, query head). The lanes hold q and
//     dout (hd/32 values each). Pass A: the warps take every kWarps-th visible key, score it
//     (warp-shuffle dot), form dP_j = dout·v_j and keep an online softmax (running max, sum
//     and Σ e^(c-max) dP); the warps merge through shared memory into lse and D = dout·out.
//     Pass B: the keys again, ds_j = P_j (dP_j - D) (· (1 - (c_j/cap)²) with softcap),
//     dq += ds_j k_j per warp, merged through shared memory. lse and D go to scratch.
//  2. KeyKernel: one warp per (kv head, cache row j < pos0 + M); a block holds kWarps
//     consecutive rows of one kv head, so the query rows they all read come from L1/L2 once.
//     The warp keeps k_j, v_j and the dk, dv accumulators in registers and walks the query
//     rows that see j and the heads of the group: P = exp(c - lse), dv += P dout,
//     dk += scale ds q. Rows seen by nobody get zeros; rows >= pos0 + M are not touched.
#include "cuda/cuda_common.cuh"
#include "cuda/kernels.h"

namespace caprese {
namespace cuda {
namespace {

constexpr int kWarps = 4;

struct Params {
  const float* q;
  const float* k;
  const float* v;
  const float* dout;
  float* dq;
  float* dk;
  float* dv;
  float* lse;   // [M * Hq] scratch
  float* dsum;  // [M * Hq] scratch
  int m, hq, hkv, hd, pos0, window, rows;
  float scale, softcap;
};

__device__ __forceinline__ float Capped(const Params& p, float s) {
  return p.softcap > 0.0f ? p.softcap * tanhf(s / p.softcap) : s;
}
__device__ __forceinline__ float CapGrad(const Params& p, float c) {
  if (p.softcap <= 0.0f) return 1.0f;
  const float t = c / p.softcap;
  return 1.0f - t * t;
}

template <int DPL>
__global__ void __launch_bounds__(kWarps * kWarpSize) RowKernel(Params p) {
  const int64_t row = blockIdx.x;  // m * hq + h
  const int m = static_cast<int>(row / p.hq), h = static_cast<int>(row % p.hq);
  const int kvh = h / (p.hq / p.hkv);
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int64_t kv_stride = static_cast<int64_t>(p.hkv) * p.hd;
  const int hi = p.pos0 + m;
  const int lo = p.window > 0 ? max(0, hi - p.window + 1) : 0;

  float q[DPL], go[DPL];
#pragma unroll
  for (int i = 0; i < DPL; ++i) {
    const int d = lane + i * kWarpSize;
    q[i] = d < p.hd ? p.q[row * p.hd + d] : 0.0f;
    go[i] = d < p.hd ? p.dout[row * p.hd + d] : 0.0f;
  }
  const float* kbase = p.k + static_cast<int64_t>(kvh) * p.hd;
  const float* vbase = p.v + static_cast<int64_t>(kvh) * p.hd;

  // Pass A: online softmax statistics and Σ P dP.
  float run_max = -INFINITY, run_sum = 0.0f, run_dd = 0.0f;
  for (int j = lo + warp; j <= hi; j += kWarps) {
    float sd = 0.0f, vd = 0.0f;
#pragma unroll
    for (int i = 0; i < DPL; ++i) {
      const int d = lane + i * kWarpSize;
      if (d < p.hd) {
        sd = fmaf(q[i], kbase[j * kv_stride + d], sd);
        vd = fmaf(go[i], vbase[j * kv_stride + d], vd);
      }
    }
    const float c = Capped(p, WarpSum(sd) * p.scale);
    const float dp = WarpSum(vd);
    const float new_max = fmaxf(run_max, c);
    const float corr = expf(run_max - new_max);  // 0 on the first key
    const float w = expf(c - new_max);
    run_sum = run_sum * corr + w;
    run_dd = run_dd * corr + w * dp;
    run_max = new_max;
  }
  __shared__ float s_max[kWarps], s_sum[kWarps], s_dd[kWarps];
  __shared__ float s_dq[kWarps][DPL * kWarpSize];
  if (lane == 0) {
    s_max[warp] = run_max;
    s_sum[warp] = run_sum;
    s_dd[warp] = run_dd;
  }
  __syncthreads();
  float gmax = -INFINITY;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) gmax = fmaxf(gmax, s_max[w]);
  float sum = 0.0f, dd = 0.0f;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) {
    const float f = s_max[w] == -INFINITY ? 0.0f : expf(s_max[w] - gmax);  // a warp without keys adds 0
    sum += s_sum[w] * f;
    dd += s_dd[w] * f;
  }
  const float lse = gmax + logf(sum);  // >= 1 key is always visible
  const float dsum = dd / sum;

  // Pass B: dq = scale Σ ds_j k_j.
  float acc[DPL];
#pragma unroll
  for (int i = 0; i < DPL; ++i) acc[i] = 0.0f;
  for (int j = lo + warp; j <= hi; j += kWarps) {
    float kr[DPL], sd = 0.0f, vd = 0.0f;
#pragma unroll
    for (int i = 0; i < DPL; ++i) {
      const int d = lane + i * kWarpSize;
      kr[i] = d < p.hd ? kbase[j * kv_stride + d] : 0.0f;
      sd = fmaf(q[i], kr[i], sd);
      if (d < p.hd) vd = fmaf(go[i], vbase[j * kv_stride + d], vd);
    }
    const float c = Capped(p, WarpSum(sd) * p.scale);
    const float dp = WarpSum(vd);
    const float ds = expf(c - lse) * (dp - dsum) * CapGrad(p, c);
#pragma unroll
    for (int i = 0; i < DPL; ++i) acc[i] = fmaf(ds, kr[i], acc[i]);
  }
#pragma unroll
  for (int i = 0; i < DPL; ++i) s_dq[warp][lane + i * kWarpSize] = acc[i];
  __syncthreads();
  for (int d = threadIdx.x; d < p.hd; d += blockDim.x) {
    float o = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) o += s_dq[w][d];
    p.dq[row * p.hd + d] = o * p.scale;
  }
  if (threadIdx.x == 0) {
    p.lse[row] = lse;
    p.dsum[row] = dsum;
  }
}

template <int DPL>
__global__ void __launch_bounds__(kWarps * kWarpSize) KeyKernel(Params p) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int j = blockIdx.x * kWarps + warp;  // cache row
  const int kvh = blockIdx.y;
  if (j >= p.rows) return;  // no block-wide barrier below, so whole warps may leave
  const int group = p.hq / p.hkv;
  const int64_t kv_off = (static_cast<int64_t>(j) * p.hkv + kvh) * p.hd;

  float kr[DPL], vr[DPL], dk[DPL], dv[DPL];
#pragma unroll
  for (int i = 0; i < DPL; ++i) {
    const int d = lane + i * kWarpSize;
    kr[i] = d < p.hd ? p.k[kv_off + d] : 0.0f;
    vr[i] = d < p.hd ? p.v[kv_off + d] : 0.0f;
    dk[i] = 0.0f;
    dv[i] = 0.0f;
  }
  // Query rows that see key j: pos0 + m >= j, and with a window pos0 + m - window + 1 <= j.
  // (64-bit: j + window may exceed INT32_MAX.)
  const int m_lo = max(0, j - p.pos0);
  const int m_hi = p.window > 0
                       ? static_cast<int>(min(static_cast<long long>(p.m - 1),
                                              static_cast<long long>(j) + p.window - 1 - p.pos0))
                       : p.m - 1;
  for (int m = m_lo; m <= m_hi; ++m) {
    for (int h = kvh * group; h < (kvh + 1) * group; ++h) {
      const int64_t row = static_cast<int64_t>(m) * p.hq + h;
      const float* qr = p.q + row * p.hd;
      const float* gr = p.dout + row * p.hd;
      float qv[DPL], gv[DPL], sd = 0.0f, vd = 0.0f;
#pragma unroll
      for (int i = 0; i < DPL; ++i) {
        const int d = lane + i * kWarpSize;
        qv[i] = d < p.hd ? qr[d] : 0.0f;
        gv[i] = d < p.hd ? gr[d] : 0.0f;
        sd = fmaf(qv[i], kr[i], sd);
        vd = fmaf(gv[i], vr[i], vd);
      }
      const float c = Capped(p, WarpSum(sd) * p.scale);
      const float dp = WarpSum(vd);
      const float pj = expf(c - p.lse[row]);
      const float ds = pj * (dp - p.dsum[row]) * CapGrad(p, c) * p.scale;
#pragma unroll
      for (int i = 0; i < DPL; ++i) {
        dv[i] = fmaf(pj, gv[i], dv[i]);
        dk[i] = fmaf(ds, qv[i], dk[i]);
      }
    }
  }
#pragma unroll
  for (int i = 0; i < DPL; ++i) {
    const int d = lane + i * kWarpSize;
    if (d < p.hd) {
      p.dk[kv_off + d] = dk[i];
      p.dv[kv_off + d] = dv[i];
    }
  }
}

int DimsPerLane(int64_t hd) { return hd <= 32 ? 1 : hd <= 64 ? 2 : hd <= 128 ? 4 : 8; }

template <int DPL>
cudaError_t LaunchBoth(const Params& p, cudaStream_t stream) {
  CAPRESE_LAUNCH(RowKernel<DPL>, static_cast<unsigned>(static_cast<int64_t>(p.m) * p.hq), kWarps * kWarpSize, 0, stream, p);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  const dim3 grid(static_cast<unsigned>((p.rows + kWarps - 1) / kWarps), static_cast<unsigned>(p.hkv));
  CAPRESE_LAUNCH(KeyKernel<DPL>, grid, kWarps * kWarpSize, 0, stream, p);
  return cudaGetLastError();
}

}  // namespace

size_t AttentionBackwardScratchBytes(const AttentionBackwardArgs& a) {
  return static_cast<size_t>(a.m * a.q_heads) * 2 * sizeof(float);
}

cudaError_t LaunchAttentionBackward(const AttentionBackwardArgs& a, void* scratch, cudaStream_t stream) {
  if (a.head_dim > kAttentionMaxHeadDim || a.m * a.q_heads > INT32_MAX || a.cache_len > INT32_MAX ||
      a.kv_heads > 65535)
    return kShapeNotSupported;
  Params p;
  p.q = a.q;
  p.k = a.k_cache;
  p.v = a.v_cache;
  p.dout = a.dout;
  p.dq = a.dq;
  p.dk = a.dk;
  p.dv = a.dv;
  p.lse = static_cast<float*>(scratch);
  p.dsum = p.lse + a.m * a.q_heads;
  p.m = static_cast<int>(a.m);
  p.hq = static_cast<int>(a.q_heads);
  p.hkv = static_cast<int>(a.kv_heads);
  p.hd = static_cast<int>(a.head_dim);
  p.pos0 = a.params.pos0;
  p.window = a.params.sliding_window;
  p.rows = static_cast<int>(a.params.pos0 + a.m);
  p.scale = a.params.scale;
  p.softcap = a.params.softcap;
  switch (DimsPerLane(a.head_dim)) {
    case 1: return LaunchBoth<1>(p, stream);
    case 2: return LaunchBoth<2>(p, stream);
    case 4: return LaunchBoth<4>(p, stream);
    default: return LaunchBoth<8>(p, stream);
  }
}

}  // namespace cuda
}  // namespace caprese
