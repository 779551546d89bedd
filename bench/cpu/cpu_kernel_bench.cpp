// caprese_cpu_bench: the CPU backend's decode kernels against the streaming-read roofline of
// the same run, printing GB/s (llm.c style). Weights cycle through enough copies to exceed the
// last-level cache, so every call streams from memory as a decode step does.
//
//   caprese_cpu_bench [--threads N] [--dtype f32|f16|bf16] [--m M] [--reps R] [--json FILE]
//                     [--shapes NxK,...] [--ffn DxH,...]
//
// The matmul variant is chosen by CAPRESE_CPU_MATMUL (rows | tiles), read once per process:
// run the binary once per variant, alternating, to compare them (scripts/cpu-kernel-bench.sh).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "caprese.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kWorkingSetBytes = size_t{384} << 20;  // >> a 32 MiB L3

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "caprese_cpu_bench: %s: %s\n", what, caprese_last_error());
  std::exit(2);
}

void Check(caprese_status s, const char* what) {
  if (s != CAPRESE_OK) Die(what);
}

int ElementBytes(caprese_dtype d) { return d == CAPRESE_DTYPE_F32 ? 4 : 2; }

// Random weights in [-0.05, 0.05): each copy distinct, so page deduplication cannot share them.
void* RandomWeights(size_t count, caprese_dtype d, uint32_t seed) {
  void* p = std::aligned_alloc(64, (count * ElementBytes(d) + 63) / 64 * 64);
  if (p == nullptr) {
    std::fprintf(stderr, "caprese_cpu_bench: out of host memory\n");
    std::exit(4);
  }
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-0.05f, 0.05f);
  for (size_t i = 0; i < count; ++i) {
    float v = u(rng);
    if (d == CAPRESE_DTYPE_F32) {
      static_cast<float*>(p)[i] = v;
    } else {
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      // bf16: top half; f16: a plain conversion of a value well inside f16's normal range.
      uint16_t h;
      if (d == CAPRESE_DTYPE_BF16) {
        h = static_cast<uint16_t>(bits >> 16);
      } else {
        const uint32_t sign = (bits >> 16) & 0x8000u;
        const int exp = static_cast<int>((bits >> 23) & 0xff) - 127 + 15;
        h = exp <= 0 ? static_cast<uint16_t>(sign) : static_cast<uint16_t>(sign | (exp << 10) | ((bits >> 13) & 0x3ff));
      }
      static_cast<uint16_t*>(p)[i] = h;
    }
  }
  return p;
}

caprese_tensor Tensor(void* data, caprese_dtype d, std::initializer_list<int64_t> shape) {
  caprese_tensor t{};
  t.data = data;
  t.dtype = d;
  t.ndim = static_cast<int32_t>(shape.size());
  int i = 0;
  for (int64_t s : shape) t.shape[i++] = s;
  return t;
}

// Streaming read of `bytes` with `threads` threads: the bound a weight-streaming kernel can reach.
double ReadRooflineGBps(int threads) {
  const size_t words = kWorkingSetBytes / 8;
  std::vector<uint64_t> buf(words);
  for (size_t i = 0; i < words; ++i) buf[i] = i * 0x9E3779B97F4A7C15ull;
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    std::vector<std::thread> pool;
    std::vector<uint64_t> sums(threads);
    const auto t0 = Clock::now();
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        const size_t b = words * t / threads, e = words * (t + 1) / threads;
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (size_t i = b; i + 4 <= e; i += 4) {
          s0 ^= buf[i];
          s1 ^= buf[i + 1];
          s2 ^= buf[i + 2];
          s3 ^= buf[i + 3];
        }
        sums[t] = s0 ^ s1 ^ s2 ^ s3;
      });
    for (auto& th : pool) th.join();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, kWorkingSetBytes / s / 1e9);
    if (sums[0] == 42) std::fprintf(stderr, " ");  // keeps the loop
  }
  return best;
}

