// Shared fixture of the CUDA backend tests: every op runs on a CPU context (the reference)
// and a CUDA context with identical inputs, and the outputs are compared with tolerances
// argued per op. Tests skip with the probe's message on machines without a usable GPU.
// With CAPRESE_GPU_REPORT=path.json each comparison is also recorded for gpu-validate.sh.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "caprese.h"
#include "test_util.h"

namespace caprese_gpu_test {

// The device backend under test: the CUDA backend (caprese_gpu_tests) or the same kernels on
// the CUDA simulator (caprese_gpu_tests_sim, built with CAPRESE_GPU_TEST_SIM).
// The simulator runs kernels ~1000x slower than a GPU: realistic shapes (4096, 14336, 128k
// vocab, 512-token chunks) are not instantiated there; small, odd and tail shapes are.
#ifdef CAPRESE_GPU_TEST_SIM
constexpr caprese_backend kGpuBackend = CAPRESE_BACKEND_CUDA_SIM;
constexpr const char* kGpuBackendName = "cuda-sim";
constexpr bool kSimulator = true;
#else
constexpr caprese_backend kGpuBackend = CAPRESE_BACKEND_CUDA;
constexpr const char* kGpuBackendName = "CUDA";
constexpr bool kSimulator = false;
#endif

using caprese_test::Context;
using caprese_test::DeviceTensor;

// Appends one record for CAPRESE_GPU_REPORT (written once, at the end of the process).
void Record(const std::string& op, const std::string& shape, const std::string& dtype, double max_abs_err,
            double max_rel_err, const std::string& tolerance, bool pass);

// Deterministic and fast uniform values in [-scale, scale] (xorshift64; std::mt19937 is
// too slow for the 58M-element weight matrices of the 8B shapes).
std::vector<float> FastRandom(size_t n, uint64_t seed, float scale = 1.0f);

// Compares got with want under |got - want| <= atol + rtol * |want|, records the result
// and returns the gtest verdict. `shape`/`dtype` label the record.
::testing::AssertionResult Compare(const std::string& op, const std::string& shape, const std::string& dtype,
                                   const std::vector<float>& got, const std::vector<float>& want, double atol,
                                   double rtol);
// Same with a per-element bound tol[i].
::testing::AssertionResult CompareBounded(const std::string& op, const std::string& shape,
                                          const std::string& dtype, const std::vector<float>& got,
                                          const std::vector<float>& want, const std::vector<double>& tol,
                                          const std::string& tol_label);

class CudaTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;

  // Created once per suite: context creation (cuBLAS init) costs ~100 ms.
  static Context* cpu_;
  static Context* gpu_;
  static std::string skip_reason_;
};

// One tensor with the same contents on the CPU and the CUDA context.
struct Pair {
  Pair(caprese_context_t cpu, caprese_context_t gpu, caprese_dtype dt, std::initializer_list<int64_t> shape)
      : c(cpu, dt, shape), g(gpu, dt, shape) {}
  template <typename T>
  void Upload(const std::vector<T>& v) {
    ASSERT_EQ(c.Upload(v), CAPRESE_OK) << caprese_last_error();
    ASSERT_EQ(g.Upload(v), CAPRESE_OK) << caprese_last_error();
  }
  DeviceTensor c, g;
};

}  // namespace caprese_gpu_test
