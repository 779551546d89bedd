// Pieces shared by the weight-streaming kernels (gemv.cu, sparse_ffn.cu): x staged in shared
// memory as f32, R weight rows read with 16-byte loads (or one element at a time), and each
// weight multiplied into all M rows of x. Header-only and force-inlined, so each kernel keeps
// its own loop nest, unrolling and order of accumulation.
#pragma once

#include "cuda/cuda_common.cuh"

namespace caprese {
namespace cuda {

// Copies columns [k0, k0 + kt) of the m rows of x (row stride ldx floats, 16-byte aligned,
// kt % 4 == 0) into the shared tile xs (row stride ks floats) as 16-byte words, with the
// kThreads threads of the block. kPermuteWords = 0 stores the words in order. kPermuteWords
// = C > 0 lays them out for loads of C words per lane (16-bit weights: 8 x values per
// 16-byte weight load): word q (= x[4q .. 4q+3]) belongs to load v = q / C, part j = q % C,
// and is stored at (v / 32) * 32C + j * 32 + v % 32, so lane l reads word l of each part and
// the 16-byte shared loads of a warp hit consecutive words (no bank conflicts).
template <int kThreads, int kPermuteWords>
__device__ __forceinline__ void StageXWords(const float* x, int ldx, int k0, int kt, int m, float* xs,
                                            int ks) {
  const int q4 = kt / 4, ks4 = ks / 4;
  for (int i = threadIdx.x; i < m * q4; i += kThreads) {
    const int r = i / q4, q = i - r * q4;
    int slot = q;
    if constexpr (kPermuteWords > 0) {
      constexpr int C = kPermuteWords;
      const int v = q / C, j = q - v * C;
      slot = (v / kWarpSize) * (kWarpSize * C) + j * kWarpSize + v % kWarpSize;
    }
    reinterpret_cast<float4*>(xs)[r * ks4 + slot] =
        __ldg(reinterpret_cast<const float4*>(x + static_cast<size_t>(r) * ldx + k0) + q);
  }
}

// As StageXWords, one float at a time in order (any kt, any alignment).
template <int kThreads>
__device__ __forceinline__ void StageXElems(const float* x, int ldx, int k0, int kt, int m, float* xs,
                                            int ks) {
  for (int i = threadIdx.x; i < m * kt; i += kThreads) {
    const int r = i / kt, c = i - r * kt;
    xs[r * ks + c] = __ldg(x + static_cast<size_t>(r) * ldx + k0 + c);
  }
}

// raw[i] = 16-byte word v of rows[i] + k0, or zeros where v >= nvec or !valid[i].
template <typename T, int R>
__device__ __forceinline__ void LoadWeightWords(const T* const (&rows)[R], const bool (&valid)[R], int k0, int v,
                                                int nvec, uint4 (&raw)[R]) {
#pragma unroll
  for (int i = 0; i < R; ++i)
    raw[i] = v < nvec && valid[i] ? __ldg(reinterpret_cast<const uint4*>(rows[i] + k0) + v) : make_uint4(0, 0, 0, 0);
}

// acc[i][r] += the weights in raw[i] times the matching x values of row r, for r < m: the
// Pack16<T>::kElems weights of a word, in order, against the C = kElems / 4 x words at
// xp[r * ks4 + j * kWordStride] (j < C). One fmaf chain per accumulator, in element order.
template <typename T, int R, int MB, int kWordStride>
__device__ __forceinline__ void FmaWeightWords(const uint4 (&raw)[R], const float4* xp, int ks4, int m,
                                               float (&acc)[R][MB]) {
  constexpr int kElems = Pack16<T>::kElems;
  constexpr int C = kElems / 4;
  float wf[R][kElems];
#pragma unroll
  for (int i = 0; i < R; ++i) UnpackAs<T>(raw[i], wf[i]);
#pragma unroll
  for (int r = 0; r < MB; ++r) {
    if (r >= m) break;
#pragma unroll
    for (int j = 0; j < C; ++j) {
      const float4 xv = xp[r * ks4 + j * kWordStride];
#pragma unroll
      for (int i = 0; i < R; ++i) {
        acc[i][r] = fmaf(wf[i][4 * j], xv.x, acc[i][r]);
        acc[i][r] = fmaf(wf[i][4 * j + 1], xv.y, acc[i][r]);
        acc[i][r] = fmaf(wf[i][4 * j + 2], xv.z, acc[i][r]);
        acc[i][r] = fmaf(wf[i][4 * j + 3], xv.w, acc[i][r]);
      }
    }
  }
}

// acc[i][r] += wf[i] * xc[r * ks] for r < m: one weight per row against one x column.
template <int R, int MB>
__device__ __forceinline__ void FmaWeightElems(const float (&wf)[R], const float* xc, int ks, int m,
                                               float (&acc)[R][MB]) {
#pragma unroll
  for (int r = 0; r < MB; ++r) {
    if (r >= m) break;
    const float xv = xc[r * ks];
#pragma unroll
    for (int i = 0; i < R; ++i) acc[i][r] = fmaf(wf[i], xv, acc[i][r]);
  }
}

}  // namespace cuda
}  // namespace caprese
