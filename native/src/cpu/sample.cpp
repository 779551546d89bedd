// caprese_sample on the CPU: the same algorithm as cuda/sample.cu (core/sampling.h states it),
// one row per task. Keys and integer weights are computed once per row; the thresholds come
// from the same 256-way radix bisection as on the GPU, and every mass is an exact integer sum,
// so the ids are those of the CUDA backend bit for bit.
//
// Contraction of a*b+c into an FMA would change the last bit of the weights, so it is off for
// this file (GCC contracts across statements whenever the target has FMA instructions).
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#elif defined(_MSC_VER)
#pragma fp_contract(off)
#endif

#include <cmath>
#include <limits>
#include <vector>

#include "core/sampling.h"
#include "cpu/cpu_backend.h"

namespace caprese {
namespace cpu {
namespace {

using sampling::MassReaches;

// Mask of the key bits above the digit at `shift` (0 for the top digit).
inline uint32_t HighMask(int shift) { return shift >= 24 ? 0u : (0xffffffffu << (shift + 8)); }

// The k-th largest key (1 <= k <= v): four rounds of 8 bits; `above` counts keys above the
// bracket, which always holds the answer.
uint32_t SelectByCount(const uint32_t* keys, int64_t v, int64_t k) {
  uint32_t prefix = 0;
  int64_t above = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    int64_t hist[256] = {};
    const uint32_t mask = HighMask(shift);
    for (int64_t i = 0; i < v; ++i)
      if ((keys[i] & mask) == prefix) ++hist[(keys[i] >> shift) & 255u];
    for (int b = 255; b >= 0; --b) {
      if (above + hist[b] >= k) {
        prefix |= static_cast<uint32_t>(b) << shift;
        break;
      }
      above += hist[b];
    }
  }
  return prefix;
}

// The largest key t >= lo with Σ_{key >= t} w reaching p/2^24 of `total` (the mass of keys >= lo).
uint32_t SelectByMass(const uint32_t* keys, const uint64_t* w, int64_t v, uint32_t lo, uint64_t total,
                      uint64_t p) {
  uint32_t prefix = 0;
  uint64_t above = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    uint64_t hist[256] = {};
    const uint32_t mask = HighMask(shift);
    for (int64_t i = 0; i < v; ++i)
      if (keys[i] >= lo && (keys[i] & mask) == prefix) hist[(keys[i] >> shift) & 255u] += w[i];
    for (int b = 255; b >= 0; --b) {
      if (MassReaches(above + hist[b], total, p)) {
        prefix |= static_cast<uint32_t>(b) << shift;
        break;
      }
      above += hist[b];
    }
  }
  return prefix;
}

uint64_t MassFrom(const uint32_t* keys, const uint64_t* w, int64_t v, uint32_t lo) {
  uint64_t s = 0;
  for (int64_t i = 0; i < v; ++i)
    if (keys[i] >= lo) s += w[i];
  return s;
}

int32_t SampleRow(const float* x, int64_t v, const caprese_sampling_params& p, uint64_t counter,
                  std::vector<uint32_t>& keys, std::vector<uint64_t>& w) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < v; ++i) {
    if (std::isnan(x[i])) return static_cast<int32_t>(i);
    if (x[i] > mx) mx = x[i];
  }
  keys.resize(static_cast<size_t>(v));
  w.resize(static_cast<size_t>(v));
  for (int64_t i = 0; i < v; ++i) {
    keys[i] = sampling::OrderKey(x[i]);
    w[i] = sampling::Weight(x[i], mx, p.temperature);
  }
  uint32_t t = 0;  // the smallest key: everything kept
  if (p.top_k > 0 && p.top_k < v) t = SelectByCount(keys.data(), v, p.top_k);
  if (p.top_p < 1.0f)
    t = SelectByMass(keys.data(), w.data(), v, t, MassFrom(keys.data(), w.data(), v, t),
                     sampling::TopPFraction(p.top_p));
  const uint64_t total = MassFrom(keys.data(), w.data(), v, t);  // > 0: the maximum weighs 2^40
  const uint64_t target = sampling::Target(sampling::Uniform24(p.seed, counter), total);
  uint64_t acc = 0;
  int64_t last = 0;
  for (int64_t i = 0; i < v; ++i) {
    if (keys[i] < t) continue;
    acc += w[i];
    last = i;
    if (acc > target) return static_cast<int32_t>(i);
  }
  return static_cast<int32_t>(last);  // unreachable: target < total
}

}  // namespace

Status Sample(ThreadPool& pool, const SampleArgs& a) {
  pool.ParallelFor(a.m, 1, [&](int64_t r0, int64_t r1) {
    std::vector<uint32_t> keys;
    std::vector<uint64_t> w;
    for (int64_t r = r0; r < r1; ++r)
      a.out[r] = SampleRow(a.x + r * a.v, a.v, a.params, a.params.offset + static_cast<uint64_t>(r), keys, w);
  });
  return Status::Ok();
}

}  // namespace cpu
}  // namespace caprese
