// y[N, M] = x[M, N]ᵀ through 32x32 shared-memory tiles (padded against bank conflicts), so
// both the reads of x and the writes of y are coalesced. Block 32x8: each thread moves 4
// elements of a tile.
#include "cuda/cuda_common.cuh"
#include "cuda/kernels.h"

namespace caprese {
namespace cuda {
namespace {

constexpr int kTile = 32;
constexpr int kRows = 8;

__global__ void __launch_bounds__(kTile * kRows)
TransposeKernel(const float* __restrict__ x, float* __restrict__ y, int64_t m, int64_t n) {
  __shared__ float tile[kTile][kTile + 1];
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * kTile;  // along n
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kTile;  // along m
  for (int r = threadIdx.y; r < kTile; r += kRows) {
    const int64_t i = row0 + r, j = col0 + threadIdx.x;
    if (i < m && j < n) tile[r][threadIdx.x] = x[i * n + j];
  }
  __syncthreads();
  for (int r = threadIdx.y; r < kTile; r += kRows) {
    const int64_t j = col0 + r, i = row0 + threadIdx.x;  // y[j, i] = x[i, j]
    if (i < m && j < n) y[j * m + i] = tile[threadIdx.x][r];
  }
}

}  // namespace

cudaError_t LaunchTranspose(const TransposeArgs& a, cudaStream_t stream) {
  const int64_t gx = (a.n + kTile - 1) / kTile, gy = (a.m + kTile - 1) / kTile;
  if (gx > INT32_MAX || gy > 65535) return kShapeNotSupported;
  CAPRESE_LAUNCH(TransposeKernel, dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy)), dim3(kTile, kRows), 0, stream, 
      a.x, a.y, a.m, a.n);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace caprese
