// Prefill-path matmul (M > 16) through cuBLAS, plus the bias add both paths share.
//
// Row-major y[M,N] = x[M,K] · w[N,K]ᵀ is, read column-major, yᵀ[N,M] = w[K,N]ᵀ · xᵀ[K,M]:
// one GEMM with op(A) = T on w (lda = K), op(B) = N on x (ldb = K) and ldc = N, no copies.
// f16/bf16 weights: tensor-core GEMMs need both inputs in the same 16-bit type, so x is cast
// to the weight dtype in scratch; the product accumulates and is written in f32.
#include "cuda/cuda_common.cuh"
#include "cuda/kernels.h"

namespace caprese {
namespace cuda {
namespace {

template <typename T>
__device__ __forceinline__ T FromFloat(float v);
template <>
__device__ __forceinline__ __half FromFloat<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 FromFloat<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

template <typename T>
__global__ void CastKernel(const float* __restrict__ in, T* __restrict__ out, int64_t count) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = FromFloat<T>(in[i]);
}

__global__ void AddBiasKernel(float* __restrict__ y, const float* __restrict__ bias, int64_t m,
                              int64_t n) {
  const int64_t total = m * n;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    y[i] += bias[i % n];
}

unsigned GridFor(int64_t count, int block) {
  // Grid-stride loops: enough blocks to fill any current GPU, never more than needed.
  const int64_t blocks = (count + block - 1) / block;
  return static_cast<unsigned>(blocks < 4096 ? (blocks > 0 ? blocks : 1) : 4096);
}

template <typename T>
cudaError_t LaunchCast(const float* in, void* out, int64_t count, cudaStream_t stream) {
  CAPRESE_LAUNCH(CastKernel<T>, GridFor(count, 256), 256, 0, stream, in, static_cast<T*>(out), count);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchAddBias(float* y, const float* bias, int64_t m, int64_t n, cudaStream_t stream) {
  CAPRESE_LAUNCH(AddBiasKernel, GridFor(m * n, 256), 256, 0, stream, y, bias, m, n);
  return cudaGetLastError();
}

size_t MatmulCublasScratchBytes(const MatmulArgs& a) {
  return a.w_dtype == CAPRESE_DTYPE_F32 ? 0 : static_cast<size_t>(a.m * a.k) * 2;
}

cublasStatus_t LaunchMatmulCublas(const MatmulArgs& a, cublasHandle_t handle, void* scratch,
                                  cudaStream_t stream, cudaError_t* launch) {
  *launch = cudaSuccess;
  if (a.m > INT32_MAX || a.n > INT32_MAX || a.k > INT32_MAX) return CUBLAS_STATUS_INVALID_VALUE;
  const int m = static_cast<int>(a.m), n = static_cast<int>(a.n), k = static_cast<int>(a.k);
  const float alpha = 1.0f, beta = 0.0f;
  cublasStatus_t st;
  if (a.w_dtype == CAPRESE_DTYPE_F32) {
    st = cublasSgemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &alpha,
                     static_cast<const float*>(a.w), k, a.x, k, &beta, a.y, n);
  } else {
    const bool half = a.w_dtype == CAPRESE_DTYPE_F16;
    *launch = half ? LaunchCast<__half>(a.x, scratch, a.m * a.k, stream)
                   : LaunchCast<__nv_bfloat16>(a.x, scratch, a.m * a.k, stream);
    if (*launch != cudaSuccess) return CUBLAS_STATUS_EXECUTION_FAILED;
    const cudaDataType_t t = half ? CUDA_R_16F : CUDA_R_16BF;
    st = cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &alpha, a.w, t, k, scratch, t, k,
                      &beta, a.y, CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  }
  if (st != CUBLAS_STATUS_SUCCESS) return st;
  if (a.bias != nullptr) {
    *launch = LaunchAddBias(a.y, a.bias, a.m, a.n, stream);
    if (*launch != cudaSuccess) return CUBLAS_STATUS_EXECUTION_FAILED;
  }
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace cuda
}  // namespace caprese
