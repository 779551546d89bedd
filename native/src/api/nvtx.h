// Named NVTX ranges around ops so Nsight Systems shows them. Compiled in when the NVTX v3
// headers (header-only, shipped with the CUDA toolkit) are found; switched on at run time by
// caprese_set_profiling(1) or CAPRESE_NVTX=1, so the cost when off is one relaxed load.
#pragma once

#include <atomic>

#if defined(CAPRESE_HAVE_NVTX)
#include <nvtx3/nvToolsExt.h>
#endif

namespace caprese {

std::atomic<bool>& ProfilingFlag();

class NvtxRange {
 public:
  explicit NvtxRange(const char* name) {
#if defined(CAPRESE_HAVE_NVTX)
    active_ = ProfilingFlag().load(std::memory_order_relaxed);
    if (active_) nvtxRangePushA(name);
#else
    (void)name;
#endif
  }
  ~NvtxRange() {
#if defined(CAPRESE_HAVE_NVTX)
    if (active_) nvtxRangePop();
#endif
  }
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;

 private:
  bool active_ = false;
};

}  // namespace caprese
