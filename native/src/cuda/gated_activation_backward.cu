// Gradient of out = act(gate) ⊙ up:  dup = dout ⊙ act(g),  dgate = dout ⊙ up ⊙ act'(g), for
// SiLU and GELU-tanh (formulas in cpu/gated_activation_backward.cpp). Grid-stride, one element
// per step; each thread reads gate, up, dout at i before writing dgate, dup at i, so the
// outputs may alias the inputs.
#include "cuda/cuda_common.cuh"
#include "cuda/kernels.h"

namespace caprese {
namespace cuda {
namespace {

constexpr int kThreads = 256;

struct SiluGrad {
  __device__ __forceinline__ void operator()(float g, float* act, float* dact) const {
    const float s = 1.0f / (1.0f + expf(-g));
    *act = g * s;
    *dact = s * (1.0f + g * (1.0f - s));
  }
};
struct GeluTanhGrad {
  __device__ __forceinline__ void operator()(float g, float* act, float* dact) const {
    const float k = 0.7978845608028654f, c = 0.044715f;
    const float t = tanhf(k * (g + c * g * g * g));
    *act = 0.5f * g * (1.0f + t);
    const float sech2 = 1.0f - t * t;  // exactly 0 once |g| is large, where g² may overflow
    *dact = 0.5f * (1.0f + t) + (sech2 == 0.0f ? 0.0f : 0.5f * g * sech2 * k * (1.0f + 3.0f * c * g * g));
  }
};

template <typename Grad>
__global__ void GatedBackwardKernel(const float* gate, const float* up, const float* dout, float* dgate, float* dup,
                                    int64_t count) {
  const Grad grad;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; i < count; i += stride) {
    const float g = gate[i], u = up[i], d = dout[i];
    float act, dact;
    grad(g, &act, &dact);
    dgate[i] = d * u * dact;
    dup[i] = d * act;
  }
}

unsigned Grid(int64_t count) {
  const int64_t blocks = (count + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 16384 ? 16384 : blocks));
}

}  // namespace

cudaError_t LaunchGatedActivationBackward(const GatedActivationBackwardArgs& a, cudaStream_t stream) {
  if (a.act == CAPRESE_ACTIVATION_SILU)
    CAPRESE_LAUNCH(GatedBackwardKernel<SiluGrad>, Grid(a.count), kThreads, 0, stream, a.gate, a.up, a.dout, a.dgate, a.dup,
                                                                          a.count);
  else
    CAPRESE_LAUNCH(GatedBackwardKernel<GeluTanhGrad>, Grid(a.count), kThreads, 0, stream, a.gate, a.up, a.dout, a.dgate, a.dup,
                                                                              a.count);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace caprese
