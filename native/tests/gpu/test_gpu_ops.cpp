// Every op of the CUDA backend against the CPU backend on the same inputs.
#include <algorithm>
#include <ostream>
#include <cmath>
#include <string>
#include <vector>

#include "gpu/gpu_test.h"

namespace caprese_gpu_test {
namespace {

using caprese_test::DtypeLabel;
using caprese_test::Pack;
using caprese_test::RoundTo;

std::string Dims(std::initializer_list<int64_t> d) {
  std::string s;
  for (int64_t v : d) s += (s.empty() ? "" : "x") + std::to_string(v);
  return s;
}

// ------------------------------------------------------------------- matmul
//
// Tolerance: both backends accumulate in f32, in different orders (and, for M > 16 with
// 16-bit weights, cuBLAS multiplies x rounded to the weight dtype). Any such rounding is
// bounded element-wise by a multiple of S = Σ_k |x_k · w_nk| (computed exactly enough by a
// CPU matmul of |x| and |w|): f32 reordering stays far below 2^-20 · S for these K (random
// signs make the error grow like √K ulps, not K), and rounding x to f16 / bf16 adds at most
// u · S with u = 2^-11 / 2^-8.

struct MatmulCase {
  int64_t n, k;
};
// Readable parameters in gtest/ctest output instead of a byte dump.
void PrintTo(const MatmulCase& c, std::ostream* os) { *os << "N=" << c.n << " K=" << c.k; }

class MatmulTest : public CudaTest, public ::testing::WithParamInterface<std::tuple<MatmulCase, caprese_dtype>> {};

void RunMatmul(caprese_context_t cpu, caprese_context_t gpu, int64_t n, int64_t k, caprese_dtype dt,
               std::initializer_list<int64_t> ms, size_t w_offset_elems = 0) {
  const int64_t max_m = *std::max_element(ms.begin(), ms.end());
  std::vector<float> w = RoundTo(dt, FastRandom(static_cast<size_t>(n * k), 1000 + n + k, 0.05f));
  std::vector<float> x = FastRandom(static_cast<size_t>(max_m * k), 2000 + k, 1.0f);
  std::vector<float> bias = FastRandom(static_cast<size_t>(n), 3000 + n, 0.5f);
  std::vector<uint8_t> wbytes = Pack(dt, w);
  const size_t esz = caprese_test::DtypeBytes(dt);

  // Weights may start at an element offset (aligned to the element, not to 16 bytes).
  caprese_test::Buffer wc(cpu, wbytes.size() + w_offset_elems * esz), wg(gpu, wbytes.size() + w_offset_elems * esz);
  ASSERT_EQ(wg.status, CAPRESE_OK) << caprese_last_error();
  ASSERT_EQ(caprese_copy(cpu, static_cast<uint8_t*>(wc.data()) + w_offset_elems * esz, wbytes.data(), wbytes.size(),
                         CAPRESE_COPY_HOST_TO_DEVICE), CAPRESE_OK);
  ASSERT_EQ(caprese_copy(gpu, static_cast<uint8_t*>(wg.data()) + w_offset_elems * esz, wbytes.data(), wbytes.size(),
                         CAPRESE_COPY_HOST_TO_DEVICE), CAPRESE_OK) << caprese_last_error();
  caprese_tensor wtc = caprese_test::MakeTensor(static_cast<uint8_t*>(wc.data()) + w_offset_elems * esz, dt, {n, k});
  caprese_tensor wtg = caprese_test::MakeTensor(static_cast<uint8_t*>(wg.data()) + w_offset_elems * esz, dt, {n, k});

  // |w| in f32 on the CPU for the error scale S.
  std::vector<float> wabs(w.size()), xabs(x.size());
  for (size_t i = 0; i < w.size(); ++i) wabs[i] = std::fabs(w[i]);
  for (size_t i = 0; i < x.size(); ++i) xabs[i] = std::fabs(x[i]);
  DeviceTensor wa(cpu, CAPRESE_DTYPE_F32, {n, k}), xa(cpu, CAPRESE_DTYPE_F32, {max_m, k});
  ASSERT_EQ(wa.Upload(wabs), CAPRESE_OK);
  ASSERT_EQ(xa.Upload(xabs), CAPRESE_OK);
  std::vector<float>().swap(wabs);

  Pair xs(cpu, gpu, CAPRESE_DTYPE_F32, {max_m, k}), ys(cpu, gpu, CAPRESE_DTYPE_F32, {max_m, n}),
      bs(cpu, gpu, CAPRESE_DTYPE_F32, {n});
  xs.Upload(x);
  bs.Upload(bias);
  DeviceTensor sa(cpu, CAPRESE_DTYPE_F32, {max_m, n});

  for (int64_t m : ms) {
    const bool with_bias = (m % 3) != 1;  // M = 1, 4, 16, 64 without; 2, 3, 8 with
    SCOPED_TRACE("M=" + std::to_string(m) + (with_bias ? " +bias" : ""));
    caprese_tensor xc = *xs.c.ct(), xg = *xs.g.ct(), yc = *ys.c.ct(), yg = *ys.g.ct(), xat = *xa.ct(), sat = *sa.ct();
    xc.shape[0] = xg.shape[0] = yc.shape[0] = yg.shape[0] = xat.shape[0] = sat.shape[0] = m;
    CAPRESE_ASSERT_OK(caprese_matmul(cpu, &xc, &wtc, with_bias ? bs.c.ct() : nullptr, &yc));
    CAPRESE_ASSERT_OK(caprese_matmul(gpu, &xg, &wtg, with_bias ? bs.g.ct() : nullptr, &yg));
    CAPRESE_ASSERT_OK(caprese_matmul(cpu, &xat, wa.ct(), nullptr, &sat));
    std::vector<float> want = ys.c.Download<float>(), got = ys.g.Download<float>(), s = sa.Download<float>();
    want.resize(m * n);
    got.resize(m * n);
    const bool cublas_16 = m > 16 && dt != CAPRESE_DTYPE_F32;
    const double u = !cublas_16 ? 0.0 : dt == CAPRESE_DTYPE_F16 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8);
    const double rel = u + std::ldexp(1.0, -20);
    std::vector<double> tol(m * n);
    for (int64_t i = 0; i < m * n; ++i) tol[i] = rel * s[i] + 1e-6;
    char label[64];
    std::snprintf(label, sizeof label, "%.3g * sum|x*w| + 1e-6", rel);
    EXPECT_TRUE(CompareBounded(std::string("matmul") + (m > 16 ? " (cublas)" : " (gemv)") + (with_bias ? " +bias" : ""),
                               Dims({m, n, k}) + (w_offset_elems ? " w+1" : ""), DtypeLabel(dt), got, want, tol,
                               label));
  }
}

TEST_P(MatmulTest, MatchesCpu) {
  const MatmulCase c = std::get<0>(GetParam());
  RunMatmul(*cpu_, *gpu_, c.n, c.k, std::get<1>(GetParam()), {1, 2, 4, 8, 16, 64});
}

std::string MatmulName(const ::testing::TestParamInfo<std::tuple<MatmulCase, caprese_dtype>>& info) {
  const MatmulCase c = std::get<0>(info.param);
  return "N" + std::to_string(c.n) + "_K" + std::to_string(c.k) + "_" + DtypeLabel(std::get<1>(info.param));
}

// Llama-3.1-8B: q/o and k/v-sized (4096x4096), gate/up (14336x4096), down (4096x14336);
// then shapes for the element-load tail path: K = 4097 puts f16/bf16 rows at odd
// addresses; tiny shapes cover partial warps and blocks.
#ifndef CAPRESE_GPU_TEST_SIM  // realistic shapes: GPU only
INSTANTIATE_TEST_SUITE_P(Llama8B, MatmulTest,
                         ::testing::Combine(::testing::Values(MatmulCase{4096, 4096}, MatmulCase{14336, 4096},
                                                              MatmulCase{4096, 14336}),
                                            ::testing::Values(CAPRESE_DTYPE_F32, CAPRESE_DTYPE_F16,
                                                              CAPRESE_DTYPE_BF16)),
                         MatmulName);
#endif
INSTANTIATE_TEST_SUITE_P(OddShapes, MatmulTest,
                         ::testing::Combine(::testing::Values(MatmulCase{300, 4097}, MatmulCase{37, 100},
                                                              MatmulCase{5, 3}, MatmulCase{1000, 12296}),
                                            ::testing::Values(CAPRESE_DTYPE_F32, CAPRESE_DTYPE_F16,
                                                              CAPRESE_DTYPE_BF16)),
                         MatmulName);

TEST_F(CudaTest, MatmulWeightsNotSixteenByteAligned) {
  // K % 8 == 0 but the weights start 1 element into the buffer: the 16-byte path must not be taken.
  RunMatmul(*cpu_, *gpu_, 256, 1024, CAPRESE_DTYPE_F16, {1, 3, 16}, 1);
  RunMatmul(*cpu_, *gpu_, 256, 1024, CAPRESE_DTYPE_F32, {1, 5}, 1);
}

TEST_F(CudaTest, MatmulOddRowCounts) { RunMatmul(*cpu_, *gpu_, 512, 4096, CAPRESE_DTYPE_BF16, {3, 5, 7, 9, 13, 17}); }

// ------------------------------------------------------------------ rmsnorm
// f32 sum of squares in another order and rsqrtf (<= 2 ulp): a few ulps relative per element.

TEST_F(CudaTest, RmsNorm) {
  for (int64_t d : {4096, 4097, 2304, 1}) {
    for (int64_t m : {1, 7}) {
      for (float offset : {0.0f, 1.0f}) {
        Pair x(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, d}), w(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {d}),
            y(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, d});
        x.Upload(FastRandom(m * d, 11 + d, 2.0f));
        w.Upload(FastRandom(d, 12 + d, 1.0f));
        CAPRESE_ASSERT_OK(caprese_rmsnorm(*cpu_, x.c.ct(), w.c.ct(), 1e-5f, offset, y.c.t()));
        CAPRESE_ASSERT_OK(caprese_rmsnorm(*gpu_, x.g.ct(), w.g.ct(), 1e-5f, offset, y.g.t()));
        EXPECT_TRUE(Compare("rmsnorm offset=" + std::to_string(static_cast<int>(offset)), Dims({m, d}), "f32",
                            y.g.Download<float>(), y.c.Download<float>(), 1e-6, 2e-6));
      }
    }
  }
}

