// The training ops on the CPU backend (the reference the CUDA kernels are held to):
//  - every backward op against a naive double-precision reference written here from the
//    formulas (no code shared with the backend), and against central finite differences of
//    the FORWARD op through the C ABI (so a wrong formula in both the backend and the naive
//    reference would still be caught);
//  - transpose / axpby / mul against plain loops, aliasing included;
//  - Adam against a scalar double-precision AdamW over several steps.
//
// Tolerances:
//  - naive reference: the backend computes in f32 with double row sums; the reference in
//    double. |err| <= 1e-5 + 1e-4 |want| for rmsnorm (D up to 4096), gated activation, rope;
//    attention 2e-5 + 1e-4 |want| (f32 dots of length hd, softmax weights <= 1).
//  - finite differences: loss L = Σ y ⊙ R (R fixed random) evaluated with the f32 forward
//    op, central differences with step h (float-representable: the actual x± are used).
//    Truncation O(h²) plus f32 noise ~ sqrt(n) ulp / h: |err| <= 5e-4 + 1e-2 |want| with
//    h = 1e-2 (rope: exact linear map, 2e-4 + 1e-3 |want|).
//  - Adam: 2e-6 absolute on param (O(1) values, ~1 ulp per step), m and v 1e-6 relative
//    (plus 1e-8 / 1e-10 absolute for entries near zero) after 6 steps.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "test_util.h"

using namespace caprese_test;

