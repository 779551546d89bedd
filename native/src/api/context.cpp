// C ABI: backends, contexts, buffers, events, devices, profiling.
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "api/errors.h"
#include "api/handles.h"
#include "api/nvtx.h"

using caprese::Fail;
using caprese::Guard;
using caprese::Status;

namespace caprese {

std::atomic<bool>& ProfilingFlag() {
  static std::atomic<bool> flag{[] {
    const char* env = std::getenv("CAPRESE_NVTX");
    return env != nullptr && env[0] != '\0' && std::strcmp(env, "0") != 0;
  }()};
  return flag;
}

namespace {

Status PluginCall(int32_t code, const char* msg) {
  if (code == CAPRESE_OK) return Status::Ok();
  return Status{static_cast<caprese_status>(code), msg};
}

bool IsDeviceBackend(int32_t backend) {
  return backend == CAPRESE_BACKEND_CUDA || backend == CAPRESE_BACKEND_CUDA_SIM;
}

Status DeviceCount(int32_t backend, int32_t* count) {
  const CudaPlugin* plugin = nullptr;
  CAPRESE_RETURN_IF_ERROR(LoadCudaPlugin(static_cast<caprese_backend>(backend), &plugin));
  char msg[1024] = {0};
  return PluginCall(plugin->device_count(count, msg, sizeof msg), msg);
}

Status DeviceInfo(int32_t backend, int32_t device, caprese_device_info* info) {
  const CudaPlugin* plugin = nullptr;
  CAPRESE_RETURN_IF_ERROR(LoadCudaPlugin(static_cast<caprese_backend>(backend), &plugin));
  char msg[1024] = {0};
  return PluginCall(plugin->device_info(device, info, msg, sizeof msg), msg);
}

Status CreateDeviceBackend(int32_t backend, int32_t device, void* stream, std::unique_ptr<Backend>* out) {
  const CudaPlugin* plugin = nullptr;
  CAPRESE_RETURN_IF_ERROR(LoadCudaPlugin(static_cast<caprese_backend>(backend), &plugin));
  char msg[1024] = {0};
  Backend* raw = nullptr;
  CAPRESE_RETURN_IF_ERROR(PluginCall(plugin->create(device, stream, &raw, msg, sizeof msg), msg));
  if (raw == nullptr) return Fail(CAPRESE_ERROR_INTERNAL, "CUDA plugin returned no backend");
  if (raw->kind() != backend) {
    const int32_t got = raw->kind();
    delete raw;
    return Fail(CAPRESE_ERROR_BACKEND_UNAVAILABLE, "plugin for backend %d created a backend of kind %d (mismatched plugin files?)",
                backend, got);
  }
  out->reset(raw);
  return Status::Ok();
}

}  // namespace
}  // namespace caprese

extern "C" {

CAPRESE_API caprese_status caprese_backend_probe(int32_t backend) {
  return Guard([&]() -> Status {
    switch (backend) {
      case CAPRESE_BACKEND_CPU:
        return Status::Ok();
      case CAPRESE_BACKEND_CUDA:
      case CAPRESE_BACKEND_CUDA_SIM: {
        int32_t count = 0;
        CAPRESE_RETURN_IF_ERROR(caprese::DeviceCount(backend, &count));
        if (count <= 0)
          return Fail(CAPRESE_ERROR_BACKEND_UNAVAILABLE, "CUDA backend unavailable: no CUDA GPU found");
        return Status::Ok();
      }
    }
    return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "backend: unknown value %d", backend);
  });
}

CAPRESE_API caprese_status caprese_cuda_device_count(int32_t* count) {
  return Guard([&]() -> Status {
    if (count == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "count: NULL pointer");
    *count = 0;
    return caprese::DeviceCount(CAPRESE_BACKEND_CUDA, count);
  });
}

CAPRESE_API caprese_status caprese_backend_device_count(int32_t backend, int32_t* count) {
  return Guard([&]() -> Status {
    if (count == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "count: NULL pointer");
    *count = 0;
    if (backend == CAPRESE_BACKEND_CPU) return Status::Ok();
    if (!caprese::IsDeviceBackend(backend)) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "backend: unknown value %d", backend);
    return caprese::DeviceCount(backend, count);
  });
}

