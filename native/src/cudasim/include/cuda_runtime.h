// cuda-sim's stand-in for <cuda_runtime.h>: the part of the CUDA runtime API that Caprese
// uses, implemented by libcaprese_cudasim_rt (device memory is host memory with guard pages,
// streams and events are synchronous, kernels run block by block on CPU threads, each CUDA
// thread a fiber). Names live in namespace cudasim (so they never collide with a real
// libcudart loaded in the same process) and are brought into the global namespace, where
// code written for CUDA looks for them. Error codes and enum values are CUDA's own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#include "cudasim/config.h"
#include "cudasim/types.h"

namespace cudasim {

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInitializationError = 3,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorInsufficientDriver = 35,
  cudaErrorInvalidDeviceFunction = 98,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorNoKernelImageForDevice = 209,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorIllegalState = 401,
  cudaErrorNotReady = 600,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchOutOfResources = 701,
  cudaErrorMisalignedAddress = 716,
  cudaErrorLaunchFailure = 719,
  cudaErrorNotPermitted = 800,
  cudaErrorNotSupported = 801,
  cudaErrorSystemDriverMismatch = 803,
  cudaErrorCompatNotSupportedOnDevice = 804,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
  cudaErrorUnknown = 999,
};

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

enum cudaDeviceAttr {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMaxBlockDimX = 2,
  cudaDevAttrMaxGridDimX = 5,
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrWarpSize = 10,
  cudaDevAttrClockRate = 13,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrMemoryClockRate = 36,
  cudaDevAttrGlobalMemoryBusWidth = 37,
  cudaDevAttrL2CacheSize = 38,
  cudaDevAttrMaxThreadsPerMultiProcessor = 39,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
  cudaDevAttrMaxSharedMemoryPerMultiprocessor = 81,
  cudaDevAttrMaxRegistersPerMultiprocessor = 82,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
  cudaDevAttrMaxBlocksPerMultiprocessor = 106,
};

enum cudaFuncAttribute {
  cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
  cudaFuncAttributePreferredSharedMemoryCarveout = 9,
};

constexpr unsigned cudaStreamDefault = 0x0;
constexpr unsigned cudaStreamNonBlocking = 0x1;
constexpr unsigned cudaEventDefault = 0x0;
constexpr unsigned cudaEventBlockingSync = 0x1;
constexpr unsigned cudaEventDisableTiming = 0x2;
constexpr unsigned cudaHostAllocDefault = 0x0;
constexpr unsigned cudaHostAllocPortable = 0x1;
constexpr unsigned cudaHostAllocMapped = 0x2;

struct Stream;
struct Event;
struct Graph;
struct GraphExec;
typedef Stream* cudaStream_t;
typedef Event* cudaEvent_t;
typedef Graph* cudaGraph_t;
typedef GraphExec* cudaGraphExec_t;

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  size_t sharedMemPerBlockOptin;
  size_t sharedMemPerMultiprocessor;
  int regsPerBlock;
  int regsPerMultiprocessor;
  int warpSize;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int maxThreadsPerMultiProcessor;
  int maxBlocksPerMultiProcessor;
  int major;
  int minor;
  int multiProcessorCount;
  int l2CacheSize;
  int memoryBusWidth;
  int memoryClockRate;  // kHz (cudaDevAttrMemoryClockRate)
  int clockRate;        // kHz
};

CUDASIM_API const char* cudaGetErrorString(cudaError_t err);
CUDASIM_API const char* cudaGetErrorName(cudaError_t err);
CUDASIM_API cudaError_t cudaGetLastError();
CUDASIM_API cudaError_t cudaPeekAtLastError();

CUDASIM_API cudaError_t cudaGetDeviceCount(int* count);
CUDASIM_API cudaError_t cudaSetDevice(int device);
CUDASIM_API cudaError_t cudaGetDevice(int* device);
CUDASIM_API cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
CUDASIM_API cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
CUDASIM_API cudaError_t cudaDeviceSynchronize();
CUDASIM_API cudaError_t cudaRuntimeGetVersion(int* version);
CUDASIM_API cudaError_t cudaDriverGetVersion(int* version);
CUDASIM_API cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);

CUDASIM_API cudaError_t cudaMalloc(void** ptr, size_t bytes);
CUDASIM_API cudaError_t cudaFree(void* ptr);
template <typename T>
cudaError_t cudaMalloc(T** ptr, size_t bytes) {  // CUDA's typed convenience overload
  return cudaMalloc(reinterpret_cast<void**>(ptr), bytes);
}
CUDASIM_API cudaError_t cudaHostAlloc(void** ptr, size_t bytes, unsigned flags);
CUDASIM_API cudaError_t cudaMallocHost(void** ptr, size_t bytes);
CUDASIM_API cudaError_t cudaFreeHost(void* ptr);
CUDASIM_API cudaError_t cudaHostGetDevicePointer(void** device_ptr, void* host_ptr, unsigned flags);
CUDASIM_API cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
CUDASIM_API cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                                        cudaStream_t stream = nullptr);
CUDASIM_API cudaError_t cudaMemset(void* dst, int value, size_t bytes);
CUDASIM_API cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t stream = nullptr);

