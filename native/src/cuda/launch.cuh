// One spelling of a kernel launch (and of dynamic shared memory) that both nvcc and the
// CUDA simulator's host-compiler build accept, so the kernels themselves stay plain CUDA:
//
//   CAPRESE_LAUNCH(Kernel<T>, grid, block, smem_bytes, stream, args...);
//       = Kernel<T><<<grid, block, smem_bytes, stream>>>(args...); errors via cudaGetLastError
//   CAPRESE_DYNAMIC_SHARED(float4, smem);   (inside a kernel)
//       = extern __shared__ float4 smem[];
//
// Under nvcc these are exactly the chevron launch and the extern declaration. Under cuda-sim
// (CAPRESE_CUDA_SIM) the launch goes to the simulator with its source line, which its reports
// name, and the dynamic shared memory is the simulated block's region.
#pragma once

#include <cuda_runtime.h>

#include <utility>

#if defined(CAPRESE_CUDA_SIM)

#define CAPRESE_LAUNCH(...) ::cudasim::Launch(__FILE__, __LINE__, __VA_ARGS__)
#define CAPRESE_DYNAMIC_SHARED(T, name) CUDASIM_DYNAMIC_SHARED(T, name)

#else

namespace caprese {
namespace cuda {
namespace detail {
template <typename... Params, typename... Args>
inline void LaunchChevrons(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                           Args&&... args) {
  kernel<<<grid, block, smem, stream>>>(static_cast<Params>(std::forward<Args>(args))...);
}
}  // namespace detail
}  // namespace cuda
}  // namespace caprese

#define CAPRESE_LAUNCH(...) ::caprese::cuda::detail::LaunchChevrons(__VA_ARGS__)
#define CAPRESE_DYNAMIC_SHARED(T, name) extern __shared__ T name[]

#endif
