// Run-time loading of the CUDA backend plugin. Kept out of libcaprese's link line so that
// the library loads on machines without libcudart/libcublas; when the CUDA backend is asked
// for and cannot be had, the error says precisely why (never a silent CPU fallback).
#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <string>

#include "api/handles.h"

namespace caprese {
namespace {

std::string OwnDirectory() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&LoadCudaPlugin), &info) == 0 || info.dli_fname == nullptr)
    return {};
  std::string path = info.dli_fname;
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

struct PluginState {
  std::once_flag once;
  Status status;
  CudaPlugin plugin;
};

// One per plugin kind: [0] the CUDA backend, [1] the CUDA simulator.
PluginState& State(caprese_backend backend) {
  static PluginState* states = new PluginState[2]();  // never destroyed: plugins stay loaded
  return states[backend == CAPRESE_BACKEND_CUDA_SIM ? 1 : 0];
}

Status DoLoad(caprese_backend backend, CudaPlugin* plugin) {
  const bool sim = backend == CAPRESE_BACKEND_CUDA_SIM;
  const char* name = sim ? "libcaprese_cudasim.so" : "libcaprese_cuda.so";
  const char* what = sim ? "CUDA simulator backend" : "CUDA backend";
  std::string tried;
  void* handle = nullptr;
  std::string candidates[3];
  int n = 0;
  // A plugin named by the environment is the only one tried: if it cannot be loaded, saying
  // so beats quietly loading some other build of it.
  if (const char* env = std::getenv(sim ? "CAPRESE_CUDASIM_PLUGIN" : "CAPRESE_CUDA_PLUGIN")) {
    candidates[n++] = env;
  } else {
    std::string own = OwnDirectory();
    if (!own.empty()) candidates[n++] = own + name;
    candidates[n++] = name;  // the dynamic loader's own search (LD_LIBRARY_PATH, rpath, ...)
  }
  for (int i = 0; i < n && handle == nullptr; ++i) {
    handle = dlopen(candidates[i].c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* err = dlerror();
      tried += "\n  " + candidates[i] + ": " + (err ? err : "unknown dlopen error");
    }
  }
  if (handle == nullptr)
    return Fail(CAPRESE_ERROR_BACKEND_UNAVAILABLE, "%s unavailable: could not load the plugin %s. Tried:%s\n%s",
                what, name, tried.c_str(),
                sim ? "(Was libcaprese built with CAPRESE_CUDA_SIM=ON? The simulator needs no CUDA toolkit.)"
                    : "(Was libcaprese built with CUDA, and are the CUDA runtime and cuBLAS installed?)");
  auto abi = reinterpret_cast<caprese_cuda_plugin_abi_fn>(dlsym(handle, "caprese_cuda_plugin_abi"));
  plugin->device_count = reinterpret_cast<caprese_cuda_plugin_device_count_fn>(
      dlsym(handle, "caprese_cuda_plugin_device_count"));
  plugin->device_info = reinterpret_cast<caprese_cuda_plugin_device_info_fn>(
      dlsym(handle, "caprese_cuda_plugin_device_info"));
  plugin->create =
      reinterpret_cast<caprese_cuda_plugin_create_fn>(dlsym(handle, "caprese_cuda_plugin_create"));
  if (!abi || !plugin->device_count || !plugin->device_info || !plugin->create)
    return Fail(CAPRESE_ERROR_BACKEND_UNAVAILABLE, "%s unavailable: %s lacks the plugin entry points (a stale build?)",
                what, name);
  if (abi() != CAPRESE_CUDA_PLUGIN_ABI)
    return Fail(CAPRESE_ERROR_BACKEND_UNAVAILABLE,
                "%s unavailable: %s speaks plugin protocol %d, libcaprese expects %d "
                "(mixed versions installed?)",
                what, name, abi(), CAPRESE_CUDA_PLUGIN_ABI);
  return Status::Ok();
}

}  // namespace

Status LoadCudaPlugin(caprese_backend backend, const CudaPlugin** out) {
  PluginState& s = State(backend);
  std::call_once(s.once, [&] { s.status = DoLoad(backend, &s.plugin); });
  if (!s.status.ok()) return s.status;
  *out = &s.plugin;
  return Status::Ok();
}

}  // namespace caprese
