// libcaprese_cudasim_rt: the host side of the CUDA runtime as the simulator provides it.
// Device memory is host memory laid out so that misuse shows: each cudaMalloc block starts
// 256-byte aligned (as on a GPU) and ends within 255 bytes of a PROT_NONE guard page, with
// canary bytes in between that are checked after every kernel and at cudaFree; another guard
// page sits before it. Under AddressSanitizer the blocks come from malloc instead, so ASan's
// redzones catch any out-of-bounds byte. Streams and events are synchronous.
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include "internal.h"

namespace cudasim {
namespace internal {
namespace {

thread_local cudaError_t t_last_error = cudaSuccess;

std::mutex& ReportMutex() {
  static std::mutex* m = new std::mutex();
  return *m;
}
std::string& ReportText() {
  static std::string* s = new std::string();
  return *s;
}
cudaError_t g_report_code = cudaSuccess;
std::atomic<int> g_faults{0};

const char* ErrorText(cudaError_t err) {
  switch (err) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorInvalidDeviceFunction: return "invalid device function";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorNoKernelImageForDevice: return "no kernel image is available for execution on the device";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorMisalignedAddress: return "misaligned address";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorNotPermitted: return "operation not permitted";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorSystemDriverMismatch: return "system has unsupported display driver / cuda driver combination";
    case cudaErrorCompatNotSupportedOnDevice: return "forward compatibility was attempted on non supported HW";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorIllegalState: return "the operation is not permitted in the current state";
    case cudaErrorUnknown: return "unknown error";
  }
  return "unrecognized error code";
}

const char* ErrorName(cudaError_t err) {
  switch (err) {
#define CUDASIM_NAME(e) \
  case e: return #e;
    CUDASIM_NAME(cudaSuccess)
    CUDASIM_NAME(cudaErrorInvalidValue)
    CUDASIM_NAME(cudaErrorMemoryAllocation)
    CUDASIM_NAME(cudaErrorInitializationError)
    CUDASIM_NAME(cudaErrorInvalidConfiguration)
    CUDASIM_NAME(cudaErrorInvalidDevicePointer)
    CUDASIM_NAME(cudaErrorInvalidMemcpyDirection)
    CUDASIM_NAME(cudaErrorInsufficientDriver)
    CUDASIM_NAME(cudaErrorInvalidDeviceFunction)
    CUDASIM_NAME(cudaErrorNoDevice)
    CUDASIM_NAME(cudaErrorInvalidDevice)
    CUDASIM_NAME(cudaErrorNoKernelImageForDevice)
    CUDASIM_NAME(cudaErrorInvalidResourceHandle)
    CUDASIM_NAME(cudaErrorNotReady)
    CUDASIM_NAME(cudaErrorIllegalAddress)
    CUDASIM_NAME(cudaErrorLaunchOutOfResources)
    CUDASIM_NAME(cudaErrorMisalignedAddress)
    CUDASIM_NAME(cudaErrorLaunchFailure)
    CUDASIM_NAME(cudaErrorNotPermitted)
    CUDASIM_NAME(cudaErrorNotSupported)
    CUDASIM_NAME(cudaErrorSystemDriverMismatch)
    CUDASIM_NAME(cudaErrorCompatNotSupportedOnDevice)
    CUDASIM_NAME(cudaErrorStreamCaptureUnsupported)
    CUDASIM_NAME(cudaErrorStreamCaptureInvalidated)
    CUDASIM_NAME(cudaErrorIllegalState)
    CUDASIM_NAME(cudaErrorUnknown)
#undef CUDASIM_NAME
  }
  return "cudaErrorUnrecognized";
}

// ------------------------------------------------------------------ device profiles
const DeviceProfile kProfiles[] = {
    // key, name, cc, SMs, memory, bus bits, memory clock kHz, L2, smem opt-in per block, smem per SM,
    // threads per SM, blocks per SM, registers per SM
    {"h200", "NVIDIA H200", 9, 0, 132, size_t{143771} << 20, 6144, 3201000, 50 << 20, 232448, 233472, 2048, 32, 65536},
    {"h100", "NVIDIA H100 80GB HBM3", 9, 0, 132, size_t{81559} << 20, 5120, 2619000, 50 << 20, 232448, 233472, 2048,
     32, 65536},
    {"a100", "NVIDIA A100-SXM4-80GB", 8, 0, 108, size_t{81051} << 20, 5120, 1593000, 40 << 20, 166912, 167936, 2048,
     32, 65536},
};

const DeviceProfile& ChooseProfile() {
  const char* want = std::getenv("CAPRESE_CUDASIM_DEVICE");
  if (want == nullptr || *want == '\0') return kProfiles[0];
  for (const DeviceProfile& p : kProfiles)
    if (std::strcmp(p.key, want) == 0) return p;
  std::fprintf(stderr, "cuda-sim: CAPRESE_CUDASIM_DEVICE=%s is not a known profile (h200, h100, a100); using h200\n",
               want);
  return kProfiles[0];
}

// Device memory the simulator hands out: the profile's, but never more than half the host's
// RAM (CAPRESE_CUDASIM_MEMORY_MB overrides), so asking for too much is cudaErrorMemoryAllocation
// rather than the host's OOM killer.
size_t MemoryCap() {
  static const size_t cap = [] {
    size_t c = Profile().memory_bytes;
    if (const char* mb = std::getenv("CAPRESE_CUDASIM_MEMORY_MB")) {
      const long long v = std::atoll(mb);
      if (v > 0) return std::min(c, static_cast<size_t>(v) << 20);
    }
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    if (pages > 0 && page > 0) c = std::min(c, static_cast<size_t>(pages) * static_cast<size_t>(page) / 2);
    return c;
  }();
  return cap;
}

// ------------------------------------------------------------------ allocations
constexpr unsigned char kCanary = 0xCD;

struct Allocation {
  char* map = nullptr;  // the whole mapping (or the malloc block)
  size_t map_bytes = 0;
  char* data = nullptr;
  size_t bytes = 0;
  size_t slack = 0;  // canary bytes after data + bytes (before the guard page)
  bool host = false; // cudaHostAlloc: host memory the device may also address
};

struct Registry {
  std::mutex mu;
  std::map<uintptr_t, Allocation> by_start;
  size_t used = 0;
};
Registry& Allocations() {
  static Registry* r = new Registry();
  return *r;
}

size_t PageSize() {
  static const size_t p = static_cast<size_t>(sysconf(_SC_PAGE_SIZE));
  return p;
}

// The allocation holding [p, p + n), or nullptr. Caller holds the registry lock.
const Allocation* Find(Registry& r, const void* p, size_t n) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = r.by_start.upper_bound(a);
  if (it == r.by_start.begin()) return nullptr;
  --it;
  const Allocation& al = it->second;
  const uintptr_t start = reinterpret_cast<uintptr_t>(al.data);
  if (a < start || a - start > al.bytes || n > al.bytes - (a - start)) return nullptr;
  return &al;
}

bool CheckOne(const Allocation& a, std::string* report) {
  if (a.host || a.slack == 0) return true;
  const unsigned char* tail = reinterpret_cast<const unsigned char*>(a.data + a.bytes);
  for (size_t i = 0; i < a.slack; ++i) {
    if (tail[i] != kCanary) {
      if (report != nullptr)
        *report = Format("out-of-bounds global write: byte %zu of the %zu-byte device allocation at %p "
                         "(%zu bytes past its end) was written",
                         a.bytes + i, a.bytes, static_cast<void*>(a.data), i);
      std::memset(const_cast<unsigned char*>(tail), kCanary, a.slack);
      return false;
    }
  }
  return true;
}

// ------------------------------------------------------------------ streams and events
struct Handles {
  std::mutex mu;
  std::set<const void*> streams, events;
};
Handles& Live() {
  static Handles* h = new Handles();
  return *h;
}

}  // namespace

