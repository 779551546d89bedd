// cuda-sim's own API beyond CUDA's, for tests and tools that know they run on the simulator:
// the device profile, the launch log, the register model behind the occupancy answer, and
// the checks' last report.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "cuda_runtime.h"

namespace cudasim {

struct DeviceProfile {
  const char* key;   // "h200", "h100", "a100"
  const char* name;  // as the real device reports it
  int major, minor;
  int multiprocessors;
  size_t memory_bytes;
  int memory_bus_bits;
  int memory_clock_khz;
  int l2_bytes;
  int smem_per_block_optin;
  int smem_per_multiprocessor;
  int max_threads_per_multiprocessor;
  int max_blocks_per_multiprocessor;
  int registers_per_multiprocessor;
};
// The profile in use: CAPRESE_CUDASIM_DEVICE=h200 (default) | h100 | a100.
CUDASIM_API const DeviceProfile& Profile();

struct LaunchRecord {
  const void* func;
  const char* file;
  int line;
  dim3 grid, block;
  size_t dynamic_smem;
  cudaError_t result;
};
// Every launch since the last ClearLaunchLog (at most the last 4096).
CUDASIM_API std::vector<LaunchRecord> LaunchLog();
CUDASIM_API void ClearLaunchLog();

// Registers per thread assumed by the occupancy API (the simulator cannot know what ptxas
// allocates; default 32, or CAPRESE_CUDASIM_REGISTERS). Tests set it to model a kernel
// whose __launch_bounds__ lets it use many more.
CUDASIM_API void SetRegistersPerThread(int registers);
CUDASIM_API int RegistersPerThread();

// The message of the last failure any check reported (empty if none), and how many kernel
// faults (barrier, warp, memory checks) were reported since the process started.
CUDASIM_API std::string LastReport();
CUDASIM_API int FaultCount();

// Fault injection, for tests of the error paths a GPU rarely takes: the next `count`
// cudaMalloc calls fail with cudaErrorMemoryAllocation, or the next `count` kernel launches
// fail with `err` (as a launch error, seen by cudaGetLastError). count < 0: until reset with 0.
CUDASIM_API void InjectAllocationFailures(int count);
CUDASIM_API void InjectLaunchErrors(cudaError_t err, int count);

}  // namespace cudasim
