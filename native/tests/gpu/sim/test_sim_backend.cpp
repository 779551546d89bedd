// Tests that need the simulator's own hooks (cudasim/inspect.h): the occupancy-sized grid of
// sparse_ffn, the error paths a GPU rarely takes (a runtime cudaErrorNotSupported, a failed
// scratch allocation), and what the cuda-sim backend tells users about itself.
#include <cuda_runtime.h>
#include <cudasim/inspect.h>
#include <stdlib.h>  // setenv, unsetenv

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gpu/gpu_test.h"

namespace caprese_gpu_test {
namespace {

void Probe() {}  // a function address for the occupancy model (it models no kernel's own resources)

struct SimBackend : CudaTest {
  void TearDown() override {
    cudasim::SetRegistersPerThread(32);
    cudasim::InjectAllocationFailures(0);
    cudasim::InjectLaunchErrors(cudaSuccess, 0);
  }

  // sparse_ffn ALL at M rows over H neurons of width D, f32, with its buffers on both
  // backends (allocated up front, so a test can make later allocations fail).
  struct SparseAll {
    SparseAll(int64_t m, int64_t d, int64_t h, uint64_t seed)
        : m(m), d(d), h(h), x(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, d}), wg(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {h, d}),
          wu(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {h, d}), wd(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {h, d}),
          y(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, d}) {
      x.Upload(FastRandom(m * d, seed, 1.0f));
      wg.Upload(FastRandom(h * d, seed + 1, 0.3f));
      wu.Upload(FastRandom(h * d, seed + 2, 0.3f));
      wd.Upload(FastRandom(h * d, seed + 3, 0.1f));
      p.selection = CAPRESE_SPARSE_ALL;
    }
    caprese_status RunGpu() {
      return caprese_sparse_ffn(*gpu_, x.g.ct(), wg.g.ct(), wu.g.ct(), wd.g.ct(), nullptr, nullptr, nullptr, &p,
                                y.g.t());
    }
    // As test_gpu_sparse_ffn.cpp: f32 reordering stays far below 2e-4 rms(y).
    ::testing::AssertionResult MatchesCpu() {
      if (caprese_sparse_ffn(*cpu_, x.c.ct(), wg.c.ct(), wu.c.ct(), wd.c.ct(), nullptr, nullptr, nullptr, &p,
                             y.c.t()) != CAPRESE_OK)
        return ::testing::AssertionFailure() << "CPU: " << caprese_last_error();
      const std::vector<float> want = y.c.Download<float>();
      double ss = 0;
      for (float v : want) ss += double(v) * v;
      return Compare("sparse_ffn all (sim)", std::to_string(m) + "x" + std::to_string(d) + "x" + std::to_string(h),
                     "f32", y.g.Download<float>(), want, 2e-4 * std::sqrt(ss / want.size()), 1e-4);
    }
    int64_t m, d, h;
    Pair x, wg, wu, wd, y;
    caprese_sparse_ffn_params p{};
  };

  // The first launch from sparse_ffn.cu since the log was cleared (the fused kernel: ALL
  // launches it first, then the partial sums).
  static const cudasim::LaunchRecord* FirstSparseFfnLaunch(const std::vector<cudasim::LaunchRecord>& log) {
    for (const cudasim::LaunchRecord& r : log)
      if (std::string(r.file).find("sparse_ffn.cu") != std::string::npos) return &r;
    return nullptr;
  }
};

// Regression: the grid is sized from the occupancy of the instance that runs, not from an
// assumed two blocks per SM (which made two waves where only one block fits). With 255
// registers per thread one 256-thread block fits per SM. The plugin keeps each occupancy
// answer per (kernel, shared memory, device) for the process, so the two register settings
// use different widths (x tiles of different sizes): each is asked afresh.
TEST_F(SimBackend, SparseFfnGridFitsOneWave) {
  const int sms = cudasim::Profile().multiprocessors;
  for (int regs : {32, 255}) {
    SCOPED_TRACE("registers per thread " + std::to_string(regs));
    cudasim::SetRegistersPerThread(regs);
    int fit = 0;
    // What the occupancy model allows a 256-thread block with no dynamic shared memory.
    ASSERT_EQ(cudasim::OccupancyMaxActiveBlocksPerMultiprocessor(&fit, reinterpret_cast<const void*>(&Probe), 256, 0),
              cudaSuccess);
    SparseAll op(2, regs == 32 ? 32 : 44, 4096, 60);  // 4096 items: enough for 2 blocks on every SM
    cudasim::ClearLaunchLog();
    CAPRESE_ASSERT_OK(op.RunGpu());
    EXPECT_TRUE(op.MatchesCpu());
    const std::vector<cudasim::LaunchRecord> log = cudasim::LaunchLog();
    const cudasim::LaunchRecord* fused = FirstSparseFfnLaunch(log);
    ASSERT_NE(fused, nullptr);
    EXPECT_LE(fused->grid.x, static_cast<unsigned>(sms * fit)) << "more blocks than fit in one wave";
    // And still fills the GPU: two per SM where they fit (M < 8), else one.
    EXPECT_EQ(fused->grid.x, static_cast<unsigned>(sms * std::min(fit, 2)));
  }
}

