// caprese_sparse_ffn on the CUDA backend against the CPU backend on the same inputs.
//
// Tolerance: both sides see the same rounded weights and accumulate in f32, in different
// orders (the CPU splits neurons into up to 16 parts, the GPU into up to 2 per SM and warps).
// An output sums n ~ 10^4 terms h_j·wd_jd of random sign; f32 reordering of those sums and
// of the 2·D-term dot products behind h_j moves it by ~eps·sqrt(terms) of the term scale,
// i.e. ~1e-5 of rms(y). We allow 2e-4·rms(y) + 1e-4·|y|: a single neuron dropped or counted
// twice moves an output by ~rms(y)/sqrt(n) ~ 1e-2·rms(y), 50x the bound.
// THRESHOLD: the CPU gate (x·wgᵀ through caprese_matmul) picks a threshold in the widest gap
// of |act(g)| near the wanted quantile, so both backends select the same neurons.
#include <stdlib.h>  // setenv, unsetenv

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "gpu/gpu_test.h"

namespace caprese_gpu_test {
namespace {

using caprese_test::DtypeLabel;
using caprese_test::Pack;
using caprese_test::RoundTo;

struct SparseFfnGpu : CudaTest {
  struct Weights {
    Weights(caprese_context_t cpu, caprese_context_t gpu, caprese_dtype dt, int64_t d, int64_t h, int64_t r,
            uint64_t seed)
        : dt(dt), d(d), h(h), r(r), wg(cpu, gpu, dt, {h, d}), wu(cpu, gpu, dt, {h, d}), wd(cpu, gpu, dt, {h, d}),
          eu(cpu, gpu, dt, {std::max<int64_t>(r, 1), d}), ed(cpu, gpu, dt, {std::max<int64_t>(r, 1), d}) {
      const float s = 1.0f / std::sqrt(static_cast<float>(d));
      wg.Upload(Pack(dt, RoundTo(dt, FastRandom(h * d, seed, 2 * s))));
      wu.Upload(Pack(dt, RoundTo(dt, FastRandom(h * d, seed + 1, 2 * s))));
      wd.Upload(Pack(dt, RoundTo(dt, FastRandom(h * d, seed + 2, s))));
      eu.Upload(Pack(dt, RoundTo(dt, FastRandom(std::max<int64_t>(r, 1) * d, seed + 3, s))));
      ed.Upload(Pack(dt, RoundTo(dt, FastRandom(std::max<int64_t>(r, 1) * d, seed + 4, s))));
    }
    caprese_dtype dt;
    int64_t d, h, r;
    Pair wg, wu, wd, eu, ed;
  };

  // Runs the op on both backends and compares; returns the GPU output.
  static std::vector<float> Check(const std::string& label, Weights& w, int64_t m, const std::vector<float>& x,
                                  caprese_sparse_selection sel, const std::vector<int32_t>& idx, float threshold,
                                  bool extra, caprese_activation act = CAPRESE_ACTIVATION_SILU) {
    Pair tx(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, w.d}), ty(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, w.d});
    Pair ti(*cpu_, *gpu_, CAPRESE_DTYPE_I32, {std::max<int64_t>(1, static_cast<int64_t>(idx.size()))});
    tx.Upload(x);
    ti.Upload(idx.empty() ? std::vector<int32_t>{0} : idx);
    ty.g.Upload(std::vector<float>(m * w.d, NAN));  // every output must be written
    caprese_tensor ic = *ti.c.ct(), ig = *ti.g.ct();
    if (idx.empty()) ic.shape[0] = ig.shape[0] = 0;
    caprese_sparse_ffn_params p{};
    p.activation = act;
    p.selection = sel;
    p.threshold = threshold;
    const bool use_idx = sel == CAPRESE_SPARSE_INDICES;
    EXPECT_EQ(caprese_sparse_ffn(*cpu_, tx.c.ct(), w.wg.c.ct(), w.wu.c.ct(), w.wd.c.ct(), use_idx ? &ic : nullptr,
                                 extra ? w.eu.c.ct() : nullptr, extra ? w.ed.c.ct() : nullptr, &p, ty.c.t()),
              CAPRESE_OK)
        << caprese_last_error();
    EXPECT_EQ(caprese_sparse_ffn(*gpu_, tx.g.ct(), w.wg.g.ct(), w.wu.g.ct(), w.wd.g.ct(), use_idx ? &ig : nullptr,
                                 extra ? w.eu.g.ct() : nullptr, extra ? w.ed.g.ct() : nullptr, &p, ty.g.t()),
              CAPRESE_OK)
        << caprese_last_error();
    std::vector<float> want = ty.c.Download<float>(), got = ty.g.Download<float>();
    double ss = 0;
    for (float v : want) ss += double(v) * v;
    const double rms = std::sqrt(ss / want.size());
    std::vector<double> tol(want.size());
    for (size_t i = 0; i < want.size(); ++i) tol[i] = 2e-4 * rms + 1e-4 * std::fabs(want[i]) + 1e-30;
    EXPECT_TRUE(CompareBounded("sparse_ffn " + label, std::to_string(m) + "x" + std::to_string(w.d) + "x" +
                                                       std::to_string(w.h) + (extra ? "+r" + std::to_string(w.r) : ""),
                               DtypeLabel(w.dt), got, want, tol, "2e-4 rms(y) + 1e-4 |y|"));
    return got;
  }