// --------------------------------------------------------------------- rope
// Both backends take the angle and its sin/cos in f64; the CPU rounds cos/sin to f32 first,
// so results differ by a few f32 ulps of |x| <= 1 even at position 100000.

TEST_F(CudaTest, Rope) {
  const int64_t heads = 8, hd = 128, m = 3;
  for (caprese_rope_style style : {CAPRESE_ROPE_INTERLEAVED, CAPRESE_ROPE_HALF_SPLIT}) {
    for (int32_t pos0 : {0, 4095, 100000}) {
      for (bool table : {false, true}) {
        Pair x(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, heads, hd}), f(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {hd / 2});
        x.Upload(FastRandom(m * heads * hd, 21 + pos0, 1.0f));
        std::vector<float> inv(hd / 2);
        for (int64_t i = 0; i < hd / 2; ++i)  // a Llama-3.1-like scaled table
          inv[i] = static_cast<float>(std::pow(500000.0, -2.0 * i / hd) / (i > hd / 4 ? 8.0 : 1.0));
        f.Upload(inv);
        CAPRESE_ASSERT_OK(caprese_rope(*cpu_, x.c.t(), pos0, 500000.0f, table ? f.c.ct() : nullptr, style));
        CAPRESE_ASSERT_OK(caprese_rope(*gpu_, x.g.t(), pos0, 500000.0f, table ? f.g.ct() : nullptr, style));
        EXPECT_TRUE(Compare(std::string("rope ") + (style == CAPRESE_ROPE_INTERLEAVED ? "interleaved" : "half_split") +
                                (table ? " inv_freq" : " theta") + " pos0=" + std::to_string(pos0),
                            Dims({m, heads, hd}), "f32", x.g.Download<float>(), x.c.Download<float>(), 2e-6, 0));
      }
    }
  }
}

