// The training ops of the CUDA backend against the CPU backend (itself checked against naive
// references and finite differences in test_training_ops.cpp), at Llama-3.1-8B shapes:
// D = 4096, H = 14336, attention with head_dim 128 over S = 512 keys and GQA 32/8.
//
// Tolerances (CUDA sums in f32 in another order; the CPU sums rows in double):
//  - rmsnorm_backward: 2e-5 + 1e-4 |want| (two f32 row sums over 4096 products).
//  - rope_backward: 1e-5 + 1e-5 |want| (both compute the angle in double; f32 rotation).
//  - gated_activation_backward: 1e-5 + 1e-5 |want| (expf/tanhf vs libm: a few ulps).
//  - attention_backward: 1e-4 · max|want| + 1e-3 |want| per tensor: dk/dv sum up to M·group
//    terms in f32, and every softmax weight carries ~hd ulps from its recomputed score.
//  - transpose and mul exact; axpby and Adam 1e-6 + 1e-6 |want| (an FMA may fuse a product).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gpu/gpu_test.h"

namespace caprese_gpu_test {
namespace {

using caprese_test::DtypeLabel;
using caprese_test::Pack;
using caprese_test::RoundTo;

double MaxAbs(const std::vector<float>& v) {
  double m = 0;
  for (float f : v) m = std::max(m, static_cast<double>(std::fabs(f)));
  return m;
}

TEST_F(CudaTest, RmsNormBackwardMatchesCpu) {
  const int64_t m = 16, d = 4096;
  for (caprese_dtype dt : {CAPRESE_DTYPE_F32, CAPRESE_DTYPE_F16, CAPRESE_DTYPE_BF16})
    for (float offset : {0.0f, 1.0f}) {
      SCOPED_TRACE(std::string(DtypeLabel(dt)) + " offset " + std::to_string(offset));
      Pair x(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, d}), dy(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, d}),
          dx(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, d}), w(*cpu_, *gpu_, dt, {d});
      x.Upload(FastRandom(m * d, 1, 2.0f));
      dy.Upload(FastRandom(m * d, 2, 1.0f));
      std::vector<float> wv = FastRandom(d, 3, 0.5f);
      for (float& f : wv) f += 1.0f;
      w.Upload(Pack(dt, RoundTo(dt, wv)));
      CAPRESE_ASSERT_OK(caprese_rmsnorm_backward(*cpu_, x.c.ct(), w.c.ct(), dy.c.ct(), 1e-5f, offset, dx.c.t()));
      CAPRESE_ASSERT_OK(caprese_rmsnorm_backward(*gpu_, x.g.ct(), w.g.ct(), dy.g.ct(), 1e-5f, offset, dx.g.t()));
      EXPECT_TRUE(Compare("rmsnorm_backward", "16x4096", DtypeLabel(dt), dx.g.Download<float>(),
                          dx.c.Download<float>(), 2e-5, 1e-4));
      // In place over dy on the GPU gives the same values.
      CAPRESE_ASSERT_OK(caprese_rmsnorm_backward(*gpu_, x.g.ct(), w.g.ct(), dy.g.ct(), 1e-5f, offset, dy.g.t()));
      EXPECT_TRUE(Compare("rmsnorm_backward (dx = dy)", "16x4096", DtypeLabel(dt), dy.g.Download<float>(),
                          dx.c.Download<float>(), 2e-5, 1e-4));
    }
}

TEST_F(CudaTest, RopeBackwardMatchesCpu) {
  const int64_t m = 16, heads = 32, hd = 128;
  for (int style : {CAPRESE_ROPE_INTERLEAVED, CAPRESE_ROPE_HALF_SPLIT})
    for (bool with_freq : {false, true}) {
      SCOPED_TRACE("style " + std::to_string(style) + (with_freq ? " inv_freq" : ""));
      Pair x(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, heads, hd}), f(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {hd / 2});
      x.Upload(FastRandom(m * heads * hd, 10));
      std::vector<float> freq(hd / 2);
      for (int64_t i = 0; i < hd / 2; ++i) freq[i] = static_cast<float>(std::pow(500000.0, -2.0 * i / hd) * 0.25);
      f.Upload(freq);
      CAPRESE_ASSERT_OK(caprese_rope_backward(*cpu_, x.c.t(), 4000, 500000.0f, with_freq ? f.c.ct() : nullptr, style));
      CAPRESE_ASSERT_OK(caprese_rope_backward(*gpu_, x.g.t(), 4000, 500000.0f, with_freq ? f.g.ct() : nullptr, style));
      EXPECT_TRUE(Compare("rope_backward", "16x32x128 pos0=4000", "f32", x.g.Download<float>(), x.c.Download<float>(),
                          1e-5, 1e-5));
    }
}