std::string Format(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

cudaError_t Record(cudaError_t err, const std::string& detail) {
  if (err == cudaSuccess) return err;
  t_last_error = err;
  std::lock_guard<std::mutex> lock(ReportMutex());
  g_report_code = err;
  ReportText() = detail;
  return err;
}

cudaError_t Fault(cudaError_t err, const std::string& detail) {
  g_faults.fetch_add(1);
  std::fprintf(stderr, "========= cuda-sim: %s\n", detail.c_str());
  return Record(err, detail);
}

bool DescribeAddress(uintptr_t addr, char* buf, size_t size) {
  Registry& r = Allocations();
  std::unique_lock<std::mutex> lock(r.mu, std::try_to_lock);
  if (!lock.owns_lock()) return false;
  for (const auto& kv : r.by_start) {
    const Allocation& a = kv.second;
    const uintptr_t lo = reinterpret_cast<uintptr_t>(a.map), hi = lo + a.map_bytes;
    if (addr < lo || addr >= hi) continue;
    const uintptr_t start = reinterpret_cast<uintptr_t>(a.data), end = start + a.bytes;
    if (addr >= end)
      std::snprintf(buf, size, "out-of-bounds global access at %p, %zu bytes past the end of the %zu-byte device "
                    "allocation at %p", reinterpret_cast<void*>(addr), static_cast<size_t>(addr - end), a.bytes,
                    static_cast<void*>(a.data));
    else if (addr < start)
      std::snprintf(buf, size, "out-of-bounds global access at %p, %zu bytes before the start of the %zu-byte "
                    "device allocation at %p", reinterpret_cast<void*>(addr), static_cast<size_t>(start - addr),
                    a.bytes, static_cast<void*>(a.data));
    else
      std::snprintf(buf, size, "invalid access at %p inside the device allocation at %p (misaligned vector "
                    "access?)", reinterpret_cast<void*>(addr), static_cast<void*>(a.data));
    return true;
  }
  return false;
}

bool CheckCanaries(std::string* report) {
  Registry& r = Allocations();
  std::lock_guard<std::mutex> lock(r.mu);
  for (const auto& kv : r.by_start)
    if (!CheckOne(kv.second, report)) return false;
  return true;
}

bool ValidStream(cudaStream_t stream) {
  if (stream == nullptr) return true;
  Handles& h = Live();
  std::lock_guard<std::mutex> lock(h.mu);
  return h.streams.count(stream) != 0;
}

}  // namespace internal