namespace {

const float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

caprese_tensor T(std::vector<float>& v, std::initializer_list<int64_t> shape) {
  return MakeTensor(v.data(), CAPRESE_DTYPE_F32, shape);
}

::testing::AssertionResult NamesArgument(const std::string& name) {
  std::string msg = caprese_last_error();
  if (msg.rfind(name + ":", 0) == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "message \"" << msg << "\" does not start with \"" << name << ":\"";
}

// Central finite differences of loss(x) at the given indices of x (x is restored).
std::vector<double> NumericGrad(std::vector<float>& x, const std::vector<size_t>& idx, float h,
                                const std::function<double()>& loss) {
  std::vector<double> g;
  for (size_t i : idx) {
    const float x0 = x[i];
    const float xp = x0 + h, xm = x0 - h;
    x[i] = xp;
    const double lp = loss();
    x[i] = xm;
    const double lm = loss();
    x[i] = x0;
    g.push_back((lp - lm) / (static_cast<double>(xp) - static_cast<double>(xm)));
  }
  return g;
}

std::vector<size_t> SomeIndices(size_t n, size_t count, uint32_t seed) {
  std::vector<size_t> idx;
  std::mt19937 rng(seed);
  for (size_t i = 0; i < count && i < n; ++i) idx.push_back(count >= n ? i : rng() % n);
  return idx;
}

double Dot(const std::vector<float>& y, const std::vector<float>& r) {
  double s = 0;
  for (size_t i = 0; i < y.size(); ++i) s += static_cast<double>(y[i]) * r[i];
  return s;
}

std::vector<float> Pick(const std::vector<float>& v, const std::vector<size_t>& idx) {
  std::vector<float> out;
  for (size_t i : idx) out.push_back(v[i]);
  return out;
}

// =============================================================== rmsnorm_backward

std::vector<double> RefRmsNormBackward(const std::vector<float>& x, const std::vector<float>& w,
                                       const std::vector<float>& dy, int64_t m, int64_t d, double eps,
                                       double offset) {
  std::vector<double> dx(m * d);
  for (int64_t r = 0; r < m; ++r) {
    double ss = 0, dot = 0;
    for (int64_t i = 0; i < d; ++i) {
      ss += static_cast<double>(x[r * d + i]) * x[r * d + i];
      dot += static_cast<double>(dy[r * d + i]) * (offset + w[i]) * x[r * d + i];
    }
    const double rr = 1.0 / std::sqrt(ss / d + eps);
    for (int64_t i = 0; i < d; ++i)
      dx[r * d + i] = rr * (offset + w[i]) * dy[r * d + i] - x[r * d + i] * rr * rr * rr * dot / d;
  }
  return dx;
}

TEST(RmsNormBackward, MatchesNaiveReference) {
  Context ctx;
  for (caprese_dtype dt : {CAPRESE_DTYPE_F32, CAPRESE_DTYPE_F16, CAPRESE_DTYPE_BF16})
    for (int64_t d : {7, 64, 4096})
      for (float offset : {0.0f, 1.0f}) {
        SCOPED_TRACE(::testing::Message() << DtypeLabel(dt) << " D=" << d << " offset=" << offset);
        const int64_t m = 3;
        std::vector<float> x = RandomVector(m * d, 1 + d, -2.0f, 2.0f), dy = RandomVector(m * d, 2 + d);
        std::vector<float> w = RoundTo(dt, RandomVector(d, 3 + d, 0.5f, 1.5f));
        std::vector<uint8_t> wb = Pack(dt, w);
        std::vector<float> dx(m * d);
        caprese_tensor tx = T(x, {m, d}), tdy = T(dy, {m, d}), tdx = T(dx, {m, d});
        caprese_tensor tw = MakeTensor(wb.data(), dt, {d});
        CAPRESE_ASSERT_OK(caprese_rmsnorm_backward(ctx, &tx, &tw, &tdy, 1e-5f, offset, &tdx));
        EXPECT_TRUE(AllClose(dx, RefRmsNormBackward(x, w, dy, m, d, 1e-5, offset), 1e-5, 1e-4));
      }
}

TEST(RmsNormBackward, MatchesFiniteDifferencesOfForward) {
  Context ctx;
  for (float offset : {0.0f, 1.0f}) {
    const int64_t m = 2, d = 16;
    std::vector<float> x = RandomVector(m * d, 11, -2.0f, 2.0f), w = RandomVector(d, 12, -1.0f, 1.0f);
    std::vector<float> r = RandomVector(m * d, 13), y(m * d), dx(m * d);
    caprese_tensor tx = T(x, {m, d}), tw = T(w, {d}), ty = T(y, {m, d}), tr = T(r, {m, d}), tdx = T(dx, {m, d});
    CAPRESE_ASSERT_OK(caprese_rmsnorm_backward(ctx, &tx, &tw, &tr, 1e-5f, offset, &tdx));
    std::vector<size_t> idx = SomeIndices(m * d, m * d, 0);
    std::vector<double> num = NumericGrad(x, idx, 1e-2f, [&] {
      EXPECT_EQ(caprese_rmsnorm(ctx, &tx, &tw, 1e-5f, offset, &ty), CAPRESE_OK);
      return Dot(y, r);
    });
    EXPECT_TRUE(AllClose(Pick(dx, idx), num, 5e-4, 1e-2)) << "offset " << offset;
  }
}

TEST(RmsNormBackward, InPlaceOverDyAndX) {
  Context ctx;
  const int64_t m = 4, d = 100;
  std::vector<float> x = RandomVector(m * d, 21), w = RandomVector(d, 22), dy = RandomVector(m * d, 23);
  std::vector<double> want = RefRmsNormBackward(x, w, dy, m, d, 1e-6, 0.0);
  std::vector<float> dy2 = dy, x2 = x;
  caprese_tensor tx = T(x, {m, d}), tw = T(w, {d}), tdy2 = T(dy2, {m, d});
  CAPRESE_ASSERT_OK(caprese_rmsnorm_backward(ctx, &tx, &tw, &tdy2, 1e-6f, 0.0f, &tdy2));  // dx = dy
  EXPECT_TRUE(AllClose(dy2, want, 1e-5, 1e-4));
  caprese_tensor tx2 = T(x2, {m, d}), tdy = T(dy, {m, d});
  CAPRESE_ASSERT_OK(caprese_rmsnorm_backward(ctx, &tx2, &tw, &tdy, 1e-6f, 0.0f, &tx2));  // dx = x
  EXPECT_TRUE(AllClose(x2, want, 1e-5, 1e-4));
}

// ================================================================== rope_backward

std::vector<double> RefRopeBackward(const std::vector<float>& g, int64_t m, int64_t heads, int64_t hd, int64_t pos0,
                                    double theta, const std::vector<float>& inv_freq, bool interleaved) {
  std::vector<double> out(g.begin(), g.end());
  const int64_t half = hd / 2;
  for (int64_t r = 0; r < m; ++r)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < half; ++i) {
        const double f = inv_freq.empty() ? std::pow(theta, -2.0 * i / hd) : inv_freq[i];
        const double ang = static_cast<double>(pos0 + r) * f;
        const int64_t base = (r * heads + h) * hd;
        const int64_t a = interleaved ? base + 2 * i : base + i, b = interleaved ? base + 2 * i + 1 : base + i + half;
        // Transpose of [[c, -s], [s, c]].
        out[a] = g[a] * std::cos(ang) + g[b] * std::sin(ang);
        out[b] = -g[a] * std::sin(ang) + g[b] * std::cos(ang);
      }
  return out;
}

TEST(RopeBackward, MatchesNaiveReferenceAndFiniteDifferences) {
  Context ctx;
  for (int style : {CAPRESE_ROPE_INTERLEAVED, CAPRESE_ROPE_HALF_SPLIT})
    for (bool with_freq : {false, true})
      for (int32_t pos0 : {0, 1000}) {
        SCOPED_TRACE(::testing::Message() << "style=" << style << " inv_freq=" << with_freq << " pos0=" << pos0);
        const int64_t m = 3, heads = 2, hd = 16;
        std::vector<float> inv_freq;
        if (with_freq)
          for (int64_t i = 0; i < hd / 2; ++i) inv_freq.push_back(0.7f / static_cast<float>(i + 1));
        caprese_tensor tf = T(inv_freq, {hd / 2});
        const caprese_tensor* pf = with_freq ? &tf : nullptr;
        std::vector<float> g = RandomVector(m * heads * hd, 31 + pos0), dx = g;
        caprese_tensor tdx = T(dx, {m, heads, hd});
        CAPRESE_ASSERT_OK(caprese_rope_backward(ctx, &tdx, pos0, 10000.0f, pf, style));
        EXPECT_TRUE(AllClose(dx, RefRopeBackward(g, m, heads, hd, pos0, 10000.0, inv_freq,
                                                 style == CAPRESE_ROPE_INTERLEAVED), 1e-6, 1e-5));
        // Finite differences of L = Σ rope(x) ⊙ g.
        std::vector<float> x = RandomVector(m * heads * hd, 41), y(x.size());
        std::vector<size_t> idx = SomeIndices(x.size(), 24, 3);
        std::vector<double> num = NumericGrad(x, idx, 1e-2f, [&] {
          y = x;
          caprese_tensor ty = T(y, {m, heads, hd});
          EXPECT_EQ(caprese_rope(ctx, &ty, pos0, 10000.0f, pf, style), CAPRESE_OK);
          return Dot(y, g);
        });
        EXPECT_TRUE(AllClose(Pick(dx, idx), num, 2e-4, 1e-3));
        // Rotations are orthogonal: rope then rope_backward is the identity.
        y = x;
        caprese_tensor ty = T(y, {m, heads, hd});
        CAPRESE_ASSERT_OK(caprese_rope(ctx, &ty, pos0, 10000.0f, pf, style));
        CAPRESE_ASSERT_OK(caprese_rope_backward(ctx, &ty, pos0, 10000.0f, pf, style));
        EXPECT_TRUE(AllClose(y, std::vector<double>(x.begin(), x.end()), 1e-6, 1e-6));
      }
}

// ====================================================== gated_activation_backward

void RefGatedBackward(const std::vector<float>& gate, const std::vector<float>& up, const std::vector<float>& dout,
                      bool gelu, std::vector<double>* dgate, std::vector<double>* dup) {
  dgate->resize(gate.size());
  dup->resize(gate.size());
  for (size_t i = 0; i < gate.size(); ++i) {
    const double g = gate[i];
    double act, dact;
    if (gelu) {
      const double k = std::sqrt(2.0 / 3.14159265358979323846), c = 0.044715;
      const double t = std::tanh(k * (g + c * g * g * g));
      act = 0.5 * g * (1 + t);
      dact = 0.5 * (1 + t) + 0.5 * g * (1 - t * t) * k * (1 + 3 * c * g * g);
    } else {
      const double s = 1.0 / (1.0 + std::exp(-g));
      act = g * s;
      dact = s + g * s * (1 - s);
    }
    (*dgate)[i] = dout[i] * up[i] * dact;
    (*dup)[i] = dout[i] * act;
  }
}

TEST(GatedActivationBackward, MatchesNaiveReferenceAndFiniteDifferences) {
  Context ctx;
  for (int act : {CAPRESE_ACTIVATION_SILU, CAPRESE_ACTIVATION_GELU_TANH}) {
    SCOPED_TRACE(::testing::Message() << "act=" << act);
    const bool gelu = act == CAPRESE_ACTIVATION_GELU_TANH;
    const int64_t m = 3, h = 1000;
    std::vector<float> gate = RandomVector(m * h, 51, -6.0f, 6.0f), up = RandomVector(m * h, 52);
    std::vector<float> dout = RandomVector(m * h, 53), dgate(m * h), dup(m * h);
    caprese_tensor tg = T(gate, {m, h}), tu = T(up, {m, h}), td = T(dout, {m, h}), tdg = T(dgate, {m, h}),
                   tdu = T(dup, {m, h});
    CAPRESE_ASSERT_OK(caprese_gated_activation_backward(ctx, &tg, &tu, &td, act, &tdg, &tdu));
    std::vector<double> want_g, want_u;
    RefGatedBackward(gate, up, dout, gelu, &want_g, &want_u);
    EXPECT_TRUE(AllClose(dgate, want_g, 1e-6, 1e-5));
    EXPECT_TRUE(AllClose(dup, want_u, 1e-6, 1e-5));
    // Finite differences of L = Σ gated(gate, up) ⊙ dout, in gate and in up.
    std::vector<float> y(m * h);
    caprese_tensor ty = T(y, {m, h});
    auto loss = [&] {
      EXPECT_EQ(caprese_gated_activation(ctx, &tg, &tu, act, &ty), CAPRESE_OK);
      return Dot(y, dout);
    };
    std::vector<size_t> idx = SomeIndices(m * h, 40, 5);
    EXPECT_TRUE(AllClose(Pick(dgate, idx), NumericGrad(gate, idx, 1e-2f, loss), 5e-4, 1e-2));
    EXPECT_TRUE(AllClose(Pick(dup, idx), NumericGrad(up, idx, 1e-2f, loss), 5e-4, 1e-2));
  }
}

TEST(GatedActivationBackward, ExtremeGatesStayFinite) {
  Context ctx;
  for (int act : {CAPRESE_ACTIVATION_SILU, CAPRESE_ACTIVATION_GELU_TANH}) {
    std::vector<float> gate = {-1000.0f, -100.0f, -20.0f, 0.0f, 20.0f, 100.0f, 1000.0f, 3e38f};
    std::vector<float> up(gate.size(), 1.0f), dout(gate.size(), 1.0f), dg(gate.size()), du(gate.size());
    const int64_t n = static_cast<int64_t>(gate.size());
    caprese_tensor tg = T(gate, {n}), tu = T(up, {n}), td = T(dout, {n}), tdg = T(dg, {n}), tdu = T(du, {n});
    CAPRESE_ASSERT_OK(caprese_gated_activation_backward(ctx, &tg, &tu, &td, act, &tdg, &tdu));
    for (size_t i = 0; i < gate.size(); ++i) {
      EXPECT_TRUE(std::isfinite(dg[i])) << act << " g=" << gate[i];
      EXPECT_TRUE(std::isfinite(du[i])) << act << " g=" << gate[i];
    }
    EXPECT_NEAR(dg[0], 0.0f, 1e-6);   // act'(-inf) = 0
    EXPECT_NEAR(dg[6], 1.0f, 1e-6);   // act'(+inf) = 1
    EXPECT_NEAR(du[6], 1000.0f, 1e-3);
  }
}

TEST(GatedActivationBackward, OutputsMayAliasInputs) {
  Context ctx;
  const int64_t n = 77;
  std::vector<float> gate = RandomVector(n, 61, -4.0f, 4.0f), up = RandomVector(n, 62), dout = RandomVector(n, 63);
  std::vector<double> want_g, want_u;
  RefGatedBackward(gate, up, dout, false, &want_g, &want_u);
  std::vector<float> g2 = gate, u2 = up;
  caprese_tensor tg = T(g2, {n}), tu = T(u2, {n}), td = T(dout, {n});
  // dgate over gate, dup over up: the natural in-place form.
  CAPRESE_ASSERT_OK(caprese_gated_activation_backward(ctx, &tg, &tu, &td, CAPRESE_ACTIVATION_SILU, &tg, &tu));
  EXPECT_TRUE(AllClose(g2, want_g, 1e-6, 1e-5));
  EXPECT_TRUE(AllClose(u2, want_u, 1e-6, 1e-5));
  // Swapped: dgate over up, dup over gate.
  g2 = gate;
  u2 = up;
  CAPRESE_ASSERT_OK(caprese_gated_activation_backward(ctx, &tg, &tu, &td, CAPRESE_ACTIVATION_SILU, &tu, &tg));
  EXPECT_TRUE(AllClose(u2, want_g, 1e-6, 1e-5));
  EXPECT_TRUE(AllClose(g2, want_u, 1e-6, 1e-5));
}

// ============================================================= attention_backward

struct AttnCase {
  int64_t m, hq, hkv, hd, cache;
  int32_t pos0, window;
  float scale, softcap;
};

// Straight from the definition: P for every (row, head), then the chain rule, in double.
void RefAttentionBackward(const AttnCase& c, const std::vector<float>& q, const std::vector<float>& k,
                          const std::vector<float>& v, const std::vector<float>& dout, std::vector<double>* dq,
                          std::vector<double>* dk, std::vector<double>* dv) {
  const int64_t group = c.hq / c.hkv, hd = c.hd;
  dq->assign(q.size(), 0.0);
  dk->assign(k.size(), 0.0);
  dv->assign(v.size(), 0.0);
  for (int64_t r = 0; r < c.m; ++r)
    for (int64_t h = 0; h < c.hq; ++h) {
      const int64_t p = c.pos0 + r, kvh = h / group;
      const int64_t lo = c.window > 0 ? std::max<int64_t>(0, p - c.window + 1) : 0;
      const int64_t n = p - lo + 1;
      std::vector<double> s(n), cc(n), pr(n), dp(n);
      const float* qr = &q[(r * c.hq + h) * hd];
      const float* gr = &dout[(r * c.hq + h) * hd];
      double mx = -INFINITY;
      for (int64_t j = lo; j <= p; ++j) {
        double dot = 0, dv_dot = 0;
        for (int64_t i = 0; i < hd; ++i) {
          dot += static_cast<double>(qr[i]) * k[(j * c.hkv + kvh) * hd + i];
          dv_dot += static_cast<double>(gr[i]) * v[(j * c.hkv + kvh) * hd + i];
        }
        s[j - lo] = dot * c.scale;
        cc[j - lo] = c.softcap > 0 ? c.softcap * std::tanh(s[j - lo] / c.softcap) : s[j - lo];
        dp[j - lo] = dv_dot;
        mx = std::max(mx, cc[j - lo]);
      }
      double sum = 0;
      for (int64_t i = 0; i < n; ++i) sum += (pr[i] = std::exp(cc[i] - mx));
      double dsum = 0;
      for (int64_t i = 0; i < n; ++i) {
        pr[i] /= sum;
        dsum += pr[i] * dp[i];
      }
      for (int64_t j = lo; j <= p; ++j) {
        const int64_t i = j - lo;
        double ds = pr[i] * (dp[i] - dsum);
        if (c.softcap > 0) {
          const double t = std::tanh(s[i] / c.softcap);
          ds *= 1 - t * t;
        }
        for (int64_t d = 0; d < hd; ++d) {
          (*dq)[(r * c.hq + h) * hd + d] += c.scale * ds * k[(j * c.hkv + kvh) * hd + d];
          (*dk)[(j * c.hkv + kvh) * hd + d] += c.scale * ds * qr[d];
          (*dv)[(j * c.hkv + kvh) * hd + d] += pr[i] * gr[d];
        }
      }
    }
}

struct AttnRun {
  std::vector<float> q, k, v, dout, dq, dk, dv;
};

AttnRun MakeAttn(const AttnCase& c, uint32_t seed, float sentinel) {
  AttnRun r;
  r.q = RandomVector(c.m * c.hq * c.hd, seed);
  r.k = RandomVector(c.cache * c.hkv * c.hd, seed + 1);
  r.v = RandomVector(c.cache * c.hkv * c.hd, seed + 2);
  r.dout = RandomVector(c.m * c.hq * c.hd, seed + 3);
  r.dq.assign(r.q.size(), sentinel);
  r.dk.assign(r.k.size(), sentinel);
  r.dv.assign(r.v.size(), sentinel);
  return r;
}

caprese_status RunAttnBackward(caprese_context_t ctx, const AttnCase& c, AttnRun& r) {
  caprese_tensor tq = T(r.q, {c.m, c.hq, c.hd}), tk = T(r.k, {c.cache, c.hkv, c.hd}),
                 tv = T(r.v, {c.cache, c.hkv, c.hd}), td = T(r.dout, {c.m, c.hq, c.hd}),
                 tdq = T(r.dq, {c.m, c.hq, c.hd}), tdk = T(r.dk, {c.cache, c.hkv, c.hd}),
                 tdv = T(r.dv, {c.cache, c.hkv, c.hd});
  caprese_attention_params p{c.pos0, c.window, c.scale, c.softcap};
  return caprese_attention_backward(ctx, &tq, &tk, &tv, &p, &td, &tdq, &tdk, &tdv);
}

TEST(AttentionBackward, MatchesNaiveReference) {
  Context ctx;
  const float kSentinel = 1234.5f;
  uint32_t seed = 100;
  int runs = 0;
  for (int64_t hd : {8, 64, 128})
    for (int64_t ratio : {1, 4})
      for (int64_t m : {1, 5})
        for (int32_t pos0 : {0, 9})
          for (int32_t window : {0, 3})
            for (float softcap : {0.0f, 2.0f}) {
              const int64_t hkv = 2;
              AttnCase c{m, hkv * ratio, hkv, hd, pos0 + m + 4, pos0, window, 1.0f / std::sqrt(float(hd)), softcap};
              SCOPED_TRACE(::testing::Message() << "hd=" << hd << " Hq=" << c.hq << " M=" << m << " pos0=" << pos0
                                                << " window=" << window << " softcap=" << softcap);
              AttnRun r = MakeAttn(c, seed += 4, kSentinel);
              CAPRESE_ASSERT_OK(RunAttnBackward(ctx, c, r));
              std::vector<double> dq, dk, dv;
              RefAttentionBackward(c, r.q, r.k, r.v, r.dout, &dq, &dk, &dv);
              // Rows >= pos0 + M are untouched: they still hold the sentinel.
              const int64_t row = c.hkv * hd, filled = (pos0 + m) * row;
              for (int64_t i = filled; i < c.cache * row; ++i) {
                dk[i] = kSentinel;
                dv[i] = kSentinel;
              }
              ASSERT_TRUE(AllClose(r.dq, dq, 2e-5, 1e-4));
              ASSERT_TRUE(AllClose(r.dk, dk, 2e-5, 1e-4));
              ASSERT_TRUE(AllClose(r.dv, dv, 2e-5, 1e-4));
              ++runs;
            }
  EXPECT_EQ(runs, 96);
}

TEST(AttentionBackward, MatchesFiniteDifferencesOfForward) {
  Context ctx;
  for (float softcap : {0.0f, 1.5f})
    for (int32_t window : {0, 3}) {
      SCOPED_TRACE(::testing::Message() << "softcap=" << softcap << " window=" << window);
      AttnCase c{3, 4, 2, 8, 7, 2, window, 0.5f, softcap};
      AttnRun r = MakeAttn(c, 200, 0.0f);
      CAPRESE_ASSERT_OK(RunAttnBackward(ctx, c, r));
      std::vector<float> out(r.q.size());
      caprese_tensor tq = T(r.q, {c.m, c.hq, c.hd}), tk = T(r.k, {c.cache, c.hkv, c.hd}),
                     tv = T(r.v, {c.cache, c.hkv, c.hd}), to = T(out, {c.m, c.hq, c.hd});
      caprese_attention_params p{c.pos0, c.window, c.scale, c.softcap};
      auto loss = [&] {
        EXPECT_EQ(caprese_attention(ctx, &tq, &tk, &tv, &p, &to), CAPRESE_OK);
        return Dot(out, r.dout);
      };
      // Every q entry; every entry of the filled cache rows (pos0 + M = 5 of 7).
      std::vector<size_t> iq = SomeIndices(r.q.size(), r.q.size(), 0);
      std::vector<size_t> ikv = SomeIndices(5 * c.hkv * c.hd, 5 * c.hkv * c.hd, 0);
      EXPECT_TRUE(AllClose(Pick(r.dq, iq), NumericGrad(r.q, iq, 1e-2f, loss), 5e-4, 1e-2)) << "dq";
      EXPECT_TRUE(AllClose(Pick(r.dk, ikv), NumericGrad(r.k, ikv, 1e-2f, loss), 5e-4, 1e-2)) << "dk";
      EXPECT_TRUE(AllClose(Pick(r.dv, ikv), NumericGrad(r.v, ikv, 1e-2f, loss), 5e-4, 1e-2)) << "dv";
    }
}

// A window of 2 with pos0 = 6 leaves cache rows 0..4 unseen by the two query rows: zeros.
TEST(AttentionBackward, UnseenRowsAreZeroed) {
  Context ctx;
  AttnCase c{2, 2, 1, 16, 10, 6, 2, 0.25f, 0.0f};
  AttnRun r = MakeAttn(c, 300, 7.0f);
  CAPRESE_ASSERT_OK(RunAttnBackward(ctx, c, r));
  for (int64_t j = 0; j < 10; ++j)
    for (int64_t i = 0; i < 16; ++i) {
      const float want_unseen = j < 5 ? 0.0f : 7.0f;
      if (j < 5 || j >= 8) {
        EXPECT_EQ(r.dk[j * 16 + i], want_unseen) << j;
        EXPECT_EQ(r.dv[j * 16 + i], want_unseen) << j;
      } else {
        EXPECT_NE(r.dv[j * 16 + i], 0.0f) << j;
      }
    }
}

// The CPU backend splits the work differently for other thread counts; the values must not change.
TEST(AttentionBackward, ThreadCountInvariant) {
  Context one(CAPRESE_BACKEND_CPU, 1), three(CAPRESE_BACKEND_CPU, 3);
  AttnCase c{6, 8, 2, 64, 40, 30, 0, 0.125f, 0.0f};
  AttnRun a = MakeAttn(c, 400, 0.0f), b = a;
  CAPRESE_ASSERT_OK(RunAttnBackward(one, c, a));
  CAPRESE_ASSERT_OK(RunAttnBackward(three, c, b));
  EXPECT_EQ(a.dq, b.dq);
  EXPECT_EQ(a.dk, b.dk);
  EXPECT_EQ(a.dv, b.dv);
}

// ====================================================== transpose, axpby, mul

TEST(Transpose, MatchesLoops) {
  Context ctx;
  for (auto mn : {std::pair<int64_t, int64_t>{1, 1}, {1, 50}, {37, 70}, {64, 32}, {300, 129}}) {
    const int64_t m = mn.first, n = mn.second;
    std::vector<float> x = RandomVector(m * n, static_cast<uint32_t>(m * 1000 + n)), y(m * n, -1.0f);
    caprese_tensor tx = T(x, {m, n}), ty = T(y, {n, m});
    CAPRESE_ASSERT_OK(caprese_transpose(ctx, &tx, &ty));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) ASSERT_EQ(y[j * m + i], x[i * n + j]) << m << "x" << n;
  }
}

