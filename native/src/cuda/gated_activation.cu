// out = act(gate) ⊙ up for SiLU (Llama, Qwen2) and tanh-approximated GELU (Gemma 2).
// Pure streaming: float4 accesses when every pointer allows, grid-stride loop otherwise.
// Same-index reads precede the write, so out may alias gate or up.
#include "cuda/cuda_common.cuh"
#include "cuda/kernels.h"

namespace caprese {
namespace cuda {
namespace {

constexpr int kThreads = 256;

struct Silu {
  __device__ __forceinline__ float operator()(float g) const { return g / (1.0f + expf(-g)); }
};
struct GeluTanh {
  __device__ __forceinline__ float operator()(float g) const {
    const float kSqrt2OverPi = 0.7978845608028654f;
    return 0.5f * g * (1.0f + tanhf(kSqrt2OverPi * (g + 0.044715f * g * g * g)));
  }
};

template <typename Act>
__global__ void GatedKernel(const float* gate, const float* up, float* out, int64_t count) {
  const Act act;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  const int64_t start = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
  const bool vec = (reinterpret_cast<uintptr_t>(gate) | reinterpret_cast<uintptr_t>(up) |
                    reinterpret_cast<uintptr_t>(out)) % 16 == 0;
  int64_t done = 0;
  if (vec) {
    const int64_t n4 = count / 4;
    for (int64_t i = start; i < n4; i += stride) {
      const float4 g = reinterpret_cast<const float4*>(gate)[i];
      const float4 u = reinterpret_cast<const float4*>(up)[i];
      reinterpret_cast<float4*>(out)[i] =
          make_float4(act(g.x) * u.x, act(g.y) * u.y, act(g.z) * u.z, act(g.w) * u.w);
    }
    done = n4 * 4;
  }
  for (int64_t i = done + start; i < count; i += stride) out[i] = act(gate[i]) * up[i];
}

unsigned Grid(int64_t count) {
  const int64_t blocks = (count / 4 + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 8192 ? 8192 : blocks));
}

}  // namespace

cudaError_t LaunchGatedActivation(const GatedActivationArgs& a, cudaStream_t stream) {
  if (a.act == CAPRESE_ACTIVATION_SILU)
    CAPRESE_LAUNCH(GatedKernel<Silu>, Grid(a.count), kThreads, 0, stream, a.gate, a.up, a.out, a.count);
  else
    CAPRESE_LAUNCH(GatedKernel<GeluTanh>, Grid(a.count), kThreads, 0, stream, a.gate, a.up, a.out, a.count);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace caprese
