// Every bad-argument class on every op: the right status and a message that names the
// argument. Generic tensor faults (NULL, ndim, extents, overflow, dtype, alignment) are
// applied to each tensor argument of each op in turn; op-specific shape mismatches, enum
// values and scalars follow.
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <cstring>

#include "test_util.h"

using namespace caprese_test;

namespace {

const float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

// True if the last error message starts with "<name>:" (the API layer's convention for
// messages about one argument).
::testing::AssertionResult NamesArgument(const std::string& name) {
  std::string msg = caprese_last_error();
  if (msg.rfind(name + ":", 0) == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "message \"" << msg << "\" does not start with \"" << name << ":\"";
}

// One op with a set of valid tensor arguments that the tests then break one at a time.
struct OpCase {
  std::string op;
  std::vector<std::string> names;
  std::vector<caprese_tensor> tensors;
  std::vector<bool> optional;         // NULL is allowed (bias, inv_freq)
  std::vector<caprese_dtype> wrong;   // a known dtype this argument does not accept
  std::function<caprese_status(caprese_context_t, std::vector<caprese_tensor*>&)> call;
};

class ErrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ctx_.ok()) << ctx_.message;
    pool_ = Buffer(ctx_, 1 << 22);
    ASSERT_EQ(pool_.status, CAPRESE_OK);
  }
  // Each tensor gets its own 64 KiB slice of one zeroed buffer.
  caprese_tensor T(caprese_dtype dt, std::initializer_list<int64_t> shape) {
    void* p = static_cast<char*>(pool_.data()) + (next_++) * 65536;
    return MakeTensor(p, dt, shape);
  }

  std::vector<OpCase> AllOps() {
    const caprese_dtype F32 = CAPRESE_DTYPE_F32, F16 = CAPRESE_DTYPE_F16, I32 = CAPRESE_DTYPE_I32;
    std::vector<OpCase> ops;
    ops.push_back({"matmul", {"x", "w", "bias", "y"},
                   {T(F32, {2, 8}), T(F16, {4, 8}), T(F32, {4}), T(F32, {2, 4})},
                   {false, false, true, false}, {F16, I32, F16, F16},
                   [](caprese_context_t c, std::vector<caprese_tensor*>& t) {
                     return caprese_matmul(c, t[0], t[1], t[2], t[3]);
                   }});
    ops.push_back({"rmsnorm", {"x", "w", "y"}, {T(F32, {2, 8}), T(F32, {8}), T(F32, {2, 8})},
                   {false, false, false}, {F16, F16, F16},
                   [](caprese_context_t c, std::vector<caprese_tensor*>& t) {
                     return caprese_rmsnorm(c, t[0], t[1], 1e-5f, 0.0f, t[2]);
                   }});
    ops.push_back({"rope", {"x", "inv_freq"}, {T(F32, {2, 2, 8}), T(F32, {4})}, {false, true}, {F16, F16},
                   [](caprese_context_t c, std::vector<caprese_tensor*>& t) {
                     return caprese_rope(c, t[0], 0, 10000.0f, t[1], CAPRESE_ROPE_HALF_SPLIT);
                   }});
    ops.push_back({"attention", {"q", "k_cache", "v_cache", "out"},
                   {T(F32, {2, 4, 8}), T(F32, {6, 2, 8}), T(F32, {6, 2, 8}), T(F32, {2, 4, 8})},
                   {false, false, false, false}, {F16, F16, F16, F16},
                   [](caprese_context_t c, std::vector<caprese_tensor*>& t) {
                     caprese_attention_params p{1, 0, 0.35f, 0.0f};
                     return caprese_attention(c, t[0], t[1], t[2], &p, t[3]);
                   }});
    ops.push_back({"gated_activation", {"gate", "up", "out"}, {T(F32, {2, 8}), T(F32, {2, 8}), T(F32, {2, 8})},
                   {false, false, false}, {F16, I32, F16},
                   [](caprese_context_t c, std::vector<caprese_tensor*>& t) {
                     return caprese_gated_activation(c, t[0], t[1], CAPRESE_ACTIVATION_SILU, t[2]);
                   }});
    ops.push_back({"add", {"a", "b", "out"}, {T(F32, {3, 5}), T(F32, {3, 5}), T(F32, {3, 5})}, {false, false, false},
                   {F16, I32, F16}, [](caprese_context_t c, std::vector<caprese_tensor*>& t) {
                     return caprese_add(c, t[0], t[1], t[2]);
                   }});
    ops.push_back({"softmax", {"x", "y"}, {T(F32, {2, 10}), T(F32, {2, 10})}, {false, false}, {F16, I32},
                   [](caprese_context_t c, std::vector<caprese_tensor*>& t) {
                     return caprese_softmax(c, t[0], 1.0f, t[1]);
                   }});
    ops.push_back({"softcap", {"x", "y"}, {T(F32, {2, 10}), T(F32, {2, 10})}, {false, false}, {F16, I32},
                   [](caprese_context_t c, std::vector<caprese_tensor*>& t) {
                     return caprese_softcap(c, t[0], 30.0f, t[1]);
                   }});
    ops.push_back({"argmax", {"x", "out"}, {T(F32, {2, 10}), T(I32, {2})}, {false, false}, {F16, F32},
                   [](caprese_context_t c, std::vector<caprese_tensor*>& t) { return caprese_argmax(c, t[0], t[1]); }});
    ops.push_back({"embedding", {"table", "ids", "out"}, {T(F16, {16, 8}), T(I32, {3}), T(F32, {3, 8})},
                   {false, false, false}, {I32, F32, F16},
                   [](caprese_context_t c, std::vector<caprese_tensor*>& t) {
                     return caprese_embedding(c, t[0], t[1], 1.0f, t[2]);
                   }});
    return ops;
  }

  // Calls `op` with tensor `i` replaced by `bad` (or NULL when bad is nullptr).
  caprese_status CallWith(OpCase& op, size_t i, const caprese_tensor* bad, caprese_context_t ctx = nullptr) {
    std::vector<caprese_tensor> copy = op.tensors;
    std::vector<caprese_tensor*> ptrs;
    for (caprese_tensor& t : copy) ptrs.push_back(&t);
    if (i < copy.size()) {
      if (bad == nullptr)
        ptrs[i] = nullptr;
      else
        copy[i] = *bad;
    }
    return op.call(ctx ? ctx : ctx_.get(), ptrs);
  }

  // Replaces tensor `i` of `op` with one of `shape` and expects CAPRESE_ERROR_SHAPE with a
  // message that mentions the op and `arg`.
  void ExpectShapeError(OpCase& op, size_t i, std::initializer_list<int64_t> shape, const std::string& arg) {
    caprese_tensor s = MakeTensor(op.tensors[i].data, static_cast<caprese_dtype>(op.tensors[i].dtype), shape);
    std::string trace = op.op + " " + op.names[i] + " [";
    for (int64_t e : shape) trace += std::to_string(e) + " ";
    SCOPED_TRACE(trace + "]");
    EXPECT_EQ(CallWith(op, i, &s), CAPRESE_ERROR_SHAPE);
    EXPECT_TRUE(LastErrorMentions(op.op));
    EXPECT_TRUE(LastErrorMentions(arg));
  }

  Context ctx_;
  Buffer pool_;
  int next_ = 0;
};

