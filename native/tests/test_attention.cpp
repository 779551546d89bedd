// caprese_attention on the CPU backend against the naive reference: GQA ratios 1/2/4/8,
// head_dim 64/128/256, sliding windows, softcap, pos0 > 0 and several query rows per call.
//
// Tolerance: the output is a convex combination of value rows (|v| <= 1). With
// scale = 1/sqrt(hd) and |q|,|k| <= 1 the scores are O(1) and each carries ~hd·eps of
// rounding, which moves the softmax weights by as much relatively; 2e-5 absolute plus 1e-5
// relative covers that with margin while any wrong key, head or mask shows as O(0.1).
#include <cmath>

#include "reference.h"
#include "test_util.h"

using namespace caprese_test;

namespace {

struct AttnCase {
  int64_t m, hq, hkv, hd, cache;
  int32_t pos0, window;
  float softcap;
};

struct AttnData {
  std::vector<float> q, k, v;
};

AttnData MakeData(const AttnCase& c, uint32_t seed) {
  return {RandomVector(c.m * c.hq * c.hd, seed), RandomVector(c.cache * c.hkv * c.hd, seed + 1),
          RandomVector(c.cache * c.hkv * c.hd, seed + 2)};
}

std::vector<float> RunAttention(caprese_context_t ctx, const AttnCase& c, const AttnData& d, float scale) {
  DeviceTensor tq(ctx, CAPRESE_DTYPE_F32, {c.m, c.hq, c.hd}), tk(ctx, CAPRESE_DTYPE_F32, {c.cache, c.hkv, c.hd}),
      tv(ctx, CAPRESE_DTYPE_F32, {c.cache, c.hkv, c.hd}), to(ctx, CAPRESE_DTYPE_F32, {c.m, c.hq, c.hd});
  tq.Upload(d.q);
  tk.Upload(d.k);
  tv.Upload(d.v);
  caprese_attention_params p{c.pos0, c.window, scale, c.softcap};
  caprese_status st = caprese_attention(ctx, tq.ct(), tk.ct(), tv.ct(), &p, to.t());
  EXPECT_EQ(st, CAPRESE_OK) << caprese_last_error();
  return to.Download<float>();
}

std::vector<double> Reference(const AttnCase& c, const AttnData& d, float scale) {
  return caprese_ref::Attention(d.q, d.k, d.v, c.m, c.hq, c.hkv, c.hd, c.pos0, c.window, scale, c.softcap);
}

TEST(Attention, Sweep) {
  Context ctx;
  uint32_t seed = 1;
  int runs = 0;
  for (int64_t hd : {64, 128, 256})
    for (int64_t ratio : {1, 2, 4, 8})
      for (int64_t m : {1, 5})
        for (int32_t pos0 : {0, 37})
          for (int32_t window : {0, 8})
            for (float softcap : {0.0f, 50.0f}) {
              const int64_t hkv = hd == 128 ? 2 : 1;
              AttnCase c{m, hkv * ratio, hkv, hd, pos0 + m + 3, pos0, window, softcap};
              SCOPED_TRACE(::testing::Message() << "hd=" << hd << " Hq=" << c.hq << " Hkv=" << hkv << " M=" << m
                                                << " pos0=" << pos0 << " window=" << window << " softcap=" << softcap);
              AttnData d = MakeData(c, seed++);
              float scale = 1.0f / std::sqrt(static_cast<float>(hd));
              ASSERT_TRUE(AllClose(RunAttention(ctx, c, d, scale), Reference(c, d, scale), 2e-5, 1e-5));
              ++runs;
            }
  EXPECT_EQ(runs, 192);
}

// Softcap matters only when scores are large: with scale 1 they reach ~±10 and a cap of 5
// changes the weights substantially, so a missing or misplaced cap fails.
TEST(Attention, SoftcapWithLargeScores) {
  Context ctx;
  AttnCase c{3, 4, 2, 64, 20, 10, 0, 5.0f};
  AttnData d = MakeData(c, 99);
  for (float& f : d.q) f *= 2.0f;
  std::vector<float> got = RunAttention(ctx, c, d, 1.0f);
  ASSERT_TRUE(AllClose(got, Reference(c, d, 1.0f), 5e-5, 1e-5));
  AttnCase no_cap = c;
  no_cap.softcap = 0;
  EXPECT_GT(MaxAbsDiff(got, Reference(no_cap, d, 1.0f)), 1e-2);  // the cap did something
}

TEST(Attention, LongContextAndWindow) {
  Context ctx;
  for (int32_t window : {0, 512, 4096}) {
    AttnCase c{2, 8, 2, 128, 3000, 2990, window, 0.0f};
    SCOPED_TRACE(::testing::Message() << "window=" << window);
    AttnData d = MakeData(c, 7 + window);
    float scale = 1.0f / std::sqrt(128.0f);
    ASSERT_TRUE(AllClose(RunAttention(ctx, c, d, scale), Reference(c, d, scale), 2e-5, 1e-5));
  }
}

// A window of 1 sees only the current position: out = v[p].
TEST(Attention, WindowOneCopiesCurrentValue) {
  Context ctx;
  AttnCase c{4, 2, 1, 16, 10, 3, 1, 0.0f};
  AttnData d = MakeData(c, 5);
  std::vector<float> got = RunAttention(ctx, c, d, 0.25f);
  for (int64_t m = 0; m < c.m; ++m)
    for (int64_t h = 0; h < c.hq; ++h)
      for (int64_t i = 0; i < c.hd; ++i)
        ASSERT_FLOAT_EQ(got[(m * c.hq + h) * c.hd + i], d.v[(c.pos0 + m) * c.hd + i]);
}

// Huge scores stay finite: the maximum is subtracted before exp.
TEST(Attention, HugeScoresAreStable) {
  Context ctx;
  AttnCase c{1, 1, 1, 8, 4, 3, 0, 0.0f};
  AttnData d = MakeData(c, 3);
  for (int i = 0; i < 8; ++i) {
    d.q[i] = 100.0f;
    d.k[2 * 8 + i] = 100.0f;  // key 2 dominates: its score is 8e4 / ... far above the rest
  }
  std::vector<float> got = RunAttention(ctx, c, d, 1.0f);
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(std::isfinite(got[i]));
    EXPECT_FLOAT_EQ(got[i], d.v[2 * 8 + i]);
  }
}