using internal::Format;
using internal::Record;

const DeviceProfile& Profile() {
  static const DeviceProfile& p = internal::ChooseProfile();
  return p;
}

std::string LastReport() {
  std::lock_guard<std::mutex> lock(internal::ReportMutex());
  return internal::ReportText();
}
int FaultCount() { return internal::g_faults.load(); }

// ------------------------------------------------------------------ errors
const char* cudaGetErrorString(cudaError_t err) {
  // The standard text, plus what the simulator found when this code is the last one it
  // reported (callers copy the string at once, as they do with CUDA's).
  thread_local std::string text;
  text = internal::ErrorText(err);
  std::lock_guard<std::mutex> lock(internal::ReportMutex());
  if (err != cudaSuccess && err == internal::g_report_code && !internal::ReportText().empty())
    text += " [cuda-sim: " + internal::ReportText() + "]";
  return text.c_str();
}
const char* cudaGetErrorName(cudaError_t err) { return internal::ErrorName(err); }
cudaError_t cudaGetLastError() {
  const cudaError_t e = internal::t_last_error;
  internal::t_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return internal::t_last_error; }

// ------------------------------------------------------------------ device
cudaError_t cudaGetDeviceCount(int* count) {
  if (count == nullptr) return Record(cudaErrorInvalidValue, "cudaGetDeviceCount: NULL count");
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  if (device != 0) return Record(cudaErrorInvalidDevice, Format("the simulator has one device; %d asked", device));
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  if (device == nullptr) return Record(cudaErrorInvalidValue);
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (prop == nullptr) return Record(cudaErrorInvalidValue);
  if (device != 0) return Record(cudaErrorInvalidDevice);
  const DeviceProfile& p = Profile();
  std::memset(prop, 0, sizeof *prop);
  std::snprintf(prop->name, sizeof prop->name, "%s (cuda-sim: simulated on the CPU, slow; no cuBLAS)", p.name);
  prop->totalGlobalMem = internal::MemoryCap();
  prop->sharedMemPerBlock = 48 * 1024;
  prop->sharedMemPerBlockOptin = static_cast<size_t>(p.smem_per_block_optin);
  prop->sharedMemPerMultiprocessor = static_cast<size_t>(p.smem_per_multiprocessor);
  prop->regsPerBlock = 65536;
  prop->regsPerMultiprocessor = p.registers_per_multiprocessor;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 2147483647;
  prop->maxGridSize[1] = prop->maxGridSize[2] = 65535;
  prop->maxThreadsPerMultiProcessor = p.max_threads_per_multiprocessor;
  prop->maxBlocksPerMultiProcessor = p.max_blocks_per_multiprocessor;
  prop->major = p.major;
  prop->minor = p.minor;
  prop->multiProcessorCount = p.multiprocessors;
  prop->l2CacheSize = p.l2_bytes;
  prop->memoryBusWidth = p.memory_bus_bits;
  prop->memoryClockRate = p.memory_clock_khz;
  prop->clockRate = 1980000;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (value == nullptr) return Record(cudaErrorInvalidValue);
  if (device != 0) return Record(cudaErrorInvalidDevice);
  cudaDeviceProp p;
  cudaGetDeviceProperties(&p, 0);
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = p.maxThreadsPerBlock; break;
    case cudaDevAttrMaxBlockDimX: *value = p.maxThreadsDim[0]; break;
    case cudaDevAttrMaxGridDimX: *value = p.maxGridSize[0]; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = static_cast<int>(p.sharedMemPerBlock); break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrClockRate: *value = p.clockRate; break;
    case cudaDevAttrMultiProcessorCount: *value = p.multiProcessorCount; break;
    case cudaDevAttrMemoryClockRate: *value = p.memoryClockRate; break;
    case cudaDevAttrGlobalMemoryBusWidth: *value = p.memoryBusWidth; break;
    case cudaDevAttrL2CacheSize: *value = p.l2CacheSize; break;
    case cudaDevAttrMaxThreadsPerMultiProcessor: *value = p.maxThreadsPerMultiProcessor; break;
    case cudaDevAttrComputeCapabilityMajor: *value = p.major; break;
    case cudaDevAttrComputeCapabilityMinor: *value = p.minor; break;
    case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *value = static_cast<int>(p.sharedMemPerMultiprocessor); break;
    case cudaDevAttrMaxRegistersPerMultiprocessor: *value = p.regsPerMultiprocessor; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = static_cast<int>(p.sharedMemPerBlockOptin); break;
    case cudaDevAttrMaxBlocksPerMultiprocessor: *value = p.maxBlocksPerMultiProcessor; break;
    default: return Record(cudaErrorInvalidValue, Format("cudaDeviceGetAttribute: attribute %d is not simulated", attr));
  }
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
cudaError_t cudaRuntimeGetVersion(int* version) {
  if (version == nullptr) return Record(cudaErrorInvalidValue);
  *version = 12000;  // the API level the simulator follows
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* version) { return cudaRuntimeGetVersion(version); }
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  internal::Registry& r = internal::Allocations();
  std::lock_guard<std::mutex> lock(r.mu);
  const size_t cap = internal::MemoryCap();
  if (free_bytes) *free_bytes = cap > r.used ? cap - r.used : 0;
  if (total_bytes) *total_bytes = cap;
  return cudaSuccess;
}