  // A threshold near the `frac` quantile of |act(x·wgᵀ)| (gate from the CPU backend), in
  // the widest gap among its neighbours.
  static float Threshold(Weights& w, int64_t m, const std::vector<float>& x, double frac, bool gelu = false) {
    DeviceTensor tx(*cpu_, CAPRESE_DTYPE_F32, {m, w.d}), tg(*cpu_, CAPRESE_DTYPE_F32, {m, w.h});
    EXPECT_EQ(tx.Upload(x), CAPRESE_OK);
    EXPECT_EQ(caprese_matmul(*cpu_, tx.ct(), w.wg.c.ct(), nullptr, tg.t()), CAPRESE_OK);
    std::vector<float> g = tg.Download<float>();
    std::vector<double> a(g.size());
    for (size_t i = 0; i < g.size(); ++i) {
      const double v = g[i];
      a[i] = std::fabs(gelu ? 0.5 * v * (1 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)))
                            : v / (1 + std::exp(-v)));
    }
    std::sort(a.begin(), a.end());
    const size_t n = a.size(), center = std::min(n - 2, static_cast<size_t>(frac * n));
    const size_t lo = center > 500 ? center - 500 : 0, hi = std::min(n - 1, center + 500);
    size_t best = lo;
    for (size_t i = lo; i < hi; ++i)
      if (a[i + 1] - a[i] > a[best + 1] - a[best]) best = i;
    return static_cast<float>(0.5 * (a[best] + a[best + 1]));
  }

  static std::vector<int32_t> Subset(int64_t h, int64_t k, uint32_t seed) {
    std::vector<int32_t> all(h);
    std::iota(all.begin(), all.end(), 0);
    std::mt19937 rng(seed);
    std::shuffle(all.begin(), all.end(), rng);
    all.resize(k);
    return all;
  }
};

// Llama-3.1-8B FFN (D 4096, H 14336, f16) at 0/50/75/90% sparsity (INDICES, unsorted),
// with and without 256 extra neurons, plus ALL and CATS thresholds at ~50% per row. Named
// Llama8B/... like the other 8B-shape tests, which the sanitizer runs leave out.
class SparseFfnLlama8B : public SparseFfnGpu, public ::testing::WithParamInterface<int64_t> {};

TEST_P(SparseFfnLlama8B, MatchesCpu) {
  const int64_t m = GetParam();
  Weights w(*cpu_, *gpu_, CAPRESE_DTYPE_F16, 4096, 14336, 256, 700);
  const std::vector<float> x = FastRandom(m * w.d, 710 + m, 1.0f);
  for (int pct : {0, 50, 75, 90}) {
    const std::vector<int32_t> idx = Subset(w.h, w.h * (100 - pct) / 100, 720 + pct);
    for (bool extra : {false, true}) {
      SCOPED_TRACE("M=" + std::to_string(m) + " sparsity " + std::to_string(pct) + "%" + (extra ? " +extra" : ""));
      Check("indices " + std::to_string(pct) + "%", w, m, x, CAPRESE_SPARSE_INDICES, idx, 0, extra);
    }
  }
  Check("all", w, m, x, CAPRESE_SPARSE_ALL, {}, 0, true);
  const float thr = Threshold(w, m, x, 0.5);
  for (bool extra : {false, true}) Check("threshold ~50% per row", w, m, x, CAPRESE_SPARSE_THRESHOLD, {}, thr, extra);
}

