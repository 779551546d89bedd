// Decode-path matmul y[M,N] = x[M,K] · w[N,K]ᵀ (+ bias) for M <= 16.
//
// At decode the weights dominate the traffic (x is a few KiB), so the kernel streams w
// from HBM exactly once whatever M is:
//  - a warp owns kRows consecutive output rows; its lanes walk them with 16-byte loads,
//    several in flight per lane, and each loaded weight is multiplied into all M rows of x;
//  - the block stages x tile by tile in shared memory (f32, so activations keep their
//    precision). A weight is used M times from registers and each x value kRows times,
//    which keeps shared-memory traffic and FMA issue under the HBM stream up to M = 16;
//  - for 16-bit weights a lane needs 8 consecutive x values (32 bytes), which would make
//    every 16-byte shared load a 2-way bank conflict; the tile is therefore stored
//    permuted so that the lanes of a warp read consecutive 16-byte words.
// Partial sums are reduced with warp shuffles. When K or a base pointer does not allow
// 16-byte loads the same kernel runs with element loads.
#include "cuda/kernels.h"
#include "cuda/weight_loads.cuh"

namespace caprese {
namespace cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * kWarpSize;
constexpr int kSmemBytes = 48 * 1024;  // x tile budget: no opt-in needed on any arch

// Rows per warp grow with M so each x value read from shared memory feeds more FMAs;
// loads in flight per lane stay at 4-8 (kRows * kUnroll) to cover HBM latency.
template <int MB>
struct GemvConfig {
  static constexpr int kRows = MB >= 8 ? 4 : (MB >= 4 ? 2 : 1);
  static constexpr int kUnroll = MB >= 4 ? 2 : 4;
  // M = 16 holds 64 accumulators plus 8 loads per lane: let it use up to 255 registers
  // (one block per SM, 8 warps, 32 KiB in flight) rather than spill.
  static constexpr int kMinBlocks = MB >= 16 ? 1 : 2;
};

template <typename T, int MB, bool kVec>
__global__ void __launch_bounds__(kThreads, GemvConfig<MB>::kMinBlocks)
GemvKernel(const float* __restrict__ x, const T* __restrict__ w, const float* __restrict__ bias,
           float* __restrict__ y, int m, int n, int k, int k_tile, int ks) {
  constexpr int R = GemvConfig<MB>::kRows;
  constexpr int U = GemvConfig<MB>::kUnroll;
  constexpr int kElems = kVec ? Pack16<T>::kElems : 1;  // weights per load
  constexpr int C = kVec ? kElems / 4 : 1;               // float4 words of x per load
  CAPRESE_DYNAMIC_SHARED(float4, smem_raw);
  float* xs = reinterpret_cast<float*>(smem_raw);  // [m][ks]
  const float4* xs4 = smem_raw;
  const int ks4 = ks / 4;

  const int lane = threadIdx.x % kWarpSize;
  const int row0 = (blockIdx.x * kWarps + threadIdx.x / kWarpSize) * R;
  const bool any = row0 < n;
  const T* wrow[R];
  bool valid[R];
#pragma unroll
  for (int i = 0; i < R; ++i) {
    valid[i] = row0 + i < n;
    wrow[i] = w + static_cast<size_t>(valid[i] ? row0 + i : 0) * k;
  }

  float acc[R][MB];
#pragma unroll
  for (int i = 0; i < R; ++i)
#pragma unroll
    for (int r = 0; r < MB; ++r) acc[i][r] = 0.0f;

  for (int k0 = 0; k0 < k; k0 += k_tile) {
    const int kt = min(k_tile, k - k0);
    // Vector path: the first weights of this tile are requested before the barriers and
    // the x staging, so HBM latency overlaps them; later steps are double-buffered.
    const int nvec = kt / kElems;
    uint4 raw[U][R];  // unused (and optimised away) on the element path
    auto load_step = [&](int v0) {
#pragma unroll
      for (int u = 0; u < U; ++u) LoadWeightWords<T, R>(wrow, valid, k0, v0 + u * kWarpSize, nvec, raw[u]);
    };
    if constexpr (kVec) {
      if (any) load_step(lane);
    }
    __syncthreads();  // every warp is done with the previous tile
    // Vector path: x is stored permuted so lane l reads word l of each part (weight_loads.cuh).
    if constexpr (kVec)
      StageXWords<kThreads, C>(x, k, k0, kt, m, xs, ks);
    else
      StageXElems<kThreads>(x, k, k0, kt, m, xs, ks);
    __syncthreads();
    if (!any) continue;

    if constexpr (kVec) {
      for (int v0 = lane; v0 < nvec; v0 += kWarpSize * U) {
        uint4 cur[U][R];
#pragma unroll
        for (int u = 0; u < U; ++u)
#pragma unroll
          for (int i = 0; i < R; ++i) cur[u][i] = raw[u][i];
        if (v0 + kWarpSize * U < nvec) load_step(v0 + kWarpSize * U);
#pragma unroll
        for (int u = 0; u < U; ++u) {
          const int v = v0 + u * kWarpSize;
          if (v >= nvec) break;
          FmaWeightWords<T, R, MB, kWarpSize>(cur[u], xs4 + (v / kWarpSize) * (kWarpSize * C) + lane, ks4, m, acc);
        }
      }
    } else {
      for (int c0 = lane; c0 < kt; c0 += kWarpSize * U) {
        float wf[U][R];
#pragma unroll
        for (int u = 0; u < U; ++u) {
          const int c = c0 + u * kWarpSize;
#pragma unroll
          for (int i = 0; i < R; ++i) wf[u][i] = c < kt && valid[i] ? ToFloat(wrow[i][k0 + c]) : 0.0f;
        }
#pragma unroll
        for (int u = 0; u < U; ++u) {
          const int c = c0 + u * kWarpSize;
          if (c >= kt) break;
          FmaWeightElems<R, MB>(wf[u], xs + c, ks, m, acc);
        }
      }
    }
  }

#pragma unroll
  for (int i = 0; i < R; ++i) {
    if (!valid[i]) break;  // warp-uniform: rows past N are at the end
    const int row = row0 + i;
    const float b = bias != nullptr ? bias[row] : 0.0f;
#pragma unroll
    for (int r = 0; r < MB; ++r) {
      const float s = WarpSum(acc[i][r]);
      // Lane r stores row r, so the (up to 16) stores of a warp issue together.
      if (lane == r && r < m) y[static_cast<size_t>(r) * n + row] = s + b;
    }
  }
}

template <typename T, int MB>
cudaError_t LaunchTyped(const MatmulArgs& a, cudaStream_t stream) {
  const int m = static_cast<int>(a.m), n = static_cast<int>(a.n), k = static_cast<int>(a.k);
  constexpr int kElems = Pack16<T>::kElems;
  const bool vec = k % kElems == 0 && IsAligned(a.w, 16) && IsAligned(a.x, 16);
  const int budget = kSmemBytes / (MB * static_cast<int>(sizeof(float)));  // floats per x row
  // Vector path: tiles are whole groups of 32 loads (the permuted layout's unit), which
  // also keeps every tile start 16-byte aligned. Element path: any tile length.
  const int quantum = vec ? kWarpSize * kElems : 1;
  const int padded = (k + quantum - 1) / quantum * quantum;
  int k_tile, ks;
  if (padded <= budget) {
    k_tile = k;
    ks = padded;
  } else {
    k_tile = ks = budget / quantum * quantum;
  }
  const size_t smem = static_cast<size_t>(m) * ks * sizeof(float);
  constexpr int kRowsPerBlock = kWarps * GemvConfig<MB>::kRows;
  const dim3 grid(CeilDiv(n, kRowsPerBlock)), block(kThreads);
  const T* w = static_cast<const T*>(a.w);
  if (vec)
    CAPRESE_LAUNCH(GemvKernel<T, MB, true>, grid, block, smem, stream, a.x, w, a.bias, a.y, m, n, k, k_tile, ks);
  else
    CAPRESE_LAUNCH(GemvKernel<T, MB, false>, grid, block, smem, stream, a.x, w, a.bias, a.y, m, n, k, k_tile, ks);
  return cudaGetLastError();
}

template <typename T>
cudaError_t LaunchForDtype(const MatmulArgs& a, cudaStream_t stream) {
  // M is rounded up to a power of two; rows past M are skipped inside the kernel.
  if (a.m <= 1) return LaunchTyped<T, 1>(a, stream);
  if (a.m <= 2) return LaunchTyped<T, 2>(a, stream);
  if (a.m <= 4) return LaunchTyped<T, 4>(a, stream);
  if (a.m <= 8) return LaunchTyped<T, 8>(a, stream);
  return LaunchTyped<T, 16>(a, stream);
}

}  // namespace

cudaError_t LaunchGemv(const MatmulArgs& a, cudaStream_t stream) {
  if (a.m < 1 || a.m > kGemvMaxRows || a.n > INT32_MAX / 2 || a.k > INT32_MAX / 2)
    return kShapeNotSupported;
  switch (a.w_dtype) {
    case CAPRESE_DTYPE_F32: return LaunchForDtype<float>(a, stream);
    case CAPRESE_DTYPE_F16: return LaunchForDtype<__half>(a, stream);
    case CAPRESE_DTYPE_BF16: return LaunchForDtype<__nv_bfloat16>(a, stream);
    default: return kShapeNotSupported;
  }
}

}  // namespace cuda
}  // namespace caprese
