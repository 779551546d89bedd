// The position-on-the-device ops (rope_at, attention_at, write_rows_at) on the CPU backend:
// bitwise equal to the by-value ops at the same position, out-of-range positions refused,
// and graphs refused with NOT_SUPPORTED (they are a CUDA feature).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "test_util.h"

namespace {

using caprese_test::Context;
using caprese_test::DeviceTensor;

std::vector<float> Random(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(gen);
  return v;
}

TEST(PositionOps, RopeAtEqualsRopeBitwise) {
  Context ctx;
  const int64_t m = 3, heads = 4, hd = 64;
  DeviceTensor pos(ctx, CAPRESE_DTYPE_I32, {1});
  for (caprese_rope_style style : {CAPRESE_ROPE_INTERLEAVED, CAPRESE_ROPE_HALF_SPLIT}) {
    for (int32_t p : {0, 7, 4095, 100000}) {
      DeviceTensor a(ctx, CAPRESE_DTYPE_F32, {m, heads, hd}), b(ctx, CAPRESE_DTYPE_F32, {m, heads, hd});
      const std::vector<float> x = Random(m * heads * hd, 1 + p);
      CAPRESE_ASSERT_OK(a.Upload(x));
      CAPRESE_ASSERT_OK(b.Upload(x));
      CAPRESE_ASSERT_OK(pos.Upload(std::vector<int32_t>{p}));
      CAPRESE_ASSERT_OK(caprese_rope(ctx, a.t(), p, 10000.0f, nullptr, style));
      CAPRESE_ASSERT_OK(caprese_rope_at(ctx, b.t(), pos.ct(), 10000.0f, nullptr, style));
      EXPECT_EQ(a.Download<float>(), b.Download<float>()) << "pos " << p << " style " << style;
    }
  }
}

TEST(PositionOps, AttentionAtEqualsAttentionBitwise) {
  Context ctx;
  const int64_t s = 300, hq = 8, hkv = 2, hd = 64;
  DeviceTensor k(ctx, CAPRESE_DTYPE_F32, {s, hkv, hd}), v(ctx, CAPRESE_DTYPE_F32, {s, hkv, hd});
  CAPRESE_ASSERT_OK(k.Upload(Random(s * hkv * hd, 11)));
  CAPRESE_ASSERT_OK(v.Upload(Random(s * hkv * hd, 12)));
  DeviceTensor pos(ctx, CAPRESE_DTYPE_I32, {1});
  for (int64_t m : {1, 4}) {
    for (int32_t window : {0, 50}) {
      for (int32_t p : {0, 1, 130, static_cast<int32_t>(s - m)}) {
        DeviceTensor q(ctx, CAPRESE_DTYPE_F32, {m, hq, hd}), o1(ctx, CAPRESE_DTYPE_F32, {m, hq, hd}),
            o2(ctx, CAPRESE_DTYPE_F32, {m, hq, hd});
        CAPRESE_ASSERT_OK(q.Upload(Random(m * hq * hd, 13 + p)));
        caprese_attention_params prm{};
        prm.pos0 = p;
        prm.sliding_window = window;
        prm.scale = 0.125f;
        CAPRESE_ASSERT_OK(caprese_attention(ctx, q.ct(), k.ct(), v.ct(), &prm, o1.t()));
        prm.pos0 = 0;
        CAPRESE_ASSERT_OK(pos.Upload(std::vector<int32_t>{p}));
        CAPRESE_ASSERT_OK(caprese_attention_at(ctx, q.ct(), k.ct(), v.ct(), &prm, pos.ct(), o2.t()));
        EXPECT_EQ(o1.Download<float>(), o2.Download<float>()) << "M " << m << " pos " << p << " window " << window;
      }
    }
  }
}

TEST(PositionOps, WriteRowsAtWritesAtThePosition) {
  Context ctx;
  const int64_t s = 10, m = 3, w = 6;
  DeviceTensor src(ctx, CAPRESE_DTYPE_F32, {m, 2, 3}), dst(ctx, CAPRESE_DTYPE_F32, {s, w}), pos(ctx, CAPRESE_DTYPE_I32, {1});
  const std::vector<float> rows = Random(m * w, 5), before = Random(s * w, 6);
  CAPRESE_ASSERT_OK(src.Upload(rows));
  CAPRESE_ASSERT_OK(dst.Upload(before));
  CAPRESE_ASSERT_OK(pos.Upload(std::vector<int32_t>{4}));
  CAPRESE_ASSERT_OK(caprese_write_rows_at(ctx, src.ct(), pos.ct(), dst.t()));
  std::vector<float> want = before;
  std::memcpy(want.data() + 4 * w, rows.data(), rows.size() * sizeof(float));
  EXPECT_EQ(dst.Download<float>(), want);
}

TEST(PositionOps, OutOfRangePositionsAreRefused) {
  Context ctx;
  DeviceTensor pos(ctx, CAPRESE_DTYPE_I32, {1}), x(ctx, CAPRESE_DTYPE_F32, {2, 1, 4});
  DeviceTensor cache(ctx, CAPRESE_DTYPE_F32, {5, 1, 4}), out(ctx, CAPRESE_DTYPE_F32, {2, 1, 4});
  caprese_attention_params prm{};
  prm.scale = 1.0f;
  CAPRESE_ASSERT_OK(pos.Upload(std::vector<int32_t>{-1}));
  EXPECT_EQ(caprese_rope_at(ctx, x.t(), pos.ct(), 10000.0f, nullptr, CAPRESE_ROPE_INTERLEAVED), CAPRESE_ERROR_OUT_OF_RANGE);
  EXPECT_EQ(caprese_attention_at(ctx, x.ct(), cache.ct(), cache.ct(), &prm, pos.ct(), out.t()), CAPRESE_ERROR_OUT_OF_RANGE);
  EXPECT_EQ(caprese_write_rows_at(ctx, x.ct(), pos.ct(), cache.t()), CAPRESE_ERROR_OUT_OF_RANGE);
  CAPRESE_ASSERT_OK(pos.Upload(std::vector<int32_t>{4}));  // 4 + 2 rows > 5
  EXPECT_EQ(caprese_attention_at(ctx, x.ct(), cache.ct(), cache.ct(), &prm, pos.ct(), out.t()), CAPRESE_ERROR_OUT_OF_RANGE);
  EXPECT_EQ(caprese_write_rows_at(ctx, x.ct(), pos.ct(), cache.t()), CAPRESE_ERROR_OUT_OF_RANGE);
  EXPECT_TRUE(caprese_test::LastErrorMentions("*pos")) << caprese_last_error();
  CAPRESE_ASSERT_OK(pos.Upload(std::vector<int32_t>{3}));
  CAPRESE_ASSERT_OK(caprese_write_rows_at(ctx, x.ct(), pos.ct(), cache.t()));
}

TEST(PositionOps, BadArgumentsAreNamed) {
  Context ctx;
  DeviceTensor pos2(ctx, CAPRESE_DTYPE_I32, {2}), posf(ctx, CAPRESE_DTYPE_F32, {1}), pos(ctx, CAPRESE_DTYPE_I32, {1});
  DeviceTensor x(ctx, CAPRESE_DTYPE_F32, {1, 1, 4}), cache(ctx, CAPRESE_DTYPE_F32, {5, 1, 4});
  DeviceTensor half_cache(ctx, CAPRESE_DTYPE_F16, {5, 1, 4}), wide(ctx, CAPRESE_DTYPE_F32, {5, 8});
  EXPECT_EQ(caprese_rope_at(ctx, x.t(), pos2.ct(), 10000.0f, nullptr, 0), CAPRESE_ERROR_SHAPE);
  EXPECT_TRUE(caprese_test::LastErrorMentions("pos")) << caprese_last_error();
  EXPECT_EQ(caprese_rope_at(ctx, x.t(), posf.ct(), 10000.0f, nullptr, 0), CAPRESE_ERROR_DTYPE);
  EXPECT_EQ(caprese_rope_at(ctx, x.t(), nullptr, 10000.0f, nullptr, 0), CAPRESE_ERROR_INVALID_ARGUMENT);
  caprese_attention_params prm{};
  prm.scale = 1.0f;
  prm.pos0 = 2;
  EXPECT_EQ(caprese_attention_at(ctx, x.ct(), cache.ct(), cache.ct(), &prm, pos.ct(), x.t()), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(caprese_test::LastErrorMentions("pos0")) << caprese_last_error();
  EXPECT_EQ(caprese_write_rows_at(ctx, x.ct(), pos.ct(), half_cache.t()), CAPRESE_ERROR_DTYPE);
  EXPECT_EQ(caprese_write_rows_at(ctx, x.ct(), pos.ct(), wide.t()), CAPRESE_ERROR_SHAPE);
  EXPECT_EQ(caprese_write_rows_at(ctx, cache.ct(), pos.ct(), cache.t()), CAPRESE_ERROR_INVALID_ARGUMENT);
}

TEST(Graphs, AreACudaFeature) {
  Context ctx;
  EXPECT_EQ(caprese_graph_begin_capture(ctx), CAPRESE_ERROR_NOT_SUPPORTED);
  EXPECT_TRUE(caprese_test::LastErrorMentions("CUDA")) << caprese_last_error();
  caprese_graph_t g = reinterpret_cast<caprese_graph_t>(0x1);
  EXPECT_EQ(caprese_graph_end_capture(ctx, &g), CAPRESE_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(g, nullptr);
  EXPECT_EQ(caprese_graph_launch(ctx, nullptr), CAPRESE_ERROR_INVALID_ARGUMENT);
  CAPRESE_ASSERT_OK(caprese_graph_destroy(nullptr));
  CAPRESE_ASSERT_OK(caprese_context_reserve_scratch(ctx, 1 << 20));
  EXPECT_STREQ(caprese_status_string(CAPRESE_ERROR_NOT_SUPPORTED), "not supported by this backend");
}

}  // namespace