TEST(Axpby, MatchesLoopsAndAliases) {
  Context ctx;
  const int64_t n = 100003;  // more than one thread-pool chunk, not a multiple of anything
  std::vector<float> a = RandomVector(n, 71), b = RandomVector(n, 72), out(n);
  caprese_tensor ta = T(a, {n}), tb = T(b, {n}), to = T(out, {n});
  CAPRESE_ASSERT_OK(caprese_axpby(ctx, 0.5f, &ta, -2.0f, &tb, &to));
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(out[i], 0.5f * a[i] + -2.0f * b[i]);
  std::vector<float> a2 = a;
  caprese_tensor ta2 = T(a2, {n});
  CAPRESE_ASSERT_OK(caprese_axpby(ctx, 1.0f, &ta2, 3.0f, &tb, &ta2));  // out = a
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(a2[i], a[i] + 3.0f * b[i]);
  std::vector<float> b2 = b;
  caprese_tensor tb2 = T(b2, {n});
  CAPRESE_ASSERT_OK(caprese_axpby(ctx, 2.0f, &ta, 0.25f, &tb2, &tb2));  // out = b
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(b2[i], 2.0f * a[i] + 0.25f * b[i]);
}

TEST(Mul, MatchesLoopsAndAliases) {
  Context ctx;
  const int64_t m = 7, n = 33;
  std::vector<float> a = RandomVector(m * n, 81), b = RandomVector(m * n, 82), out(m * n);
  caprese_tensor ta = T(a, {m, n}), tb = T(b, {m, n}), to = T(out, {m, n});
  CAPRESE_ASSERT_OK(caprese_mul(ctx, &ta, &tb, &to));
  for (int64_t i = 0; i < m * n; ++i) ASSERT_EQ(out[i], a[i] * b[i]);
  std::vector<float> a2 = a;
  caprese_tensor ta2 = T(a2, {m, n});
  CAPRESE_ASSERT_OK(caprese_mul(ctx, &ta2, &ta2, &ta2));  // square in place
  for (int64_t i = 0; i < m * n; ++i) ASSERT_EQ(a2[i], a[i] * a[i]);
}