// CAPRESE_SPARSE_FFN_VARIANT picks the kernels: "serial" runs the fused kernel and the serial
// sum (one thread per output: one block for 256 outputs), "tree" the same fused kernel and the
// parallel reduction (here 64 blocks of one 16-byte word each, 256 threads over the 264
// partials), "wide" another fused kernel (the 16-byte phase 2) and the parallel reduction.
TEST_F(SimBackend, SparseFfnVariantPicksItsKernels) {
  const int sms = cudasim::Profile().multiprocessors;
  SparseAll op(1, 256, 4096, 65);  // M·D = 256 outputs, 4096 items: a full grid of partials
  struct Seen {
    const void* fused;
    const void* reduce;
    unsigned fused_grid, reduce_grid;
  };
  auto run = [&](const char* variant) {
    setenv("CAPRESE_SPARSE_FFN_VARIANT", variant, 1);
    cudasim::ClearLaunchLog();
    const caprese_status st = op.RunGpu();
    unsetenv("CAPRESE_SPARSE_FFN_VARIANT");
    EXPECT_EQ(st, CAPRESE_OK) << variant << ": " << caprese_last_error();
    EXPECT_TRUE(op.MatchesCpu()) << variant;
    std::vector<const cudasim::LaunchRecord*> mine;
    const std::vector<cudasim::LaunchRecord> log = cudasim::LaunchLog();
    for (const cudasim::LaunchRecord& r : log)
      if (std::string(r.file).find("sparse_ffn.cu") != std::string::npos) mine.push_back(&r);
    EXPECT_EQ(mine.size(), 2u) << variant << ": the fused kernel and one reduction";
    if (mine.size() != 2) return Seen{};
    return Seen{mine[0]->func, mine[1]->func, mine[0]->grid.x, mine[1]->grid.x};
  };
  const Seen serial = run("serial"), tree = run("tree"), wide = run("wide");
  ASSERT_NE(serial.fused, nullptr);
  EXPECT_EQ(serial.fused_grid, static_cast<unsigned>(2 * sms));
  EXPECT_EQ(serial.reduce_grid, 1u);
  EXPECT_EQ(tree.fused, serial.fused);
  EXPECT_NE(tree.reduce, serial.reduce);
  EXPECT_EQ(tree.reduce_grid, 64u);
  EXPECT_NE(wide.fused, serial.fused);
  EXPECT_EQ(wide.reduce, tree.reduce);
  EXPECT_EQ(wide.fused_grid, serial.fused_grid);
}

// Regression: only our launchers' "shape not covered" is a shape error. The runtime's own
// cudaErrorNotSupported (a device or driver limitation) is a device error naming it.
TEST_F(SimBackend, RuntimeNotSupportedIsADeviceError) {
  Pair x(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {2, 64}), w(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {64}),
      y(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {2, 64});
  x.Upload(FastRandom(128, 61, 1.0f));
  w.Upload(FastRandom(64, 62, 1.0f));
  cudasim::InjectLaunchErrors(cudaErrorNotSupported, 1);
  EXPECT_EQ(caprese_rmsnorm(*gpu_, x.g.ct(), w.g.ct(), 1e-5f, 0.0f, y.g.t()), CAPRESE_ERROR_DEVICE);
  EXPECT_TRUE(caprese_test::LastErrorMentions("rmsnorm")) << caprese_last_error();
  EXPECT_TRUE(caprese_test::LastErrorMentions("not supported")) << caprese_last_error();
  CAPRESE_ASSERT_OK(caprese_rmsnorm(*gpu_, x.g.ct(), w.g.ct(), 1e-5f, 0.0f, y.g.t()));  // one-shot
}

// Regression: when a larger scratch cannot be allocated, the op fails with OUT_OF_MEMORY and
// the old scratch is kept, so ops that fit it keep working without allocating.
TEST_F(SimBackend, FailedScratchGrowthKeepsTheOldScratch) {
  Context ctx(kGpuBackend);  // a fresh context: its scratch starts empty
  ASSERT_TRUE(ctx.ok()) << ctx.message;
  Context* saved = gpu_;
  gpu_ = &ctx;
  {
    SparseAll small(1, 32, 512, 63), large(16, 1024, 512, 64);  // large needs 512x the partial sums
    CAPRESE_ASSERT_OK(small.RunGpu());  // allocates the scratch
    cudasim::InjectAllocationFailures(-1);  // every cudaMalloc fails from here on
    EXPECT_EQ(large.RunGpu(), CAPRESE_ERROR_OUT_OF_MEMORY);
    EXPECT_TRUE(caprese_test::LastErrorMentions("cudaMalloc")) << caprese_last_error();
    EXPECT_EQ(small.RunGpu(), CAPRESE_OK) << "an op that fits the old scratch needed a new one: " << caprese_last_error();
    cudasim::InjectAllocationFailures(0);
    EXPECT_TRUE(small.MatchesCpu());
    CAPRESE_ASSERT_OK(large.RunGpu());  // and growth works again once memory is there
    EXPECT_TRUE(large.MatchesCpu());
  }
  gpu_ = saved;
}

// Users must see that this is not a GPU: the device name says simulator, slow, no cuBLAS.
TEST_F(SimBackend, InfoSaysSimulator) {
  caprese_device_info info{};
  CAPRESE_ASSERT_OK(caprese_backend_device_info(kGpuBackend, 0, &info));
  const std::string name = info.name;
  EXPECT_NE(name.find("cuda-sim"), std::string::npos) << name;
  EXPECT_NE(name.find("slow"), std::string::npos) << name;
  EXPECT_NE(name.find("cuBLAS"), std::string::npos) << name;
}

}  // namespace
}  // namespace caprese_gpu_test