#ifndef CAPRESE_GPU_TEST_SIM  // realistic shapes: GPU only
INSTANTIATE_TEST_SUITE_P(Llama8B, SparseFfnLlama8B, ::testing::Values<int64_t>(1, 4, 16),
                         [](const ::testing::TestParamInfo<int64_t>& info) {
                           return "M" + std::to_string(info.param);
                         });
#else
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(SparseFfnLlama8B);
#endif

// GRIFFIN's compaction path: ALL over weights sliced to the kept rows equals INDICES over
// the full weights.
TEST_F(SparseFfnGpu, AllOnSlicedWeightsEqualsIndices) {
  const int64_t d = 1024, h = 2816, k = 1000, m = 5;
  std::vector<float> wg = FastRandom(h * d, 801, 0.06f), wu = FastRandom(h * d, 802, 0.06f),
                     wd = FastRandom(h * d, 803, 0.03f);
  const std::vector<int32_t> idx = Subset(h, k, 804);
  std::vector<float> sg(k * d), su(k * d), sd(k * d);
  for (int64_t i = 0; i < k; ++i)
    for (int64_t c = 0; c < d; ++c) {
      sg[i * d + c] = wg[idx[i] * d + c];
      su[i * d + c] = wu[idx[i] * d + c];
      sd[i * d + c] = wd[idx[i] * d + c];
    }
  const caprese_dtype dt = CAPRESE_DTYPE_BF16;
  DeviceTensor fg(*gpu_, dt, {h, d}), fu(*gpu_, dt, {h, d}), fd(*gpu_, dt, {h, d}), kg(*gpu_, dt, {k, d}),
      ku(*gpu_, dt, {k, d}), kd(*gpu_, dt, {k, d}), ti(*gpu_, CAPRESE_DTYPE_I32, {k}),
      tx(*gpu_, CAPRESE_DTYPE_F32, {m, d}), y1(*gpu_, CAPRESE_DTYPE_F32, {m, d}), y2(*gpu_, CAPRESE_DTYPE_F32, {m, d});
  fg.Upload(Pack(dt, wg));
  fu.Upload(Pack(dt, wu));
  fd.Upload(Pack(dt, wd));
  kg.Upload(Pack(dt, sg));
  ku.Upload(Pack(dt, su));
  kd.Upload(Pack(dt, sd));
  ti.Upload(idx);
  tx.Upload(FastRandom(m * d, 805, 1.0f));
  caprese_sparse_ffn_params p{};
  p.selection = CAPRESE_SPARSE_INDICES;
  CAPRESE_ASSERT_OK(caprese_sparse_ffn(*gpu_, tx.ct(), fg.ct(), fu.ct(), fd.ct(), ti.ct(), nullptr, nullptr, &p, y1.t()));
  p.selection = CAPRESE_SPARSE_ALL;
  CAPRESE_ASSERT_OK(caprese_sparse_ffn(*gpu_, tx.ct(), kg.ct(), ku.ct(), kd.ct(), nullptr, nullptr, nullptr, &p, y2.t()));
  const std::vector<float> a = y1.Download<float>(), b = y2.Download<float>();
  // Same neurons in the same order and the same block split: identical bits.
  EXPECT_TRUE(Compare("sparse_ffn all(sliced) vs indices", "5x1024x1000", "bf16", b, a, 0, 0));
}

// Other dtypes, odd shapes (element-load path), every M, GELU, extras, thresholds.
TEST_F(SparseFfnGpu, OddShapesAllRows) {
  struct Shape {
    int64_t d, h, r;
    caprese_dtype dt;
  };
  const Shape shapes[] = {{64, 172, 8, CAPRESE_DTYPE_F32},   {512, 1376, 32, CAPRESE_DTYPE_BF16},
                          {37, 53, 3, CAPRESE_DTYPE_F16},    {4097, 300, 5, CAPRESE_DTYPE_F16},
                          {2304, 9216, 64, CAPRESE_DTYPE_BF16}, {1024, 700, 0, CAPRESE_DTYPE_F32}};
  uint64_t seed = 900;
  for (const Shape& s : shapes) {
    Weights w(*cpu_, *gpu_, s.dt, s.d, s.h, s.r, seed += 10);
    for (int64_t m = 1; m <= 16; ++m) {
      if (s.d * s.h > 4000000 && m % 5 != 1) continue;
      SCOPED_TRACE("D=" + std::to_string(s.d) + " H=" + std::to_string(s.h) + " M=" + std::to_string(m));
      const std::vector<float> x = FastRandom(m * s.d, seed + m, 1.0f);
      const bool gelu = m % 3 == 0;
      const caprese_activation act = gelu ? CAPRESE_ACTIVATION_GELU_TANH : CAPRESE_ACTIVATION_SILU;
      const bool extra = s.r > 0 && m % 2 == 1;
      Check("all", w, m, x, CAPRESE_SPARSE_ALL, {}, 0, extra, act);
      Check("indices 60%", w, m, x, CAPRESE_SPARSE_INDICES, Subset(s.h, s.h * 4 / 10 + 1, seed + 50 + m), 0, extra,
            act);
      Check("threshold ~70%", w, m, x, CAPRESE_SPARSE_THRESHOLD, {}, Threshold(w, m, x, 0.7, gelu), extra, act);
    }
  }
}