// ====================================================================== Adam

TEST(AdamStep, MatchesScalarAdamWOverSeveralSteps) {
  Context ctx;
  for (float wd : {0.0f, 0.1f}) {
    SCOPED_TRACE(::testing::Message() << "weight_decay=" << wd);
    const int64_t n = 1000;
    const float lr = 1e-2f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    std::vector<float> param = RandomVector(n, 91), m(n, 0.0f), v(n, 0.0f), grad(n);
    std::vector<double> rp(param.begin(), param.end()), rm(n, 0.0), rv(n, 0.0);
    caprese_tensor tp = T(param, {n}), tg = T(grad, {n}), tm = T(m, {n}), tv = T(v, {n});
    for (int step = 1; step <= 6; ++step) {
      const std::vector<float> fresh = RandomVector(n, 100 + step, -0.5f, 0.5f);
      std::copy(fresh.begin(), fresh.end(), grad.begin());  // in place: tg points at grad's storage
      CAPRESE_ASSERT_OK(caprese_adam_step(ctx, &tp, &tg, &tm, &tv, lr, b1, b2, eps, wd, step));
      for (int64_t i = 0; i < n; ++i) {
        const double g = grad[i];
        rp[i] *= 1.0 - static_cast<double>(lr) * wd;
        rm[i] = b1 * rm[i] + (1.0 - b1) * g;
        rv[i] = b2 * rv[i] + (1.0 - b2) * g * g;
        const double mhat = rm[i] / (1.0 - std::pow(double(b1), step));
        const double vhat = rv[i] / (1.0 - std::pow(double(b2), step));
        rp[i] -= lr * mhat / (std::sqrt(vhat) + eps);
      }
    }
    EXPECT_TRUE(AllClose(param, rp, 2e-6, 0.0));
    EXPECT_TRUE(AllClose(m, rm, 1e-8, 1e-6));
    EXPECT_TRUE(AllClose(v, rv, 1e-10, 1e-6));
  }
}

