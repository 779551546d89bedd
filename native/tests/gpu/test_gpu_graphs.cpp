// The device-position ops (rope_at, attention_at, write_rows_at) and graph capture/replay on the
// CUDA backend (and the simulator): the _at ops match the by-value ops bitwise on the same
// device (attention_at picks the by-value op's split count at the position it reads) and the
// CPU within the ops' usual tolerances; a captured step replays at new positions and inputs
// with exactly the eager results, also after the scratch has grown.
#include <cstring>
#include <string>
#include <vector>

#include "gpu/gpu_test.h"

namespace caprese_gpu_test {
namespace {

constexpr int64_t kS = 512, kHq = 8, kHkv = 2, kHd = 64;

void SetPos(DeviceTensor& pos, int32_t p) { ASSERT_EQ(pos.Upload(std::vector<int32_t>{p}), CAPRESE_OK) << caprese_last_error(); }

TEST_F(CudaTest, RopeAtMatchesRopeBitwiseAndCpu) {
  const int64_t m = 2;
  DeviceTensor pos(*gpu_, CAPRESE_DTYPE_I32, {1}), cpos(*cpu_, CAPRESE_DTYPE_I32, {1});
  for (int32_t p : {0, 37, 100000}) {
    const std::vector<float> x = FastRandom(m * kHq * kHd, 70 + p, 1.0f);
    Pair a(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, kHq, kHd});
    DeviceTensor b(*gpu_, CAPRESE_DTYPE_F32, {m, kHq, kHd});
    a.Upload(x);
    CAPRESE_ASSERT_OK(b.Upload(x));
    SetPos(pos, p);
    SetPos(cpos, p);
    CAPRESE_ASSERT_OK(caprese_rope(*gpu_, a.g.t(), p, 10000.0f, nullptr, CAPRESE_ROPE_HALF_SPLIT));
    CAPRESE_ASSERT_OK(caprese_rope_at(*gpu_, b.t(), pos.ct(), 10000.0f, nullptr, CAPRESE_ROPE_HALF_SPLIT));
    CAPRESE_ASSERT_OK(caprese_rope_at(*cpu_, a.c.t(), cpos.ct(), 10000.0f, nullptr, CAPRESE_ROPE_HALF_SPLIT));
    EXPECT_EQ(b.Download<float>(), a.g.Download<float>()) << "pos " << p;
    EXPECT_TRUE(Compare("rope_at pos=" + std::to_string(p), "2x8x64", "f32", b.Download<float>(), a.c.Download<float>(),
                        2e-6, 0));
  }
}

// Positions with one split and with several (the grid is sized for the whole cache).
TEST_F(CudaTest, AttentionAtMatchesAttentionBitwiseAndCpu) {
  Pair k(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {kS, kHkv, kHd}), v(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {kS, kHkv, kHd});
  k.Upload(FastRandom(kS * kHkv * kHd, 80, 1.0f));
  v.Upload(FastRandom(kS * kHkv * kHd, 81, 1.0f));
  DeviceTensor pos(*gpu_, CAPRESE_DTYPE_I32, {1}), cpos(*cpu_, CAPRESE_DTYPE_I32, {1});
  for (int64_t m : {1, 3}) {
    for (int32_t window : {0, 100}) {
      for (int32_t p : {0, 60, 300, static_cast<int32_t>(kS - m)}) {
        Pair q(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, kHq, kHd}), o(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, kHq, kHd});
        DeviceTensor o_at(*gpu_, CAPRESE_DTYPE_F32, {m, kHq, kHd});
        q.Upload(FastRandom(m * kHq * kHd, 82 + p, 1.0f));
        caprese_attention_params prm{};
        prm.pos0 = p;
        prm.sliding_window = window;
        prm.scale = 0.25f;
        CAPRESE_ASSERT_OK(caprese_attention(*gpu_, q.g.ct(), k.g.ct(), v.g.ct(), &prm, o.g.t()));
        prm.pos0 = 0;
        SetPos(pos, p);
        SetPos(cpos, p);
        CAPRESE_ASSERT_OK(caprese_attention_at(*gpu_, q.g.ct(), k.g.ct(), v.g.ct(), &prm, pos.ct(), o_at.t()));
        CAPRESE_ASSERT_OK(caprese_attention_at(*cpu_, q.c.ct(), k.c.ct(), v.c.ct(), &prm, cpos.ct(), o.c.t()));
        const std::string label = "attention_at M=" + std::to_string(m) + " pos=" + std::to_string(p) +
                                  " window=" + std::to_string(window);
        EXPECT_EQ(o_at.Download<float>(), o.g.Download<float>()) << label;
        EXPECT_TRUE(Compare(label, "S512 Hq8 Hkv2 hd64", "f32", o_at.Download<float>(), o.c.Download<float>(), 1e-5, 1e-4));
      }
    }
  }
}