// k = 0 and a threshold above everything: y is the extras alone (or zero); every output
// is written (y starts as NaN in Check).
TEST_F(SparseFfnGpu, EmptySelections) {
  Weights w(*cpu_, *gpu_, CAPRESE_DTYPE_F16, 256, 512, 16, 950);
  const std::vector<float> x = FastRandom(3 * w.d, 951, 1.0f);
  Check("indices k=0 +extra", w, 3, x, CAPRESE_SPARSE_INDICES, {}, 0, true);
  std::vector<float> zero = Check("indices k=0", w, 3, x, CAPRESE_SPARSE_INDICES, {}, 0, false);
  for (float v : zero) ASSERT_EQ(v, 0.0f);
  zero = Check("threshold none", w, 3, x, CAPRESE_SPARSE_THRESHOLD, {}, 1e30f, false);
  for (float v : zero) ASSERT_EQ(v, 0.0f);
  Check("threshold none +extra", w, 3, x, CAPRESE_SPARSE_THRESHOLD, {}, 1e30f, true);
}

// Weights one element into their buffers: the 16-byte path must not be taken.
TEST_F(SparseFfnGpu, UnalignedWeights) {
  const int64_t d = 512, h = 640, m = 4;
  const caprese_dtype dt = CAPRESE_DTYPE_F16;
  std::vector<float> wg = RoundTo(dt, FastRandom(h * d, 961, 0.08f)), wu = RoundTo(dt, FastRandom(h * d, 962, 0.08f)),
                     wd = RoundTo(dt, FastRandom(h * d, 963, 0.04f)), x = FastRandom(m * d, 964, 1.0f);
  Pair bg(*cpu_, *gpu_, dt, {h * d + 1}), bu(*cpu_, *gpu_, dt, {h * d + 1}), bd(*cpu_, *gpu_, dt, {h * d + 1}),
      tx(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, d}), ty(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, d});
  auto shifted = [&](const std::vector<float>& v) {
    std::vector<float> s(1, 0.0f);
    s.insert(s.end(), v.begin(), v.end());
    return Pack(dt, s);
  };
  bg.Upload(shifted(wg));
  bu.Upload(shifted(wu));
  bd.Upload(shifted(wd));
  tx.Upload(x);
  auto view = [&](const DeviceTensor& t) {
    return caprese_test::MakeTensor(static_cast<uint16_t*>(t.data()) + 1, dt, {h, d});
  };
  caprese_tensor gc = view(bg.c), uc = view(bu.c), dc = view(bd.c), gg = view(bg.g), ug = view(bu.g), dg = view(bd.g);
  caprese_sparse_ffn_params p{};
  p.selection = CAPRESE_SPARSE_ALL;
  CAPRESE_ASSERT_OK(caprese_sparse_ffn(*cpu_, tx.c.ct(), &gc, &uc, &dc, nullptr, nullptr, nullptr, &p, ty.c.t()));
  CAPRESE_ASSERT_OK(caprese_sparse_ffn(*gpu_, tx.g.ct(), &gg, &ug, &dg, nullptr, nullptr, nullptr, &p, ty.g.t()));
  const std::vector<float> want = ty.c.Download<float>();
  double ss = 0;
  for (float v : want) ss += double(v) * v;
  EXPECT_TRUE(Compare("sparse_ffn all (weights at +1 element)", "4x512x640", "f16", ty.g.Download<float>(), want,
                      2e-4 * std::sqrt(ss / want.size()), 1e-4));
}