TEST_F(CudaTest, GatedActivationBackwardMatchesCpu) {
  const int64_t m = 16, h = 14336;
  for (int act : {CAPRESE_ACTIVATION_SILU, CAPRESE_ACTIVATION_GELU_TANH}) {
    SCOPED_TRACE("act " + std::to_string(act));
    Pair gate(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, h}), up(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, h}),
        dout(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, h}), dg(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, h}),
        du(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, h});
    gate.Upload(FastRandom(m * h, 20, 8.0f));
    up.Upload(FastRandom(m * h, 21));
    dout.Upload(FastRandom(m * h, 22));
    CAPRESE_ASSERT_OK(caprese_gated_activation_backward(*cpu_, gate.c.ct(), up.c.ct(), dout.c.ct(), act, dg.c.t(),
                                                        du.c.t()));
    CAPRESE_ASSERT_OK(caprese_gated_activation_backward(*gpu_, gate.g.ct(), up.g.ct(), dout.g.ct(), act, dg.g.t(),
                                                        du.g.t()));
    EXPECT_TRUE(Compare("gated_activation_backward dgate", "16x14336", "f32", dg.g.Download<float>(),
                        dg.c.Download<float>(), 1e-5, 1e-5));
    EXPECT_TRUE(Compare("gated_activation_backward dup", "16x14336", "f32", du.g.Download<float>(),
                        du.c.Download<float>(), 1e-5, 1e-5));
    // In place (dgate over gate, dup over up) on the GPU.
    CAPRESE_ASSERT_OK(caprese_gated_activation_backward(*gpu_, gate.g.ct(), up.g.ct(), dout.g.ct(), act,
                                                        gate.g.t(), up.g.t()));
    EXPECT_TRUE(Compare("gated_activation_backward in place", "16x14336", "f32", gate.g.Download<float>(),
                        dg.c.Download<float>(), 1e-5, 1e-5));
  }
}

struct AttnCase {
  int64_t m, hq, hkv, hd, s;
  int32_t pos0, window;
  float softcap;
};

void RunAttentionBackward(caprese_context_t cpu, caprese_context_t gpu, const AttnCase& c) {
  const float kSentinel = 3.0f;
  Pair q(cpu, gpu, CAPRESE_DTYPE_F32, {c.m, c.hq, c.hd}), k(cpu, gpu, CAPRESE_DTYPE_F32, {c.s, c.hkv, c.hd}),
      v(cpu, gpu, CAPRESE_DTYPE_F32, {c.s, c.hkv, c.hd}), dout(cpu, gpu, CAPRESE_DTYPE_F32, {c.m, c.hq, c.hd}),
      dq(cpu, gpu, CAPRESE_DTYPE_F32, {c.m, c.hq, c.hd}), dk(cpu, gpu, CAPRESE_DTYPE_F32, {c.s, c.hkv, c.hd}),
      dv(cpu, gpu, CAPRESE_DTYPE_F32, {c.s, c.hkv, c.hd});
  q.Upload(FastRandom(c.m * c.hq * c.hd, 30));
  k.Upload(FastRandom(c.s * c.hkv * c.hd, 31));
  v.Upload(FastRandom(c.s * c.hkv * c.hd, 32));
  dout.Upload(FastRandom(c.m * c.hq * c.hd, 33));
  const std::vector<float> sentinel(c.s * c.hkv * c.hd, kSentinel);
  dk.Upload(sentinel);
  dv.Upload(sentinel);
  caprese_attention_params p{c.pos0, c.window, 1.0f / std::sqrt(static_cast<float>(c.hd)), c.softcap};
  CAPRESE_ASSERT_OK(caprese_attention_backward(cpu, q.c.ct(), k.c.ct(), v.c.ct(), &p, dout.c.ct(), dq.c.t(), dk.c.t(),
                                               dv.c.t()));
  CAPRESE_ASSERT_OK(caprese_attention_backward(gpu, q.g.ct(), k.g.ct(), v.g.ct(), &p, dout.g.ct(), dq.g.t(), dk.g.t(),
                                               dv.g.t()));
  const std::string shape = "M" + std::to_string(c.m) + " Hq" + std::to_string(c.hq) + " Hkv" + std::to_string(c.hkv) +
                            " hd" + std::to_string(c.hd) + " S" + std::to_string(c.s) + " pos0=" +
                            std::to_string(c.pos0) + " window=" + std::to_string(c.window) +
                            " softcap=" + std::to_string(c.softcap);
  struct Out {
    const char* name;
    Pair* t;
  } outs[] = {{"dq", &dq}, {"dk", &dk}, {"dv", &dv}};
  for (const Out& o : outs) {
    std::vector<float> want = o.t->c.Download<float>(), got = o.t->g.Download<float>();
    EXPECT_TRUE(Compare(std::string("attention_backward ") + o.name, shape, "f32", got, want, 1e-4 * MaxAbs(want),
                        1e-3));
  }
  // Rows at and past pos0 + M keep the sentinel on the GPU too.
  std::vector<float> gk = dk.g.Download<float>();
  for (int64_t i = (c.pos0 + c.m) * c.hkv * c.hd; i < c.s * c.hkv * c.hd; ++i) ASSERT_EQ(gk[i], kSentinel) << i;
}

