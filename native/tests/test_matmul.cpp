// caprese_matmul on the CPU backend against the naive double-precision reference.
//
// Tolerance: weights are rounded to f16/bf16 before the reference sees them, so both sides
// multiply the same numbers and only the f32 accumulation differs. Summing K products in f32
// in any order errs by at most ~K·eps·Σ|x·w| and in practice by ~sqrt(K)·eps·Σ|x·w| (random
// rounding errors); we allow 2·sqrt(K)·eps·Σ|x·w| per output, which a wrong index, a lost
// tail element or a missing bias exceed by orders of magnitude.
#include <cmath>
#include <cstdlib>
#include <string>
#include <thread>
#include <tuple>

#include "reference.h"
#include "test_util.h"

using namespace caprese_test;

namespace {

constexpr double kEps32 = 1.1920929e-07;

struct MatmulResult {
  std::vector<float> got;
  std::vector<double> want, tol;
};

MatmulResult RunMatmul(caprese_context_t ctx, caprese_dtype dtype, int64_t m, int64_t n, int64_t k, bool bias,
                       uint32_t seed) {
  std::vector<float> x = RandomVector(m * k, seed);
  std::vector<float> w = RoundTo(dtype, RandomVector(n * k, seed + 1));
  std::vector<float> b = RandomVector(n, seed + 2);
  DeviceTensor tx(ctx, CAPRESE_DTYPE_F32, {m, k}), tw(ctx, dtype, {n, k}), tb(ctx, CAPRESE_DTYPE_F32, {n}),
      ty(ctx, CAPRESE_DTYPE_F32, {m, n});
  EXPECT_EQ(tx.Upload(x), CAPRESE_OK);
  EXPECT_EQ(tw.Upload(Pack(dtype, w)), CAPRESE_OK);
  EXPECT_EQ(tb.Upload(b), CAPRESE_OK);
  MatmulResult r;
  caprese_status st = caprese_matmul(ctx, tx.ct(), tw.ct(), bias ? tb.ct() : nullptr, ty.t());
  EXPECT_EQ(st, CAPRESE_OK) << caprese_last_error();
  r.got = ty.Download<float>();
  std::vector<double> abs_sum;
  r.want = caprese_ref::Matmul(x, w, bias ? &b : nullptr, m, n, k, &abs_sum);
  r.tol.resize(abs_sum.size());
  for (size_t i = 0; i < abs_sum.size(); ++i) r.tol[i] = 2.0 * std::sqrt(double(k)) * kEps32 * abs_sum[i] + 1e-30;
  return r;
}

class MatmulDtype : public ::testing::TestWithParam<caprese_dtype> {};

TEST_P(MatmulDtype, ManyShapes) {
  Context ctx;
  ASSERT_TRUE(ctx.ok()) << ctx.message;
  // (N, K): odd sizes, K below/at/above a vector width and not a multiple of 8.
  const std::vector<std::pair<int64_t, int64_t>> nk = {{1, 1}, {7, 5}, {33, 67}, {64, 128}, {129, 200}, {5, 1031}};
  std::vector<int64_t> ms;
  for (int64_t m = 1; m <= 16; ++m) ms.push_back(m);
  ms.push_back(37);
  ms.push_back(128);
  uint32_t seed = 1;
  for (auto [n, k] : nk)
    for (int64_t m : ms)
      for (bool bias : {false, true}) {
        SCOPED_TRACE(::testing::Message() << DtypeLabel(GetParam()) << " M=" << m << " N=" << n << " K=" << k
                                          << " bias=" << bias);
        MatmulResult r = RunMatmul(ctx, GetParam(), m, n, k, bias, seed++);
        ASSERT_TRUE(WithinBounds(r.got, r.want, r.tol));
      }
}

TEST_P(MatmulDtype, Wide4096) {
  Context ctx;
  for (auto [m, n] : {std::pair<int64_t, int64_t>{1, 1000}, {5, 1000}, {16, 600}}) {
    SCOPED_TRACE(::testing::Message() << "M=" << m << " N=" << n << " K=4096");
    MatmulResult r = RunMatmul(ctx, GetParam(), m, n, 4096, true, 100 + m);
    ASSERT_TRUE(WithinBounds(r.got, r.want, r.tol));
  }
}

// M rows at once equal M single-row calls. The CPU kernel sums every dot product in the
// same order whatever tile it lands in, so here equality is exact.
TEST_P(MatmulDtype, BatchInvariant) {
  Context ctx;
  const int64_t m = 16, n = 77, k = 301;
  std::vector<float> x = RandomVector(m * k, 5), w = RoundTo(GetParam(), RandomVector(n * k, 6));
  std::vector<float> b = RandomVector(n, 7);
  DeviceTensor tx(ctx, CAPRESE_DTYPE_F32, {m, k}), tw(ctx, GetParam(), {n, k}), tb(ctx, CAPRESE_DTYPE_F32, {n}),
      ty(ctx, CAPRESE_DTYPE_F32, {m, n});
  tx.Upload(x);
  tw.Upload(Pack(GetParam(), w));
  tb.Upload(b);
  CAPRESE_ASSERT_OK(caprese_matmul(ctx, tx.ct(), tw.ct(), tb.ct(), ty.t()));
  std::vector<float> batch = ty.Download<float>();
  for (int64_t r = 0; r < m; ++r) {
    caprese_tensor xr = MakeTensor(static_cast<float*>(tx.data()) + r * k, CAPRESE_DTYPE_F32, {1, k});
    caprese_tensor yr = MakeTensor(static_cast<float*>(ty.data()) + r * n, CAPRESE_DTYPE_F32, {1, n});
    std::fill_n(static_cast<float*>(yr.data), n, 0.0f);
    CAPRESE_ASSERT_OK(caprese_matmul(ctx, &xr, tw.ct(), tb.ct(), &yr));
  }
  std::vector<float> single = ty.Download<float>();
  for (size_t i = 0; i < batch.size(); ++i) ASSERT_EQ(batch[i], single[i]) << "element " << i;
}

// The thread count changes only which thread computes an output, never its value.
TEST_P(MatmulDtype, ThreadCountInvariant) {
  Context one(CAPRESE_BACKEND_CPU, 1), two(CAPRESE_BACKEND_CPU, 2), three(CAPRESE_BACKEND_CPU, 3);
  std::vector<std::vector<float>> results;
  for (caprese_context_t ctx : {one.get(), two.get(), three.get()})
    results.push_back(RunMatmul(ctx, GetParam(), 9, 515, 260, true, 42).got);
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, MatmulDtype,
                         ::testing::Values(CAPRESE_DTYPE_F32, CAPRESE_DTYPE_F16, CAPRESE_DTYPE_BF16),
                         [](const ::testing::TestParamInfo<caprese_dtype>& info) {
                           return std::string(DtypeLabel(info.param));
                         });

TEST(Matmul, Square4096F16) {
  Context ctx;
  for (int64_t m : {1, 3, 16}) {
    SCOPED_TRACE(::testing::Message() << "M=" << m);
    MatmulResult r = RunMatmul(ctx, CAPRESE_DTYPE_F16, m, 4096, 4096, false, 900 + m);
    ASSERT_TRUE(WithinBounds(r.got, r.want, r.tol));
  }
}

// Identity weights give x back exactly (each output is one product plus exact zeros).
TEST(Matmul, IdentityIsExact) {
  Context ctx;
  const int64_t m = 3, k = 19;
  std::vector<float> x = RandomVector(m * k, 11), w(k * k, 0.0f);
  for (int64_t i = 0; i < k; ++i) w[i * k + i] = 1.0f;
  for (caprese_dtype dt : {CAPRESE_DTYPE_F32, CAPRESE_DTYPE_F16, CAPRESE_DTYPE_BF16}) {
    DeviceTensor tx(ctx, CAPRESE_DTYPE_F32, {m, k}), tw(ctx, dt, {k, k}), ty(ctx, CAPRESE_DTYPE_F32, {m, k});
    tx.Upload(x);
    tw.Upload(Pack(dt, w));
    CAPRESE_ASSERT_OK(caprese_matmul(ctx, tx.ct(), tw.ct(), nullptr, ty.t()));
    EXPECT_EQ(ty.Download<float>(), x) << DtypeLabel(dt);
  }
}

// x may be [B, T, K]: rows are all leading dims.
TEST(Matmul, LeadingDimsAreRows) {
  Context ctx;
  const int64_t b = 2, t = 3, k = 10, n = 4;
  std::vector<float> x = RandomVector(b * t * k, 12), w = RandomVector(n * k, 13);
  DeviceTensor tx(ctx, CAPRESE_DTYPE_F32, {b, t, k}), tw(ctx, CAPRESE_DTYPE_F32, {n, k}),
      ty(ctx, CAPRESE_DTYPE_F32, {b, t, n});
  tx.Upload(x);
  tw.Upload(w);
  CAPRESE_ASSERT_OK(caprese_matmul(ctx, tx.ct(), tw.ct(), nullptr, ty.t()));
  std::vector<double> abs_sum;
  std::vector<double> want = caprese_ref::Matmul(x, w, nullptr, b * t, n, k, &abs_sum);
  EXPECT_TRUE(AllClose(ty.Download<float>(), want, 1e-5, 1e-5));
}

// The kernels read x, w and bias through __restrict__ pointers: y overlapping any of them
// is refused (in place, y = x·wᵀ would read outputs it already wrote).
TEST(Matmul, OutputOverlappingAnInputIsRefused) {
  Context ctx;
  const int64_t k = 8;
  DeviceTensor buf(ctx, CAPRESE_DTYPE_F32, {4, k}), tw(ctx, CAPRESE_DTYPE_F32, {k, k}), tb(ctx, CAPRESE_DTYPE_F32, {k});
  tw.Upload(RandomVector(k * k, 14));
  caprese_tensor x = *buf.ct(), y = *buf.ct();
  x.shape[0] = y.shape[0] = 2;
  y.data = static_cast<float*>(buf.data()) + k;  // rows 1-2 of buf; x is rows 0-1
  EXPECT_EQ(caprese_matmul(ctx, &x, tw.ct(), nullptr, &y), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(caprese_last_error()).find("y must not overlap x"), std::string::npos) << caprese_last_error();
  caprese_tensor y_on_w = *tw.ct();  // [k, k] would be y for x [k, k]: aim it at w itself
  caprese_tensor xk = *buf.ct();
  xk.shape[0] = 4;
  y_on_w.shape[0] = 4;
  EXPECT_EQ(caprese_matmul(ctx, &xk, tw.ct(), nullptr, &y_on_w), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(caprese_last_error()).find("y must not overlap w"), std::string::npos) << caprese_last_error();
  DeviceTensor ty(ctx, CAPRESE_DTYPE_F32, {1, k});
  caprese_tensor x1 = *buf.ct(), bias_on_y = *ty.ct();
  x1.shape[0] = 1;
  bias_on_y.ndim = 1;
  bias_on_y.shape[0] = k;
  EXPECT_EQ(caprese_matmul(ctx, &x1, tw.ct(), &bias_on_y, ty.t()), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(caprese_last_error()).find("y must not overlap bias"), std::string::npos)
      << caprese_last_error();
  // Adjacent but disjoint is fine.
  caprese_tensor y_next = x;
  y_next.data = static_cast<float*>(buf.data()) + 2 * k;
  CAPRESE_ASSERT_OK(caprese_matmul(ctx, &x, tw.ct(), nullptr, &y_next));
}

}  // namespace