// ---------------------------------------------------------------- attention
// The CUDA kernel reorders the softmax (online, split over blocks) and the weighted sum;
// every output is a convex combination of v values in [-1, 1], so f32 reordering and
// expf's 2-ulp error stay below ~1e-5 absolute even over 4096 keys.

struct AttnCase {
  int64_t m, hq, hkv, hd, cache;
  int32_t window;
  float softcap;
};
void PrintTo(const AttnCase& c, std::ostream* os) {
  *os << "M=" << c.m << " Hq=" << c.hq << " Hkv=" << c.hkv << " hd=" << c.hd << " S=" << c.cache
      << " window=" << c.window << " softcap=" << c.softcap;
}

class AttentionTest : public CudaTest, public ::testing::WithParamInterface<AttnCase> {};

TEST_P(AttentionTest, MatchesCpu) {
  const AttnCase c = GetParam();
  const int64_t s = c.cache;
  Pair q(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {c.m, c.hq, c.hd}), k(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {s, c.hkv, c.hd}),
      v(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {s, c.hkv, c.hd}), o(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {c.m, c.hq, c.hd});
  q.Upload(FastRandom(c.m * c.hq * c.hd, 31, 1.0f));
  k.Upload(FastRandom(s * c.hkv * c.hd, 32, 1.0f));
  v.Upload(FastRandom(s * c.hkv * c.hd, 33, 1.0f));
  caprese_attention_params p{};
  p.pos0 = static_cast<int32_t>(s - c.m);  // the chunk ends at the last filled cache row
  p.sliding_window = c.window;
  // A larger scale than 1/sqrt(hd) sharpens the softmax, which stresses the max tracking.
  p.scale = 2.0f / std::sqrt(static_cast<float>(c.hd));
  p.softcap = c.softcap;
  CAPRESE_ASSERT_OK(caprese_attention(*cpu_, q.c.ct(), k.c.ct(), v.c.ct(), &p, o.c.t()));
  CAPRESE_ASSERT_OK(caprese_attention(*gpu_, q.g.ct(), k.g.ct(), v.g.ct(), &p, o.g.t()));
  EXPECT_TRUE(Compare("attention window=" + std::to_string(c.window) + " softcap=" +
                          std::to_string(static_cast<int>(c.softcap)),
                      "M" + std::to_string(c.m) + " Hq" + std::to_string(c.hq) + " Hkv" + std::to_string(c.hkv) +
                          " hd" + std::to_string(c.hd) + " S" + std::to_string(s),
                      "f32", o.g.Download<float>(), o.c.Download<float>(), 1e-5, 1e-4));
}