TEST_F(CudaTest, AttentionBackwardMatchesCpu) {
  if (!kSimulator) RunAttentionBackward(*cpu_, *gpu_, {512, 32, 8, 128, 512, 0, 0, 0.0f});  // a full 512-token training chunk
  RunAttentionBackward(*cpu_, *gpu_, {64, 32, 8, 128, 600, 448, 128, 50.0f}); // window + softcap (Gemma 2 style)
  RunAttentionBackward(*cpu_, *gpu_, {5, 16, 8, 256, 64, 11, 0, 0.0f});       // hd 256
  RunAttentionBackward(*cpu_, *gpu_, {7, 6, 2, 40, 20, 3, 4, 0.0f});          // ragged head_dim, group 3
}

TEST_F(CudaTest, TransposeAxpbyMulMatchCpu) {
  for (auto mn : {std::pair<int64_t, int64_t>{4096, 1000}, {37, 70}, {1, 513}}) {
    const int64_t m = mn.first, n = mn.second;
    Pair x(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {m, n}), y(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {n, m});
    x.Upload(FastRandom(m * n, 40 + m));
    CAPRESE_ASSERT_OK(caprese_transpose(*cpu_, x.c.ct(), y.c.t()));
    CAPRESE_ASSERT_OK(caprese_transpose(*gpu_, x.g.ct(), y.g.t()));
    EXPECT_TRUE(Compare("transpose", std::to_string(m) + "x" + std::to_string(n), "f32", y.g.Download<float>(),
                        y.c.Download<float>(), 0, 0));
  }
  const int64_t n = (1 << 20) + 3;
  Pair a(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {n}), b(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {n}),
      o(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {n});
  a.Upload(FastRandom(n, 50));
  b.Upload(FastRandom(n, 51));
  CAPRESE_ASSERT_OK(caprese_axpby(*cpu_, 0.75f, a.c.ct(), -1.5f, b.c.ct(), o.c.t()));
  CAPRESE_ASSERT_OK(caprese_axpby(*gpu_, 0.75f, a.g.ct(), -1.5f, b.g.ct(), o.g.t()));
  EXPECT_TRUE(Compare("axpby", std::to_string(n), "f32", o.g.Download<float>(), o.c.Download<float>(), 1e-6, 1e-6));
  CAPRESE_ASSERT_OK(caprese_mul(*cpu_, a.c.ct(), b.c.ct(), o.c.t()));
  CAPRESE_ASSERT_OK(caprese_mul(*gpu_, a.g.ct(), b.g.ct(), a.g.t()));  // in place over a
  EXPECT_TRUE(Compare("mul", std::to_string(n), "f32", a.g.Download<float>(), o.c.Download<float>(), 0, 0));
}

TEST_F(CudaTest, AdamStepMatchesCpu) {
  const int64_t n = (1 << 20) + 5;
  Pair p(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {n}), g(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {n}),
      m(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {n}), v(*cpu_, *gpu_, CAPRESE_DTYPE_F32, {n});
  p.Upload(FastRandom(n, 60));
  for (int step = 1; step <= 3; ++step) {
    g.Upload(FastRandom(n, 60 + step, 0.1f));
    CAPRESE_ASSERT_OK(caprese_adam_step(*cpu_, p.c.t(), g.c.ct(), m.c.t(), v.c.t(), 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f,
                                        step));
    CAPRESE_ASSERT_OK(caprese_adam_step(*gpu_, p.g.t(), g.g.ct(), m.g.t(), v.g.t(), 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f,
                                        step));
  }
  EXPECT_TRUE(Compare("adam_step param", std::to_string(n) + " x3 steps", "f32", p.g.Download<float>(),
                      p.c.Download<float>(), 1e-6, 1e-6));
  EXPECT_TRUE(Compare("adam_step m", std::to_string(n) + " x3 steps", "f32", m.g.Download<float>(),
                      m.c.Download<float>(), 1e-9, 1e-6));
  EXPECT_TRUE(Compare("adam_step v", std::to_string(n) + " x3 steps", "f32", v.g.Download<float>(),
                      v.c.Download<float>(), 1e-12, 1e-6));
}

// The API layer checks before dispatch, so the CUDA backend rejects what the CPU rejects.
TEST_F(CudaTest, TrainingOpErrorsOnCuda) {
  DeviceTensor p(*gpu_, CAPRESE_DTYPE_F32, {8}), g(*gpu_, CAPRESE_DTYPE_F32, {8}), m(*gpu_, CAPRESE_DTYPE_F32, {8}),
      v(*gpu_, CAPRESE_DTYPE_F32, {8});
  EXPECT_EQ(caprese_adam_step(*gpu_, p.t(), g.ct(), m.t(), v.t(), 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 0),
            CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(caprese_adam_step(*gpu_, p.t(), g.ct(), p.t(), v.t(), 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1),
            CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(caprese_mul(*gpu_, p.ct(), g.ct(), m.t()), CAPRESE_OK);
  CAPRESE_ASSERT_OK(caprese_context_synchronize(*gpu_));
}

}  // namespace
}  // namespace caprese_gpu_test