// The unbroken arguments are valid, so every failure below is caused by the one change.
TEST_F(ErrorTest, ValidCallsSucceed) {
  for (OpCase& op : AllOps()) EXPECT_EQ(CallWith(op, 99, nullptr), CAPRESE_OK) << op.op << ": " << caprese_last_error();
}

TEST_F(ErrorTest, NullContext) {
  Context dummy;
  for (OpCase& op : AllOps()) {
    std::vector<caprese_tensor*> ptrs;
    for (caprese_tensor& t : op.tensors) ptrs.push_back(&t);
    EXPECT_EQ(op.call(nullptr, ptrs), CAPRESE_ERROR_INVALID_ARGUMENT) << op.op;
    EXPECT_TRUE(NamesArgument("ctx")) << op.op;
  }
}

TEST_F(ErrorTest, NullTensor) {
  for (OpCase& op : AllOps())
    for (size_t i = 0; i < op.names.size(); ++i) {
      if (op.optional[i]) {
        EXPECT_EQ(CallWith(op, i, nullptr), CAPRESE_OK) << op.op << " without " << op.names[i];
        continue;
      }
      EXPECT_EQ(CallWith(op, i, nullptr), CAPRESE_ERROR_INVALID_ARGUMENT) << op.op << "/" << op.names[i];
      EXPECT_TRUE(NamesArgument(op.names[i])) << op.op;
      EXPECT_TRUE(LastErrorMentions("NULL tensor")) << op.op;
    }
}

