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

}  // namespace caprese_ref