CAPRESE_API caprese_status caprese_backend_device_info(int32_t backend, int32_t device, caprese_device_info* info) {
  return Guard([&]() -> Status {
    if (info == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "info: NULL pointer");
    std::memset(info, 0, sizeof *info);
    if (backend == CAPRESE_BACKEND_CPU)
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "backend: the CPU backend has no devices to describe");
    if (!caprese::IsDeviceBackend(backend)) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "backend: unknown value %d", backend);
    return caprese::DeviceInfo(backend, device, info);
  });
}

CAPRESE_API caprese_status caprese_cuda_device_info(int32_t device, caprese_device_info* info) {
  return Guard([&]() -> Status {
    if (info == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "info: NULL pointer");
    std::memset(info, 0, sizeof *info);
    return caprese::DeviceInfo(CAPRESE_BACKEND_CUDA, device, info);
  });
}

CAPRESE_API caprese_status caprese_struct_layout(int32_t id, int64_t* size, int64_t* offsets,
                                                 int32_t capacity, int32_t* field_count) {
  return Guard([&]() -> Status {
    if (size == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "size: NULL pointer");
    if (field_count == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "field_count: NULL pointer");
    if (capacity < 0 || (capacity > 0 && offsets == nullptr))
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "offsets/capacity: need a buffer for %d offsets", capacity);
    std::vector<int64_t> fields;
    switch (id) {
      case CAPRESE_STRUCT_TENSOR:
        *size = sizeof(caprese_tensor);
        fields = {offsetof(caprese_tensor, data), offsetof(caprese_tensor, dtype),
                  offsetof(caprese_tensor, ndim), offsetof(caprese_tensor, shape)};
        break;
      case CAPRESE_STRUCT_CONTEXT_OPTIONS:
        *size = sizeof(caprese_context_options);
        fields = {offsetof(caprese_context_options, backend), offsetof(caprese_context_options, device),
                  offsetof(caprese_context_options, num_threads), offsetof(caprese_context_options, flags),
                  offsetof(caprese_context_options, stream)};
        break;
      case CAPRESE_STRUCT_ATTENTION_PARAMS:
        *size = sizeof(caprese_attention_params);
        fields = {offsetof(caprese_attention_params, pos0), offsetof(caprese_attention_params, sliding_window),
                  offsetof(caprese_attention_params, scale), offsetof(caprese_attention_params, softcap)};
        break;
      case CAPRESE_STRUCT_DEVICE_INFO:
        *size = sizeof(caprese_device_info);
        fields = {offsetof(caprese_device_info, name), offsetof(caprese_device_info, total_memory_bytes),
                  offsetof(caprese_device_info, compute_major), offsetof(caprese_device_info, compute_minor),
                  offsetof(caprese_device_info, multiprocessor_count),
                  offsetof(caprese_device_info, memory_bus_width_bits),
                  offsetof(caprese_device_info, memory_clock_khz), offsetof(caprese_device_info, l2_cache_bytes)};
        break;
      case CAPRESE_STRUCT_SPARSE_FFN_PARAMS:
        *size = sizeof(caprese_sparse_ffn_params);
        fields = {offsetof(caprese_sparse_ffn_params, activation), offsetof(caprese_sparse_ffn_params, selection),
                  offsetof(caprese_sparse_ffn_params, threshold), offsetof(caprese_sparse_ffn_params, flags)};
        break;
      case CAPRESE_STRUCT_SAMPLING_PARAMS:
        *size = sizeof(caprese_sampling_params);
        fields = {offsetof(caprese_sampling_params, temperature), offsetof(caprese_sampling_params, top_k),
                  offsetof(caprese_sampling_params, top_p), offsetof(caprese_sampling_params, flags),
                  offsetof(caprese_sampling_params, seed), offsetof(caprese_sampling_params, offset)};
        break;
      default:
        return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "id: unknown struct id %d", id);
    }
    *field_count = static_cast<int32_t>(fields.size());
    for (int32_t i = 0; i < capacity && i < *field_count; ++i) offsets[i] = fields[i];
    return Status::Ok();
  });
}