TEST_F(ErrorTest, NullData) {
  for (OpCase& op : AllOps())
    for (size_t i = 0; i < op.names.size(); ++i) {
      caprese_tensor t = op.tensors[i];
      t.data = nullptr;
      EXPECT_EQ(CallWith(op, i, &t), CAPRESE_ERROR_INVALID_ARGUMENT) << op.op << "/" << op.names[i];
      EXPECT_TRUE(NamesArgument(op.names[i])) << op.op;
      EXPECT_TRUE(LastErrorMentions("NULL data")) << op.op;
    }
}

TEST_F(ErrorTest, WrongNdim) {
  for (OpCase& op : AllOps())
    for (size_t i = 0; i < op.names.size(); ++i)
      for (int32_t ndim : {0, -1, 5}) {
        caprese_tensor t = op.tensors[i];
        t.ndim = ndim;
        EXPECT_EQ(CallWith(op, i, &t), CAPRESE_ERROR_SHAPE) << op.op << "/" << op.names[i] << " ndim " << ndim;
        EXPECT_TRUE(NamesArgument(op.names[i])) << op.op;
        EXPECT_TRUE(LastErrorMentions("ndim")) << op.op;
      }
  // Ops with a fixed rank reject the other ranks in 1..4 too.
  std::vector<OpCase> ops = AllOps();
  for (OpCase& op : ops) {
    for (size_t i = 0; i < op.names.size(); ++i) {
      const std::string& n = op.names[i];
      bool fixed = (op.op == "matmul" && (n == "w" || n == "bias")) || op.op == "rope" || op.op == "attention" ||
                   (op.op == "rmsnorm" && n == "w") || (op.op == "argmax" && n == "out") || op.op == "embedding";
      if (!fixed) continue;
      caprese_tensor t = op.tensors[i];
      t.ndim = t.ndim == 1 ? 2 : t.ndim - 1;
      EXPECT_EQ(CallWith(op, i, &t), CAPRESE_ERROR_SHAPE) << op.op << "/" << n;
      EXPECT_TRUE(NamesArgument(n)) << op.op;
    }
  }
}

TEST_F(ErrorTest, NonPositiveExtent) {
  for (OpCase& op : AllOps())
    for (size_t i = 0; i < op.names.size(); ++i)
      for (int64_t e : {int64_t{0}, int64_t{-3}}) {
        caprese_tensor t = op.tensors[i];
        t.shape[t.ndim - 1] = e;
        EXPECT_EQ(CallWith(op, i, &t), CAPRESE_ERROR_SHAPE) << op.op << "/" << op.names[i] << " extent " << e;
        EXPECT_TRUE(NamesArgument(op.names[i])) << op.op;
        EXPECT_TRUE(LastErrorMentions("must be > 0")) << op.op;
      }
}

TEST_F(ErrorTest, OverflowingShape) {
  for (OpCase& op : AllOps())
    for (size_t i = 0; i < op.names.size(); ++i) {
      caprese_tensor t = op.tensors[i];
      t.ndim = std::max(t.ndim, 2);
      t.shape[0] = int64_t{1} << 40;
      t.shape[1] = int64_t{1} << 40;
      caprese_status st = CallWith(op, i, &t);
      EXPECT_EQ(st, CAPRESE_ERROR_SHAPE) << op.op << "/" << op.names[i];
      EXPECT_TRUE(NamesArgument(op.names[i])) << op.op;
    }
  // Where the rank is free, the overflow itself is reported.
  OpCase add = AllOps()[5];
  caprese_tensor t = MakeTensor(add.tensors[0].data, CAPRESE_DTYPE_F32, {int64_t{1} << 40, int64_t{1} << 40});
  EXPECT_EQ(CallWith(add, 0, &t), CAPRESE_ERROR_SHAPE);
  EXPECT_TRUE(LastErrorMentions("overflow"));
  t = MakeTensor(add.tensors[0].data, CAPRESE_DTYPE_F32, {std::numeric_limits<int64_t>::max(), 2});
  EXPECT_EQ(CallWith(add, 0, &t), CAPRESE_ERROR_SHAPE);
  EXPECT_TRUE(LastErrorMentions("overflow"));
}