std::string AttnName(const ::testing::TestParamInfo<AttnCase>& info) {
  const AttnCase& c = info.param;
  return "M" + std::to_string(c.m) + "_Hq" + std::to_string(c.hq) + "_Hkv" + std::to_string(c.hkv) + "_hd" +
         std::to_string(c.hd) + "_S" + std::to_string(c.cache) + "_win" + std::to_string(c.window) + "_cap" +
         std::to_string(static_cast<int>(c.softcap));
}

INSTANTIATE_TEST_SUITE_P(
    Decode, AttentionTest,
    ::testing::Values(AttnCase{1, 8, 2, 64, 1, 0, 0}, AttnCase{1, 8, 2, 128, 17, 0, 0},
                      AttnCase{1, 8, 2, 256, 1000, 0, 0}, AttnCase{1, 8, 2, 128, 4096, 0, 0},
                      AttnCase{1, 8, 2, 128, 4096, 100, 0}, AttnCase{1, 8, 2, 256, 4096, 4096, 50},
                      AttnCase{1, 8, 8, 64, 333, 0, 30}, AttnCase{1, 32, 8, 128, 4096, 0, 0},
                      AttnCase{1, 4, 1, 96, 77, 0, 0}, AttnCase{1, 2, 1, 40, 5000, 1024, 0},
                      // Groups that are not a power of two (Qwen2: 7) or larger than one
                      // block's 8 heads (16: two blocks per kv head).
                      AttnCase{1, 28, 4, 128, 300, 0, 0}, AttnCase{1, 16, 1, 64, 2000, 0, 0},
                      AttnCase{1, 12, 2, 256, 129, 0, 0}),
    AttnName);