namespace {

// Several threads calling ops on one context at once: the pool runs one job at a time and
// other callers compute inline, so every result is still right (and identical).
TEST(Matmul, ConcurrentCallersShareOneContext) {
  Context ctx(CAPRESE_BACKEND_CPU, 2);
  const int64_t m = 4, n = 300, k = 256;
  std::vector<float> x = RandomVector(m * k, 1), w = RandomVector(n * k, 2);
  DeviceTensor tx(ctx, CAPRESE_DTYPE_F32, {m, k}), tw(ctx, CAPRESE_DTYPE_F32, {n, k});
  tx.Upload(x);
  tw.Upload(w);
  DeviceTensor ref(ctx, CAPRESE_DTYPE_F32, {m, n});
  CAPRESE_ASSERT_OK(caprese_matmul(ctx, tx.ct(), tw.ct(), nullptr, ref.t()));
  std::vector<float> want = ref.Download<float>();
  std::vector<std::vector<float>> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::vector<float> y(m * n);
      caprese_tensor ty = MakeTensor(y.data(), CAPRESE_DTYPE_F32, {m, n});
      for (int it = 0; it < 20; ++it)
        if (caprese_matmul(ctx, tx.ct(), tw.ct(), nullptr, &ty) != CAPRESE_OK) return;
      got[t] = y;
    });
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(got[t], want) << "thread " << t;
}

}  // namespace

// CAPRESE_CPU_MATMUL naming no variant fails the call with a message naming the variable;
// run by ctest with the variable set (matmul_unknown_variant), skipped otherwise.
TEST(MatmulVariant, UnknownNameIsRefused) {
  const char* env = std::getenv("CAPRESE_CPU_MATMUL");
  if (env == nullptr || std::string(env) != "no-such-variant") GTEST_SKIP() << "needs CAPRESE_CPU_MATMUL=no-such-variant";
  Context ctx;
  DeviceTensor tx(ctx, CAPRESE_DTYPE_F32, {1, 8}), tw(ctx, CAPRESE_DTYPE_F32, {4, 8}), ty(ctx, CAPRESE_DTYPE_F32, {1, 4});
  EXPECT_EQ(caprese_matmul(ctx, tx.ct(), tw.ct(), nullptr, ty.t()), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(caprese_last_error()).find("CAPRESE_CPU_MATMUL=no-such-variant"), std::string::npos)
      << caprese_last_error();
}