TEST_F(CudaTest, WriteRowsAtMatchesCpu) {
  DeviceTensor pos(*gpu_, CAPRESE_DTYPE_I32, {1}), cpos(*cpu_, CAPRESE_DTYPE_I32, {1});
  for (caprese_dtype dt : {CAPRESE_DTYPE_F32, CAPRESE_DTYPE_F16}) {
    // f16 rows of 3 elements (6 bytes) take the byte path, f32 the word path.
    const int64_t w = dt == CAPRESE_DTYPE_F16 ? 3 : 12, rows = 2, s = 9;
    std::vector<uint16_t> src_bits(rows * w * 2), dst_bits(s * w * 2);
    for (size_t i = 0; i < src_bits.size(); ++i) src_bits[i] = static_cast<uint16_t>(i * 7 + 1);
    for (size_t i = 0; i < dst_bits.size(); ++i) dst_bits[i] = static_cast<uint16_t>(i * 3 + 2);
    src_bits.resize(rows * w * caprese_test::DtypeBytes(dt) / 2);
    dst_bits.resize(s * w * caprese_test::DtypeBytes(dt) / 2);
    Pair src(*cpu_, *gpu_, dt, {rows, w}), dst(*cpu_, *gpu_, dt, {s, w});
    src.Upload(src_bits);
    dst.Upload(dst_bits);
    SetPos(pos, 6);
    SetPos(cpos, 6);
    CAPRESE_ASSERT_OK(caprese_write_rows_at(*gpu_, src.g.ct(), pos.ct(), dst.g.t()));
    CAPRESE_ASSERT_OK(caprese_write_rows_at(*cpu_, src.c.ct(), cpos.ct(), dst.c.t()));
    EXPECT_EQ(dst.g.Download<uint16_t>(), dst.c.Download<uint16_t>());
  }
}

// On the device an out-of-range position cannot fail the call: nothing is written and the next
// synchronize says which ops read the position.
TEST_F(CudaTest, OutOfRangeDevicePositionIsReportedAtSynchronize) {
  DeviceTensor pos(*gpu_, CAPRESE_DTYPE_I32, {1}), x(*gpu_, CAPRESE_DTYPE_F32, {2, 1, 4});
  DeviceTensor cache(*gpu_, CAPRESE_DTYPE_F32, {5, 1, 4}), out(*gpu_, CAPRESE_DTYPE_F32, {2, 1, 4});
  CAPRESE_ASSERT_OK(x.Upload(std::vector<float>(8, 1.0f)));
  caprese_attention_params prm{};
  prm.scale = 1.0f;
  SetPos(pos, 4);  // 4 + 2 rows > 5
  CAPRESE_ASSERT_OK(caprese_write_rows_at(*gpu_, x.ct(), pos.ct(), cache.t()));
  EXPECT_EQ(caprese_context_synchronize(*gpu_), CAPRESE_ERROR_OUT_OF_RANGE);
  EXPECT_TRUE(caprese_test::LastErrorMentions("pos")) << caprese_last_error();
  EXPECT_EQ(cache.Download<float>(), std::vector<float>(20, 0.0f));
  CAPRESE_ASSERT_OK(caprese_attention_at(*gpu_, x.ct(), cache.ct(), cache.ct(), &prm, pos.ct(), out.t()));
  EXPECT_EQ(caprese_context_synchronize(*gpu_), CAPRESE_ERROR_OUT_OF_RANGE);
  SetPos(pos, -1);
  CAPRESE_ASSERT_OK(caprese_rope_at(*gpu_, x.t(), pos.ct(), 10000.0f, nullptr, 0));
  EXPECT_EQ(caprese_context_synchronize(*gpu_), CAPRESE_ERROR_OUT_OF_RANGE);
  EXPECT_EQ(x.Download<float>(), std::vector<float>(8, 1.0f));
  CAPRESE_ASSERT_OK(caprese_context_synchronize(*gpu_));  // reported once
}