// ------------------------------------------------------------------ fault injection
namespace {
std::atomic<int> g_inject_alloc{0};
std::atomic<int> g_inject_launch{0};
std::atomic<int> g_inject_launch_error{0};

bool TakeOne(std::atomic<int>& counter) {
  int n = counter.load();
  while (n != 0) {
    if (n < 0) return true;  // until reset
    if (counter.compare_exchange_weak(n, n - 1)) return true;
  }
  return false;
}
}  // namespace

void InjectAllocationFailures(int count) { g_inject_alloc.store(count); }
void InjectLaunchErrors(cudaError_t err, int count) {
  g_inject_launch_error.store(static_cast<int>(err));
  g_inject_launch.store(count);
}

namespace internal {
bool TakeInjectedAllocationFailure() { return TakeOne(g_inject_alloc); }
bool TakeInjectedLaunchError(cudaError_t* err) {
  if (!TakeOne(g_inject_launch)) return false;
  *err = static_cast<cudaError_t>(g_inject_launch_error.load());
  return true;
}
}  // namespace internal

// ------------------------------------------------------------------ memory
cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  if (ptr == nullptr) return Record(cudaErrorInvalidValue, "cudaMalloc: NULL result pointer");
  *ptr = nullptr;
  if (bytes == 0) return cudaSuccess;
  if (internal::TakeInjectedAllocationFailure())
    return Record(cudaErrorMemoryAllocation, Format("cudaMalloc of %zu bytes: failure injected by the test", bytes));
  internal::Registry& r = internal::Allocations();
  const size_t cap = internal::MemoryCap();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    if (bytes > cap || r.used > cap - bytes)
      return Record(cudaErrorMemoryAllocation,
                    Format("cudaMalloc of %zu bytes: the simulated device has %zu of %zu bytes free", bytes,
                           cap > r.used ? cap - r.used : 0, cap));
  }
  internal::Allocation a;
  a.bytes = bytes;
  const size_t rounded = (bytes + 255) / 256 * 256;