INSTANTIATE_TEST_SUITE_P(
    Chunk, AttentionTest,
    ::testing::Values(AttnCase{7, 8, 2, 64, 7, 0, 0}, AttnCase{7, 8, 2, 128, 100, 0, 0},
                      AttnCase{7, 8, 2, 256, 4096, 0, 30}, AttnCase{7, 8, 2, 128, 4096, 64, 0},
                      AttnCase{7, 8, 2, 64, 1000, 3, 50}, AttnCase{64, 8, 2, 128, 512, 0, 0},
                      AttnCase{7, 14, 2, 128, 50, 0, 0}, AttnCase{5, 16, 1, 32, 9, 0, 0}),
    AttnName);

// ------------------------------------------------- element-wise and row ops

TEST_F(CudaTest, GatedActivation) {
  // expf / tanhf differ by a couple of ulps between libm and CUDA. For GELU at negative g,
  // 1 + tanh(..) cancels and tanh's absolute error (~2.4e-7) is scaled by |g|/2 * |up| <= 8,
  // hence an absolute floor of 5e-6; elsewhere a relative 4e-6.
  for (caprese_activation act : {CAPRESE_ACTIVATION_SILU, CAPRESE_ACTIVATION_GELU_TANH}) {
    for (int64_t count : {14336 * 3, 14339, 1}) {
      for (bool alias : {false, true}) {
        Pair g(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {count}), u(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {count}),
            o(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {count});
        g.Upload(FastRandom(count, 41, 8.0f));
        u.Upload(FastRandom(count, 42, 2.0f));
        CAPRESE_ASSERT_OK(caprese_gated_activation(*cpu_, g.c.ct(), u.c.ct(), act, alias ? g.c.t() : o.c.t()));
        CAPRESE_ASSERT_OK(caprese_gated_activation(*gpu_, g.g.ct(), u.g.ct(), act, alias ? g.g.t() : o.g.t()));
        const std::string op = std::string("gated_activation ") + (act == CAPRESE_ACTIVATION_SILU ? "silu" : "gelu_tanh") +
                               (alias ? " out=gate" : "");
        EXPECT_TRUE(Compare(op, Dims({count}), "f32", (alias ? g.g : o.g).Download<float>(),
                            (alias ? g.c : o.c).Download<float>(), 5e-6, 4e-6));
      }
    }
  }
}

TEST_F(CudaTest, AddAndSoftcap) {
  for (int64_t count : {4096 * 7, 4099}) {
    Pair a(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {count}), b(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {count});
    a.Upload(FastRandom(count, 51, 3.0f));
    b.Upload(FastRandom(count, 52, 3.0f));
    // The residual add in place (out = a): exact in both backends.
    CAPRESE_ASSERT_OK(caprese_add(*cpu_, a.c.ct(), b.c.ct(), a.c.t()));
    CAPRESE_ASSERT_OK(caprese_add(*gpu_, a.g.ct(), b.g.ct(), a.g.t()));
    EXPECT_TRUE(Compare("add out=a", Dims({count}), "f32", a.g.Download<float>(), a.c.Download<float>(), 0, 0));
    // Soft-capping in place: tanhf ulps scaled by the cap.
    CAPRESE_ASSERT_OK(caprese_softcap(*cpu_, b.c.ct(), 2.5f, b.c.t()));
    CAPRESE_ASSERT_OK(caprese_softcap(*gpu_, b.g.ct(), 2.5f, b.g.t()));
    EXPECT_TRUE(Compare("softcap y=x", Dims({count}), "f32", b.g.Download<float>(), b.c.Download<float>(), 1e-6, 2e-6));
  }
}