struct Result {
  std::string op, shape;
  double gbps, roofline_gbps;
};

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, m = 1, reps = 3;
  caprese_dtype dtype = CAPRESE_DTYPE_F16;
  std::string shapes = "768x768,2048x768,768x2048,32000x768,2048x2048,5632x2048,2048x5632,32000x2048";
  std::string ffns = "2048x5632";
  const char* json = nullptr;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "caprese_cpu_bench: %s needs a value\n", a.c_str());
        std::exit(1);
      }
      return argv[++i];
    };
    if (a == "--threads") threads = std::atoi(next());
    else if (a == "--m") m = std::atoi(next());
    else if (a == "--reps") reps = std::atoi(next());
    else if (a == "--shapes") shapes = next();
    else if (a == "--ffn") ffns = next();
    else if (a == "--json") json = next();
    else if (a == "--dtype") {
      std::string d = next();
      dtype = d == "f32" ? CAPRESE_DTYPE_F32 : d == "bf16" ? CAPRESE_DTYPE_BF16 : CAPRESE_DTYPE_F16;
      if (d != "f32" && d != "f16" && d != "bf16") {
        std::fprintf(stderr, "caprese_cpu_bench: --dtype must be f32, f16 or bf16\n");
        return 1;
      }
    } else {
      std::fprintf(stderr, "usage: caprese_cpu_bench [--threads N] [--dtype f32|f16|bf16] [--m M] [--reps R] [--shapes NxK,...] [--ffn DxH,...] [--json FILE]\n");
      return 1;
    }
  }
  if (threads < 1 || m < 1 || m > 16 || reps < 1) {
    std::fprintf(stderr, "caprese_cpu_bench: need threads >= 1, 1 <= m <= 16, reps >= 1\n");
    return 1;
  }
  const char* variant = std::getenv("CAPRESE_CPU_MATMUL");
  variant = variant != nullptr && *variant ? variant : "rows";
  caprese_context_options opt{};
  opt.backend = CAPRESE_BACKEND_CPU;
  opt.num_threads = threads;
  caprese_context_t ctx;
  Check(caprese_context_create(&opt, &ctx), "context");

  // The roofline is measured again next to every op (machines share memory bandwidth with
  // whatever else runs), and each op is reported against the one measured beside it.
  double roof = ReadRooflineGBps(threads);
  std::printf("# cpu, %d threads, %s weights, M = %d, matmul variant %s; read roofline %.1f GB/s at start\n", threads,
              dtype == CAPRESE_DTYPE_F32 ? "f32" : dtype == CAPRESE_DTYPE_F16 ? "f16" : "bf16", m, variant, roof);
  std::vector<Result> results;
  std::vector<float> x(static_cast<size_t>(m) * 32768, 0.01f), y(static_cast<size_t>(m) * 65536);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.001f * static_cast<float>(i % 997) - 0.5f;

  // Matmuls y[M,N] = x[M,K] W[N,K]^T.
  for (size_t at = 0; at < shapes.size();) {
    size_t end = shapes.find(',', at);
    if (end == std::string::npos) end = shapes.size();
    const std::string s = shapes.substr(at, end - at);
    at = end + 1;
    long long n = 0, k = 0;
    if (std::sscanf(s.c_str(), "%lldx%lld", &n, &k) != 2 || n < 1 || k < 1 || k > 32768 || n > 65536) {
      std::fprintf(stderr, "caprese_cpu_bench: bad shape '%s' (NxK, K <= 32768, N <= 65536)\n", s.c_str());
      return 1;
    }
    const size_t bytes = static_cast<size_t>(n) * k * ElementBytes(dtype);
    const int copies = static_cast<int>(std::max<size_t>(2, kWorkingSetBytes / bytes + 1));
    std::vector<void*> w(copies);
    for (int c = 0; c < copies; ++c) w[c] = RandomWeights(static_cast<size_t>(n) * k, dtype, 7 + c);
    caprese_tensor xt = Tensor(x.data(), CAPRESE_DTYPE_F32, {m, k}), yt = Tensor(y.data(), CAPRESE_DTYPE_F32, {m, n});
    double best = 0;
    roof = ReadRooflineGBps(threads);
    for (int r = 0; r < reps; ++r) {
      const auto t0 = Clock::now();
      for (int c = 0; c < copies; ++c) {
        caprese_tensor wt = Tensor(w[c], dtype, {n, k});
        Check(caprese_matmul(ctx, &xt, &wt, nullptr, &yt), "matmul");
      }
      const double sec = std::chrono::duration<double>(Clock::now() - t0).count();
      best = std::max(best, copies * static_cast<double>(bytes) / sec / 1e9);
    }
    std::printf("matmul     %6lldx%-6lld %7.1f GB/s  %5.1f%% of the read roofline beside it (%.1f GB/s)\n", n, k, best, 100 * best / roof, roof);
    std::fflush(stdout);
    results.push_back({"matmul", s, best, roof});
    for (void* p : w) std::free(p);
  }

  // Gated FFN (SiLU) of D x H, weights w_gate/w_up [H, D], w_down [D, H] (dense) / w_down_t [H, D]
  // (sparse): the three dense matmuls + activation against caprese_sparse_ffn over all H neurons
  // and over a random half of them gathered by index (GB/s of the bytes each reads).
  for (size_t at = 0; at < ffns.size();) {
    size_t end = ffns.find(',', at);
    if (end == std::string::npos) end = ffns.size();
    const std::string s = ffns.substr(at, end - at);
    at = end + 1;
    long long d = 0, h = 0;
    if (std::sscanf(s.c_str(), "%lldx%lld", &d, &h) != 2 || d < 1 || h < 1 || d > 32768 || h > 65536) {
      std::fprintf(stderr, "caprese_cpu_bench: bad ffn shape '%s' (DxH)\n", s.c_str());
      return 1;
    }
    const size_t mat = static_cast<size_t>(d) * h;
    const size_t bytes = 3 * mat * ElementBytes(dtype);
    const int copies = static_cast<int>(std::max<size_t>(2, kWorkingSetBytes / bytes + 1));
    std::vector<void*> wg(copies), wu(copies), wd(copies);
    for (int c = 0; c < copies; ++c) {
      wg[c] = RandomWeights(mat, dtype, 100 + c);
      wu[c] = RandomWeights(mat, dtype, 200 + c);
      wd[c] = RandomWeights(mat, dtype, 300 + c);
    }
    std::vector<float> g(static_cast<size_t>(m) * h), u(static_cast<size_t>(m) * h);
    caprese_tensor xt = Tensor(x.data(), CAPRESE_DTYPE_F32, {m, d}), yt = Tensor(y.data(), CAPRESE_DTYPE_F32, {m, d});
    caprese_tensor gt = Tensor(g.data(), CAPRESE_DTYPE_F32, {m, h}), ut = Tensor(u.data(), CAPRESE_DTYPE_F32, {m, h});
    caprese_sparse_ffn_params params{};
    params.activation = CAPRESE_ACTIVATION_SILU;
    params.selection = CAPRESE_SPARSE_ALL;
    // GRIFFIN-style gather: a random half of the neurons, ascending, read from the full matrices.
    std::vector<int32_t> half;
    {
      std::mt19937 rng(11);
      for (int32_t j = 0; j < h; ++j)
        if (rng() & 1) half.push_back(j);
    }
    caprese_tensor idx = Tensor(half.data(), CAPRESE_DTYPE_I32, {static_cast<int64_t>(half.size())});
    for (int which = 0; which < 3; ++which) {
      double best = 0;
      const double moved = which == 2 ? static_cast<double>(bytes) * half.size() / h : static_cast<double>(bytes);
      roof = ReadRooflineGBps(threads);
      for (int r = 0; r < reps; ++r) {
        const auto t0 = Clock::now();
        for (int c = 0; c < copies; ++c) {
          caprese_tensor tg = Tensor(wg[c], dtype, {h, d}), tu = Tensor(wu[c], dtype, {h, d});
          if (which == 0) {
            caprese_tensor td = Tensor(wd[c], dtype, {d, h});
            Check(caprese_matmul(ctx, &xt, &tg, nullptr, &gt), "matmul gate");
            Check(caprese_matmul(ctx, &xt, &tu, nullptr, &ut), "matmul up");
            Check(caprese_gated_activation(ctx, &gt, &ut, CAPRESE_ACTIVATION_SILU, &gt), "gated activation");
            Check(caprese_matmul(ctx, &gt, &td, nullptr, &yt), "matmul down");
          } else if (which == 1) {
            caprese_tensor td = Tensor(wd[c], dtype, {h, d});
            Check(caprese_sparse_ffn(ctx, &xt, &tg, &tu, &td, nullptr, nullptr, nullptr, &params, &yt), "sparse ffn");
          } else {
            caprese_tensor td = Tensor(wd[c], dtype, {h, d});
            caprese_sparse_ffn_params gather = params;
            gather.selection = CAPRESE_SPARSE_INDICES;
            Check(caprese_sparse_ffn(ctx, &xt, &tg, &tu, &td, &idx, nullptr, nullptr, &gather, &yt), "sparse ffn gather");
          }
        }
        const double sec = std::chrono::duration<double>(Clock::now() - t0).count();
        best = std::max(best, copies * moved / sec / 1e9);
      }
      const char* name = which == 0 ? "ffn-dense " : which == 1 ? "ffn-all   " : "ffn-gather";
      std::printf("%s %6lldx%-6lld %7.1f GB/s  %5.1f%% of the read roofline beside it (%.1f GB/s)\n", name, d, h, best,
                  100 * best / roof, roof);
      std::fflush(stdout);
      results.push_back({which == 0 ? "ffn_dense" : which == 1 ? "ffn_sparse_all" : "ffn_sparse_gather_50", s, best, roof});
    }
    for (int c = 0; c < copies; ++c) {
      std::free(wg[c]);
      std::free(wu[c]);
      std::free(wd[c]);
    }
  }
  if (json != nullptr) {
    const std::string tmp = std::string(json) + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr) {
      std::fprintf(stderr, "caprese_cpu_bench: cannot write %s\n", tmp.c_str());
      return 1;
    }
    std::fprintf(f, "{\"threads\": %d, \"m\": %d, \"dtype\": %d, \"variant\": \"%s\", \"results\": [", threads, m,
                 static_cast<int>(dtype), variant);
    for (size_t i = 0; i < results.size(); ++i)
      std::fprintf(f, "%s{\"op\": \"%s\", \"shape\": \"%s\", \"gbps\": %.3f}", i ? ", " : "", results[i].op.c_str(),
                   results[i].shape.c_str(), results[i].gbps);
    std::fprintf(f, "]}\n");
    std::fclose(f);
    std::rename(tmp.c_str(), json);
  }
  caprese_context_destroy(ctx);
  return 0;
}