#if CUDASIM_ASAN
  // ASan's own redzone starts right at data + bytes.
  void* p = nullptr;
  if (posix_memalign(&p, 256, bytes) != 0) return Record(cudaErrorMemoryAllocation, "cudaMalloc: host malloc failed");
  a.map = a.data = static_cast<char*>(p);
  a.map_bytes = bytes;
#else
  const size_t page = internal::PageSize();
  const size_t body = (rounded + page - 1) / page * page;
  const size_t total = body + 2 * page;
  void* m = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED)
    return Record(cudaErrorMemoryAllocation, Format("cudaMalloc of %zu bytes: host mmap failed", bytes));
  a.map = static_cast<char*>(m);
  a.map_bytes = total;
  mprotect(a.map, page, PROT_NONE);
  mprotect(a.map + page + body, page, PROT_NONE);
  a.data = a.map + page + body - rounded;  // 256-aligned, ends < 256 bytes before the guard
  a.slack = rounded - bytes;
  std::memset(a.data + bytes, internal::kCanary, a.slack);
#endif
  std::lock_guard<std::mutex> lock(r.mu);
  r.used += bytes;
  r.by_start[reinterpret_cast<uintptr_t>(a.data)] = a;
  *ptr = a.data;
  return cudaSuccess;
}

namespace {
cudaError_t Release(void* ptr, bool host, const char* what) {
  if (ptr == nullptr) return cudaSuccess;
  internal::Registry& r = internal::Allocations();
  internal::Allocation a;
  std::string report;
  bool intact;
  {
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = r.by_start.find(reinterpret_cast<uintptr_t>(ptr));
    if (it == r.by_start.end() || it->second.host != host)
      return Record(cudaErrorInvalidValue,
                    Format("%s(%p): not a live %s allocation (freed twice, or never allocated here)", what, ptr,
                           host ? "cudaHostAlloc" : "cudaMalloc"));
    a = it->second;
    intact = internal::CheckOne(a, &report);
    r.by_start.erase(it);
    if (!host) r.used -= a.bytes;
  }
  if (host || CUDASIM_ASAN)
    std::free(a.map);
  else
    munmap(a.map, a.map_bytes);
  if (!intact) return internal::Fault(cudaErrorIllegalAddress, report + " (found at cudaFree)");
  return cudaSuccess;
}
}  // namespace

cudaError_t cudaFree(void* ptr) { return Release(ptr, false, "cudaFree"); }