TEST_F(CudaTest, Softmax) {
  // Probabilities: the sums are reordered and expf differs by ulps; relative 1e-5.
  for (int64_t n : {128256, 1000, 1}) {
    for (float t : {1.0f, 0.7f}) {
      const int64_t m = 3;
      Pair x(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, n}), y(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, n});
      x.Upload(FastRandom(m * n, 61 + n, 12.0f));
      CAPRESE_ASSERT_OK(caprese_softmax(*cpu_, x.c.ct(), t, y.c.t()));
      CAPRESE_ASSERT_OK(caprese_softmax(*gpu_, x.g.ct(), t, y.g.t()));
      EXPECT_TRUE(Compare("softmax T=" + std::to_string(t), Dims({m, n}), "f32", y.g.Download<float>(),
                          y.c.Download<float>(), 1e-9, 1e-5));
      // In place.
      CAPRESE_ASSERT_OK(caprese_softmax(*gpu_, x.g.ct(), t, x.g.t()));
      EXPECT_TRUE(Compare("softmax in place", Dims({m, n}), "f32", x.g.Download<float>(), y.c.Download<float>(),
                          1e-9, 1e-5));
    }
  }
}

TEST_F(CudaTest, SoftmaxSpecialRows) {
  // Same rules as the CPU backend: masked (-inf) logits get 0, a +inf maximum shares the
  // mass, a row of only -inf is uniform, a NaN anywhere gives a NaN row.
  const int64_t m = 5, n = 1000;
  std::vector<float> x = FastRandom(m * n, 65, 4.0f);
  for (int64_t i = 0; i < n; i += 3) x[0 * n + i] = -INFINITY;  // row 0 starts masked
  x[1 * n + 10] = INFINITY;
  x[1 * n + 700] = INFINITY;
  std::fill(x.begin() + 2 * n, x.begin() + 3 * n, -INFINITY);
  x[3 * n + 999] = NAN;
  Pair xs(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, n}), ys(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, n});
  xs.Upload(x);
  CAPRESE_ASSERT_OK(caprese_softmax(*cpu_, xs.c.ct(), 1.0f, ys.c.t()));
  CAPRESE_ASSERT_OK(caprese_softmax(*gpu_, xs.g.ct(), 1.0f, ys.g.t()));
  std::vector<float> want = ys.c.Download<float>(), got = ys.g.Download<float>();
  for (int64_t i = 0; i < n; ++i) ASSERT_TRUE(std::isnan(got[3 * n + i])) << i;
  for (int64_t i = 0; i < n; ++i) got[3 * n + i] = want[3 * n + i] = 0.0f;  // NaN != NaN
  EXPECT_EQ(got[1 * n + 10], 0.5f);
  EXPECT_EQ(got[2 * n + 5], 1.0f / n);
  EXPECT_TRUE(Compare("softmax special rows", Dims({m, n}), "f32", got, want, 1e-9, 1e-5));
}

