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

PluginState& State() {
  static PluginState* state = new PluginState();  // never destroyed: the plugin stays loaded
  return *state;
}

Status DoLoad(CudaPlugin* plugin) {
  const char* name = "libcaprese_cuda.so";
  std::string tried;
  void* handle = nullptr;
  std::string candidates[3];
  int n = 0;
  if (const char* env = std::getenv("CAPRESE_CUDA_PLUGIN")) candidates[n++] = env;
  std::string own = OwnDirectory();
  if (!own.empty()) candidates[n++] = own + name;
  candidates[n++] = name;  // the dynamic loader's own search (LD_LIBRARY_PATH, rpath, ...)
  for (int i = 0; i < n && handle == nullptr; ++i) {
    handle = dlopen(candidates[i].c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* err = dlerror();
      tried += "\n  " + candidates[i] + ": " + (err ? err : "unknown dlopen error");
    }
  }
  if (handle == nullptr)
    return Fail(CAPRESE_ERROR_BACKEND_UNAVAILABLE,
                "CUDA backend unavailable: could not load the plugin %s. Tried:%s\n"
                "(Was libcaprese built with CUDA, and are the CUDA runtime and cuBLAS installed?)",
                name, tried.c_str());
  auto abi = reinterpret_cast<caprese_cuda_plugin_abi_fn>(dlsym(handle, "caprese_cuda_plugin_abi"));
  plugin->device_count = reinterpret_cast<caprese_cuda_plugin_device_count_fn>(
      dlsym(handle, "caprese_cuda_plugin_device_count"));
  plugin->device_info = reinterpret_cast<caprese_cuda_plugin_device_info_fn>(
      dlsym(handle, "caprese_cuda_plugin_device_info"));
  plugin->create =
      reinterpret_cast<caprese_cuda_plugin_create_fn>(dlsym(handle, "caprese_cuda_plugin_create"));
  if (!abi || !plugin->device_count || !plugin->device_info || !plugin->create)
    return Fail(CAPRESE_ERROR_BACKEND_UNAVAILABLE,
                "CUDA backend unavailable: %s lacks the plugin entry points (a stale build?)", name);
  if (abi() != CAPRESE_CUDA_PLUGIN_ABI)
    return Fail(CAPRESE_ERROR_BACKEND_UNAVAILABLE,
                "CUDA backend unavailable: %s speaks plugin protocol %d, libcaprese expects %d "
                "(mixed versions installed?)",
                name, abi(), CAPRESE_CUDA_PLUGIN_ABI);
  return Status::Ok();
}

}  // namespace

Status LoadCudaPlugin(const CudaPlugin** out) {
  PluginState& s = State();
  std::call_once(s.once, [&] { s.status = DoLoad(&s.plugin); });
  if (!s.status.ok()) return s.status;
  *out = &s.plugin;
  return Status::Ok();
}

}  // namespace caprese