// =============================================================== error paths

// One valid call per op over zeroed host memory; the checks below break one argument at a time.
struct TrainingOp {
  std::string op;
  std::vector<std::string> names;
  std::vector<caprese_tensor> tensors;
  std::vector<bool> optional;
  std::function<caprese_status(caprese_context_t, std::vector<caprese_tensor*>&)> call;
};

class TrainingErrors : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(ctx_.ok()) << ctx_.message; }
  caprese_tensor Tn(caprese_dtype dt, std::initializer_list<int64_t> shape) {
    void* p = pool_.data() + (next_++) * 1024;  // 4 KiB apart: no overlaps
    return MakeTensor(p, dt, shape);
  }
  std::vector<TrainingOp> Ops() {
    next_ = 0;
    const caprese_dtype F32 = CAPRESE_DTYPE_F32, BF16 = CAPRESE_DTYPE_BF16;
    std::vector<TrainingOp> ops;
    ops.push_back({"rmsnorm_backward", {"x", "w", "dy", "dx"},
                   {Tn(F32, {2, 8}), Tn(BF16, {8}), Tn(F32, {2, 8}), Tn(F32, {2, 8})}, {false, false, false, false},
                   [](caprese_context_t c, std::vector<caprese_tensor*>& t) {
                     return caprese_rmsnorm_backward(c, t[0], t[1], t[2], 1e-5f, 0.0f, t[3]);
                   }});
    ops.push_back({"rope_backward", {"x", "inv_freq"}, {Tn(F32, {2, 2, 8}), Tn(F32, {4})}, {false, true},
                   [](caprese_context_t c, std::vector<caprese_tensor*>& t) {
                     return caprese_rope_backward(c, t[0], 0, 10000.0f, t[1], CAPRESE_ROPE_HALF_SPLIT);
                   }});
    ops.push_back({"gated_activation_backward", {"gate", "up", "dout", "dgate", "dup"},
                   {Tn(F32, {2, 8}), Tn(F32, {2, 8}), Tn(F32, {2, 8}), Tn(F32, {2, 8}), Tn(F32, {2, 8})},
                   {false, false, false, false, false},
                   [](caprese_context_t c, std::vector<caprese_tensor*>& t) {
                     return caprese_gated_activation_backward(c, t[0], t[1], t[2], CAPRESE_ACTIVATION_SILU, t[3], t[4]);
                   }});
    ops.push_back({"attention_backward", {"q", "k_cache", "v_cache", "dout", "dq", "dk", "dv"},
                   {Tn(F32, {2, 4, 8}), Tn(F32, {6, 2, 8}), Tn(F32, {6, 2, 8}), Tn(F32, {2, 4, 8}),
                    Tn(F32, {2, 4, 8}), Tn(F32, {6, 2, 8}), Tn(F32, {6, 2, 8})},
                   {false, false, false, false, false, false, false},
                   [](caprese_context_t c, std::vector<caprese_tensor*>& t) {
                     caprese_attention_params p{1, 0, 0.35f, 0.0f};
                     return caprese_attention_backward(c, t[0], t[1], t[2], &p, t[3], t[4], t[5], t[6]);
                   }});
    ops.push_back({"transpose", {"x", "y"}, {Tn(F32, {3, 5}), Tn(F32, {5, 3})}, {false, false},
                   [](caprese_context_t c, std::vector<caprese_tensor*>& t) { return caprese_transpose(c, t[0], t[1]); }});
    ops.push_back({"axpby", {"a", "b", "out"}, {Tn(F32, {3, 5}), Tn(F32, {3, 5}), Tn(F32, {3, 5})},
                   {false, false, false}, [](caprese_context_t c, std::vector<caprese_tensor*>& t) {
                     return caprese_axpby(c, 1.0f, t[0], 2.0f, t[1], t[2]);
                   }});
    ops.push_back({"mul", {"a", "b", "out"}, {Tn(F32, {3, 5}), Tn(F32, {3, 5}), Tn(F32, {3, 5})},
                   {false, false, false},
                   [](caprese_context_t c, std::vector<caprese_tensor*>& t) { return caprese_mul(c, t[0], t[1], t[2]); }});
    ops.push_back({"adam_step", {"param", "grad", "m", "v"},
                   {Tn(F32, {4, 4}), Tn(F32, {4, 4}), Tn(F32, {4, 4}), Tn(F32, {4, 4})}, {false, false, false, false},
                   [](caprese_context_t c, std::vector<caprese_tensor*>& t) {
                     return caprese_adam_step(c, t[0], t[1], t[2], t[3], 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1);
                   }});
    return ops;
  }
  caprese_status CallWith(TrainingOp& op, size_t i, const caprese_tensor* bad, bool null_it = false) {
    std::vector<caprese_tensor> copy = op.tensors;
    std::vector<caprese_tensor*> ptrs;
    for (caprese_tensor& t : copy) ptrs.push_back(&t);
    if (null_it) ptrs[i] = nullptr;
    else if (bad != nullptr) copy[i] = *bad;
    return op.call(ctx_, ptrs);
  }
  TrainingOp Op(const std::string& name) {
    for (TrainingOp& op : Ops())
      if (op.op == name) return op;
    ADD_FAILURE() << name;
    return {};
  }

  Context ctx_;
  std::vector<float> pool_ = std::vector<float>(64 * 1024, 0.0f);
  int next_ = 0;
};