// The indices live on the device: a bad one is skipped and reported by synchronize.
TEST_F(SparseFfnGpu, IndexOutOfRangeReportedBySynchronize) {
  Weights w(*cpu_, *gpu_, CAPRESE_DTYPE_F32, 128, 100, 0, 970);
  const int64_t m = 2;
  const std::vector<float> x = FastRandom(m * w.d, 971, 1.0f);
  Pair tx(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, w.d}), ty(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, w.d}),
      bad(*cpu_, *gpu_, CAPRESE_DTYPE_I32, {4}), good(*cpu_, *gpu_, CAPRESE_DTYPE_I32, {2});
  tx.Upload(x);
  bad.Upload(std::vector<int32_t>{7, 100, 42, -5});
  good.Upload(std::vector<int32_t>{7, 42});
  caprese_sparse_ffn_params p{};
  p.selection = CAPRESE_SPARSE_INDICES;
  CAPRESE_ASSERT_OK(caprese_sparse_ffn(*gpu_, tx.g.ct(), w.wg.g.ct(), w.wu.g.ct(), w.wd.g.ct(), bad.g.ct(), nullptr,
                                       nullptr, &p, ty.g.t()));
  EXPECT_EQ(caprese_context_synchronize(*gpu_), CAPRESE_ERROR_OUT_OF_RANGE);
  EXPECT_TRUE(caprese_test::LastErrorMentions("sparse_ffn"));
  EXPECT_EQ(caprese_context_synchronize(*gpu_), CAPRESE_OK) << caprese_last_error();
  CAPRESE_ASSERT_OK(caprese_sparse_ffn(*cpu_, tx.c.ct(), w.wg.c.ct(), w.wu.c.ct(), w.wd.c.ct(), good.c.ct(), nullptr,
                                       nullptr, &p, ty.c.t()));
  const std::vector<float> want = ty.c.Download<float>();
  double ss = 0;
  for (float v : want) ss += double(v) * v;
  EXPECT_TRUE(Compare("sparse_ffn bad indices skipped", "2x128x100", "f32", ty.g.Download<float>(), want,
                      2e-4 * std::sqrt(ss / want.size()), 1e-4));
}

// Regression: each kernel needs its own cudaFuncSetAttribute(MaxDynamicSharedMemorySize).
// The element path (odd D) and then the vector path of the same M bucket, both with an x
// tile over 48 KiB and the second one smaller: when one cache served both kernels, the
// vector kernel was never raised and its launch failed with "invalid argument". Caches live
// for the process, so this bites only where nothing ran before it: ctest runs each test in
// its own process.
TEST_F(SparseFfnGpu, SharedMemoryLimitRaisedPerKernel) {
  struct Case {
    int64_t m, d_element, d_vector;
  };
  // x tile = M·D·4 bytes: ~65 KB at M = 16, just over the 48 KiB default (49152) at M = 4.
  for (const Case c : {Case{16, 1023, 1016}, Case{4, 3077, 3076}}) {
    for (int64_t d : {c.d_element, c.d_vector}) {
      SCOPED_TRACE("M=" + std::to_string(c.m) + " D=" + std::to_string(d));
      Weights w(*cpu_, *gpu_, CAPRESE_DTYPE_F32, d, 24, 0, 990 + d);
      Check("smem per kernel", w, c.m, FastRandom(c.m * d, 991 + d, 1.0f), CAPRESE_SPARSE_ALL, {}, 0, false);
    }
  }
}

// Same inputs, same bits: no atomics in the summation.
TEST_F(SparseFfnGpu, Deterministic) {
  Weights w(*cpu_, *gpu_, CAPRESE_DTYPE_BF16, 2048, 5632, 64, 980);
  const int64_t m = 8;
  const std::vector<float> x = FastRandom(m * w.d, 981, 1.0f);
  const float thr = Threshold(w, m, x, 0.5);
  for (auto sel : {CAPRESE_SPARSE_ALL, CAPRESE_SPARSE_THRESHOLD}) {
    const std::vector<float> a = Check("determinism run 1", w, m, x, sel, {}, thr, true);
    const std::vector<float> b = Check("determinism run 2", w, m, x, sel, {}, thr, true);
    EXPECT_EQ(a, b) << "selection " << sel;
  }
}