cudaError_t cudaHostAlloc(void** ptr, size_t bytes, unsigned flags) {
  if (ptr == nullptr) return Record(cudaErrorInvalidValue);
  *ptr = nullptr;
  void* p = nullptr;
  if (posix_memalign(&p, 4096, bytes == 0 ? 1 : bytes) != 0) return Record(cudaErrorMemoryAllocation);
  std::memset(p, 0, bytes);
  internal::Allocation a;
  a.map = a.data = static_cast<char*>(p);
  a.map_bytes = a.bytes = bytes;
  a.host = true;
  internal::Registry& r = internal::Allocations();
  std::lock_guard<std::mutex> lock(r.mu);
  r.by_start[reinterpret_cast<uintptr_t>(p)] = a;
  *ptr = p;
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** ptr, size_t bytes) { return cudaHostAlloc(ptr, bytes, cudaHostAllocDefault); }
cudaError_t cudaFreeHost(void* ptr) { return Release(ptr, true, "cudaFreeHost"); }
cudaError_t cudaHostGetDevicePointer(void** device_ptr, void* host_ptr, unsigned flags) {
  if (device_ptr == nullptr || flags != 0) return Record(cudaErrorInvalidValue);
  internal::Registry& r = internal::Allocations();
  std::lock_guard<std::mutex> lock(r.mu);
  const internal::Allocation* a = internal::Find(r, host_ptr, 0);
  if (a == nullptr || !a->host)
    return Record(cudaErrorInvalidValue, Format("cudaHostGetDevicePointer: %p is not cudaHostAlloc memory", host_ptr));
  *device_ptr = host_ptr;
  return cudaSuccess;
}