CAPRESE_API caprese_status caprese_set_profiling(int32_t enabled) {
  caprese::ProfilingFlag().store(enabled != 0);
  return CAPRESE_OK;
}

CAPRESE_API int32_t caprese_profiling_enabled(void) {
  return caprese::ProfilingFlag().load() ? 1 : 0;
}

CAPRESE_API caprese_status caprese_context_create(const caprese_context_options* options,
                                                  caprese_context_t* out) {
  return Guard([&]() -> Status {
    if (out == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "out: NULL pointer");
    *out = nullptr;
    if (options == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "options: NULL pointer");
    if (options->flags != 0)
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "options.flags: must be 0 (got %d)", options->flags);
    if (options->num_threads < 0)
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "options.num_threads: must be >= 0 (got %d)",
                  options->num_threads);
    std::unique_ptr<caprese::Backend> backend;
    switch (options->backend) {
      case CAPRESE_BACKEND_CPU:
        if (options->stream != nullptr)
          return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "options.stream: the CPU backend takes no stream");
        CAPRESE_RETURN_IF_ERROR(caprese::CreateCpuBackend(options->num_threads, &backend));
        break;
      case CAPRESE_BACKEND_CUDA:
      case CAPRESE_BACKEND_CUDA_SIM:
        if (options->device < 0)
          return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "options.device: must be >= 0 (got %d)",
                      options->device);
        CAPRESE_RETURN_IF_ERROR(
            caprese::CreateDeviceBackend(options->backend, options->device, options->stream, &backend));
        break;
      default:
        return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "options.backend: unknown value %d", options->backend);
    }
    auto* ctx = new caprese_context();
    ctx->backend = std::move(backend);
    *out = ctx;
    return Status::Ok();
  });
}

CAPRESE_API caprese_status caprese_context_destroy(caprese_context_t ctx) {
  return Guard([&]() -> Status {
    delete ctx;
    return Status::Ok();
  });
}

#define CAPRESE_CHECK_CTX(ctx) \
  if ((ctx) == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "ctx: NULL context")

CAPRESE_API caprese_status caprese_context_backend(caprese_context_t ctx, int32_t* backend) {
  return Guard([&]() -> Status {
    CAPRESE_CHECK_CTX(ctx);
    if (backend == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "backend: NULL pointer");
    *backend = ctx->backend->kind();
    return Status::Ok();
  });
}

CAPRESE_API caprese_status caprese_context_set_stream(caprese_context_t ctx, void* stream) {
  return Guard([&]() -> Status {
    CAPRESE_CHECK_CTX(ctx);
    return ctx->backend->SetStream(stream);
  });
}

CAPRESE_API caprese_status caprese_context_get_stream(caprese_context_t ctx, void** stream) {
  return Guard([&]() -> Status {
    CAPRESE_CHECK_CTX(ctx);
    if (stream == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "stream: NULL pointer");
    *stream = ctx->backend->GetStream();
    return Status::Ok();
  });
}

CAPRESE_API caprese_status caprese_context_synchronize(caprese_context_t ctx) {
  return Guard([&]() -> Status {
    CAPRESE_CHECK_CTX(ctx);
    return ctx->backend->Synchronize();
  });
}

CAPRESE_API caprese_status caprese_buffer_create(caprese_context_t ctx, size_t bytes,
                                                 caprese_buffer_t* out) {
  return Guard([&]() -> Status {
    if (out == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "out: NULL pointer");
    *out = nullptr;
    CAPRESE_CHECK_CTX(ctx);
    if (bytes == 0) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "bytes: must be > 0");
    void* data = nullptr;
    CAPRESE_RETURN_IF_ERROR(ctx->backend->Allocate(bytes, &data));
    auto* buf = new (std::nothrow) caprese_buffer();
    if (buf == nullptr) {
      ctx->backend->Free(data);
      return Fail(CAPRESE_ERROR_OUT_OF_MEMORY, "host allocation of a buffer handle failed");
    }
    buf->backend = ctx->backend;
    buf->data = data;
    buf->bytes = bytes;
    *out = buf;
    return Status::Ok();
  });
}