TEST_F(TrainingErrors, ValidCallsSucceedAndNullContextFails) {
  for (TrainingOp& op : Ops()) {
    EXPECT_EQ(CallWith(op, 0, nullptr), CAPRESE_OK) << op.op << ": " << caprese_last_error();
    std::vector<caprese_tensor*> ptrs;
    for (caprese_tensor& t : op.tensors) ptrs.push_back(&t);
    EXPECT_EQ(op.call(nullptr, ptrs), CAPRESE_ERROR_INVALID_ARGUMENT) << op.op;
    EXPECT_TRUE(NamesArgument("ctx")) << op.op;
  }
}

TEST_F(TrainingErrors, GenericTensorFaults) {
  for (TrainingOp& op : Ops())
    for (size_t i = 0; i < op.names.size(); ++i) {
      SCOPED_TRACE(op.op + "/" + op.names[i]);
      const caprese_tensor good = op.tensors[i];
      if (op.optional[i]) {
        EXPECT_EQ(CallWith(op, i, nullptr, true), CAPRESE_OK);
      } else {
        EXPECT_EQ(CallWith(op, i, nullptr, true), CAPRESE_ERROR_INVALID_ARGUMENT);
        EXPECT_TRUE(NamesArgument(op.names[i]));
        EXPECT_TRUE(LastErrorMentions("NULL tensor"));
      }
      caprese_tensor t = good;
      t.data = nullptr;
      EXPECT_EQ(CallWith(op, i, &t), CAPRESE_ERROR_INVALID_ARGUMENT);
      EXPECT_TRUE(NamesArgument(op.names[i]));
      t = good;
      t.ndim = 5;
      EXPECT_EQ(CallWith(op, i, &t), CAPRESE_ERROR_SHAPE);
      EXPECT_TRUE(NamesArgument(op.names[i]));
      t = good;
      t.shape[t.ndim - 1] = 0;
      EXPECT_EQ(CallWith(op, i, &t), CAPRESE_ERROR_SHAPE);
      EXPECT_TRUE(NamesArgument(op.names[i]));
      t = good;
      t.dtype = 99;
      EXPECT_EQ(CallWith(op, i, &t), CAPRESE_ERROR_DTYPE);
      EXPECT_TRUE(NamesArgument(op.names[i]));
      t = good;
      t.dtype = (op.op == "rmsnorm_backward" && op.names[i] == "w") ? CAPRESE_DTYPE_I32 : CAPRESE_DTYPE_F16;
      EXPECT_EQ(CallWith(op, i, &t), CAPRESE_ERROR_DTYPE);
      EXPECT_TRUE(NamesArgument(op.names[i]));
      EXPECT_TRUE(LastErrorMentions("not supported"));
      t = good;
      t.data = static_cast<char*>(t.data) + 1;
      EXPECT_EQ(CallWith(op, i, &t), CAPRESE_ERROR_ALIGNMENT);
      EXPECT_TRUE(NamesArgument(op.names[i]));
    }
}

