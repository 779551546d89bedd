#include "reference.h"

#include <algorithm>
#include <cmath>

namespace caprese_ref {

std::vector<double> Matmul(const std::vector<float>& x, const std::vector<float>& w,
                           const std::vector<float>* bias, int64_t m, int64_t n, int64_t k,
                           std::vector<double>* abs_sum) {
  std::vector<double> y(m * n);
  if (abs_sum) abs_sum->assign(m * n, 0.0);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t c = 0; c < n; ++c) {
      double acc = 0, mag = 0;
      for (int64_t i = 0; i < k; ++i) {
        double p = static_cast<double>(x[r * k + i]) * w[c * k + i];
        acc += p;
        mag += std::fabs(p);
      }
      if (bias) {
        acc += (*bias)[c];
        mag += std::fabs((*bias)[c]);
      }
      y[r * n + c] = acc;
      if (abs_sum) (*abs_sum)[r * n + c] = mag;
    }
  return y;
}

std::vector<double> RmsNorm(const std::vector<float>& x, const std::vector<float>& w, int64_t m,
                            int64_t d, double eps, double weight_offset) {
  std::vector<double> y(m * d);
  for (int64_t r = 0; r < m; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < d; ++i) ss += static_cast<double>(x[r * d + i]) * x[r * d + i];
    double inv = 1.0 / std::sqrt(ss / d + eps);
    for (int64_t i = 0; i < d; ++i) y[r * d + i] = x[r * d + i] * inv * (weight_offset + w[i]);
  }
  return y;
}

std::vector<double> Rope(const std::vector<float>& x, int64_t m, int64_t heads, int64_t hd,
                         int64_t pos0, double theta, const std::vector<float>& inv_freq,
                         bool interleaved) {
  std::vector<double> y(x.begin(), x.end());
  const int64_t half = hd / 2;
  for (int64_t r = 0; r < m; ++r)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < half; ++i) {
        double freq = inv_freq.empty() ? std::pow(theta, -2.0 * i / hd) : inv_freq[i];
        double angle = static_cast<double>(pos0 + r) * freq;
        double c = std::cos(angle), s = std::sin(angle);
        int64_t base = (r * heads + h) * hd;
        int64_t a = interleaved ? base + 2 * i : base + i;
        int64_t b = interleaved ? base + 2 * i + 1 : base + i + half;
        double x0 = x[a], x1 = x[b];
        y[a] = x0 * c - x1 * s;
        y[b] = x0 * s + x1 * c;
      }
  return y;
}

std::vector<double> Attention(const std::vector<float>& q, const std::vector<float>& k,
                              const std::vector<float>& v, int64_t m, int64_t hq, int64_t hkv,
                              int64_t hd, int64_t pos0, int64_t window, double scale,
                              double softcap) {
  std::vector<double> out(m * hq * hd, 0.0);
  const int64_t group = hq / hkv;
  for (int64_t r = 0; r < m; ++r)
    for (int64_t h = 0; h < hq; ++h) {
      const int64_t p = pos0 + r, kvh = h / group;
      const int64_t lo = window > 0 ? std::max<int64_t>(0, p - window + 1) : 0;
      std::vector<double> s(p - lo + 1);
      double mx = -INFINITY;
      for (int64_t j = lo; j <= p; ++j) {
        double dot = 0;
        for (int64_t i = 0; i < hd; ++i)
          dot += static_cast<double>(q[(r * hq + h) * hd + i]) * k[(j * hkv + kvh) * hd + i];
        dot *= scale;
        if (softcap > 0) dot = softcap * std::tanh(dot / softcap);
        s[j - lo] = dot;
        mx = std::max(mx, dot);
      }
      double sum = 0;
      for (double& e : s) sum += (e = std::exp(e - mx));
      for (int64_t j = lo; j <= p; ++j)
        for (int64_t i = 0; i < hd; ++i)
          out[(r * hq + h) * hd + i] += s[j - lo] / sum * v[(j * hkv + kvh) * hd + i];
    }
  return out;
}

std::vector<double> GatedActivation(const std::vector<float>& gate, const std::vector<float>& up,
                                    bool gelu) {
  std::vector<double> out(gate.size());
  const double kSqrt2OverPi = std::sqrt(2.0 / M_PI);
  for (size_t i = 0; i < gate.size(); ++i) {
    double g = gate[i], a;
    if (gelu)
      a = 0.5 * g * (1.0 + std::tanh(kSqrt2OverPi * (g + 0.044715 * g * g * g)));
    else
      a = g / (1.0 + std::exp(-g));
    out[i] = a * up[i];
  }
  return out;
}

