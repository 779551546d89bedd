// caprese_sparse_ffn on the CPU backend against the naive double-precision reference, the
// dense FFN built from the existing ops, and every argument check.
//
// Tolerance: weights are rounded to their dtype before the reference sees them, so only
// the f32 arithmetic differs. Each output sums n products h_j·wd_j whose h_j carry the f32
// error of two D-long dot products; the reference returns S = Σ_j |wd_j| (|h_j| + 1.2 |u_j|
// Σ|x·wg_j| + |act(g_j)| Σ|x·wu_j|), and we allow 4·sqrt(D + n)·eps·S (random rounding
// grows like the square root of the number of terms; a wrong neuron, a lost row or a
// missing extra is orders of magnitude larger).
// THRESHOLD: the threshold is put in the widest gap between neighbouring |act(g)| values
// near the wanted quantile, so f32 and double agree on every neuron's side.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "reference.h"
#include "test_util.h"

using namespace caprese_test;

namespace {

constexpr double kEps32 = 1.1920929e-07;

struct Ffn {
  int64_t d, h, r;
  caprese_dtype dt;
  std::vector<float> wg, wu, wd, eu, ed;  // rounded to dt
};

Ffn MakeFfn(int64_t d, int64_t h, int64_t r, caprese_dtype dt, uint32_t seed) {
  Ffn f{d, h, r, dt, {}, {}, {}, {}, {}};
  const float s = 1.0f / std::sqrt(static_cast<float>(d));
  f.wg = RoundTo(dt, RandomVector(h * d, seed, -2 * s, 2 * s));
  f.wu = RoundTo(dt, RandomVector(h * d, seed + 1, -2 * s, 2 * s));
  f.wd = RoundTo(dt, RandomVector(h * d, seed + 2, -s, s));
  if (r > 0) {
    f.eu = RoundTo(dt, RandomVector(r * d, seed + 3, -s, s));
    f.ed = RoundTo(dt, RandomVector(r * d, seed + 4, -s, s));
  }
  return f;
}

// The FFN's weights in a context's memory.
struct FfnTensors {
  FfnTensors(caprese_context_t ctx, const Ffn& f)
      : wg(ctx, f.dt, {f.h, f.d}), wu(ctx, f.dt, {f.h, f.d}), wd(ctx, f.dt, {f.h, f.d}),
        eu(ctx, f.dt, {std::max<int64_t>(f.r, 1), f.d}), ed(ctx, f.dt, {std::max<int64_t>(f.r, 1), f.d}) {
    EXPECT_EQ(wg.Upload(Pack(f.dt, f.wg)), CAPRESE_OK);
    EXPECT_EQ(wu.Upload(Pack(f.dt, f.wu)), CAPRESE_OK);
    EXPECT_EQ(wd.Upload(Pack(f.dt, f.wd)), CAPRESE_OK);
    if (f.r > 0) {
      EXPECT_EQ(eu.Upload(Pack(f.dt, f.eu)), CAPRESE_OK);
      EXPECT_EQ(ed.Upload(Pack(f.dt, f.ed)), CAPRESE_OK);
    }
    has_extra = f.r > 0;
  }
  const caprese_tensor* extra_up() const { return has_extra ? eu.ct() : nullptr; }
  const caprese_tensor* extra_down() const { return has_extra ? ed.ct() : nullptr; }
  DeviceTensor wg, wu, wd, eu, ed;
  bool has_extra = false;
};

caprese_sparse_ffn_params Params(caprese_sparse_selection sel, float threshold = 0.0f,
                                 caprese_activation act = CAPRESE_ACTIVATION_SILU) {
  caprese_sparse_ffn_params p{};
  p.activation = act;
  p.selection = sel;
  p.threshold = threshold;
  return p;
}

// A threshold near the `frac` quantile of |act(g)| that sits in the widest gap among the
// neighbouring values, so no neuron is within rounding distance of it.
float PickThreshold(const std::vector<double>& acts, double frac) {
  std::vector<double> a(acts.size());
  for (size_t i = 0; i < a.size(); ++i) a[i] = std::fabs(acts[i]);
  std::sort(a.begin(), a.end());
  const size_t n = a.size(), center = std::min(n - 2, static_cast<size_t>(frac * n));
  const size_t lo = center > 50 ? center - 50 : 0, hi = std::min(n - 1, center + 50);
  size_t best = lo;
  for (size_t i = lo; i < hi; ++i)
    if (a[i + 1] - a[i] > a[best + 1] - a[best]) best = i;
  return static_cast<float>(0.5 * (a[best] + a[best + 1]));
}

struct Outcome {
  std::vector<float> got;
  std::vector<double> want, tol;
};

// Runs the op for rows x[M, D] and compares nothing: returns got, the reference and the bound.
Outcome RunFfn(caprese_context_t ctx, const Ffn& f, const FfnTensors& t, const std::vector<float>& x, int64_t m,
            caprese_sparse_selection sel, const std::vector<int32_t>& idx, float threshold, bool gelu,
            bool with_extra = true) {
  DeviceTensor tx(ctx, CAPRESE_DTYPE_F32, {m, f.d}), ty(ctx, CAPRESE_DTYPE_F32, {m, f.d});
  EXPECT_EQ(tx.Upload(x), CAPRESE_OK);
  std::vector<int32_t> idx_storage = idx.empty() ? std::vector<int32_t>{0} : idx;
  DeviceTensor ti(ctx, CAPRESE_DTYPE_I32, {static_cast<int64_t>(idx_storage.size())});
  EXPECT_EQ(ti.Upload(idx_storage), CAPRESE_OK);
  caprese_tensor tidx = *ti.ct();
  if (idx.empty()) {
    tidx.shape[0] = 0;
    tidx.data = nullptr;
  }
  caprese_sparse_ffn_params p =
      Params(sel, threshold, gelu ? CAPRESE_ACTIVATION_GELU_TANH : CAPRESE_ACTIVATION_SILU);
  const bool extra = with_extra && t.has_extra;
  caprese_status st = caprese_sparse_ffn(ctx, tx.ct(), t.wg.ct(), t.wu.ct(), t.wd.ct(),
                                         sel == CAPRESE_SPARSE_INDICES ? &tidx : nullptr,
                                         extra ? t.extra_up() : nullptr, extra ? t.extra_down() : nullptr, &p, ty.t());
  EXPECT_EQ(st, CAPRESE_OK) << caprese_last_error();
  Outcome o;
  o.got = ty.Download<float>();
  std::vector<double> scale;
  static const std::vector<float> kNone;
  o.want = caprese_ref::SparseFfn(x, f.wg, f.wu, f.wd, m, f.d, f.h, sel == CAPRESE_SPARSE_INDICES ? &idx : nullptr,
                                  extra ? f.eu : kNone, extra ? f.ed : kNone, gelu,
                                  sel == CAPRESE_SPARSE_THRESHOLD ? threshold : -1.0, &scale);
  const int64_t n = (sel == CAPRESE_SPARSE_INDICES ? static_cast<int64_t>(idx.size()) : f.h) + (extra ? f.r : 0);
  o.tol.resize(scale.size());
  for (size_t i = 0; i < scale.size(); ++i) o.tol[i] = 4.0 * std::sqrt(double(f.d + n)) * kEps32 * scale[i] + 1e-30;
  return o;
}

std::vector<int32_t> RandomSubset(int64_t h, int64_t k, uint32_t seed, bool sorted) {
  std::vector<int32_t> all(h);
  std::iota(all.begin(), all.end(), 0);
  std::mt19937 rng(seed);
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(k);
  if (sorted) std::sort(all.begin(), all.end());
  return all;
}

class SparseFfnDtype : public ::testing::TestWithParam<caprese_dtype> {};

// Every selection, with and without extras, at the stories260K shape, a 1376-wide FFN and
// odd sizes (D not a multiple of 8, H below a part), for M = 1..16.
TEST_P(SparseFfnDtype, MatchesReference) {
  Context ctx;
  ASSERT_TRUE(ctx.ok()) << ctx.message;
  struct Shape {
    int64_t d, h, r;
  };
  const Shape shapes[] = {{64, 172, 8}, {512, 1376, 32}, {37, 53, 3}, {130, 7, 5}};
  uint32_t seed = 10;
  for (const Shape& s : shapes) {
    const Ffn f = MakeFfn(s.d, s.h, s.r, GetParam(), seed += 10);
    FfnTensors t(ctx, f);
    std::vector<int64_t> ms;
    for (int64_t m = 1; m <= 16; ++m)
      if (s.d < 512 || m <= 5 || m == 8 || m == 13 || m == 16) ms.push_back(m);
    for (int64_t m : ms) {
      const std::vector<float> x = RandomVector(m * s.d, seed + m, -1.0f, 1.0f);
      const bool gelu = m % 2 == 0;
      const std::vector<int32_t> unsorted = RandomSubset(s.h, (s.h + 1) / 2, seed + 100 + m, false);
      const std::vector<int32_t> sorted = RandomSubset(s.h, (s.h + 3) / 4, seed + 200 + m, true);
      const float thr = PickThreshold(caprese_ref::GateActivations(x, f.wg, m, s.d, s.h, gelu), 0.5);
      for (bool extra : {false, true}) {
        struct Case {
          const char* name;
          caprese_sparse_selection sel;
          const std::vector<int32_t>* idx;
        };
        const std::vector<int32_t> none;
        for (const Case& c : {Case{"all", CAPRESE_SPARSE_ALL, &none}, Case{"unsorted", CAPRESE_SPARSE_INDICES, &unsorted},
                              Case{"sorted", CAPRESE_SPARSE_INDICES, &sorted},
                              Case{"threshold", CAPRESE_SPARSE_THRESHOLD, &none}}) {
          SCOPED_TRACE(::testing::Message() << DtypeLabel(GetParam()) << " D=" << s.d << " H=" << s.h << " M=" << m
                                            << " " << c.name << (extra ? " +extra" : "") << (gelu ? " gelu" : " silu"));
          Outcome o = RunFfn(ctx, f, t, x, m, c.sel, *c.idx, thr, gelu, extra);
          ASSERT_TRUE(WithinBounds(o.got, o.want, o.tol));
        }
      }
    }
  }
}

// Zero sparsity in all three forms equals the dense FFN built from the existing ops:
// matmul(x, wg), matmul(x, wu), gated_activation, matmul(h, wd) with wd = w_down_tᵀ [D, H].
TEST_P(SparseFfnDtype, ZeroSparsityEqualsDenseOps) {
  Context ctx;
  const int64_t d = 96, h = 250;
  const Ffn f = MakeFfn(d, h, 0, GetParam(), 77);
  FfnTensors t(ctx, f);
  std::vector<float> wd_nt(d * h);  // [D, H]
  for (int64_t j = 0; j < h; ++j)
    for (int64_t i = 0; i < d; ++i) wd_nt[i * h + j] = f.wd[j * d + i];
  DeviceTensor twd(ctx, GetParam(), {d, h});
  ASSERT_EQ(twd.Upload(Pack(GetParam(), wd_nt)), CAPRESE_OK);
  std::vector<int32_t> every(h);
  std::iota(every.begin(), every.end(), 0);
  std::reverse(every.begin(), every.end());
  for (int64_t m : {1, 6, 16}) {
    SCOPED_TRACE("M=" + std::to_string(m));
    const std::vector<float> x = RandomVector(m * d, 300 + m);
    DeviceTensor tx(ctx, CAPRESE_DTYPE_F32, {m, d}), tg(ctx, CAPRESE_DTYPE_F32, {m, h}),
        tu(ctx, CAPRESE_DTYPE_F32, {m, h}), ty(ctx, CAPRESE_DTYPE_F32, {m, d});
    ASSERT_EQ(tx.Upload(x), CAPRESE_OK);
    CAPRESE_ASSERT_OK(caprese_matmul(ctx, tx.ct(), t.wg.ct(), nullptr, tg.t()));
    CAPRESE_ASSERT_OK(caprese_matmul(ctx, tx.ct(), t.wu.ct(), nullptr, tu.t()));
    CAPRESE_ASSERT_OK(caprese_gated_activation(ctx, tg.ct(), tu.ct(), CAPRESE_ACTIVATION_SILU, tg.t()));
    CAPRESE_ASSERT_OK(caprese_matmul(ctx, tg.ct(), twd.ct(), nullptr, ty.t()));
    const std::vector<float> dense = ty.Download<float>();
    std::vector<double> dense_d(dense.begin(), dense.end());
    const std::vector<std::pair<caprese_sparse_selection, std::vector<int32_t>>> forms = {
        {CAPRESE_SPARSE_ALL, {}}, {CAPRESE_SPARSE_INDICES, every}, {CAPRESE_SPARSE_THRESHOLD, {}}};
    for (const auto& [sel, idx] : forms) {
      SCOPED_TRACE("selection " + std::to_string(sel));
      Outcome o = RunFfn(ctx, f, t, x, m, sel, idx, 0.0f, false);
      ASSERT_TRUE(WithinBounds(o.got, dense_d, o.tol));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, SparseFfnDtype,
                         ::testing::Values(CAPRESE_DTYPE_F32, CAPRESE_DTYPE_F16, CAPRESE_DTYPE_BF16),
                         [](const ::testing::TestParamInfo<caprese_dtype>& info) {
                           return std::string(DtypeLabel(info.param));
                         });

// k = 0: y is the extras' output alone, or zero without extras (old contents overwritten).
TEST(SparseFfn, EmptySelection) {
  Context ctx;
  const Ffn f = MakeFfn(40, 30, 4, CAPRESE_DTYPE_F16, 5);
  FfnTensors t(ctx, f);
  const int64_t m = 3;
  const std::vector<float> x = RandomVector(m * f.d, 6);
  Outcome o = RunFfn(ctx, f, t, x, m, CAPRESE_SPARSE_INDICES, {}, 0.0f, false, true);
  EXPECT_TRUE(WithinBounds(o.got, o.want, o.tol));
  double mag = 0;
  for (double v : o.want) mag += std::fabs(v);
  EXPECT_GT(mag, 0.0);
  o = RunFfn(ctx, f, t, x, m, CAPRESE_SPARSE_INDICES, {}, 0.0f, false, false);
  for (float v : o.got) ASSERT_EQ(v, 0.0f);
  // A threshold above every activation keeps no neuron either.
  o = RunFfn(ctx, f, t, x, m, CAPRESE_SPARSE_THRESHOLD, {}, 1e30f, false, false);
  for (float v : o.got) ASSERT_EQ(v, 0.0f);
}

// Duplicated indices are allowed and count once per occurrence.
TEST(SparseFfn, DuplicateIndicesCountPerOccurrence) {
  Context ctx;
  const Ffn f = MakeFfn(48, 20, 0, CAPRESE_DTYPE_F32, 8);
  FfnTensors t(ctx, f);
  const std::vector<float> x = RandomVector(2 * f.d, 9);
  Outcome twice = RunFfn(ctx, f, t, x, 2, CAPRESE_SPARSE_INDICES, {3, 3, 7}, 0.0f, false);
  EXPECT_TRUE(WithinBounds(twice.got, twice.want, twice.tol));
  Outcome once = RunFfn(ctx, f, t, x, 2, CAPRESE_SPARSE_INDICES, {3, 7}, 0.0f, false);
  double diff = 0;
  for (size_t i = 0; i < once.want.size(); ++i) diff += std::fabs(once.want[i] - twice.want[i]);
  EXPECT_GT(diff, 1e-3);  // the reference really counts the repeat
}

// Each output element sums its items in item order: any thread count gives the same bits.
TEST(SparseFfn, ThreadCountInvariant) {
  Context one(CAPRESE_BACKEND_CPU, 1), two(CAPRESE_BACKEND_CPU, 2), three(CAPRESE_BACKEND_CPU, 3);
  const Ffn f = MakeFfn(136, 700, 16, CAPRESE_DTYPE_BF16, 11);
  const int64_t m = 7;
  const std::vector<float> x = RandomVector(m * f.d, 12);
  const std::vector<int32_t> idx = RandomSubset(f.h, 300, 13, false);
  const float thr = PickThreshold(caprese_ref::GateActivations(x, f.wg, m, f.d, f.h, false), 0.6);
  for (auto sel : {CAPRESE_SPARSE_ALL, CAPRESE_SPARSE_INDICES, CAPRESE_SPARSE_THRESHOLD}) {
    std::vector<std::vector<float>> results;
    for (caprese_context_t ctx : {one.get(), two.get(), three.get()}) {
      FfnTensors t(ctx, f);
      results.push_back(RunFfn(ctx, f, t, x, m, sel, sel == CAPRESE_SPARSE_INDICES ? idx : std::vector<int32_t>{}, thr,
                            false).got);
    }
    EXPECT_EQ(results[0], results[1]) << "selection " << sel;
    EXPECT_EQ(results[0], results[2]) << "selection " << sel;
  }
}

// ------------------------------------------------------------------ argument checks

class SparseFfnErrors : public ::testing::Test {
 protected:
  static constexpr int64_t kM = 2, kD = 16, kH = 12, kR = 3;
  SparseFfnErrors()
      : x(ctx, CAPRESE_DTYPE_F32, {kM, kD}), y(ctx, CAPRESE_DTYPE_F32, {kM, kD}),
        wg(ctx, CAPRESE_DTYPE_F16, {kH, kD}), wu(ctx, CAPRESE_DTYPE_F16, {kH, kD}), wd(ctx, CAPRESE_DTYPE_F16, {kH, kD}),
        eu(ctx, CAPRESE_DTYPE_F16, {kR, kD}), ed(ctx, CAPRESE_DTYPE_F16, {kR, kD}), idx(ctx, CAPRESE_DTYPE_I32, {4}),
        w32(ctx, CAPRESE_DTYPE_F32, {kH, kD}), big(ctx, CAPRESE_DTYPE_F32, {17, kD}) {
    idx.Upload(std::vector<int32_t>{0, 5, 11, 2});
    p = Params(CAPRESE_SPARSE_INDICES);
  }
  caprese_status Call() {
    return caprese_sparse_ffn(ctx, xt, gt, ut, dt, it, eut, edt, pp, yt);
  }
  // Expects `status` and that the message mentions `needle`, then restores the defaults.
  void Expect(caprese_status status, const char* needle) {
    EXPECT_EQ(Call(), status) << caprese_last_error();
    EXPECT_TRUE(LastErrorMentions(needle));
    Reset();
  }
  void Reset() {
    xt = x.ct();
    yt = y.t();
    gt = wg.ct();
    ut = wu.ct();
    dt = wd.ct();
    it = idx.ct();
    eut = eu.ct();
    edt = ed.ct();
    p = Params(CAPRESE_SPARSE_INDICES);
    pp = &p;
  }
  void SetUp() override { Reset(); }

  Context ctx;
  DeviceTensor x, y, wg, wu, wd, eu, ed, idx, w32, big;
  caprese_sparse_ffn_params p;
  const caprese_tensor *xt, *gt, *ut, *dt, *it, *eut, *edt;
  caprese_tensor* yt;
  const caprese_sparse_ffn_params* pp;
};

TEST_F(SparseFfnErrors, ValidCallSucceeds) { CAPRESE_ASSERT_OK(Call()); }

TEST_F(SparseFfnErrors, NullArguments) {
  EXPECT_EQ(caprese_sparse_ffn(nullptr, xt, gt, ut, dt, it, eut, edt, pp, yt), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(LastErrorMentions("ctx"));
  xt = nullptr;
  Expect(CAPRESE_ERROR_INVALID_ARGUMENT, "x");
  gt = nullptr;
  Expect(CAPRESE_ERROR_INVALID_ARGUMENT, "w_gate");
  ut = nullptr;
  Expect(CAPRESE_ERROR_INVALID_ARGUMENT, "w_up");
  dt = nullptr;
  Expect(CAPRESE_ERROR_INVALID_ARGUMENT, "w_down_t");
  yt = nullptr;
  Expect(CAPRESE_ERROR_INVALID_ARGUMENT, "y");
  pp = nullptr;
  Expect(CAPRESE_ERROR_INVALID_ARGUMENT, "params");
  it = nullptr;
  Expect(CAPRESE_ERROR_INVALID_ARGUMENT, "indices");
  eut = nullptr;
  Expect(CAPRESE_ERROR_INVALID_ARGUMENT, "extra_up");
  edt = nullptr;
  Expect(CAPRESE_ERROR_INVALID_ARGUMENT, "extra_down");
  caprese_tensor no_data = *wg.ct();
  no_data.data = nullptr;
  gt = &no_data;
  Expect(CAPRESE_ERROR_INVALID_ARGUMENT, "w_gate");
}

TEST_F(SparseFfnErrors, Params) {
  p.activation = 7;
  Expect(CAPRESE_ERROR_INVALID_ARGUMENT, "params.activation");
  p.selection = 3;
  Expect(CAPRESE_ERROR_INVALID_ARGUMENT, "params.selection");
  p.flags = 1;
  Expect(CAPRESE_ERROR_INVALID_ARGUMENT, "params.flags");
  p = Params(CAPRESE_SPARSE_THRESHOLD, -0.5f);
  it = nullptr;
  Expect(CAPRESE_ERROR_INVALID_ARGUMENT, "params.threshold");
  p = Params(CAPRESE_SPARSE_THRESHOLD, NAN);
  it = nullptr;
  Expect(CAPRESE_ERROR_INVALID_ARGUMENT, "params.threshold");
  p = Params(CAPRESE_SPARSE_THRESHOLD, INFINITY);
  it = nullptr;
  Expect(CAPRESE_ERROR_INVALID_ARGUMENT, "params.threshold");
  // indices only with CAPRESE_SPARSE_INDICES
  p = Params(CAPRESE_SPARSE_ALL);
  Expect(CAPRESE_ERROR_INVALID_ARGUMENT, "indices");
  p = Params(CAPRESE_SPARSE_THRESHOLD, 0.1f);
  Expect(CAPRESE_ERROR_INVALID_ARGUMENT, "indices");
  p = Params(CAPRESE_SPARSE_ALL);
  it = nullptr;
  CAPRESE_ASSERT_OK(Call());
}

TEST_F(SparseFfnErrors, Shapes) {
  DeviceTensor y17(ctx, CAPRESE_DTYPE_F32, {17, kD});
  xt = big.ct();  // 17 rows
  yt = y17.t();
  Expect(CAPRESE_ERROR_SHAPE, "at most 16");

  caprese_tensor bad = *wg.ct();
  bad.shape[1] = kD - 1;
  gt = &bad;
  Expect(CAPRESE_ERROR_SHAPE, "w_gate");
  bad = *wu.ct();
  bad.shape[0] = kH - 1;
  ut = &bad;
  Expect(CAPRESE_ERROR_SHAPE, "w_up");
  bad = *wd.ct();
  bad.shape[1] = kD / 2;
  bad.shape[0] = kH * 2;
  dt = &bad;
  Expect(CAPRESE_ERROR_SHAPE, "w_down_t");
  caprese_tensor by = *y.t();
  by.shape[0] = 1;
  yt = &by;
  Expect(CAPRESE_ERROR_SHAPE, "y");
  bad = *x.ct();
  bad.ndim = 3;
  bad.shape[2] = 1;
  xt = &bad;
  Expect(CAPRESE_ERROR_SHAPE, "x");
  bad = *idx.ct();
  bad.ndim = 2;
  bad.shape[1] = 1;
  it = &bad;
  Expect(CAPRESE_ERROR_SHAPE, "indices");
  bad = *eu.ct();
  bad.shape[1] = kD + 8;
  eut = &bad;
  Expect(CAPRESE_ERROR_SHAPE, "extra_up");
  bad = *ed.ct();
  bad.shape[0] = kR - 1;
  edt = &bad;
  Expect(CAPRESE_ERROR_SHAPE, "extra_down");
  bad = *idx.ct();
  bad.shape[0] = -1;
  it = &bad;
  Expect(CAPRESE_ERROR_SHAPE, "indices");
}

TEST_F(SparseFfnErrors, Dtypes) {
  caprese_tensor bad = *x.ct();
  bad.dtype = CAPRESE_DTYPE_F16;
  xt = &bad;
  Expect(CAPRESE_ERROR_DTYPE, "x");
  ut = w32.ct();  // f32 next to f16 gate
  Expect(CAPRESE_ERROR_DTYPE, "w_up");
  dt = w32.ct();
  Expect(CAPRESE_ERROR_DTYPE, "w_down_t");
  bad = *eu.ct();
  bad.dtype = CAPRESE_DTYPE_BF16;
  eut = &bad;
  Expect(CAPRESE_ERROR_DTYPE, "extra_up");
  bad = *idx.ct();
  bad.dtype = CAPRESE_DTYPE_F32;
  it = &bad;
  Expect(CAPRESE_ERROR_DTYPE, "indices");
  bad = *wg.ct();
  bad.dtype = CAPRESE_DTYPE_I32;
  gt = &bad;
  Expect(CAPRESE_ERROR_DTYPE, "w_gate");
  bad = *y.t();
  bad.dtype = CAPRESE_DTYPE_BF16;
  yt = &bad;
  Expect(CAPRESE_ERROR_DTYPE, "y");
}

TEST_F(SparseFfnErrors, Alignment) {
  caprese_tensor bad = *wg.ct();
  bad.data = static_cast<char*>(wg.data()) + 1;
  bad.shape[0] = kH - 1;
  gt = &bad;
  Expect(CAPRESE_ERROR_ALIGNMENT, "w_gate");
  bad = *x.ct();
  bad.data = static_cast<char*>(x.data()) + 2;
  bad.shape[0] = 1;
  xt = &bad;
  DeviceTensor y1(ctx, CAPRESE_DTYPE_F32, {1, kD});
  yt = y1.t();
  Expect(CAPRESE_ERROR_ALIGNMENT, "x");
  bad = *idx.ct();
  bad.data = static_cast<char*>(idx.data()) + 2;
  bad.shape[0] = 3;
  it = &bad;
  Expect(CAPRESE_ERROR_ALIGNMENT, "indices");
}

TEST_F(SparseFfnErrors, OverlapAndExtrasPairing) {
  caprese_tensor alias = *x.ct();
  yt = &alias;
  Expect(CAPRESE_ERROR_INVALID_ARGUMENT, "overlap");
  edt = nullptr;
  Expect(CAPRESE_ERROR_INVALID_ARGUMENT, "extra_down");
  eut = nullptr;
  Expect(CAPRESE_ERROR_INVALID_ARGUMENT, "extra_up");
  eut = edt = nullptr;
  CAPRESE_ASSERT_OK(Call());
}

// CPU: an out-of-range index fails the call and leaves y untouched.
TEST_F(SparseFfnErrors, IndexOutOfRange) {
  std::vector<float> sentinel(kM * kD, 42.0f);
  ASSERT_EQ(y.Upload(sentinel), CAPRESE_OK);
  for (int32_t bad : {static_cast<int32_t>(kH), -1, INT32_MAX}) {
    ASSERT_EQ(idx.Upload(std::vector<int32_t>{0, 5, bad, 2}), CAPRESE_OK);
    EXPECT_EQ(Call(), CAPRESE_ERROR_OUT_OF_RANGE);
    EXPECT_TRUE(LastErrorMentions("indices[2]"));
    EXPECT_EQ(y.Download<float>(), sentinel);
  }
}

TEST(SparseFfn, StructLayout) {
  int64_t size = 0, offsets[8];
  int32_t count = 0;
  CAPRESE_ASSERT_OK(caprese_struct_layout(CAPRESE_STRUCT_SPARSE_FFN_PARAMS, &size, offsets, 8, &count));
  EXPECT_EQ(size, 16);
  ASSERT_EQ(count, 4);
  EXPECT_EQ(offsets[0], 0);
  EXPECT_EQ(offsets[1], 4);
  EXPECT_EQ(offsets[2], 8);
  EXPECT_EQ(offsets[3], 12);
}

}  // namespace
