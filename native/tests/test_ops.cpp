// The small ops (rmsnorm, rope, gated activation, add, softmax, softcap, argmax, embedding)
// on the CPU backend against the naive reference. Each tolerance is a few f32 roundings of
// the quantity involved: these ops do O(1) float operations per output, except rmsnorm's
// and softmax's row sums (accumulated in double by the backend, so also O(1) roundings).
#include <cmath>
#include <limits>

#include "reference.h"
#include "test_util.h"

using namespace caprese_test;

namespace {

// ------------------------------------------------------------------ rmsnorm

TEST(RmsNorm, MatchesReference) {
  Context ctx;
  for (int64_t d : {1, 7, 64, 129, 4096})
    for (int64_t m : {1, 3, 17})
      for (float offset : {0.0f, 1.0f}) {
        SCOPED_TRACE(::testing::Message() << "M=" << m << " D=" << d << " offset=" << offset);
        std::vector<float> x = RandomVector(m * d, 3 * d + m, -3, 3), w = RandomVector(d, 5 * d);
        DeviceTensor tx(ctx, CAPRESE_DTYPE_F32, {m, d}), tw(ctx, CAPRESE_DTYPE_F32, {d}),
            ty(ctx, CAPRESE_DTYPE_F32, {m, d});
        tx.Upload(x);
        tw.Upload(w);
        CAPRESE_ASSERT_OK(caprese_rmsnorm(ctx, tx.ct(), tw.ct(), 1e-6f, offset, ty.t()));
        // x * inv * (offset + w): three roundings of a value of size |x|·|w|/rms.
        std::vector<double> want = caprese_ref::RmsNorm(x, w, m, d, 1e-6, offset);
        ASSERT_TRUE(AllClose(ty.Download<float>(), want, 1e-6, 4e-6));
        // In place.
        CAPRESE_ASSERT_OK(caprese_rmsnorm(ctx, tx.ct(), tw.ct(), 1e-6f, offset, tx.t()));
        ASSERT_TRUE(AllClose(tx.Download<float>(), want, 1e-6, 4e-6));
      }
}

TEST(RmsNorm, ZeroRowIsZeroNotNan) {
  Context ctx;
  DeviceTensor tx(ctx, CAPRESE_DTYPE_F32, {2, 8}), tw(ctx, CAPRESE_DTYPE_F32, {8}), ty(ctx, CAPRESE_DTYPE_F32, {2, 8});
  tw.Upload(std::vector<float>(8, 1.0f));
  CAPRESE_ASSERT_OK(caprese_rmsnorm(ctx, tx.ct(), tw.ct(), 1e-5f, 0.0f, ty.t()));
  for (float v : ty.Download<float>()) EXPECT_EQ(v, 0.0f);
}

// --------------------------------------------------------------------- rope

struct RopeCase {
  int64_t m, heads, hd;
  int32_t pos0;
  bool interleaved, given_freq;
};

std::vector<float> RunRope(caprese_context_t ctx, const std::vector<float>& x, const RopeCase& c, float theta,
                           const std::vector<float>& inv_freq) {
  DeviceTensor tx(ctx, CAPRESE_DTYPE_F32, {c.m, c.heads, c.hd}), tf(ctx, CAPRESE_DTYPE_F32, {c.hd / 2});
  tx.Upload(x);
  if (!inv_freq.empty()) tf.Upload(inv_freq);
  caprese_status st = caprese_rope(ctx, tx.t(), c.pos0, theta, inv_freq.empty() ? nullptr : tf.ct(),
                                   c.interleaved ? CAPRESE_ROPE_INTERLEAVED : CAPRESE_ROPE_HALF_SPLIT);
  EXPECT_EQ(st, CAPRESE_OK) << caprese_last_error();
  return tx.Download<float>();
}

TEST(Rope, MatchesReference) {
  Context ctx;
  std::vector<RopeCase> cases;
  for (bool inter : {true, false})
    for (bool freq : {false, true}) {
      cases.push_back({1, 1, 2, 0, inter, freq});
      cases.push_back({3, 4, 64, 5, inter, freq});
      cases.push_back({7, 2, 128, 1000, inter, freq});
      cases.push_back({2, 3, 256, 131000, inter, freq});  // positions near 128K
      cases.push_back({5, 2, 10, 17, inter, freq});
    }
  uint32_t seed = 1;
  for (const RopeCase& c : cases) {
    SCOPED_TRACE(::testing::Message() << "M=" << c.m << " heads=" << c.heads << " hd=" << c.hd << " pos0=" << c.pos0
                                      << " interleaved=" << c.interleaved << " inv_freq=" << c.given_freq);
    std::vector<float> x = RandomVector(c.m * c.heads * c.hd, seed++);
    std::vector<float> inv_freq;
    if (c.given_freq) {
      // Llama-3.1-like: some frequencies scaled down.
      for (int64_t i = 0; i < c.hd / 2; ++i)
        inv_freq.push_back(static_cast<float>(std::pow(500000.0, -2.0 * i / c.hd) / (i > c.hd / 4 ? 8.0 : 1.0)));
    }
    std::vector<float> got = RunRope(ctx, x, c, 10000.0f, inv_freq);
    std::vector<double> want =
        caprese_ref::Rope(x, c.m, c.heads, c.hd, c.pos0, 10000.0, inv_freq, c.interleaved);
    // cos/sin rounded to f32 plus a multiply-add: ~4 roundings of values <= |x0| + |x1| <= 2.
    ASSERT_TRUE(AllClose(got, want, 2e-6, 0));
  }
}

TEST(Rope, PreservesPairNorms) {
  Context ctx;
  for (bool inter : {true, false}) {
    RopeCase c{4, 3, 64, 77777, inter, false};
    std::vector<float> x = RandomVector(c.m * c.heads * c.hd, 9);
    std::vector<float> y = RunRope(ctx, x, c, 10000.0f, {});
    const int64_t half = c.hd / 2;
    for (int64_t v = 0; v < c.m * c.heads; ++v)
      for (int64_t i = 0; i < half; ++i) {
        int64_t a = v * c.hd + (inter ? 2 * i : i), b = v * c.hd + (inter ? 2 * i + 1 : i + half);
        double before = double(x[a]) * x[a] + double(x[b]) * x[b];
        double after = double(y[a]) * y[a] + double(y[b]) * y[b];
        ASSERT_NEAR(after, before, 1e-6 + 1e-6 * before);
      }
  }
}

// q·k after rotation depends only on the distance between their positions.
TEST(Rope, DotDependsOnlyOnRelativePosition) {
  Context ctx;
  const int64_t hd = 128;
  std::vector<float> q = RandomVector(hd, 21), k = RandomVector(hd, 22);
  for (bool inter : {true, false}) {
    auto rotated_dot = [&](int32_t pq, int32_t pk) {
      std::vector<float> rq = RunRope(ctx, q, RopeCase{1, 1, hd, pq, inter, false}, 10000.0f, {});
      std::vector<float> rk = RunRope(ctx, k, RopeCase{1, 1, hd, pk, inter, false}, 10000.0f, {});
      double d = 0;
      for (int64_t i = 0; i < hd; ++i) d += double(rq[i]) * rk[i];
      return d;
    };
    double base = rotated_dot(10, 3);
    EXPECT_NEAR(rotated_dot(1010, 1003), base, 1e-4);
    EXPECT_NEAR(rotated_dot(100007, 100000), base, 1e-4);
    EXPECT_NEAR(rotated_dot(7, 0), base, 1e-4);
  }
}

// Rows of one call at pos0 equal single-row calls at pos0 + m.
TEST(Rope, RowsUseConsecutivePositions) {
  Context ctx;
  RopeCase c{6, 2, 32, 40, false, false};
  std::vector<float> x = RandomVector(c.m * c.heads * c.hd, 31);
  std::vector<float> all = RunRope(ctx, x, c, 10000.0f, {});
  const int64_t row = c.heads * c.hd;
  for (int64_t m = 0; m < c.m; ++m) {
    std::vector<float> xr(x.begin() + m * row, x.begin() + (m + 1) * row);
    std::vector<float> yr = RunRope(ctx, xr, RopeCase{1, c.heads, c.hd, static_cast<int32_t>(c.pos0 + m), false, false},
                                    10000.0f, {});
    for (int64_t i = 0; i < row; ++i) ASSERT_EQ(yr[i], all[m * row + i]);
  }
}

TEST(Rope, PositionZeroIsIdentity) {
  Context ctx;
  std::vector<float> x = RandomVector(2 * 8, 41);
  EXPECT_EQ(RunRope(ctx, x, RopeCase{1, 2, 8, 0, true, false}, 10000.0f, {}), x);
}

// ------------------------------------------------------- gated activation

TEST(GatedActivation, MatchesReference) {
  Context ctx;
  for (caprese_activation act : {CAPRESE_ACTIVATION_SILU, CAPRESE_ACTIVATION_GELU_TANH})
    for (int64_t count : {1, 9, 1000, 70001}) {
      SCOPED_TRACE(::testing::Message() << "act=" << act << " count=" << count);
      std::vector<float> g = RandomVector(count, count, -8, 8), u = RandomVector(count, count + 1, -2, 2);
      if (count > 8) {  // extremes: no overflow to NaN
        g[0] = -100.0f, g[1] = 100.0f, g[2] = -1e30f, g[3] = 1e30f, g[4] = 0.0f, g[5] = -88.0f;
      }
      u[0] = 1.0f;
      DeviceTensor tg(ctx, CAPRESE_DTYPE_F32, {count}), tu(ctx, CAPRESE_DTYPE_F32, {count}),
          to(ctx, CAPRESE_DTYPE_F32, {count});
      tg.Upload(g);
      tu.Upload(u);
      CAPRESE_ASSERT_OK(caprese_gated_activation(ctx, tg.ct(), tu.ct(), act, to.t()));
      std::vector<double> want = caprese_ref::GatedActivation(g, u, act == CAPRESE_ACTIVATION_GELU_TANH);
      // exp/tanh from libm (~1 ulp) plus a few roundings.
      ASSERT_TRUE(AllClose(to.Download<float>(), want, 1e-6, 4e-6));
      // out aliasing gate, then up.
      CAPRESE_ASSERT_OK(caprese_gated_activation(ctx, tg.ct(), tu.ct(), act, tg.t()));
      ASSERT_TRUE(AllClose(tg.Download<float>(), want, 1e-6, 4e-6));
      tg.Upload(g);
      CAPRESE_ASSERT_OK(caprese_gated_activation(ctx, tg.ct(), tu.ct(), act, tu.t()));
      ASSERT_TRUE(AllClose(tu.Download<float>(), want, 1e-6, 4e-6));
    }
}

// ---------------------------------------------------------- add, softcap

TEST(Add, ExactAndInPlace) {
  Context ctx;
  for (int64_t count : {1, 13, 100000}) {
    std::vector<float> a = RandomVector(count, 1), b = RandomVector(count, 2, -100, 100);
    std::vector<float> want(count);
    for (int64_t i = 0; i < count; ++i) want[i] = a[i] + b[i];  // one f32 rounding, as the backend
    DeviceTensor ta(ctx, CAPRESE_DTYPE_F32, {count}), tb(ctx, CAPRESE_DTYPE_F32, {count}),
        to(ctx, CAPRESE_DTYPE_F32, {count});
    ta.Upload(a);
    tb.Upload(b);
    CAPRESE_ASSERT_OK(caprese_add(ctx, ta.ct(), tb.ct(), to.t()));
    EXPECT_EQ(to.Download<float>(), want);
    CAPRESE_ASSERT_OK(caprese_add(ctx, ta.ct(), tb.ct(), ta.t()));  // residual: out = a
    EXPECT_EQ(ta.Download<float>(), want);
    ta.Upload(a);
    CAPRESE_ASSERT_OK(caprese_add(ctx, ta.ct(), tb.ct(), tb.t()));
    EXPECT_EQ(tb.Download<float>(), want);
  }
}

TEST(Softcap, MatchesReference) {
  Context ctx;
  for (float cap : {30.0f, 50.0f, 0.5f}) {
    std::vector<float> x = RandomVector(5003, 7, -200, 200);
    x[0] = 1e30f, x[1] = -1e30f, x[2] = 0.0f;
    DeviceTensor tx(ctx, CAPRESE_DTYPE_F32, {5003}), ty(ctx, CAPRESE_DTYPE_F32, {5003});
    tx.Upload(x);
    CAPRESE_ASSERT_OK(caprese_softcap(ctx, tx.ct(), cap, ty.t()));
    std::vector<double> want = caprese_ref::Softcap(x, cap);
    ASSERT_TRUE(AllClose(ty.Download<float>(), want, 1e-6, 4e-6)) << "cap " << cap;
    CAPRESE_ASSERT_OK(caprese_softcap(ctx, tx.ct(), cap, tx.t()));
    ASSERT_TRUE(AllClose(tx.Download<float>(), want, 1e-6, 4e-6)) << "cap " << cap << " in place";
  }
}

// ------------------------------------------------------------------ softmax

TEST(Softmax, MatchesReferenceAndSumsToOne) {
  Context ctx;
  for (int64_t n : {1, 5, 512, 32000})
    for (int64_t m : {1, 4})
      for (float t : {0.5f, 1.0f, 2.0f}) {
        SCOPED_TRACE(::testing::Message() << "M=" << m << " N=" << n << " T=" << t);
        std::vector<float> x = RandomVector(m * n, n + m, -20, 20);
        DeviceTensor tx(ctx, CAPRESE_DTYPE_F32, {m, n}), ty(ctx, CAPRESE_DTYPE_F32, {m, n});
        tx.Upload(x);
        CAPRESE_ASSERT_OK(caprese_softmax(ctx, tx.ct(), t, ty.t()));
        std::vector<float> got = ty.Download<float>();
        // exp of an argument off by one rounding of |x/T| <= 40 errs by ~40 eps relative.
        ASSERT_TRUE(AllClose(got, caprese_ref::Softmax(x, m, n, t), 1e-9, 1e-5));
        for (int64_t r = 0; r < m; ++r) {
          double s = 0;
          for (int64_t i = 0; i < n; ++i) s += got[r * n + i];
          ASSERT_NEAR(s, 1.0, 1e-5);
        }
        CAPRESE_ASSERT_OK(caprese_softmax(ctx, tx.ct(), t, tx.t()));  // in place
        ASSERT_EQ(tx.Download<float>(), got);
      }
}

TEST(Softmax, LargeLogitsAndSpecialRows) {
  Context ctx;
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x = {1000, 999, 998, 0,          // huge logits: no overflow
                          -inf, 0, -inf, 0,           // -inf entries get 0
                          -inf, -inf, -inf, -inf,     // all -inf: uniform by definition here
                          1, inf, 2, inf,             // +inf entries share the mass
                          1, nan, 2, 3};              // NaN propagates
  DeviceTensor tx(ctx, CAPRESE_DTYPE_F32, {5, 4}), ty(ctx, CAPRESE_DTYPE_F32, {5, 4});
  tx.Upload(x);
  CAPRESE_ASSERT_OK(caprese_softmax(ctx, tx.ct(), 1.0f, ty.t()));
  std::vector<float> y = ty.Download<float>();
  std::vector<double> want0 = caprese_ref::Softmax({1000, 999, 998, 0}, 1, 4, 1.0);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(y[i], want0[i], 1e-6);
  EXPECT_EQ(y[4], 0.0f);
  EXPECT_EQ(y[5], 0.5f);
  EXPECT_EQ(y[6], 0.0f);
  EXPECT_EQ(y[7], 0.5f);
  for (int i = 8; i < 12; ++i) EXPECT_EQ(y[i], 0.25f);
  EXPECT_EQ(y[12], 0.0f);
  EXPECT_EQ(y[13], 0.5f);
  EXPECT_EQ(y[14], 0.0f);
  EXPECT_EQ(y[15], 0.5f);
  for (int i = 16; i < 20; ++i) EXPECT_TRUE(std::isnan(y[i]));
}

// ------------------------------------------------------------------- argmax

TEST(Argmax, MatchesReference) {
  Context ctx;
  for (int64_t n : {1, 2, 31, 32000, 256000})
    for (int64_t m : {1, 3, 37}) {
      if (n * m > 2000000) continue;
      std::vector<float> x = RandomVector(m * n, n * 3 + m);
      DeviceTensor tx(ctx, CAPRESE_DTYPE_F32, {m, n}), to(ctx, CAPRESE_DTYPE_I32, {m});
      tx.Upload(x);
      CAPRESE_ASSERT_OK(caprese_argmax(ctx, tx.ct(), to.t()));
      EXPECT_EQ(to.Download<int32_t>(), caprese_ref::Argmax(x, m, n)) << "M=" << m << " N=" << n;
    }
}

TEST(Argmax, TiesNanAndInfinities) {
  Context ctx;
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x = {1, 5, 5, 2,           // tie: first index
                          7, 7, 7, 7,           // all equal: 0
                          -inf, -inf, -inf, -inf,  // all -inf: 0
                          1, nan, 9, nan,       // NaN counts as the largest: first NaN
                          nan, 3, 4, 5,         // NaN first
                          -inf, -3, inf, inf};  // +inf, first of two
  DeviceTensor tx(ctx, CAPRESE_DTYPE_F32, {6, 4}), to(ctx, CAPRESE_DTYPE_I32, {6});
  tx.Upload(x);
  CAPRESE_ASSERT_OK(caprese_argmax(ctx, tx.ct(), to.t()));
  EXPECT_EQ(to.Download<int32_t>(), (std::vector<int32_t>{1, 0, 0, 1, 0, 2}));
}

// ---------------------------------------------------------------- embedding

TEST(Embedding, AllDtypes) {
  Context ctx;
  const int64_t v = 512, d = 96;
  std::vector<int32_t> ids = {0, 511, 7, 7, 300, 1};
  const int64_t m = static_cast<int64_t>(ids.size());
  for (caprese_dtype dt : {CAPRESE_DTYPE_F32, CAPRESE_DTYPE_F16, CAPRESE_DTYPE_BF16})
    for (float scale : {1.0f, std::sqrt(96.0f), -0.5f}) {
      std::vector<float> table = RoundTo(dt, RandomVector(v * d, 77));
      DeviceTensor tt(ctx, dt, {v, d}), ti(ctx, CAPRESE_DTYPE_I32, {m}), to(ctx, CAPRESE_DTYPE_F32, {m, d});
      tt.Upload(Pack(dt, table));
      ti.Upload(ids);
      CAPRESE_ASSERT_OK(caprese_embedding(ctx, tt.ct(), ti.ct(), scale, to.t()));
      std::vector<float> want(m * d);  // one f32 multiply: exact agreement expected
      for (int64_t r = 0; r < m; ++r)
        for (int64_t i = 0; i < d; ++i) want[r * d + i] = table[ids[r] * d + i] * scale;
      EXPECT_EQ(to.Download<float>(), want) << DtypeLabel(dt) << " scale " << scale;
    }
}

TEST(Embedding, OutOfRangeIdNamesItAndWritesNothing) {
  Context ctx;
  DeviceTensor tt(ctx, CAPRESE_DTYPE_F32, {512, 4}), ti(ctx, CAPRESE_DTYPE_I32, {5}), to(ctx, CAPRESE_DTYPE_F32, {5, 4});
  tt.Upload(RandomVector(512 * 4, 1));
  std::vector<float> sentinel(20, 123.0f);
  to.Upload(sentinel);
  ti.Upload(std::vector<int32_t>{1, 2, 3, 700, 4});
  EXPECT_EQ(caprese_embedding(ctx, tt.ct(), ti.ct(), 1.0f, to.t()), CAPRESE_ERROR_OUT_OF_RANGE);
  EXPECT_STREQ(caprese_last_error(), "ids[3] = 700 is outside the vocabulary [0, 512)");
  EXPECT_EQ(to.Download<float>(), sentinel);
  ti.Upload(std::vector<int32_t>{-1, 2, 3, 4, 4});
  EXPECT_EQ(caprese_embedding(ctx, tt.ct(), ti.ct(), 1.0f, to.t()), CAPRESE_ERROR_OUT_OF_RANGE);
  EXPECT_STREQ(caprese_last_error(), "ids[0] = -1 is outside the vocabulary [0, 512)");
  ti.Upload(std::vector<int32_t>{0, 1, 2, 3, 512});
  EXPECT_EQ(caprese_embedding(ctx, tt.ct(), ti.ct(), 1.0f, to.t()), CAPRESE_ERROR_OUT_OF_RANGE);
  EXPECT_STREQ(caprese_last_error(), "ids[4] = 512 is outside the vocabulary [0, 512)");
}

}  // namespace