std::vector<double> Add(const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<double> out(a.size());
  for (size_t i = 0; i < a.size(); ++i) out[i] = static_cast<double>(a[i]) + b[i];
  return out;
}

std::vector<double> Softmax(const std::vector<float>& x, int64_t m, int64_t n, double temperature) {
  std::vector<double> y(m * n);
  for (int64_t r = 0; r < m; ++r) {
    double mx = -INFINITY, sum = 0;
    for (int64_t i = 0; i < n; ++i) mx = std::max(mx, x[r * n + i] / temperature);
    for (int64_t i = 0; i < n; ++i) sum += (y[r * n + i] = std::exp(x[r * n + i] / temperature - mx));
    for (int64_t i = 0; i < n; ++i) y[r * n + i] /= sum;
  }
  return y;
}

std::vector<double> Softcap(const std::vector<float>& x, double cap) {
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = cap * std::tanh(x[i] / cap);
  return y;
}

std::vector<int32_t> Argmax(const std::vector<float>& x, int64_t m, int64_t n) {
  std::vector<int32_t> out(m);
  for (int64_t r = 0; r < m; ++r) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; ++i)
      if (x[r * n + i] > x[r * n + best]) best = i;
    out[r] = static_cast<int32_t>(best);
  }
  return out;
}

std::vector<double> Embedding(const std::vector<float>& table, const std::vector<int32_t>& ids,
                              int64_t d, double scale) {
  std::vector<double> out(ids.size() * d);
  for (size_t r = 0; r < ids.size(); ++r)
    for (int64_t i = 0; i < d; ++i) out[r * d + i] = table[ids[r] * d + i] * scale;
  return out;
}

namespace {

double ActD(double g, bool gelu) {
  if (gelu) return 0.5 * g * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (g + 0.044715 * g * g * g)));
  return g / (1.0 + std::exp(-g));
}

// Σ x·w and Σ |x·w| of one row of x against one weight row.
void DotD(const float* x, const float* w, int64_t d, double* dot, double* mag) {
  double s = 0, a = 0;
  for (int64_t i = 0; i < d; ++i) {
    const double p = static_cast<double>(x[i]) * w[i];
    s += p;
    a += std::fabs(p);
  }
  *dot = s;
  *mag = a;
}

}  // namespace

std::vector<double> SparseFfn(const std::vector<float>& x, const std::vector<float>& wg, const std::vector<float>& wu,
                              const std::vector<float>& wd_t, int64_t m, int64_t d, int64_t h,
                              const std::vector<int32_t>* indices, const std::vector<float>& extra_up,
                              const std::vector<float>& extra_down, bool gelu, double threshold,
                              std::vector<double>* err_scale) {
  std::vector<int64_t> neurons;
  if (indices) {
    neurons.assign(indices->begin(), indices->end());
  } else {
    for (int64_t j = 0; j < h; ++j) neurons.push_back(j);
  }
  const int64_t r_extra = static_cast<int64_t>(extra_up.size()) / d;
  std::vector<double> y(m * d, 0.0);
  if (err_scale) err_scale->assign(m * d, 0.0);
  for (int64_t r = 0; r < m; ++r) {
    const float* xr = &x[r * d];
    auto accumulate = [&](double hv, double scale, const float* down) {
      for (int64_t i = 0; i < d; ++i) {
        y[r * d + i] += hv * down[i];
        if (err_scale) (*err_scale)[r * d + i] += scale * std::fabs(down[i]);
      }
    };
    for (int64_t j : neurons) {
      double g, gmag, u, umag;
      DotD(xr, &wg[j * d], d, &g, &gmag);
      const double a = ActD(g, gelu);
      if (threshold >= 0 && !(std::fabs(a) >= threshold)) continue;
      DotD(xr, &wu[j * d], d, &u, &umag);
      const double hv = a * u;
      accumulate(hv, std::fabs(hv) + 1.2 * std::fabs(u) * gmag + std::fabs(a) * umag, &wd_t[j * d]);
    }
    for (int64_t e = 0; e < r_extra; ++e) {
      double u, umag;
      DotD(xr, &extra_up[e * d], d, &u, &umag);
      accumulate(u, std::fabs(u) + umag, &extra_down[e * d]);
    }
  }
  return y;
}

std::vector<double> GateActivations(const std::vector<float>& x, const std::vector<float>& wg, int64_t m, int64_t d,
                                    int64_t h, bool gelu) {
  std::vector<double> out(m * h);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t j = 0; j < h; ++j) {
      double g, mag;
      DotD(&x[r * d], &wg[j * d], d, &g, &mag);
      out[r * h + j] = ActD(g, gelu);
    }
  return out;
}

}  // namespace caprese_ref