TEST_F(ErrorTest, UnknownDtype) {
  for (OpCase& op : AllOps())
    for (size_t i = 0; i < op.names.size(); ++i)
      for (int32_t dt : {4, 99, -1}) {
        caprese_tensor t = op.tensors[i];
        t.dtype = dt;
        EXPECT_EQ(CallWith(op, i, &t), CAPRESE_ERROR_DTYPE) << op.op << "/" << op.names[i];
        EXPECT_TRUE(NamesArgument(op.names[i])) << op.op;
        EXPECT_TRUE(LastErrorMentions("unknown dtype")) << op.op;
      }
}

TEST_F(ErrorTest, UnsupportedDtype) {
  for (OpCase& op : AllOps())
    for (size_t i = 0; i < op.names.size(); ++i) {
      caprese_tensor t = op.tensors[i];
      t.dtype = op.wrong[i];
      EXPECT_EQ(CallWith(op, i, &t), CAPRESE_ERROR_DTYPE) << op.op << "/" << op.names[i];
      EXPECT_TRUE(NamesArgument(op.names[i])) << op.op;
      EXPECT_TRUE(LastErrorMentions("not supported")) << op.op;
    }
}

TEST_F(ErrorTest, MisalignedPointer) {
  for (OpCase& op : AllOps())
    for (size_t i = 0; i < op.names.size(); ++i) {
      caprese_tensor t = op.tensors[i];
      t.data = static_cast<char*>(t.data) + 1;  // odd address: misaligned for every dtype
      EXPECT_EQ(CallWith(op, i, &t), CAPRESE_ERROR_ALIGNMENT) << op.op << "/" << op.names[i];
      EXPECT_TRUE(NamesArgument(op.names[i])) << op.op;
      if (t.dtype == CAPRESE_DTYPE_F32 || t.dtype == CAPRESE_DTYPE_I32) {  // 2 mod 4: still misaligned
        t.data = static_cast<char*>(t.data) + 1;
        EXPECT_EQ(CallWith(op, i, &t), CAPRESE_ERROR_ALIGNMENT) << op.op << "/" << op.names[i];
      }
    }
}

// -------------------------------------------------------- shape mismatches

TEST_F(ErrorTest, ShapeMismatches) {
  std::vector<OpCase> ops = AllOps();
  OpCase &mm = ops[0], &rms = ops[1], &rope = ops[2], &att = ops[3], &gated = ops[4], &add = ops[5],
         &sm = ops[6], &sc = ops[7], &am = ops[8], &emb = ops[9];
  ExpectShapeError(mm, 1, {4, 9}, "w");       // K differs
  ExpectShapeError(mm, 3, {2, 5}, "y");       // N differs
  ExpectShapeError(mm, 3, {3, 4}, "y");       // rows differ
  ExpectShapeError(mm, 2, {5}, "bias");
  ExpectShapeError(rms, 1, {7}, "w");
  ExpectShapeError(rms, 2, {2, 7}, "y");
  ExpectShapeError(rms, 2, {16}, "y");        // same count, other shape
  ExpectShapeError(rope, 0, {2, 2, 7}, "head_dim");  // odd head_dim
  ExpectShapeError(rope, 1, {3}, "inv_freq");
  ExpectShapeError(att, 2, {6, 2, 4}, "v_cache");
  ExpectShapeError(att, 1, {5, 2, 8}, "k_cache");
  ExpectShapeError(att, 3, {2, 4, 4}, "out");
  ExpectShapeError(att, 0, {2, 3, 8}, "q");   // 3 q heads, 2 kv heads
  {
    caprese_tensor k = MakeTensor(att.tensors[1].data, CAPRESE_DTYPE_F32, {6, 2, 4});
    caprese_tensor v = MakeTensor(att.tensors[2].data, CAPRESE_DTYPE_F32, {6, 2, 4});
    caprese_attention_params p{1, 0, 0.35f, 0.0f};
    EXPECT_EQ(caprese_attention(ctx_, &att.tensors[0], &k, &v, &p, &att.tensors[3]), CAPRESE_ERROR_SHAPE);
    EXPECT_TRUE(LastErrorMentions("head_dim"));
  }
  {  // 4 q heads over 3 kv heads
    caprese_tensor k = MakeTensor(att.tensors[1].data, CAPRESE_DTYPE_F32, {6, 3, 8});
    caprese_tensor v = MakeTensor(att.tensors[2].data, CAPRESE_DTYPE_F32, {6, 3, 8});
    caprese_attention_params p{1, 0, 0.35f, 0.0f};
    EXPECT_EQ(caprese_attention(ctx_, &att.tensors[0], &k, &v, &p, &att.tensors[3]), CAPRESE_ERROR_SHAPE);
    EXPECT_TRUE(LastErrorMentions("multiple"));
  }
  ExpectShapeError(gated, 1, {2, 7}, "up");
  ExpectShapeError(gated, 2, {8, 2}, "out");
  ExpectShapeError(add, 1, {5, 3}, "b");
  ExpectShapeError(add, 2, {15}, "out");
  ExpectShapeError(sm, 1, {10, 2}, "y");
  ExpectShapeError(sc, 1, {2, 9}, "y");
  ExpectShapeError(am, 1, {3}, "out");
  ExpectShapeError(emb, 2, {3, 7}, "out");
  ExpectShapeError(emb, 2, {4, 8}, "out");
}

