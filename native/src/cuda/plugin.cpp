// The four C entry points libcaprese looks up with dlsym (protocol in core/backend.h).
// Nothing may throw across them: every failure becomes a status plus a message in `msg`.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <new>

#include "core/backend.h"
#include "cuda/cuda_backend.h"

namespace {

int32_t Report(const caprese::Status& st, char* msg, size_t msg_size) {
  if (!st.ok() && msg != nullptr && msg_size > 0) std::snprintf(msg, msg_size, "%s", st.message.c_str());
  return st.code;
}

template <typename F>
int32_t Guarded(char* msg, size_t msg_size, F&& body) noexcept {
  try {
    return Report(body(), msg, msg_size);
  } catch (const std::bad_alloc&) {
    return Report(caprese::Fail(CAPRESE_ERROR_OUT_OF_MEMORY, "CUDA plugin: host allocation failed"), msg, msg_size);
  } catch (const std::exception& e) {
    return Report(caprese::Fail(CAPRESE_ERROR_INTERNAL, "CUDA plugin: unexpected exception: %s", e.what()), msg,
                  msg_size);
  } catch (...) {
    return Report(caprese::Fail(CAPRESE_ERROR_INTERNAL, "CUDA plugin: unexpected exception"), msg, msg_size);
  }
}

caprese::Status DeviceCount(int32_t* count) { return caprese::cuda::CudaBackend::DeviceCount(count); }

}  // namespace

extern "C" {

CAPRESE_API int32_t caprese_cuda_plugin_abi(void) { return CAPRESE_CUDA_PLUGIN_ABI; }

CAPRESE_API int32_t caprese_cuda_plugin_device_count(int32_t* count, char* msg, size_t msg_size) {
  return Guarded(msg, msg_size, [&]() -> caprese::Status {
    if (count == nullptr) return caprese::Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "count: NULL pointer");
    *count = 0;
    return DeviceCount(count);
  });
}

CAPRESE_API int32_t caprese_cuda_plugin_device_info(int32_t device, caprese_device_info* info, char* msg,
                                                    size_t msg_size) {
  return Guarded(msg, msg_size, [&]() -> caprese::Status {
    if (info == nullptr) return caprese::Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "info: NULL pointer");
    std::memset(info, 0, sizeof *info);
    int32_t count = 0;
    CAPRESE_RETURN_IF_ERROR(DeviceCount(&count));
    if (device < 0 || device >= count)
      return caprese::Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "device: ordinal %d out of range (%d %s%s found)",
                           device, count, caprese::cuda::kDeviceNoun, count == 1 ? "" : "s");
    cudaDeviceProp prop;
    CAPRESE_RETURN_IF_ERROR(caprese::cuda::FromCuda(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties"));
    std::snprintf(info->name, sizeof info->name, "%s", prop.name);
    info->total_memory_bytes = static_cast<int64_t>(prop.totalGlobalMem);
    info->compute_major = prop.major;
    info->compute_minor = prop.minor;
    // Attributes rather than cudaDeviceProp fields: CUDA 13 dropped some of those fields.
    int v = 0;
    struct {
      cudaDeviceAttr attr;
      const char* name;
    } const attrs[] = {{cudaDevAttrMultiProcessorCount, "multiprocessor count"},
                       {cudaDevAttrGlobalMemoryBusWidth, "memory bus width"},
                       {cudaDevAttrMemoryClockRate, "memory clock"},
                       {cudaDevAttrL2CacheSize, "L2 size"}};
    int64_t values[4] = {0, 0, 0, 0};
    for (int i = 0; i < 4; ++i) {
      CAPRESE_RETURN_IF_ERROR(caprese::cuda::FromCuda(cudaDeviceGetAttribute(&v, attrs[i].attr, device), attrs[i].name));
      values[i] = v;
    }
    info->multiprocessor_count = static_cast<int32_t>(values[0]);
    info->memory_bus_width_bits = static_cast<int32_t>(values[1]);
    info->memory_clock_khz = values[2];
    info->l2_cache_bytes = values[3];
    return caprese::Status::Ok();
  });
}

CAPRESE_API int32_t caprese_cuda_plugin_create(int32_t device, void* stream, ::caprese::Backend** out, char* msg,
                                               size_t msg_size) {
  return Guarded(msg, msg_size, [&]() -> caprese::Status {
    if (out == nullptr) return caprese::Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "out: NULL pointer");
    *out = nullptr;
    std::unique_ptr<caprese::Backend> be;
    CAPRESE_RETURN_IF_ERROR(caprese::cuda::CudaBackend::Create(device, stream, &be));
    *out = be.release();
    return caprese::Status::Ok();
  });
}

}  // extern "C"