TEST_F(TrainingErrors, ShapeMismatches) {
  auto expect_shape = [&](const std::string& name, size_t i, std::initializer_list<int64_t> shape,
                          const std::string& mention) {
    TrainingOp op = Op(name);
    caprese_tensor t = MakeTensor(op.tensors[i].data, static_cast<caprese_dtype>(op.tensors[i].dtype), shape);
    SCOPED_TRACE(name + "/" + op.names[i]);
    EXPECT_EQ(CallWith(op, i, &t), CAPRESE_ERROR_SHAPE);
    EXPECT_TRUE(LastErrorMentions(name));
    EXPECT_TRUE(LastErrorMentions(mention));
  };
  expect_shape("rmsnorm_backward", 1, {7}, "w");
  expect_shape("rmsnorm_backward", 2, {2, 7}, "dy");
  expect_shape("rmsnorm_backward", 3, {16}, "dx");
  expect_shape("rope_backward", 0, {2, 2, 7}, "head_dim");
  expect_shape("rope_backward", 1, {3}, "inv_freq");
  expect_shape("gated_activation_backward", 1, {2, 7}, "up");
  expect_shape("gated_activation_backward", 2, {8, 2}, "dout");
  expect_shape("gated_activation_backward", 3, {16}, "dgate");
  expect_shape("gated_activation_backward", 4, {2, 9}, "dup");
  expect_shape("attention_backward", 0, {2, 3, 8}, "q");        // dout no longer matches
  expect_shape("attention_backward", 3, {2, 4, 4}, "dout");
  expect_shape("attention_backward", 4, {1, 4, 8}, "dq");
  expect_shape("attention_backward", 5, {5, 2, 8}, "dk");
  expect_shape("attention_backward", 6, {6, 1, 8}, "dv");
  expect_shape("attention_backward", 2, {6, 2, 4}, "v_cache");
  expect_shape("transpose", 1, {3, 5}, "y");
  expect_shape("transpose", 1, {5, 4}, "y");
  expect_shape("axpby", 1, {5, 3}, "b");
  expect_shape("axpby", 2, {15}, "out");
  expect_shape("mul", 1, {3, 4}, "b");
  expect_shape("adam_step", 1, {16}, "grad");
  expect_shape("adam_step", 2, {4, 3}, "m");
  expect_shape("adam_step", 3, {2, 8}, "v");
  // Attention's own limits: heads not a multiple, head_dim > 256, pos0 + M beyond the cache.
  TrainingOp att = Op("attention_backward");
  std::vector<caprese_tensor*> p;
  for (caprese_tensor& t : att.tensors) p.push_back(&t);
  caprese_attention_params ok{1, 0, 0.35f, 0.0f};
  for (int i : {1, 2, 5, 6}) att.tensors[i].shape[1] = 3;  // 4 q heads over 3 kv heads
  EXPECT_EQ(caprese_attention_backward(ctx_, p[0], p[1], p[2], &ok, p[3], p[4], p[5], p[6]), CAPRESE_ERROR_SHAPE);
  EXPECT_TRUE(LastErrorMentions("multiple"));
  caprese_attention_params far{5, 0, 0.35f, 0.0f};
  att = Op("attention_backward");
  p.clear();
  for (caprese_tensor& t : att.tensors) p.push_back(&t);
  EXPECT_EQ(caprese_attention_backward(ctx_, p[0], p[1], p[2], &far, p[3], p[4], p[5], p[6]),
            CAPRESE_ERROR_OUT_OF_RANGE);
  EXPECT_TRUE(LastErrorMentions("cache"));
  for (caprese_tensor& t : att.tensors) t.shape[2] = 264;
  EXPECT_EQ(caprese_attention_backward(ctx_, p[0], p[1], p[2], &ok, p[3], p[4], p[5], p[6]), CAPRESE_ERROR_SHAPE);
  EXPECT_TRUE(LastErrorMentions("head_dim"));
}

