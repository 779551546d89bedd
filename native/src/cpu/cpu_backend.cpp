#include "cpu/cpu_backend.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>

namespace caprese {
namespace {

constexpr size_t kAlignment = 64;  // a cache line, and enough for any vector load

struct CpuEvent final : BackendEvent {
  std::chrono::steady_clock::time_point time;
  bool recorded = false;
};

}  // namespace

namespace cpu {
bool UseAvx2() {
  static const bool use = [] {
#if defined(__x86_64__) || defined(__i386__)
    const char* env = std::getenv("CAPRESE_CPU_SIMD");
    if (env != nullptr && std::strcmp(env, "0") == 0) return false;
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
    return false;
#endif
  }();
  return use;
}
}  // namespace cpu

Status CreateCpuBackend(int num_threads, std::unique_ptr<Backend>* out) {
  if (num_threads < 0)
    return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "num_threads: must be >= 0 (got %d)", num_threads);
  out->reset(new CpuBackend(num_threads));
  return Status::Ok();
}

Status CpuBackend::Allocate(size_t bytes, void** out) {
  *out = nullptr;
  // aligned_alloc wants a multiple of the alignment; guard the round-up against overflow.
  if (bytes > SIZE_MAX - kAlignment)
    return Fail(CAPRESE_ERROR_OUT_OF_MEMORY, "host allocation of %zu bytes failed (too large)", bytes);
  size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  void* p = std::aligned_alloc(kAlignment, rounded);
  if (p == nullptr) return Fail(CAPRESE_ERROR_OUT_OF_MEMORY, "host allocation of %zu bytes failed", bytes);
  std::memset(p, 0, rounded);
  *out = p;
  return Status::Ok();
}

void CpuBackend::Free(void* ptr) noexcept { std::free(ptr); }

Status CpuBackend::Copy(void* dst, const void* src, size_t bytes, caprese_copy_kind kind) {
  // All CPU memory is host memory, so every copy kind is the same memmove (which also makes
  // overlapping ranges safe, unlike memcpy).
  std::memmove(dst, src, bytes);
  return Status::Ok();
}

Status CpuBackend::Memset(void* dst, int value, size_t bytes) {
  std::memset(dst, value, bytes);
  return Status::Ok();
}

Status CpuBackend::SetStream(void* stream) {
  if (stream != nullptr)
    return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "stream: the CPU backend has no streams (pass NULL)");
  return Status::Ok();
}

// The *_at ops: the position lives in host memory here, so it is read now and the by-value
// op runs, which makes the two bitwise equal by construction.
Status CpuBackend::Rope(const RopeArgs& a) {
  if (a.pos_device == nullptr) return cpu::Rope(pool_, a);
  const int32_t pos = *a.pos_device;
  if (pos < 0) return Fail(CAPRESE_ERROR_OUT_OF_RANGE, "rope_at: *pos must be >= 0 (got %d)", pos);
  RopeArgs v = a;
  v.pos0 = pos;
  v.pos_device = nullptr;
  return cpu::Rope(pool_, v);
}

Status CpuBackend::Attention(const AttentionArgs& a) {
  if (a.pos_device == nullptr) return cpu::Attention(pool_, a);
  const int32_t pos = *a.pos_device;
  if (pos < 0 || pos + a.m > a.cache_len)
    return Fail(CAPRESE_ERROR_OUT_OF_RANGE, "attention_at: *pos (%d) must be >= 0 with *pos + rows (%lld) <= the cache length %lld",
                pos, static_cast<long long>(a.m), static_cast<long long>(a.cache_len));
  AttentionArgs v = a;
  v.params.pos0 = pos;
  v.pos_device = nullptr;
  return cpu::Attention(pool_, v);
}

Status CpuBackend::WriteRows(const WriteRowsArgs& a) {
  const int32_t pos = *a.pos_device;
  if (pos < 0 || pos + a.rows > a.dst_rows)
    return Fail(CAPRESE_ERROR_OUT_OF_RANGE, "write_rows_at: *pos (%d) must be >= 0 with *pos + rows (%lld) <= dst rows %lld",
                pos, static_cast<long long>(a.rows), static_cast<long long>(a.dst_rows));
  std::memcpy(static_cast<char*>(a.dst) + pos * a.row_bytes, a.src, static_cast<size_t>(a.rows * a.row_bytes));
  return Status::Ok();
}

Status CpuBackend::BeginCapture() {
  return Fail(CAPRESE_ERROR_NOT_SUPPORTED,
              "graph capture: graphs are a CUDA feature; the CPU backend runs each op when it is called (use the cuda "
              "or cuda-sim backend)");
}

Status CpuBackend::EndCapture(std::unique_ptr<BackendGraph>*) {
  return Fail(CAPRESE_ERROR_NOT_SUPPORTED, "graph capture: graphs are a CUDA feature; the CPU backend has none");
}

Status CpuBackend::LaunchGraph(BackendGraph*) {
  return Fail(CAPRESE_ERROR_NOT_SUPPORTED, "graph launch: graphs are a CUDA feature; the CPU backend has none");
}

Status CpuBackend::CreateEvent(std::unique_ptr<BackendEvent>* out) {
  out->reset(new CpuEvent());
  return Status::Ok();
}

Status CpuBackend::RecordEvent(BackendEvent* event) {
  auto* e = static_cast<CpuEvent*>(event);
  e->time = std::chrono::steady_clock::now();
  e->recorded = true;
  return Status::Ok();
}

Status CpuBackend::ElapsedMs(BackendEvent* start, BackendEvent* end, float* ms) {
  auto* s = static_cast<CpuEvent*>(start);
  auto* e = static_cast<CpuEvent*>(end);
  if (!s->recorded) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "start: event was never recorded");
  if (!e->recorded) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "end: event was never recorded");
  *ms = std::chrono::duration<float, std::milli>(e->time - s->time).count();
  return Status::Ok();
}

}  // namespace caprese
