// caprese_sample on the CUDA backend against the CPU backend: the ids must be identical, not
// merely close (no tolerance). Both backends build the same integer weights from the same
// IEEE float operations (core/sampling.h) and select with exact integer masses, so any
// difference is a bug: a contracted FMA, a different summation type, a wrong threshold.
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gpu/gpu_test.h"

namespace caprese_gpu_test {
namespace {

caprese_sampling_params Params(float temperature, int32_t top_k, float top_p, uint64_t seed, uint64_t offset) {
  caprese_sampling_params p{};
  p.temperature = temperature;
  p.top_k = top_k;
  p.top_p = top_p;
  p.seed = seed;
  p.offset = offset;
  return p;
}

struct SampleGpu : CudaTest {
  static std::vector<int32_t> Run(caprese_context_t ctx, const std::vector<float>& x, int64_t m, int64_t v,
                                  const caprese_sampling_params& p) {
    DeviceTensor tx(ctx, CAPRESE_DTYPE_F32, {m, v}), to(ctx, CAPRESE_DTYPE_I32, {m});
    EXPECT_EQ(tx.Upload(x), CAPRESE_OK) << caprese_last_error();
    const caprese_status st = caprese_sample(ctx, tx.ct(), &p, to.t());
    EXPECT_EQ(st, CAPRESE_OK) << caprese_last_error();
    return to.Download<int32_t>();
  }

  static void Check(const std::string& label, const std::vector<float>& x, int64_t m, int64_t v,
                    const caprese_sampling_params& p) {
    const std::vector<int32_t> want = Run(*cpu_, x, m, v, p), got = Run(*gpu_, x, m, v, p);
    int64_t differ = 0;
    for (int64_t r = 0; r < m; ++r) differ += got[r] != want[r];
    Record("sample", label, "f32", static_cast<double>(differ), 0.0, "identical ids", differ == 0);
    EXPECT_EQ(got, want) << label << " T=" << p.temperature << " top_k=" << p.top_k << " top_p=" << p.top_p
                         << " seed=" << p.seed;
  }
};

TEST_F(SampleGpu, IdenticalToCpu) {
  std::mt19937 rng(7);
  const float temps[] = {1e-3f, 0.3f, 0.7f, 1.0f, 1.5f, 50.0f, 1e6f};
  const float top_ps[] = {1.0f, 0.999f, 0.95f, 0.9f, 0.5f, 0.05f, 1e-7f};
  for (int64_t v : {1, 2, 33, 1000, 32000, 128256, 151936, 256000}) {
    const int64_t m = v >= 100000 ? 3 : 16;
    for (int trial = 0; trial < (v >= 100000 ? 4 : 12); ++trial) {
      std::vector<float> x = FastRandom(m * v, rng(), trial % 2 ? 8.0f : 2.0f);
      if (trial % 3 == 1)
        for (float& f : x) f = std::round(f * 4.0f) / 4.0f;  // ties
      if (trial % 4 == 3)
        for (size_t i = 0; i < x.size(); i += 7) x[i] = -std::numeric_limits<float>::infinity();
      const int32_t ks[] = {0, 1, 3, 50, static_cast<int32_t>(v), static_cast<int32_t>(v > 1 ? v - 1 : 1)};
      const auto p = Params(temps[rng() % 7], ks[rng() % 6], top_ps[rng() % 7], rng(), rng() % 100000);
      Check("[" + std::to_string(m) + ", " + std::to_string(v) + "]", x, m, v, p);
    }
  }
}

TEST_F(SampleGpu, ManyDrawsSameLogits) {
  // 4096 rows of one logit row: 4096 consecutive counters, so the draws cover the CDF densely
  // and any boundary difference between the backends would show.
  const int64_t v = 32000, m = 4096;
  const std::vector<float> row = FastRandom(v, 3, 6.0f);
  std::vector<float> x;
  x.reserve(m * v);
  for (int64_t r = 0; r < m; ++r) x.insert(x.end(), row.begin(), row.end());
  Check("[4096, 32000] plain", x, m, v, Params(0.8f, 0, 1.0f, 99, 0));
  Check("[4096, 32000] top_k 40 top_p 0.9", x, m, v, Params(1.0f, 40, 0.9f, 100, 0));
}

TEST_F(SampleGpu, NanAndInfinities) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> x = {1, nan, 9, nan, -inf, -inf, -inf, -inf, -inf, 2, -inf, -inf, 0, inf, 5, inf};
  for (uint64_t seed = 0; seed < 8; ++seed) Check("[4, 4] special", x, 4, 4, Params(0.8f, 0, 0.9f, seed, seed));
}

}  // namespace
}  // namespace caprese_gpu_test
