// Internals of libcaprese_cudasim_rt shared by its parts: error recording, the allocation
// registry (for pointer checks and fault reports), the sanitizer hooks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "cuda_runtime.h"
#include "cudasim/inspect.h"

#ifndef CUDASIM_TSAN
#define CUDASIM_TSAN 0
#endif
#ifndef CUDASIM_ASAN
#define CUDASIM_ASAN 0
#endif

// CMake defines CUDASIM_TSAN / CUDASIM_ASAN when the tree is built with that sanitizer: the
// runtime itself is not instrumented, but it tells the sanitizer about fiber switches and
// about the happens-before edges that barriers and warp collectives create.
#if CUDASIM_TSAN
extern "C" {
void* __tsan_get_current_fiber(void);
void* __tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void* fiber);
void __tsan_switch_to_fiber(void* fiber, unsigned flags);
void __tsan_acquire(void* addr);
void __tsan_release(void* addr);
}
#endif
#if CUDASIM_ASAN
extern "C" {
void __sanitizer_start_switch_fiber(void** fake_stack_save, const void* bottom, size_t size);
void __sanitizer_finish_switch_fiber(void* fake_stack_save, const void** bottom_old, size_t* size_old);
void __asan_unpoison_memory_region(void const volatile* addr, size_t size);
}
#endif

namespace cudasim {
namespace internal {

inline void TsanAcquire(void* addr) {
#if CUDASIM_TSAN
  __tsan_acquire(addr);
#else
  (void)addr;
#endif
}
inline void TsanRelease(void* addr) {
#if CUDASIM_TSAN
  __tsan_release(addr);
#else
  (void)addr;
#endif
}

// Sets the calling thread's last error and, when `detail` is not empty, remembers it as the
// text cudaGetErrorString adds for that code. Returns err.
cudaError_t Record(cudaError_t err, const std::string& detail = std::string());
// A kernel fault (a check failed inside a kernel): printed to stderr like a sanitizer report,
// counted, then recorded as above.
cudaError_t Fault(cudaError_t err, const std::string& detail);
std::string Format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// What a fault address belongs to, for the SIGSEGV report: writes a description into buf.
// Async-signal-tolerant (no allocation; a try-lock on the registry).
bool DescribeAddress(uintptr_t addr, char* buf, size_t size);
// After a grid: checks the canary bytes behind every allocation's end; describes the first
// overwritten one (and repairs it) and returns false if any.
bool CheckCanaries(std::string* report);

// Consumes one injected failure (see InjectAllocationFailures / InjectLaunchErrors): true
// if this call must fail; *err gets the launch error to report.
bool TakeInjectedAllocationFailure();
bool TakeInjectedLaunchError(cudaError_t* err);

int WorkerThreads();
bool ValidStream(cudaStream_t stream);

// Stream capture (graph.cpp). A node is one recorded operation, run again at each launch of
// the graph; it returns the error the operation reports.
using GraphNode = std::function<cudaError_t()>;
// If `stream` is being captured: appends `node` to its graph and returns true (the caller
// must then not run the operation now). Otherwise returns false.
bool CaptureIfCapturing(cudaStream_t stream, GraphNode node);
bool IsCapturing(cudaStream_t stream);
// A forbidden call (a synchronisation) on a capturing stream: invalidates the capture.
void InvalidateCapture(cudaStream_t stream);

}  // namespace internal

// A stream. Its work runs synchronously, except while it is captured into `capture`.
struct Stream {
  unsigned flags;
  Graph* capture = nullptr;
  bool capture_invalidated = false;
};

}  // namespace cudasim