namespace {
// The device side of a copy or memset must lie inside one live allocation, as the driver
// checks on a GPU.
cudaError_t CheckDeviceRange(const void* p, size_t bytes, const char* what, const char* role) {
  if (bytes == 0) return cudaSuccess;
  internal::Registry& r = internal::Allocations();
  std::lock_guard<std::mutex> lock(r.mu);
  if (internal::Find(r, p, bytes) != nullptr) return cudaSuccess;
  return Record(cudaErrorInvalidValue, Format("%s: the %s range [%p, +%zu bytes) is not inside one device allocation",
                                              what, role, p, bytes));
}
}  // namespace

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  if (!internal::ValidStream(stream))
    return Record(cudaErrorInvalidResourceHandle, "cudaMemcpyAsync: the stream was destroyed or never created");
  cudaError_t e = cudaSuccess;
  switch (kind) {
    case cudaMemcpyHostToHost: break;
    case cudaMemcpyHostToDevice: e = CheckDeviceRange(dst, bytes, "cudaMemcpy", "destination"); break;
    case cudaMemcpyDeviceToHost: e = CheckDeviceRange(src, bytes, "cudaMemcpy", "source"); break;
    case cudaMemcpyDeviceToDevice:
      e = CheckDeviceRange(dst, bytes, "cudaMemcpy", "destination");
      if (e == cudaSuccess) e = CheckDeviceRange(src, bytes, "cudaMemcpy", "source");
      break;
    case cudaMemcpyDefault: break;
    default: return Record(cudaErrorInvalidMemcpyDirection);
  }
  if (e != cudaSuccess) return e;
  // Captured: the copy runs at each launch of the graph, with the pointers given now.
  if (internal::CaptureIfCapturing(stream, [=]() -> cudaError_t {
        if (bytes > 0) std::memmove(dst, src, bytes);
        return cudaSuccess;
      }))
    return cudaSuccess;
  if (bytes > 0) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  return cudaMemcpyAsync(dst, src, bytes, kind, nullptr);
}
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t stream) {
  if (!internal::ValidStream(stream))
    return Record(cudaErrorInvalidResourceHandle, "cudaMemsetAsync: the stream was destroyed or never created");
  const cudaError_t e = CheckDeviceRange(dst, bytes, "cudaMemset", "destination");
  if (e != cudaSuccess) return e;
  if (internal::CaptureIfCapturing(stream, [=]() -> cudaError_t {
        if (bytes > 0) std::memset(dst, value, bytes);
        return cudaSuccess;
      }))
    return cudaSuccess;
  if (bytes > 0) std::memset(dst, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemset(void* dst, int value, size_t bytes) { return cudaMemsetAsync(dst, value, bytes, nullptr); }

// ------------------------------------------------------------------ streams and events
struct Event {
  unsigned flags;
  bool recorded = false;
  std::chrono::steady_clock::time_point at;
};

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  if (stream == nullptr) return Record(cudaErrorInvalidValue);
  *stream = new Stream{flags, nullptr, false};
  internal::Handles& h = internal::Live();
  std::lock_guard<std::mutex> lock(h.mu);
  h.streams.insert(*stream);
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  internal::Handles& h = internal::Live();
  {
    std::lock_guard<std::mutex> lock(h.mu);
    if (stream == nullptr || h.streams.erase(stream) == 0)
      return Record(cudaErrorInvalidResourceHandle, "cudaStreamDestroy: not a live stream");
  }
  delete stream;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (!internal::ValidStream(stream))
    return Record(cudaErrorInvalidResourceHandle, "cudaStreamSynchronize: the stream was destroyed or never created");
  if (internal::IsCapturing(stream)) {
    internal::InvalidateCapture(stream);
    return Record(cudaErrorStreamCaptureUnsupported,
                  "cudaStreamSynchronize: the stream is being captured (the capture is now invalidated)");
  }
  return cudaSuccess;
}
cudaError_t cudaStreamQuery(cudaStream_t stream) { return cudaStreamSynchronize(stream); }

namespace {
Event* LiveEvent(cudaEvent_t e) {
  internal::Handles& h = internal::Live();
  std::lock_guard<std::mutex> lock(h.mu);
  return h.events.count(e) ? e : nullptr;
}
}  // namespace

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
  if (status == nullptr) return Record(cudaErrorInvalidValue, "cudaStreamIsCapturing: NULL status");
  if (!internal::ValidStream(stream))
    return Record(cudaErrorInvalidResourceHandle, "cudaStreamIsCapturing: the stream was destroyed or never created");
  *status = stream != nullptr && stream->capture != nullptr
                ? (stream->capture_invalidated ? cudaStreamCaptureStatusInvalidated : cudaStreamCaptureStatusActive)
                : cudaStreamCaptureStatusNone;
  return cudaSuccess;
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned flags) {
  if (!internal::ValidStream(stream) || LiveEvent(event) == nullptr)
    return Record(cudaErrorInvalidResourceHandle, "cudaStreamWaitEvent: stream or event not live");
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags) {
  if (event == nullptr) return Record(cudaErrorInvalidValue);
  *event = new Event{flags, false, {}};
  internal::Handles& h = internal::Live();
  std::lock_guard<std::mutex> lock(h.mu);
  h.events.insert(*event);
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  internal::Handles& h = internal::Live();
  {
    std::lock_guard<std::mutex> lock(h.mu);
    if (event == nullptr || h.events.erase(event) == 0)
      return Record(cudaErrorInvalidResourceHandle, "cudaEventDestroy: not a live event");
  }
  delete event;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  Event* e = LiveEvent(event);
  if (e == nullptr || !internal::ValidStream(stream))
    return Record(cudaErrorInvalidResourceHandle, "cudaEventRecord: event or stream not live");
  if (internal::CaptureIfCapturing(stream, [=]() -> cudaError_t {
        if (LiveEvent(event) == nullptr) return Record(cudaErrorInvalidResourceHandle, "graph: event record node on a destroyed event");
        e->recorded = true;
        e->at = std::chrono::steady_clock::now();
        return cudaSuccess;
      }))
    return cudaSuccess;
  e->recorded = true;
  e->at = std::chrono::steady_clock::now();  // the stream's earlier work is already done
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (LiveEvent(event) == nullptr) return Record(cudaErrorInvalidResourceHandle);
  return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t event) { return cudaEventSynchronize(event); }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  Event* a = LiveEvent(start);
  Event* b = LiveEvent(end);
  if (ms == nullptr) return Record(cudaErrorInvalidValue);
  if (a == nullptr || b == nullptr || (a->flags & cudaEventDisableTiming) || (b->flags & cudaEventDisableTiming))
    return Record(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: events not live or created without timing");
  if (!a->recorded || !b->recorded) return Record(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: event not recorded");
  *ms = std::chrono::duration<float, std::milli>(b->at - a->at).count();
  return cudaSuccess;
}

}  // namespace cudasim
