// Row-wise argmax (greedy sampling), one block per row, with the CPU backend's rules:
// ties go to the first index, and NaN ranks above every number (a row holding NaN yields
// its first NaN, so a broken forward pass shows). The comparison is a total order on
// (value, index), so the tree reduction gives the same answer as a left-to-right scan.
#include "cuda/cuda_common.cuh"
#include "cuda/kernels.h"

namespace caprese {
namespace cuda {
namespace {

constexpr int kThreads = 512;

__device__ __forceinline__ void Better(float& v, int64_t& i, float ov, int64_t oi) {
  const bool on = isnan(ov), vn = isnan(v);
  const bool wins = on != vn ? on : (on ? oi < i : (ov > v || (ov == v && oi < i)));
  if (wins) {
    v = ov;
    i = oi;
  }
}

__global__ void __launch_bounds__(kThreads)
ArgmaxKernel(const float* __restrict__ x, int32_t* __restrict__ out, int64_t n) {
  __shared__ float sv[kWarpSize];
  __shared__ int64_t si[kWarpSize];
  const float* xr = x + blockIdx.x * n;
  float best = -INFINITY;
  int64_t idx = n;  // sentinel: larger than every real index
  for (int64_t i = threadIdx.x; i < n; i += kThreads) Better(best, idx, xr[i], i);
#pragma unroll
  for (int o = kWarpSize / 2; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(kFullMask, best, o);
    const int64_t oi = __shfl_xor_sync(kFullMask, idx, o);
    Better(best, idx, ov, oi);
  }
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  if (lane == 0) {
    sv[warp] = best;
    si[warp] = idx;
  }
  __syncthreads();
  if (warp == 0) {
    best = lane < kThreads / kWarpSize ? sv[lane] : -INFINITY;
    idx = lane < kThreads / kWarpSize ? si[lane] : n;
#pragma unroll
    for (int o = kWarpSize / 2; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(kFullMask, best, o);
      const int64_t oi = __shfl_xor_sync(kFullMask, idx, o);
      Better(best, idx, ov, oi);
    }
    // The sentinel (-inf, n) loses to every element, so idx < n here; the guard is defensive.
    if (lane == 0) out[blockIdx.x] = static_cast<int32_t>(idx < n ? idx : 0);
  }
}

}  // namespace

cudaError_t LaunchArgmax(const ArgmaxArgs& a, cudaStream_t stream) {
  if (a.m > INT32_MAX || a.n > INT32_MAX) return kShapeNotSupported;
  CAPRESE_LAUNCH(ArgmaxKernel, static_cast<unsigned>(a.m), kThreads, 0, stream, a.x, a.out, a.n);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace caprese