TEST_F(CudaTest, Argmax) {
  const int64_t m = 4, n = 128256;
  std::vector<float> x = FastRandom(m * n, 71, 5.0f);
  // Row 1: a tie between two maxima, the first must win; row 2: maximum in the last slot;
  // row 3: a constant row (all tied) must give index 0.
  x[1 * n + 100] = 9.0f;
  x[1 * n + 90000] = 9.0f;
  x[2 * n + n - 1] = 7.0f;
  std::fill(x.begin() + 3 * n, x.end(), 0.25f);
  // Row 0: NaN ranks above every number, the first NaN wins (CPU rule).
  x[0 * n + 5000] = NAN;
  x[0 * n + 6000] = NAN;
  Pair xs(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, n}), out(*cpu_, *gpu_, CAPRESE_DTYPE_I32, {m});
  xs.Upload(x);
  CAPRESE_ASSERT_OK(caprese_argmax(*cpu_, xs.c.ct(), out.c.t()));
  CAPRESE_ASSERT_OK(caprese_argmax(*gpu_, xs.g.ct(), out.g.t()));
  std::vector<int32_t> want = out.c.Download<int32_t>(), got = out.g.Download<int32_t>();
  EXPECT_EQ(got, want);
  EXPECT_EQ(got[0], 5000);
  EXPECT_EQ(got[1], 100);
  EXPECT_EQ(got[2], n - 1);
  EXPECT_EQ(got[3], 0);
  Record("argmax", Dims({m, n}), "f32", got == want ? 0 : 1, 0, "exact index", got == want);
}

TEST_F(CudaTest, Embedding) {
  // A gather and one multiply: exact.
  const int64_t vocab = 1000, d = 4096;
  for (caprese_dtype dt : {CAPRESE_DTYPE_F32, CAPRESE_DTYPE_F16, CAPRESE_DTYPE_BF16}) {
    std::vector<float> table = RoundTo(dt, FastRandom(vocab * d, 81, 1.0f));
    std::vector<uint8_t> bytes = Pack(dt, table);
    Pair t(*cpu_, *gpu_, dt, {vocab, d}), ids(*cpu_, *gpu_, CAPRESE_DTYPE_I32, {5}),
        out(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {5, d});
    t.Upload(bytes);
    ids.Upload(std::vector<int32_t>{0, 999, 17, 17, 500});
    CAPRESE_ASSERT_OK(caprese_embedding(*cpu_, t.c.ct(), ids.c.ct(), 64.0f, out.c.t()));
    CAPRESE_ASSERT_OK(caprese_embedding(*gpu_, t.g.ct(), ids.g.ct(), 64.0f, out.g.t()));
    EXPECT_TRUE(Compare("embedding", Dims({5, d}), DtypeLabel(dt), out.g.Download<float>(), out.c.Download<float>(),
                        0, 0));
  }
}

TEST_F(CudaTest, EmbeddingOutOfRangeReportedBySynchronize) {
  const int64_t vocab = 10, d = 64;
  Pair t(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {vocab, d}), ids(*cpu_, *gpu_, CAPRESE_DTYPE_I32, {3}),
      out(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {3, d});
  t.Upload(FastRandom(vocab * d, 91, 1.0f));
  ids.Upload(std::vector<int32_t>{3, 10, -1});
  std::vector<float> junk(3 * d, 5.0f);
  ASSERT_EQ(out.g.Upload(junk), CAPRESE_OK);
  // The launch itself succeeds: the ids are on the device.
  CAPRESE_ASSERT_OK(caprese_embedding(*gpu_, t.g.ct(), ids.g.ct(), 1.0f, out.g.t()));
  EXPECT_EQ(caprese_context_synchronize(*gpu_), CAPRESE_ERROR_OUT_OF_RANGE);
  EXPECT_TRUE(caprese_test::LastErrorMentions("token id"));
  // The flag is cleared by the report; rows of bad ids are zero, good rows intact.
  EXPECT_EQ(caprese_context_synchronize(*gpu_), CAPRESE_OK) << caprese_last_error();
  std::vector<float> got(3 * d);
  ASSERT_EQ(caprese_copy(*gpu_, got.data(), out.g.data(), got.size() * 4, CAPRESE_COPY_DEVICE_TO_HOST), CAPRESE_OK);
  for (int64_t i = d; i < 3 * d; ++i) ASSERT_EQ(got[i], 0.0f) << i;
  std::vector<float> tv = FastRandom(vocab * d, 91, 1.0f);
  for (int64_t i = 0; i < d; ++i) ASSERT_EQ(got[i], tv[3 * d + i]) << i;
  Record("embedding out-of-range flag", "3x64", "f32", 0, 0, "exact", !HasFailure());
}

}  // namespace
}  // namespace caprese_gpu_test