// ---------------------------------------------------------- enums, scalars

TEST_F(ErrorTest, BadEnums) {
  std::vector<OpCase> ops = AllOps();
  caprese_tensor* x = &ops[2].tensors[0];
  for (int style : {2, -1, 100}) {
    EXPECT_EQ(caprese_rope(ctx_, x, 0, 10000.0f, nullptr, style),
              CAPRESE_ERROR_INVALID_ARGUMENT);
    EXPECT_TRUE(NamesArgument("style"));
  }
  OpCase& g = ops[4];
  for (int act : {2, -1, 9}) {
    EXPECT_EQ(caprese_gated_activation(ctx_, &g.tensors[0], &g.tensors[1], act,
                                       &g.tensors[2]),
              CAPRESE_ERROR_INVALID_ARGUMENT);
    EXPECT_TRUE(NamesArgument("act"));
  }
}

TEST_F(ErrorTest, BadScalars) {
  std::vector<OpCase> ops = AllOps();
  OpCase &rms = ops[1], &rope = ops[2], &att = ops[3], &sm = ops[6], &sc = ops[7], &emb = ops[9];
  for (float eps : {0.0f, -1e-5f, kNaN, kInf}) {
    EXPECT_EQ(caprese_rmsnorm(ctx_, &rms.tensors[0], &rms.tensors[1], eps, 0.0f, &rms.tensors[2]),
              CAPRESE_ERROR_INVALID_ARGUMENT) << eps;
    EXPECT_TRUE(NamesArgument("eps"));
  }
  for (float off : {kNaN, kInf, -kInf}) {
    EXPECT_EQ(caprese_rmsnorm(ctx_, &rms.tensors[0], &rms.tensors[1], 1e-5f, off, &rms.tensors[2]),
              CAPRESE_ERROR_INVALID_ARGUMENT);
    EXPECT_TRUE(NamesArgument("weight_offset"));
  }
  for (float theta : {0.0f, -10000.0f, kNaN, kInf}) {
    EXPECT_EQ(caprese_rope(ctx_, &rope.tensors[0], 0, theta, nullptr, CAPRESE_ROPE_INTERLEAVED),
              CAPRESE_ERROR_INVALID_ARGUMENT) << theta;
    EXPECT_TRUE(NamesArgument("theta"));
  }
  // theta is unused when inv_freq is given.
  EXPECT_EQ(caprese_rope(ctx_, &rope.tensors[0], 0, 0.0f, &rope.tensors[1], CAPRESE_ROPE_INTERLEAVED), CAPRESE_OK);
  EXPECT_EQ(caprese_rope(ctx_, &rope.tensors[0], -1, 10000.0f, nullptr, CAPRESE_ROPE_INTERLEAVED),
            CAPRESE_ERROR_OUT_OF_RANGE);
  EXPECT_TRUE(NamesArgument("pos0"));
  for (float t : {0.0f, -1.0f, kNaN, kInf}) {
    EXPECT_EQ(caprese_softmax(ctx_, &sm.tensors[0], t, &sm.tensors[1]), CAPRESE_ERROR_INVALID_ARGUMENT) << t;
    EXPECT_TRUE(NamesArgument("temperature"));
  }
  for (float cap : {0.0f, -30.0f, kNaN, kInf}) {
    EXPECT_EQ(caprese_softcap(ctx_, &sc.tensors[0], cap, &sc.tensors[1]), CAPRESE_ERROR_INVALID_ARGUMENT) << cap;
    EXPECT_TRUE(NamesArgument("cap"));
  }
  for (float scale : {kNaN, kInf}) {
    EXPECT_EQ(caprese_embedding(ctx_, &emb.tensors[0], &emb.tensors[1], scale, &emb.tensors[2]),
              CAPRESE_ERROR_INVALID_ARGUMENT);
    EXPECT_TRUE(NamesArgument("scale"));
  }
  // Attention parameters.
  auto attend = [&](caprese_attention_params p) {
    return caprese_attention(ctx_, &att.tensors[0], &att.tensors[1], &att.tensors[2], &p, &att.tensors[3]);
  };
  EXPECT_EQ(caprese_attention(ctx_, &att.tensors[0], &att.tensors[1], &att.tensors[2], nullptr, &att.tensors[3]),
            CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(NamesArgument("params"));
  for (float scale : {0.0f, -1.0f, kNaN, kInf}) {
    EXPECT_EQ(attend({1, 0, scale, 0.0f}), CAPRESE_ERROR_INVALID_ARGUMENT) << scale;
    EXPECT_TRUE(NamesArgument("params.scale"));
  }
  for (float cap : {-1.0f, kNaN, kInf}) {
    EXPECT_EQ(attend({1, 0, 0.35f, cap}), CAPRESE_ERROR_INVALID_ARGUMENT) << cap;
    EXPECT_TRUE(NamesArgument("params.softcap"));
  }
  EXPECT_EQ(attend({1, -1, 0.35f, 0.0f}), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(NamesArgument("params.sliding_window"));
  EXPECT_EQ(attend({-1, 0, 0.35f, 0.0f}), CAPRESE_ERROR_OUT_OF_RANGE);
  EXPECT_TRUE(NamesArgument("params.pos0"));
  // q has 2 rows, the cache 6: pos0 4 is the last that fits, 5 is beyond the cache.
  EXPECT_EQ(attend({4, 0, 0.35f, 0.0f}), CAPRESE_OK);
  EXPECT_EQ(attend({5, 0, 0.35f, 0.0f}), CAPRESE_ERROR_OUT_OF_RANGE);
  EXPECT_TRUE(LastErrorMentions("pos0"));
  EXPECT_TRUE(LastErrorMentions("cache"));
  EXPECT_EQ(attend({std::numeric_limits<int32_t>::max(), 0, 0.35f, 0.0f}), CAPRESE_ERROR_OUT_OF_RANGE);
}

TEST_F(ErrorTest, OutOfRangeIds) {
  std::vector<OpCase> ops = AllOps();
  OpCase& emb = ops[9];
  std::vector<int32_t> ids = {0, 15, 16};
  std::memcpy(emb.tensors[1].data, ids.data(), sizeof(int32_t) * 3);
  EXPECT_EQ(CallWith(emb, 99, nullptr), CAPRESE_ERROR_OUT_OF_RANGE);
  EXPECT_STREQ(caprese_last_error(), "ids[2] = 16 is outside the vocabulary [0, 16)");
}

}  // namespace

// head_dim is capped at 256 on every backend (the CUDA kernels keep a head in registers).
TEST(AttentionLimits, HeadDimAbove256IsAShapeError) {
  caprese_context_t ctx = nullptr;
  caprese_context_options opts{};
  opts.backend = CAPRESE_BACKEND_CPU;
  ASSERT_EQ(caprese_context_create(&opts, &ctx), CAPRESE_OK);
  std::vector<float> q(1 * 1 * 264), k(4 * 1 * 264), v(4 * 1 * 264), out(1 * 1 * 264);
  caprese_tensor tq{q.data(), CAPRESE_DTYPE_F32, 3, {1, 1, 264, 0}};
  caprese_tensor tk{k.data(), CAPRESE_DTYPE_F32, 3, {4, 1, 264, 0}};
  caprese_tensor tv{v.data(), CAPRESE_DTYPE_F32, 3, {4, 1, 264, 0}};
  caprese_tensor to{out.data(), CAPRESE_DTYPE_F32, 3, {1, 1, 264, 0}};
  caprese_attention_params p{0, 0, 0.0625f, 0.0f};
  EXPECT_EQ(caprese_attention(ctx, &tq, &tk, &tv, &p, &to), CAPRESE_ERROR_SHAPE);
  EXPECT_NE(std::string(caprese_last_error()).find("head_dim"), std::string::npos);
  caprese_context_destroy(ctx);
}