// Every kernel variant (CAPRESE_SPARSE_FFN_VARIANT, see native/src/cuda/sparse_ffn.cu) against
// the CPU backend, under Check's tolerance (2e-4 rms(y) + 1e-4 |y| per output; a variant that
// drops, repeats or misplaces a down-row word, a partial or a tail column is off by ~1e-2
// rms(y)), at batch 1/4/8/16, f16/bf16/f32, GRIFFIN (INDICES, with and without extra neurons,
// and ALL) and CATS (THRESHOLD). Shapes: the 16-byte path with hundreds of partials (H 2816:
// two blocks per SM on the simulated H200 below M = 8), phase 2's column tail (D 2056 = one
// full 2048-column pass of 16-bit words and one word), and sizes that are not a multiple of the
// 16-byte word (D 1001, 4100 bf16, 99 f32), which every variant serves with element loads;
// odd M·D also sends the parallel reduction to single-float words.
class SparseFfnVariantTest : public SparseFfnGpu, public ::testing::WithParamInterface<const char*> {
 protected:
  void SetUp() override {
    SparseFfnGpu::SetUp();
    setenv("CAPRESE_SPARSE_FFN_VARIANT", GetParam(), 1);
  }
  void TearDown() override { unsetenv("CAPRESE_SPARSE_FFN_VARIANT"); }
};

TEST_P(SparseFfnVariantTest, MatchesCpu) {
  struct Shape {
    int64_t d, h, r;
    caprese_dtype dt;
    std::vector<int64_t> ms;
  };
  const Shape shapes[] = {
      {1024, 2816, 32, CAPRESE_DTYPE_F16, {1, 4, 8, 16}},  {768, 1536, 0, CAPRESE_DTYPE_BF16, {1, 4, 8, 16}},
      {2056, 300, 5, CAPRESE_DTYPE_F16, {1, 8, 16}},       {1001, 400, 3, CAPRESE_DTYPE_F16, {1, 4, 8, 16}},
      {4100, 200, 0, CAPRESE_DTYPE_BF16, {3, 16}},         {100, 260, 4, CAPRESE_DTYPE_F32, {1, 5, 16}},
      {99, 260, 4, CAPRESE_DTYPE_F32, {1, 16}},
  };
  uint64_t seed = 1300;
  for (const Shape& s : shapes) {
    Weights w(*cpu_, *gpu_, s.dt, s.d, s.h, s.r, seed += 10);
    for (int64_t m : s.ms) {
      SCOPED_TRACE(std::string("variant ") + GetParam() + " D=" + std::to_string(s.d) + " H=" + std::to_string(s.h) +
                   " M=" + std::to_string(m));
      const std::vector<float> x = FastRandom(m * s.d, seed + m, 1.0f);
      const bool extra = s.r > 0;
      Check("indices 50%", w, m, x, CAPRESE_SPARSE_INDICES, Subset(s.h, s.h / 2, seed + 40 + m), 0, extra);
      if (s.r == 0) Check("all", w, m, x, CAPRESE_SPARSE_ALL, {}, 0, false);
      Check("threshold ~50%", w, m, x, CAPRESE_SPARSE_THRESHOLD, {}, Threshold(w, m, x, 0.5), extra);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, SparseFfnVariantTest, ::testing::Values("serial", "tree", "wide"),
                         [](const ::testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

// A name that is no variant fails the call loudly (it must not time or test the wrong kernel).
TEST_F(SparseFfnGpu, UnknownVariantFailsTheCall) {
  Weights w(*cpu_, *gpu_, CAPRESE_DTYPE_F16, 64, 96, 0, 1400);
  Pair tx(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {1, w.d}), ty(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {1, w.d});
  tx.Upload(FastRandom(w.d, 1401, 1.0f));
  caprese_sparse_ffn_params p{};
  p.selection = CAPRESE_SPARSE_ALL;
  setenv("CAPRESE_SPARSE_FFN_VARIANT", "widest", 1);
  const caprese_status st =
      caprese_sparse_ffn(*gpu_, tx.g.ct(), w.wg.g.ct(), w.wu.g.ct(), w.wd.g.ct(), nullptr, nullptr, nullptr, &p, ty.g.t());
  unsetenv("CAPRESE_SPARSE_FFN_VARIANT");
  EXPECT_NE(st, CAPRESE_OK);
  EXPECT_TRUE(caprese_test::LastErrorMentions("sparse_ffn")) << caprese_last_error();
  CAPRESE_ASSERT_OK(
      caprese_sparse_ffn(*gpu_, tx.g.ct(), w.wg.g.ct(), w.wu.g.ct(), w.wd.g.ct(), nullptr, nullptr, nullptr, &p, ty.g.t()));
}

}  // namespace
}  // namespace caprese_gpu_test
