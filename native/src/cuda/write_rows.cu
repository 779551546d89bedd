// write_rows_at: copies M rows into a larger tensor (a KV cache) at a row index read from
// device memory when the kernel runs, so a captured decode step appends at each replay's
// position. Rows of 4-byte multiples (every f32 row, even-width f16/bf16 rows) move as 4-byte
// words, others byte by byte.
#include "cuda/cuda_common.cuh"
#include "cuda/kernels.h"

namespace caprese {
namespace cuda {
namespace {

constexpr int kThreads = 256;

template <typename Word>
__global__ void __launch_bounds__(kThreads)
WriteRowsKernel(const Word* __restrict__ src, Word* __restrict__ dst, int64_t words, int64_t row_words,
                int64_t rows, int64_t dst_rows, const int32_t* __restrict__ pos_device, int* error_flag) {
  const int64_t pos = *pos_device;
  if (pos < 0 || pos + rows > dst_rows) {
    if (blockIdx.x == 0 && threadIdx.x == 0) atomicExch(error_flag, 3);
    return;
  }
  Word* out = dst + pos * row_words;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; i < words;
       i += static_cast<int64_t>(gridDim.x) * kThreads)
    out[i] = src[i];
}

}  // namespace

cudaError_t LaunchWriteRows(const WriteRowsArgs& a, int* error_flag, cudaStream_t stream) {
  const bool words4 = a.row_bytes % 4 == 0 && reinterpret_cast<uintptr_t>(a.src) % 4 == 0 &&
                      reinterpret_cast<uintptr_t>(a.dst) % 4 == 0;
  const int64_t unit = words4 ? 4 : 1;
  const int64_t total = a.rows * a.row_bytes / unit, row_units = a.row_bytes / unit;
  int64_t grid = (total + kThreads - 1) / kThreads;
  if (grid > 1024) grid = 1024;  // grid-stride loop beyond that: a decode step writes a few KB
  if (grid < 1) grid = 1;
  if (words4)
    CAPRESE_LAUNCH(WriteRowsKernel<uint32_t>, static_cast<unsigned>(grid), kThreads, 0, stream,
                   static_cast<const uint32_t*>(a.src), static_cast<uint32_t*>(a.dst), total, row_units, a.rows,
                   a.dst_rows, a.pos_device, error_flag);
  else
    CAPRESE_LAUNCH(WriteRowsKernel<uint8_t>, static_cast<unsigned>(grid), kThreads, 0, stream,
                   static_cast<const uint8_t*>(a.src), static_cast<uint8_t*>(a.dst), total, row_units, a.rows,
                   a.dst_rows, a.pos_device, error_flag);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace caprese