CUDASIM_API cudaError_t cudaStreamCreate(cudaStream_t* stream);
CUDASIM_API cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
CUDASIM_API cudaError_t cudaStreamDestroy(cudaStream_t stream);
CUDASIM_API cudaError_t cudaStreamSynchronize(cudaStream_t stream);
CUDASIM_API cudaError_t cudaStreamQuery(cudaStream_t stream);
// Stream capture into graphs: kernels, copies, memsets and event records enqueued on a
// capturing stream are recorded (their arguments copied, as CUDA does) instead of run, and
// cudaGraphLaunch runs them again in order. Synchronising a capturing stream is refused and
// invalidates the capture, as on a GPU.
enum cudaStreamCaptureStatus {
  cudaStreamCaptureStatusNone = 0,
  cudaStreamCaptureStatusActive = 1,
  cudaStreamCaptureStatusInvalidated = 2,
};
enum cudaStreamCaptureMode {
  cudaStreamCaptureModeGlobal = 0,
  cudaStreamCaptureModeThreadLocal = 1,
  cudaStreamCaptureModeRelaxed = 2,
};
CUDASIM_API cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status);
CUDASIM_API cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode);
CUDASIM_API cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph);
CUDASIM_API cudaError_t cudaGraphInstantiateWithFlags(cudaGraphExec_t* exec, cudaGraph_t graph,
                                                      unsigned long long flags = 0);
CUDASIM_API cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream);
CUDASIM_API cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);
CUDASIM_API cudaError_t cudaGraphDestroy(cudaGraph_t graph);
CUDASIM_API cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned flags = 0);

CUDASIM_API cudaError_t cudaEventCreate(cudaEvent_t* event);
CUDASIM_API cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags);
CUDASIM_API cudaError_t cudaEventDestroy(cudaEvent_t event);
CUDASIM_API cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
CUDASIM_API cudaError_t cudaEventSynchronize(cudaEvent_t event);
CUDASIM_API cudaError_t cudaEventQuery(cudaEvent_t event);
CUDASIM_API cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);

// Kernels are identified by their address, as in CUDA.
CUDASIM_API cudaError_t FuncSetAttribute(const void* func, cudaFuncAttribute attr, int value);
CUDASIM_API cudaError_t OccupancyMaxActiveBlocksPerMultiprocessor(int* blocks, const void* func, int block_size,
                                                                  size_t dynamic_smem);
template <typename F>
cudaError_t cudaFuncSetAttribute(F* func, cudaFuncAttribute attr, int value) {
  return FuncSetAttribute(reinterpret_cast<const void*>(func), attr, value);
}
template <typename F>
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* blocks, F* func, int block_size, size_t dynamic_smem) {
  return OccupancyMaxActiveBlocksPerMultiprocessor(blocks, reinterpret_cast<const void*>(func), block_size,
                                                   dynamic_smem);
}

// ------------------------------------------------------------------ kernel launch
// Launch(file, line, kernel, grid, block, smem, stream, args...) is what `kernel<<<grid,
// block, smem, stream>>>(args...)` becomes (cuda/launch.cuh spells launches once for both
// compilers). The arguments are converted to the kernel's parameter types and copied, as CUDA
// does; every simulated thread calls the kernel with its own copy. Launch errors (bad
// geometry, too much dynamic shared memory, a kernel fault) go to cudaGetLastError.
using KernelThunk = void (*)(void* closure);
struct LaunchSite {
  const char* file;
  int line;
};
// The closure is shared so a capturing stream can keep it for the graph's replays.
CUDASIM_API void LaunchKernel(const void* func, LaunchSite site, dim3 grid, dim3 block, size_t dynamic_smem,
                              cudaStream_t stream, KernelThunk thunk, std::shared_ptr<void> closure);

template <typename... Params, typename... Args>
void Launch(const char* file, int line, void (*kernel)(Params...), dim3 grid, dim3 block, size_t dynamic_smem,
            cudaStream_t stream, Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "kernel launched with the wrong number of arguments");
  struct Closure {
    void (*kernel)(Params...);
    std::tuple<std::decay_t<Params>...> params;
  };
  auto closure = std::make_shared<Closure>(
      Closure{kernel, std::tuple<std::decay_t<Params>...>(static_cast<Params>(std::forward<Args>(args))...)});
  auto thunk = [](void* c) {
    auto* self = static_cast<Closure*>(c);
    std::apply(self->kernel, self->params);  // by-value parameters: each thread gets its own copy
  };
  LaunchKernel(reinterpret_cast<const void*>(kernel), LaunchSite{file, line}, grid, block, dynamic_smem, stream,
               thunk, std::move(closure));
}

}  // namespace cudasim

using namespace cudasim;  // NOLINT: the CUDA runtime API is global

#include "cudasim/device.h"