// One attention sub-step of a decode layer: the new key and value rows into the caches at *pos,
// rope on q at *pos, attention over the caches, then an output product.
struct Step {
  Step(caprese_context_t ctx)
      : q(ctx, CAPRESE_DTYPE_F32, {1, kHq, kHd}), k_new(ctx, CAPRESE_DTYPE_F32, {1, kHkv, kHd}),
        v_new(ctx, CAPRESE_DTYPE_F32, {1, kHkv, kHd}), k(ctx, CAPRESE_DTYPE_F32, {kS, kHkv, kHd}),
        v(ctx, CAPRESE_DTYPE_F32, {kS, kHkv, kHd}), att(ctx, CAPRESE_DTYPE_F32, {1, kHq, kHd}),
        wo(ctx, CAPRESE_DTYPE_F32, {96, kHq * kHd}), y(ctx, CAPRESE_DTYPE_F32, {1, 96}), pos(ctx, CAPRESE_DTYPE_I32, {1}) {}
  void Init(uint64_t seed) {
    ASSERT_EQ(k.Upload(FastRandom(kS * kHkv * kHd, seed, 1.0f)), CAPRESE_OK);
    ASSERT_EQ(v.Upload(FastRandom(kS * kHkv * kHd, seed + 1, 1.0f)), CAPRESE_OK);
    ASSERT_EQ(wo.Upload(FastRandom(96 * kHq * kHd, seed + 2, 0.1f)), CAPRESE_OK);
  }
  void Inputs(int32_t p, uint64_t seed) {
    ASSERT_EQ(q.Upload(FastRandom(kHq * kHd, seed, 1.0f)), CAPRESE_OK);
    ASSERT_EQ(k_new.Upload(FastRandom(kHkv * kHd, seed + 1, 1.0f)), CAPRESE_OK);
    ASSERT_EQ(v_new.Upload(FastRandom(kHkv * kHd, seed + 2, 1.0f)), CAPRESE_OK);
    SetPos(pos, p);
  }
  caprese_status Enqueue(caprese_context_t ctx) {
    caprese_attention_params prm{};
    prm.scale = 0.125f;
    caprese_tensor att2 = *att.ct(), y2 = *y.ct();
    att2.ndim = 2;
    att2.shape[1] = kHq * kHd;
    caprese_status st;
    if ((st = caprese_write_rows_at(ctx, k_new.ct(), pos.ct(), k.t())) != CAPRESE_OK) return st;
    if ((st = caprese_write_rows_at(ctx, v_new.ct(), pos.ct(), v.t())) != CAPRESE_OK) return st;
    if ((st = caprese_rope_at(ctx, q.t(), pos.ct(), 10000.0f, nullptr, CAPRESE_ROPE_HALF_SPLIT)) != CAPRESE_OK) return st;
    if ((st = caprese_attention_at(ctx, q.ct(), k.ct(), v.ct(), &prm, pos.ct(), att.t())) != CAPRESE_OK) return st;
    return caprese_matmul(ctx, &att2, wo.ct(), nullptr, &y2);
  }
  DeviceTensor q, k_new, v_new, k, v, att, wo, y, pos;
};