TEST_F(TrainingErrors, ScalarsAndEnums) {
  TrainingOp rms = Op("rmsnorm_backward"), rope = Op("rope_backward"), gated = Op("gated_activation_backward"),
             att = Op("attention_backward"), ax = Op("axpby"), adam = Op("adam_step");
  caprese_tensor* r = rms.tensors.data();
  for (float eps : {0.0f, -1e-5f, kNaN, kInf}) {
    EXPECT_EQ(caprese_rmsnorm_backward(ctx_, &r[0], &r[1], &r[2], eps, 0.0f, &r[3]), CAPRESE_ERROR_INVALID_ARGUMENT);
    EXPECT_TRUE(NamesArgument("eps"));
  }
  EXPECT_EQ(caprese_rmsnorm_backward(ctx_, &r[0], &r[1], &r[2], 1e-5f, kNaN, &r[3]), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(NamesArgument("weight_offset"));

  caprese_tensor* x = &rope.tensors[0];
  for (float theta : {0.0f, -1.0f, kNaN, kInf}) {
    EXPECT_EQ(caprese_rope_backward(ctx_, x, 0, theta, nullptr, CAPRESE_ROPE_INTERLEAVED),
              CAPRESE_ERROR_INVALID_ARGUMENT);
    EXPECT_TRUE(NamesArgument("theta"));
  }
  EXPECT_EQ(caprese_rope_backward(ctx_, x, 0, 0.0f, &rope.tensors[1], CAPRESE_ROPE_INTERLEAVED), CAPRESE_OK);
  EXPECT_EQ(caprese_rope_backward(ctx_, x, -1, 10000.0f, nullptr, CAPRESE_ROPE_INTERLEAVED),
            CAPRESE_ERROR_OUT_OF_RANGE);
  EXPECT_TRUE(NamesArgument("pos0"));
  for (int style : {2, -1}) {
    EXPECT_EQ(caprese_rope_backward(ctx_, x, 0, 10000.0f, nullptr, style), CAPRESE_ERROR_INVALID_ARGUMENT);
    EXPECT_TRUE(NamesArgument("style"));
  }

  caprese_tensor* g = gated.tensors.data();
  for (int act : {2, -1}) {
    EXPECT_EQ(caprese_gated_activation_backward(ctx_, &g[0], &g[1], &g[2], act, &g[3], &g[4]),
              CAPRESE_ERROR_INVALID_ARGUMENT);
    EXPECT_TRUE(NamesArgument("act"));
  }

  caprese_tensor* a = att.tensors.data();
  auto attend = [&](const caprese_attention_params* p) {
    return caprese_attention_backward(ctx_, &a[0], &a[1], &a[2], p, &a[3], &a[4], &a[5], &a[6]);
  };
  EXPECT_EQ(attend(nullptr), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(NamesArgument("params"));
  for (float scale : {0.0f, kNaN, kInf}) {
    caprese_attention_params p{1, 0, scale, 0.0f};
    EXPECT_EQ(attend(&p), CAPRESE_ERROR_INVALID_ARGUMENT);
    EXPECT_TRUE(NamesArgument("params.scale"));
  }
  for (float cap : {-1.0f, kNaN, kInf}) {
    caprese_attention_params p{1, 0, 0.35f, cap};
    EXPECT_EQ(attend(&p), CAPRESE_ERROR_INVALID_ARGUMENT);
    EXPECT_TRUE(NamesArgument("params.softcap"));
  }
  caprese_attention_params neg_window{1, -1, 0.35f, 0.0f}, neg_pos{-1, 0, 0.35f, 0.0f};
  EXPECT_EQ(attend(&neg_window), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(NamesArgument("params.sliding_window"));
  EXPECT_EQ(attend(&neg_pos), CAPRESE_ERROR_OUT_OF_RANGE);
  EXPECT_TRUE(NamesArgument("params.pos0"));

  caprese_tensor* t = ax.tensors.data();
  EXPECT_EQ(caprese_axpby(ctx_, kNaN, &t[0], 1.0f, &t[1], &t[2]), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(NamesArgument("alpha"));
  EXPECT_EQ(caprese_axpby(ctx_, 1.0f, &t[0], -kInf, &t[1], &t[2]), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(NamesArgument("beta"));

  caprese_tensor* w = adam.tensors.data();
  auto step = [&](float lr, float b1, float b2, float eps, float wd, int32_t s) {
    return caprese_adam_step(ctx_, &w[0], &w[1], &w[2], &w[3], lr, b1, b2, eps, wd, s);
  };
  EXPECT_EQ(step(1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1), CAPRESE_OK);
  EXPECT_EQ(step(0.0f, 0.0f, 0.0f, 1e-8f, 0.0f, 1), CAPRESE_OK);  // the edges that are allowed
  struct Bad {
    float lr, b1, b2, eps, wd;
    int32_t step;
    const char* name;
  };
  for (Bad b : std::vector<Bad>{{kNaN, 0.9f, 0.999f, 1e-8f, 0, 1, "lr"},
                                {-1e-3f, 0.9f, 0.999f, 1e-8f, 0, 1, "lr"},
                                {kInf, 0.9f, 0.999f, 1e-8f, 0, 1, "lr"},
                                {1e-3f, 1.0f, 0.999f, 1e-8f, 0, 1, "beta1"},
                                {1e-3f, -0.1f, 0.999f, 1e-8f, 0, 1, "beta1"},
                                {1e-3f, kNaN, 0.999f, 1e-8f, 0, 1, "beta1"},
                                {1e-3f, 0.9f, 1.0f, 1e-8f, 0, 1, "beta2"},
                                {1e-3f, 0.9f, kNaN, 1e-8f, 0, 1, "beta2"},
                                {1e-3f, 0.9f, 0.999f, 0.0f, 0, 1, "eps"},
                                {1e-3f, 0.9f, 0.999f, kNaN, 0, 1, "eps"},
                                {1e-3f, 0.9f, 0.999f, 1e-8f, -0.1f, 1, "weight_decay"},
                                {1e-3f, 0.9f, 0.999f, 1e-8f, kInf, 1, "weight_decay"},
                                {1e-3f, 0.9f, 0.999f, 1e-8f, 0, 0, "step"},
                                {1e-3f, 0.9f, 0.999f, 1e-8f, 0, -5, "step"}}) {
    EXPECT_EQ(step(b.lr, b.b1, b.b2, b.eps, b.wd, b.step), CAPRESE_ERROR_INVALID_ARGUMENT) << b.name;
    EXPECT_TRUE(NamesArgument(b.name));
  }
}

TEST_F(TrainingErrors, ForbiddenAliasing) {
  // An output that overlaps an input without being it, or outputs that overlap each other.
  auto expect_alias = [&](TrainingOp op, size_t out, const caprese_tensor& bad, const std::string& mention) {
    SCOPED_TRACE(op.op + "/" + op.names[out]);
    EXPECT_EQ(CallWith(op, out, &bad), CAPRESE_ERROR_INVALID_ARGUMENT);
    EXPECT_TRUE(NamesArgument(op.names[out]));
    EXPECT_TRUE(LastErrorMentions(mention));
  };
  auto shifted = [](caprese_tensor t, const caprese_tensor& onto, int64_t elems) {
    t.data = static_cast<float*>(onto.data) + elems;
    return t;
  };
  TrainingOp rms = Op("rmsnorm_backward");
  expect_alias(rms, 3, shifted(rms.tensors[3], rms.tensors[0], 1), "x");     // dx half over x
  expect_alias(rms, 3, shifted(rms.tensors[3], rms.tensors[2], 3), "dy");
  TrainingOp gated = Op("gated_activation_backward");
  expect_alias(gated, 4, gated.tensors[3], "dgate");                          // dup == dgate
  expect_alias(gated, 3, shifted(gated.tensors[3], gated.tensors[1], 4), "up");
  TrainingOp att = Op("attention_backward");
  expect_alias(att, 4, att.tensors[0], "q");                                  // dq == q
  expect_alias(att, 6, att.tensors[5], "dk");                                 // dv == dk
  expect_alias(att, 5, att.tensors[1], "k_cache");                            // dk == k (in place is not allowed)
  expect_alias(att, 4, shifted(att.tensors[4], att.tensors[3], 8), "dout");
  TrainingOp tr = Op("transpose");
  expect_alias(tr, 1, shifted(tr.tensors[1], tr.tensors[0], 0), "x");  // same memory, other shape
  TrainingOp ax = Op("axpby");
  expect_alias(ax, 2, shifted(ax.tensors[2], ax.tensors[0], 1), "a");
  TrainingOp mul = Op("mul");
  expect_alias(mul, 2, shifted(mul.tensors[2], mul.tensors[1], 5), "b");
  TrainingOp adam = Op("adam_step");
  expect_alias(adam, 2, adam.tensors[0], "param");                            // m == param
  expect_alias(adam, 3, adam.tensors[2], "m");                                // v == m
  expect_alias(adam, 1, shifted(adam.tensors[1], adam.tensors[0], 2), "param");
}

}  // namespace
