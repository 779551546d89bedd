// Element-wise f32 ops: the residual add and Gemma 2 logit soft-capping. float4 accesses
// when every pointer is 16-byte aligned; each element is read before it is written by the
// same thread, so outputs may alias inputs.
#include "cuda/cuda_common.cuh"
#include "cuda/kernels.h"

namespace caprese {
namespace cuda {
namespace {

constexpr int kThreads = 256;

struct AddOp {
  __device__ __forceinline__ float operator()(float a, float b) const { return a + b; }
};
struct SoftcapOp {
  float cap;
  __device__ __forceinline__ float operator()(float a, float) const { return cap * tanhf(a / cap); }
};

// b may be null for unary ops (then it is never read).
template <typename Op>
__global__ void BinaryKernel(const float* a, const float* b, float* out, int64_t count, Op op) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  const int64_t start = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
  const bool vec = (reinterpret_cast<uintptr_t>(a) | reinterpret_cast<uintptr_t>(b) |
                    reinterpret_cast<uintptr_t>(out)) % 16 == 0;
  int64_t done = 0;
  if (vec) {
    const int64_t n4 = count / 4;
    for (int64_t i = start; i < n4; i += stride) {
      const float4 x = reinterpret_cast<const float4*>(a)[i];
      const float4 y = b != nullptr ? reinterpret_cast<const float4*>(b)[i] : make_float4(0, 0, 0, 0);
      reinterpret_cast<float4*>(out)[i] = make_float4(op(x.x, y.x), op(x.y, y.y), op(x.z, y.z), op(x.w, y.w));
    }
    done = n4 * 4;
  }
  for (int64_t i = done + start; i < count; i += stride) out[i] = op(a[i], b != nullptr ? b[i] : 0.0f);
}

unsigned Grid(int64_t count) {
  const int64_t blocks = (count / 4 + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 8192 ? 8192 : blocks));
}

}  // namespace

cudaError_t LaunchAdd(const AddArgs& a, cudaStream_t stream) {
  CAPRESE_LAUNCH(BinaryKernel<AddOp>, Grid(a.count), kThreads, 0, stream, a.a, a.b, a.out, a.count, AddOp{});
  return cudaGetLastError();
}

cudaError_t LaunchSoftcap(const SoftcapArgs& a, cudaStream_t stream) {
  CAPRESE_LAUNCH(BinaryKernel<SoftcapOp>, Grid(a.count), kThreads, 0, stream, a.x, static_cast<const float*>(nullptr), a.y,
                                                       a.count, SoftcapOp{a.cap});
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace caprese