CAPRESE_API caprese_status caprese_buffer_destroy(caprese_buffer_t buffer) {
  return Guard([&]() -> Status {
    if (buffer == nullptr) return Status::Ok();
    buffer->backend->Free(buffer->data);
    delete buffer;
    return Status::Ok();
  });
}

CAPRESE_API caprese_status caprese_buffer_data(caprese_buffer_t buffer, void** data) {
  return Guard([&]() -> Status {
    if (buffer == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "buffer: NULL handle");
    if (data == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "data: NULL pointer");
    *data = buffer->data;
    return Status::Ok();
  });
}

CAPRESE_API caprese_status caprese_buffer_size(caprese_buffer_t buffer, size_t* bytes) {
  return Guard([&]() -> Status {
    if (buffer == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "buffer: NULL handle");
    if (bytes == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "bytes: NULL pointer");
    *bytes = buffer->bytes;
    return Status::Ok();
  });
}

CAPRESE_API caprese_status caprese_copy(caprese_context_t ctx, void* dst, const void* src,
                                        size_t bytes, int32_t kind) {
  return Guard([&]() -> Status {
    CAPRESE_CHECK_CTX(ctx);
    if (bytes == 0) return Status::Ok();
    if (dst == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "dst: NULL pointer");
    if (src == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "src: NULL pointer");
    if (kind < CAPRESE_COPY_HOST_TO_HOST || kind > CAPRESE_COPY_DEVICE_TO_DEVICE)
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "kind: unknown copy kind %d", kind);
    caprese::NvtxRange range("caprese_copy");
    return ctx->backend->Copy(dst, src, bytes, static_cast<caprese_copy_kind>(kind));
  });
}

CAPRESE_API caprese_status caprese_memset(caprese_context_t ctx, void* dst, int32_t value,
                                          size_t bytes) {
  return Guard([&]() -> Status {
    CAPRESE_CHECK_CTX(ctx);
    if (bytes == 0) return Status::Ok();
    if (dst == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "dst: NULL pointer");
    return ctx->backend->Memset(dst, value, bytes);
  });
}

CAPRESE_API caprese_status caprese_event_create(caprese_context_t ctx, caprese_event_t* out) {
  return Guard([&]() -> Status {
    if (out == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "out: NULL pointer");
    *out = nullptr;
    CAPRESE_CHECK_CTX(ctx);
    std::unique_ptr<caprese::BackendEvent> ev;
    CAPRESE_RETURN_IF_ERROR(ctx->backend->CreateEvent(&ev));
    auto* e = new caprese_event();
    e->backend = ctx->backend;
    e->event = std::move(ev);
    *out = e;
    return Status::Ok();
  });
}

CAPRESE_API caprese_status caprese_event_destroy(caprese_event_t event) {
  return Guard([&]() -> Status {
    delete event;
    return Status::Ok();
  });
}

CAPRESE_API caprese_status caprese_event_record(caprese_context_t ctx, caprese_event_t event) {
  return Guard([&]() -> Status {
    CAPRESE_CHECK_CTX(ctx);
    if (event == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "event: NULL handle");
    if (event->backend != ctx->backend)
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "event: created by another context");
    return ctx->backend->RecordEvent(event->event.get());
  });
}

CAPRESE_API caprese_status caprese_event_synchronize(caprese_event_t event) {
  return Guard([&]() -> Status {
    if (event == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "event: NULL handle");
    return event->backend->SynchronizeEvent(event->event.get());
  });
}

CAPRESE_API caprese_status caprese_event_elapsed_ms(caprese_event_t start, caprese_event_t end,
                                                    float* ms) {
  return Guard([&]() -> Status {
    if (start == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "start: NULL handle");
    if (end == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "end: NULL handle");
    if (ms == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "ms: NULL pointer");
    if (start->backend != end->backend)
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "start and end: events of different contexts");
    return start->backend->ElapsedMs(start->event.get(), end->event.get(), ms);
  });
}

}  // extern "C"
