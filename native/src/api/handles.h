// What the opaque handles of caprese.h point to. Buffers and events hold a shared_ptr to
// their context's backend, so destroying handles in any order is safe (the .NET finaliser
// gives no ordering guarantee).
#pragma once

#include <memory>

#include "core/backend.h"

struct caprese_context {
  std::shared_ptr<caprese::Backend> backend;
};

struct caprese_buffer {
  std::shared_ptr<caprese::Backend> backend;
  void* data = nullptr;
  size_t bytes = 0;
};

struct caprese_event {
  std::shared_ptr<caprese::Backend> backend;
  std::unique_ptr<caprese::BackendEvent> event;
};

struct caprese_graph {
  std::shared_ptr<caprese::Backend> backend;
  std::unique_ptr<caprese::BackendGraph> graph;
};

namespace caprese {

// Loads a CUDA-protocol plugin once per process: libcaprese_cuda.so for CAPRESE_BACKEND_CUDA,
// libcaprese_cudasim.so for CAPRESE_BACKEND_CUDA_SIM (next to libcaprese, then the loader's
// search path; CAPRESE_CUDA_PLUGIN / CAPRESE_CUDASIM_PLUGIN name a file to try first).
// Fails with CAPRESE_ERROR_BACKEND_UNAVAILABLE and every path tried + dlerror().
struct CudaPlugin {
  caprese_cuda_plugin_device_count_fn device_count = nullptr;
  caprese_cuda_plugin_device_info_fn device_info = nullptr;
  caprese_cuda_plugin_create_fn create = nullptr;
};
Status LoadCudaPlugin(caprese_backend backend, const CudaPlugin** out);

}  // namespace caprese