// A chunk of M rows at pos0 equals M single-row calls at pos0 + m (chunked prefill and
// speculative verification rely on it).
TEST(Attention, ChunkEqualsSingleRows) {
  Context ctx;
  AttnCase c{6, 8, 2, 64, 40, 20, 16, 30.0f};
  AttnData d = MakeData(c, 17);
  std::vector<float> chunk = RunAttention(ctx, c, d, 0.125f);
  const int64_t row = c.hq * c.hd;
  for (int64_t m = 0; m < c.m; ++m) {
    AttnCase one = c;
    one.m = 1;
    one.pos0 = c.pos0 + static_cast<int32_t>(m);
    AttnData dm = d;
    dm.q.assign(d.q.begin() + m * row, d.q.begin() + (m + 1) * row);
    std::vector<float> single = RunAttention(ctx, one, dm, 0.125f);
    for (int64_t i = 0; i < row; ++i) ASSERT_EQ(single[i], chunk[m * row + i]) << "row " << m << " elem " << i;
  }
}

// The CPU backend groups query heads that share a KV head differently for different thread
// counts; the values must not change.
TEST(Attention, ThreadCountInvariant) {
  Context one(CAPRESE_BACKEND_CPU, 1), two(CAPRESE_BACKEND_CPU, 2), five(CAPRESE_BACKEND_CPU, 5);
  for (int64_t m : {1, 3}) {
    AttnCase c{m, 8, 2, 64, 50, 40, 0, 0.0f};
    AttnData d = MakeData(c, 61);
    std::vector<float> r1 = RunAttention(one, c, d, 0.125f);
    EXPECT_EQ(RunAttention(two, c, d, 0.125f), r1) << "M=" << m;
    EXPECT_EQ(RunAttention(five, c, d, 0.125f), r1) << "M=" << m;
  }
}

}  // namespace