TEST_F(CudaTest, GraphReplaysAStepAtNewPositionsLikeEagerOps) {
  Context ctx(kGpuBackend);
  ASSERT_TRUE(ctx.ok()) << ctx.message;
  Step graph_step(ctx), eager_step(ctx);
  graph_step.Init(90);
  eager_step.Init(90);
  // Scratch for attention's splits over the whole cache, reserved instead of a warm-up run.
  CAPRESE_ASSERT_OK(caprese_context_reserve_scratch(ctx, 1 << 20));
  graph_step.Inputs(0, 1);  // contents at capture time do not matter: nothing runs
  CAPRESE_ASSERT_OK(caprese_graph_begin_capture(ctx));
  CAPRESE_ASSERT_OK(graph_step.Enqueue(ctx));
  caprese_graph_t graph = nullptr;
  CAPRESE_ASSERT_OK(caprese_graph_end_capture(ctx, &graph));
  ASSERT_NE(graph, nullptr);
  // Capture ran nothing: the caches are still as initialised.
  EXPECT_EQ(graph_step.k.Download<float>(), eager_step.k.Download<float>());

  // Positions with one attention split and with several; each replay sees new inputs.
  uint64_t seed = 100;
  for (int32_t p : {3, 4, 300, 301, 511}) {
    graph_step.Inputs(p, seed);
    eager_step.Inputs(p, seed);
    seed += 10;
    // Growing the scratch after the capture must not free the block the graph replays on.
    if (p == 301) CAPRESE_ASSERT_OK(caprese_context_reserve_scratch(ctx, 8 << 20));
    CAPRESE_ASSERT_OK(caprese_graph_launch(ctx, graph));
    CAPRESE_ASSERT_OK(eager_step.Enqueue(ctx));
    CAPRESE_ASSERT_OK(caprese_context_synchronize(ctx));
    EXPECT_EQ(graph_step.y.Download<float>(), eager_step.y.Download<float>()) << "pos " << p;
    EXPECT_EQ(graph_step.att.Download<float>(), eager_step.att.Download<float>()) << "pos " << p;
    EXPECT_EQ(graph_step.k.Download<float>(), eager_step.k.Download<float>()) << "pos " << p;
    EXPECT_EQ(graph_step.v.Download<float>(), eager_step.v.Download<float>()) << "pos " << p;
  }
  // The eager _at ops equal the by-value ops (the tests above), so the replay does too; and the
  // new rows landed where the positions say: row 300 of the key cache is the k_new of pos 300.
  std::vector<float> k_rows = graph_step.k.Download<float>();
  const std::vector<float> k300 = FastRandom(kHkv * kHd, 120 + 1, 1.0f);
  EXPECT_TRUE(std::equal(k300.begin(), k300.end(), k_rows.begin() + 300 * kHkv * kHd));
  CAPRESE_ASSERT_OK(caprese_graph_destroy(graph));
}

TEST_F(CudaTest, CaptureRefusesWhatCannotBeCaptured) {
  Context ctx(kGpuBackend);
  ASSERT_TRUE(ctx.ok()) << ctx.message;
  Step step(ctx);
  step.Init(7);
  step.Inputs(10, 8);
  // No warm-up and no reservation: attention_at needs scratch it cannot allocate while capturing.
  CAPRESE_ASSERT_OK(caprese_graph_begin_capture(ctx));
  EXPECT_EQ(caprese_graph_begin_capture(ctx), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(step.Enqueue(ctx), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(caprese_test::LastErrorMentions("scratch")) << caprese_last_error();
  int32_t host = 0;
  EXPECT_EQ(caprese_copy(ctx, step.pos.data(), &host, 4, CAPRESE_COPY_HOST_TO_DEVICE), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(caprese_test::LastErrorMentions("host memory")) << caprese_last_error();
  EXPECT_EQ(caprese_context_synchronize(ctx), CAPRESE_ERROR_INVALID_ARGUMENT);
  caprese_buffer_t buf = nullptr;
  EXPECT_EQ(caprese_buffer_create(ctx, 64, &buf), CAPRESE_ERROR_INVALID_ARGUMENT);
  caprese_graph_t graph = nullptr;
  CAPRESE_ASSERT_OK(caprese_graph_end_capture(ctx, &graph));  // the refusals did not spoil the capture
  CAPRESE_ASSERT_OK(caprese_graph_destroy(graph));
  EXPECT_EQ(caprese_graph_end_capture(ctx, &graph), CAPRESE_ERROR_INVALID_ARGUMENT);
  // A warm-up run sizes the scratch; then the same step captures.
  CAPRESE_ASSERT_OK(step.Enqueue(ctx));
  CAPRESE_ASSERT_OK(caprese_graph_begin_capture(ctx));
  CAPRESE_ASSERT_OK(step.Enqueue(ctx));
  CAPRESE_ASSERT_OK(caprese_graph_end_capture(ctx, &graph));
  // A graph belongs to its context.
  EXPECT_EQ(caprese_graph_launch(*gpu_, graph), CAPRESE_ERROR_INVALID_ARGUMENT);
  CAPRESE_ASSERT_OK(caprese_graph_launch(ctx, graph));
  CAPRESE_ASSERT_OK(caprese_context_synchronize(ctx));
  CAPRESE_ASSERT_OK(caprese_graph_destroy(graph));
}

}  // namespace
}  // namespace caprese_gpu_test
