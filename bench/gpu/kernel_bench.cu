// caprese_kernel_bench: checks and times Caprese's CUDA ops through the public C API and puts
// each next to the memory roofline measured in the same run.
//
// Every case is first CHECKED: the op runs once on the device and once on the CPU reference
// backend (CAPRESE_BACKEND_CPU, the same C API) over the same bytes, and the outputs must agree
// within a normwise tolerance, max_i |dev_i - cpu_i| <= rtol * max_i |cpu_i| (rtol 1e-3
// for Caprese's kernels: both sides accumulate in f32, only the summation order differs, while
// a dropped row, a wrong tail or a stale shared-memory tile is off by 1e-2 or far more; 4e-3
// for the cuBLAS peer, which rounds x to the weight dtype first). A case that fails its check
// is recorded and not timed, and the harness exits 1.
//
// Then it is TIMED: CUDA events around the op on the context's stream, median of the repeats
// after warm-up. Before each repeat L2 is flushed: a write over one L2's worth of a buffer,
// then a read sweep over the whole buffer (twice the L2 size), so the weights come from HBM as
// in a real decode step, and the flush's own dirty lines are written back before the timed op
// starts rather than during it. The roofline is a 16-byte streaming-read kernel timed the same
// way; a case's GB/s counts the bytes it must read (weights + activations; KV cache for
// attention; for the sparse FFN only the rows it reads) and its roofline fraction is against
// that. Sparse FFN cases carry their speed-up over the dense FFN timed in the same run.
//
// The JSON file is rewritten (temporary file + rename) after every case, so a run cut short
// still leaves every finished case; "complete" turns true only at the end.
//
// Built twice: by nvcc against CUDA (caprese_kernel_bench, backend CUDA, cuBLAS peer) and by
// the host compiler against the CUDA simulator (caprese_kernel_bench_sim, CAPRESE_CUDA_SIM,
// backend CUDA_SIM, no cuBLAS), where the figures mean nothing but the checks and the JSON
// are exercised exactly as on a GPU.
//
// The sparse_variants suite times every kernel variant of the sparse FFN
// (CAPRESE_SPARSE_FFN_VARIANT, native/src/cuda/sparse_ffn.cu) side by side, each checked
// against the CPU first: GRIFFIN (indices) and CATS (threshold) cases per variant, impl
// "indices/<variant>" and "threshold/<variant>", next to the dense FFN of the same M.
//
//   caprese_kernel_bench [--sweep tiny|quick|full] [--reps N] [--json path] [--device D]
//                        [--suite all|ops|sparse_ffn|sparse_variants|verify] [--budget-s S]
//                        [--flush-kib K]
#ifndef CAPRESE_CUDA_SIM
#include <cublas_v2.h>
#endif
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <stdlib.h>  // setenv, unsetenv

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "caprese.h"
#include "cuda/launch.cuh"  // CAPRESE_LAUNCH: one launch spelling for nvcc and the simulator

namespace {

#ifdef CAPRESE_CUDA_SIM
constexpr caprese_backend kBackend = CAPRESE_BACKEND_CUDA_SIM;
constexpr const char* kBackendName = "cuda-sim";
#else
constexpr caprese_backend kBackend = CAPRESE_BACKEND_CUDA;
constexpr const char* kBackendName = "cuda";
#endif

#define CUDA_OR_DIE(call)                                                                          \
  do {                                                                                             \
    cudaError_t _e = (call);                                                                       \
    if (_e != cudaSuccess) {                                                                       \
      std::fprintf(stderr, "caprese_kernel_bench: %s failed: %s\n", #call, cudaGetErrorString(_e)); \
      std::exit(2);                                                                                \
    }                                                                                              \
  } while (0)

#define CAPRESE_OR_DIE(call)                                                                     \
  do {                                                                                           \
    caprese_status _s = (call);                                                                  \
    if (_s != CAPRESE_OK) {                                                                      \
      std::fprintf(stderr, "caprese_kernel_bench: %s failed: %s: %s\n", #call,                  \
                   caprese_status_string(_s), caprese_last_error());                            \
      std::exit(2);                                                                              \
    }                                                                                            \
  } while (0)

// ------------------------------------------------------------------ helper kernels

// First half of the flush: dirty one L2's worth of lines, evicting whatever was cached.
__global__ void FlushWrite(uint4* buf, size_t n, unsigned salt) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    buf[i] = make_uint4(salt, static_cast<unsigned>(i), salt, 0u);
}

// Reads every byte once with 16-byte loads: the second half of the flush (over twice the L2
// size, so the lines just written are written back now and L2 ends up holding clean flush
// lines) and, over 1 GiB, the roofline. The XOR keeps the loads alive; the store is never
// taken in practice but keeps the compiler from dropping them.
__global__ void StreamRead(const uint4* __restrict__ buf, size_t n, unsigned* sink) {
  unsigned acc = 0;
#pragma unroll 4
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const uint4 v = __ldg(buf + i);
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x9e3779b9u) *sink = acc;
}

// Uniform values in [-scale, scale) from a hash of the index: inputs are made on the device
// (the 70B-shaped weights are 235M elements each) and copied to the host for the reference.
__global__ void FillRandom(float* p, size_t n, unsigned seed, float scale) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    unsigned h = static_cast<unsigned>(i) * 2654435761u ^ seed;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    p[i] = (static_cast<float>(h & 0xffffff) / 8388608.0f - 1.0f) * scale;
  }
}

// The conversions are spelled as functions because the simulator's __half has no operators.
__device__ __forceinline__ void Store(float v, __half* out) { *out = __float2half_rn(v); }
__device__ __forceinline__ void Store(float v, __nv_bfloat16* out) { *out = __float2bfloat16_rn(v); }

template <typename T>
__global__ void Convert(const float* in, T* out, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    Store(in[i], out + i);
}

// Grid for a grid-stride loop over n elements: no more blocks than there is work (the
// simulator pays for every thread, idle or not).
unsigned Blocks(size_t n, unsigned threads, unsigned cap) {
  return static_cast<unsigned>(std::max<size_t>(1, std::min<size_t>(cap, (n + threads - 1) / threads)));
}

size_t DtypeSize(caprese_dtype dt) { return dt == CAPRESE_DTYPE_F16 || dt == CAPRESE_DTYPE_BF16 ? 2 : 4; }
const char* Name(caprese_dtype dt) {
  return dt == CAPRESE_DTYPE_F16 ? "f16" : dt == CAPRESE_DTYPE_BF16 ? "bf16" : dt == CAPRESE_DTYPE_I32 ? "i32" : "f32";
}

// ------------------------------------------------------------------ sweeps

// What one run covers. tiny: the simulator (every op and variant once at small, tail-producing
// shapes); quick: the GPU validation call (Llama-3.1-8B, Qwen2.5-14B and Llama-3.1-70B shapes,
// fewer batch sizes and sparsities, about a minute); full: every batch size 1-16 and sparsity
// 0-90% in steps of 10.
struct Sweep {
  std::string name;
  std::vector<caprese_dtype> matmul_dtypes;
  struct MatmulShape {
    int64_t n, k;
  };
  std::vector<MatmulShape> matmul_shapes;
  std::vector<int64_t> ms;  // batch rows (tokens) per step
  int64_t rmsnorm_d;
  struct AttnShape {
    int64_t hq, hkv, hd;
  } attn;
  std::vector<int64_t> attn_seq;
  struct FfnShape {
    int64_t d, h;
    const char* name;
  };
  std::vector<FfnShape> ffn_shapes;
  int64_t ffn_extra;  // adapter rank merged as extra neurons
  std::vector<int> sparsities;
  size_t roofline_bytes;
};

Sweep MakeSweep(const std::string& name) {
  Sweep s;
  s.name = name;
  s.matmul_dtypes = {CAPRESE_DTYPE_F16, CAPRESE_DTYPE_BF16, CAPRESE_DTYPE_F32};
  if (name == "tiny") {
    s.matmul_shapes = {{96, 136}, {37, 100}};  // vector path; odd K (element path, tails)
    s.ms = {1, 5};
    s.rmsnorm_d = 200;
    s.attn = {8, 2, 64};
    s.attn_seq = {37};
    s.ffn_shapes = {{64, 176, "tiny"}};
    s.ffn_extra = 8;
    s.sparsities = {0, 50};
    s.roofline_bytes = size_t{1} << 20;
    return s;
  }
  s.matmul_shapes = {{4096, 4096}, {14336, 4096}, {4096, 14336}};  // Llama-3.1-8B q/o, gate/up, down
  s.rmsnorm_d = 4096;
  s.attn = {32, 8, 128};  // Llama-3.1-8B
  s.attn_seq = {1024, 4096, 8192};
  s.ffn_shapes = {{4096, 14336, "8B"}, {5120, 13824, "14B"}, {8192, 28672, "70B"}};
  s.ffn_extra = 256;
  s.roofline_bytes = size_t{1} << 30;
  if (name == "quick") {
    s.ms = {1, 4, 16};
    s.sparsities = {0, 50, 80, 90};
  } else {
    s.ms = {1, 2, 4, 8, 16};
    s.sparsities = {0, 10, 20, 30, 40, 50, 60, 70, 80, 90};
  }
  return s;
}

// ------------------------------------------------------------------ the bench

// One array on the device and its host copy, which the CPU reference context computes on.
struct Buf {
  void* dev = nullptr;
  std::vector<unsigned char> host;
  caprese_dtype dtype = CAPRESE_DTYPE_F32;
  size_t count = 0;
  float* host_f32() { return reinterpret_cast<float*>(host.data()); }
};

enum Side { kDevice, kCpu };

struct Check {
  bool ran = false, pass = true;
  double max_abs_err = 0, ref_max_abs = 0, rtol = 0;
};

struct Result {
  std::string name, impl, dtype, shape;
  double us = 0, bytes = 0, gbps = 0, fraction = 0;
  double speedup = 0;  // sparse FFN: dense FFN time / this time (0: not applicable)
  Check check;
};

class Bench {
 public:
  Bench(int device, int reps, int warmup, size_t flush_kib, double budget_s, std::string json, std::string sweep)
      : reps_(reps), warmup_(warmup), budget_s_(budget_s), json_(std::move(json)), sweep_(std::move(sweep)) {
    start_ = std::chrono::steady_clock::now();
    CUDA_OR_DIE(cudaSetDevice(device));
    CUDA_OR_DIE(cudaGetDeviceProperties(&prop_, device));
    int l2 = 0;
    CUDA_OR_DIE(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device));
    l2_bytes_ = static_cast<size_t>(l2);
    const size_t flush_bytes = flush_kib > 0 ? flush_kib * 1024 : 2 * l2_bytes_;
    flush_n_ = flush_bytes / sizeof(uint4);
    CUDA_OR_DIE(cudaMalloc(&flush_, flush_n_ * sizeof(uint4)));
    CUDA_OR_DIE(cudaMalloc(&sink_, sizeof(unsigned)));
    CUDA_OR_DIE(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    CUDA_OR_DIE(cudaEventCreate(&ev_start_));
    CUDA_OR_DIE(cudaEventCreate(&ev_stop_));
    caprese_context_options opt{};
    opt.backend = kBackend;
    opt.device = device;
    opt.stream = stream_;  // our events and flushes share the ops' stream
    CAPRESE_OR_DIE(caprese_context_create(&opt, &dev_ctx_));
    caprese_context_options cpu{};
    cpu.backend = CAPRESE_BACKEND_CPU;  // the reference; num_threads 0: every hardware thread
    CAPRESE_OR_DIE(caprese_context_create(&cpu, &cpu_ctx_));
#ifndef CAPRESE_CUDA_SIM
    if (cublasCreate(&cublas_) != CUBLAS_STATUS_SUCCESS || cublasSetStream(cublas_, stream_) != CUBLAS_STATUS_SUCCESS) {
      std::fprintf(stderr, "caprese_kernel_bench: cuBLAS initialisation failed\n");
      std::exit(2);
    }
#endif
  }
  ~Bench() {
    caprese_context_destroy(dev_ctx_);
    caprese_context_destroy(cpu_ctx_);
#ifndef CAPRESE_CUDA_SIM
    cublasDestroy(cublas_);
#endif
    for (void* p : allocations_) cudaFree(p);
    cudaFree(flush_);
    cudaFree(sink_);
    cudaEventDestroy(ev_start_);
    cudaEventDestroy(ev_stop_);
    cudaStreamDestroy(stream_);
  }

  const cudaDeviceProp& prop() const { return prop_; }
  caprese_context_t ctx(Side s) const { return s == kDevice ? dev_ctx_ : cpu_ctx_; }
#ifndef CAPRESE_CUDA_SIM
  cublasHandle_t cublas() const { return cublas_; }
#endif
  int failed_checks() const { return failed_checks_; }

  // Whether the time budget is spent: the rest of the sweep is then skipped (and recorded).
  bool OutOfTime() {
    if (budget_s_ > 0 && Elapsed() > budget_s_) truncated_ = true;
    return truncated_;
  }

  // Uninitialised device memory with a zeroed host copy (none if !host_copy), e.g. for outputs.
  Buf Alloc(caprese_dtype dt, size_t count, bool host_copy = true) {
    Buf b;
    b.dtype = dt;
    b.count = count;
    CUDA_OR_DIE(cudaMalloc(&b.dev, std::max<size_t>(1, count * DtypeSize(dt))));
    allocations_.push_back(b.dev);
    if (host_copy) b.host.assign(count * DtypeSize(dt), 0);
    return b;
  }
  // Random values in [-scale, scale) made on the device in dtype dt, copied to the host.
  Buf Random(caprese_dtype dt, size_t count, unsigned seed, float scale) {
    Buf b = Alloc(dt, count);
    float* f = static_cast<float*>(b.dev);
    void* tmp = nullptr;
    if (dt != CAPRESE_DTYPE_F32) CUDA_OR_DIE(cudaMalloc(&tmp, count * sizeof(float)));
    float* fill = dt == CAPRESE_DTYPE_F32 ? f : static_cast<float*>(tmp);
    CAPRESE_LAUNCH(FillRandom, Blocks(count, 256, 1024), 256, 0, stream_, fill, count, seed, scale);
    if (dt == CAPRESE_DTYPE_F16)
      CAPRESE_LAUNCH(Convert<__half>, Blocks(count, 256, 1024), 256, 0, stream_, fill, static_cast<__half*>(b.dev), count);
    if (dt == CAPRESE_DTYPE_BF16)
      CAPRESE_LAUNCH(Convert<__nv_bfloat16>, Blocks(count, 256, 1024), 256, 0, stream_, fill,
                     static_cast<__nv_bfloat16*>(b.dev), count);
    CUDA_OR_DIE(cudaGetLastError());
    CUDA_OR_DIE(cudaMemcpyAsync(b.host.data(), b.dev, b.host.size(), cudaMemcpyDeviceToHost, stream_));
    CUDA_OR_DIE(cudaStreamSynchronize(stream_));
    if (tmp != nullptr) CUDA_OR_DIE(cudaFree(tmp));
    return b;
  }
  void Upload(Buf& b) {
    CUDA_OR_DIE(cudaMemcpyAsync(b.dev, b.host.data(), b.host.size(), cudaMemcpyHostToDevice, stream_));
    CUDA_OR_DIE(cudaStreamSynchronize(stream_));
  }
  void Release() {
    CUDA_OR_DIE(cudaStreamSynchronize(stream_));
    for (void* p : allocations_) cudaFree(p);
    allocations_.clear();
  }

  // Runs `op` on both sides and compares `outputs` (f32) under the normwise tolerance rtol.
  Check Verify(const std::function<void(Side)>& op, const std::vector<Buf*>& outputs, double rtol) {
    op(kDevice);
    CAPRESE_OR_DIE(caprese_context_synchronize(dev_ctx_));
    std::vector<std::vector<float>> got;
    for (Buf* o : outputs) {
      got.emplace_back(o->count);
      CUDA_OR_DIE(cudaMemcpy(got.back().data(), o->dev, o->count * sizeof(float), cudaMemcpyDeviceToHost));
    }
    op(kCpu);
    Check c;
    c.ran = true;
    c.rtol = rtol;
    for (size_t k = 0; k < outputs.size(); ++k) {
      const float* want = outputs[k]->host_f32();
      for (size_t i = 0; i < outputs[k]->count; ++i) {
        const double d = std::fabs(static_cast<double>(got[k][i]) - want[i]);
        c.max_abs_err = std::isnan(d) ? INFINITY : std::max(c.max_abs_err, d);
        c.ref_max_abs = std::max(c.ref_max_abs, std::fabs(static_cast<double>(want[i])));
      }
    }
    // Normwise, with no absolute slack: an all-zero reference must be matched exactly.
    c.pass = c.max_abs_err <= rtol * c.ref_max_abs;
    return c;
  }

  // Median time in microseconds of `op` on the device, each repeat after an L2 flush.
  double TimeUs(const std::function<void()>& op) {
    for (int i = 0; i < warmup_; ++i) op();  // lazy module loading, cuBLAS heuristics
    CUDA_OR_DIE(cudaStreamSynchronize(stream_));
    std::vector<float> ms(reps_);
    const size_t write_n = std::min(flush_n_, l2_bytes_ / sizeof(uint4));
    for (int r = 0; r < reps_; ++r) {
      CAPRESE_LAUNCH(FlushWrite, Blocks(write_n, 512, 4 * prop_.multiProcessorCount), 512, 0, stream_, flush_,
                     write_n, static_cast<unsigned>(r));
      CAPRESE_LAUNCH(StreamRead, Blocks(flush_n_, 512, 4 * prop_.multiProcessorCount), 512, 0, stream_,
                     static_cast<const uint4*>(flush_), flush_n_, sink_);
      CUDA_OR_DIE(cudaEventRecord(ev_start_, stream_));
      op();
      CUDA_OR_DIE(cudaEventRecord(ev_stop_, stream_));
      CUDA_OR_DIE(cudaEventSynchronize(ev_stop_));
      CUDA_OR_DIE(cudaEventElapsedTime(&ms[r], ev_start_, ev_stop_));
    }
    CUDA_OR_DIE(cudaGetLastError());
    std::sort(ms.begin(), ms.end());
    const double med = reps_ % 2 ? ms[reps_ / 2] : 0.5 * (ms[reps_ / 2 - 1] + ms[reps_ / 2]);
    return med * 1000.0;
  }

  void MeasureRoofline(size_t bytes) {
    const size_t n = bytes / sizeof(uint4);
    uint4* buf = static_cast<uint4*>(Alloc(CAPRESE_DTYPE_I32, bytes / 4, false).dev);
    CUDA_OR_DIE(cudaMemsetAsync(buf, 1, bytes, stream_));
    const double us = TimeUs([&] {
      CAPRESE_LAUNCH(StreamRead, Blocks(n, 512, 8 * prop_.multiProcessorCount), 512, 0, stream_,
                     static_cast<const uint4*>(buf), n, sink_);
    });
    roofline_gbps_ = bytes / us / 1e3;
    char shape[32];
    std::snprintf(shape, sizeof shape, "%.0f MiB", bytes / 1048576.0);
    Add("stream_read", "roofline", "u8", shape, Check{}, us, static_cast<double>(bytes));
    Release();
  }

  // Checks, then (if the check passed) times one case and records it. Returns its time in
  // microseconds, 0 when it failed its check.
  double Case(const std::string& name, const std::string& impl, const std::string& dtype, const std::string& shape,
              const std::function<void(Side)>& op, const std::vector<Buf*>& outputs, double rtol, double bytes,
              double dense_us = 0) {
    const Check c = Verify(op, outputs, rtol);
    if (!c.pass) {
      ++failed_checks_;
      Add(name, impl, dtype, shape, c, 0, bytes);
      return 0;
    }
    const double us = TimeUs([&] { op(kDevice); });
    Add(name, impl, dtype, shape, c, us, bytes, dense_us > 0 ? dense_us / us : 0);
    return us;
  }

  void Add(const std::string& name, const std::string& impl, const std::string& dtype, const std::string& shape,
           const Check& c, double us, double bytes, double speedup = 0) {
    Result r{name, impl, dtype, shape, us, bytes, 0, 0, speedup, c};
    if (us > 0) {
      r.gbps = bytes / us / 1e3;
      r.fraction = roofline_gbps_ > 0 ? r.gbps / roofline_gbps_ : 1.0;
    }
    std::printf("%-11s %-17s %-5s %-30s", r.name.c_str(), r.impl.c_str(), r.dtype.c_str(), r.shape.c_str());
    if (us > 0) {
      std::printf(" %10.2f us %8.1f GB/s %5.1f %%", r.us, r.gbps, 100.0 * r.fraction);
    } else {
      std::printf(" %10s    %8s      %5s  ", "-", "-", "-");
    }
    if (c.ran)
      std::printf("  check %s (err %.1e of max %.1e, tol %.0e)", c.pass ? "ok" : "FAILED", c.max_abs_err,
                  c.ref_max_abs, c.rtol);
    if (speedup > 0) std::printf("  x%.2f vs dense", speedup);
    std::printf("\n");
    std::fflush(stdout);
    results_.push_back(r);
    WriteJson(false);
  }

  // Rewrites the whole JSON file through a temporary and a rename, so readers (and a run
  // killed at any moment) only ever see a complete file.
  bool WriteJson(bool complete) {
    if (json_.empty()) return true;
    const std::string tmp = json_ + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr) return false;
    int driver = 0, runtime = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);
    std::string name;
    for (const char* p = prop_.name; *p; ++p) {
      if (*p == '"' || *p == '\\') name += '\\';
      name += *p;
    }
    std::fprintf(f, "{\n  \"backend\": \"%s\",\n  \"simulated\": %s,\n  \"gpu\": \"%s\",\n", kBackendName,
                 kBackend == CAPRESE_BACKEND_CUDA_SIM ? "true" : "false", name.c_str());
    std::fprintf(f, "  \"compute_capability\": \"%d.%d\",\n  \"multiprocessors\": %d,\n", prop_.major, prop_.minor,
                 prop_.multiProcessorCount);
    std::fprintf(f, "  \"driver_version\": %d,\n  \"runtime_version\": %d,\n  \"l2_bytes\": %zu,\n", driver, runtime,
                 l2_bytes_);
    std::fprintf(f, "  \"flush_bytes\": %zu,\n  \"sweep\": \"%s\",\n  \"repeats\": %d,\n  \"warmup\": %d,\n",
                 flush_n_ * sizeof(uint4), sweep_.c_str(), reps_, warmup_);
    std::fprintf(f,
                 "  \"method\": \"each case checked against the CPU backend (normwise: max|dev-cpu| <= rtol*max|cpu|), "
                 "then CUDA events around one op, L2 flushed before each repeat (write of one L2, then a "
                 "read sweep over twice the L2), median\",\n");
    std::fprintf(f, "  \"roofline_gbps\": %.2f,\n  \"elapsed_s\": %.1f,\n  \"budget_s\": %.0f,\n", roofline_gbps_,
                 Elapsed(), budget_s_);
    std::fprintf(f, "  \"truncated\": %s,\n  \"complete\": %s,\n  \"checks_failed\": %d,\n  \"cases\": [\n",
                 truncated_ ? "true" : "false", complete ? "true" : "false", failed_checks_);
    for (size_t i = 0; i < results_.size(); ++i) {
      const Result& r = results_[i];
      std::fprintf(f,
                   "    {\"op\": \"%s\", \"impl\": \"%s\", \"dtype\": \"%s\", \"shape\": \"%s\", \"median_us\": %.3f, "
                   "\"bytes\": %.0f, \"gbps\": %.2f, \"roofline_fraction\": %.4f, \"speedup_vs_dense\": %.3f",
                   r.name.c_str(), r.impl.c_str(), r.dtype.c_str(), r.shape.c_str(), r.us, r.bytes, r.gbps,
                   r.fraction, r.speedup);
      if (r.check.ran) {
        std::fprintf(f,
                     ", \"check\": {\"pass\": %s, \"max_abs_err\": %.3e, \"ref_max_abs\": %.3e, \"rtol\": %.0e, "
                     "\"reference\": \"cpu\"}",
                     r.check.pass ? "true" : "false", r.check.max_abs_err, r.check.ref_max_abs, r.check.rtol);
      }
      std::fprintf(f, "}%s\n", i + 1 < results_.size() ? "," : "");
    }
    std::fprintf(f, "  ]\n}\n");
    const bool ok = std::fclose(f) == 0;
    return ok && std::rename(tmp.c_str(), json_.c_str()) == 0;
  }

 private:
  double Elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

  int reps_, warmup_;
  double budget_s_;
  std::string json_, sweep_;
  std::chrono::steady_clock::time_point start_;
  bool truncated_ = false;
  int failed_checks_ = 0;
  cudaDeviceProp prop_{};
  size_t l2_bytes_ = 0;
  void* flush_ = nullptr;
  size_t flush_n_ = 0;
  unsigned* sink_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t ev_start_ = nullptr, ev_stop_ = nullptr;
  caprese_context_t dev_ctx_ = nullptr, cpu_ctx_ = nullptr;
#ifndef CAPRESE_CUDA_SIM
  cublasHandle_t cublas_ = nullptr;
#endif
  std::vector<void*> allocations_;
  std::vector<Result> results_;
  double roofline_gbps_ = 0;
};

// The tensor over `b` on one side (the first rows of it when shape is smaller than b).
caprese_tensor T(Side s, Buf& b, std::initializer_list<int64_t> shape) {
  caprese_tensor t{};
  t.data = s == kDevice ? b.dev : static_cast<void*>(b.host.data());
  t.dtype = b.dtype;
  t.ndim = static_cast<int32_t>(shape.size());
  int i = 0;
  for (int64_t e : shape) t.shape[i++] = e;
  return t;
}

constexpr double kRtol = 1e-3;      // Caprese's kernels vs the CPU backend (see the top of the file)
constexpr double kPeerRtol = 4e-3;  // the cuBLAS peer: x rounded to the weight dtype first

template <typename... A>
std::string Fmt(const char* fmt, A... args) {
  char s[128];
  std::snprintf(s, sizeof s, fmt, args...);
  return s;
}

void BenchMatmuls(Bench& b, const Sweep& sw) {
  for (caprese_dtype dt : sw.matmul_dtypes) {
    const size_t esz = DtypeSize(dt);
    for (const Sweep::MatmulShape& s : sw.matmul_shapes) {
      if (b.OutOfTime()) return;
      const int64_t mmax = sw.ms.back();
      Buf w = b.Random(dt, s.n * s.k, 1, 0.05f);
      Buf x = b.Random(CAPRESE_DTYPE_F32, mmax * s.k, 2, 1.0f);
      Buf y = b.Alloc(CAPRESE_DTYPE_F32, mmax * s.n);
#ifndef CAPRESE_CUDA_SIM
      // cuBLAS peer: the same product with x already in the weight dtype (its best case); its
      // check uses the same CPU reference (f32 x), hence the looser tolerance.
      // (Same seed as x: x16 holds x's values rounded to dt.)
      Buf x16 = dt == CAPRESE_DTYPE_F32 ? Buf{} : b.Random(dt, mmax * s.k, 2, 1.0f);
#endif
      for (int64_t m : sw.ms) {
        if (b.OutOfTime()) break;
        y.count = m * s.n;  // compare only the rows this case writes
        const std::string shape = Fmt("M%lld N%lld K%lld", (long long)m, (long long)s.n, (long long)s.k);
        auto op = [&](Side side) {
          caprese_tensor xt = T(side, x, {m, s.k}), wt = T(side, w, {s.n, s.k}), yt = T(side, y, {m, s.n});
          CAPRESE_OR_DIE(caprese_matmul(b.ctx(side), &xt, &wt, nullptr, &yt));
        };
        b.Case("matmul", "caprese", Name(dt), shape, op, {&y}, kRtol,
               static_cast<double>(s.n * s.k * esz + m * s.k * 4));
#ifndef CAPRESE_CUDA_SIM
        const int n = static_cast<int>(s.n), k = static_cast<int>(s.k), mm = static_cast<int>(m);
        auto peer = [&](Side side) {
          if (side == kCpu) {  // the reference is Caprese's CPU backend on the f32 x
            caprese_tensor xt = T(side, x, {m, s.k}), wt = T(side, w, {s.n, s.k}), yt = T(side, y, {m, s.n});
            CAPRESE_OR_DIE(caprese_matmul(b.ctx(side), &xt, &wt, nullptr, &yt));
            return;
          }
          const float alpha = 1.0f, beta = 0.0f;
          cublasStatus_t st;
          if (dt == CAPRESE_DTYPE_F32) {
            st = cublasSgemm(b.cublas(), CUBLAS_OP_T, CUBLAS_OP_N, n, mm, k, &alpha, static_cast<float*>(w.dev), k,
                             static_cast<float*>(x.dev), k, &beta, static_cast<float*>(y.dev), n);
          } else {
            const cudaDataType_t t = dt == CAPRESE_DTYPE_F16 ? CUDA_R_16F : CUDA_R_16BF;
            st = cublasGemmEx(b.cublas(), CUBLAS_OP_T, CUBLAS_OP_N, n, mm, k, &alpha, w.dev, t, k, x16.dev, t, k, &beta,
                              y.dev, CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
          }
          if (st != CUBLAS_STATUS_SUCCESS) {
            std::fprintf(stderr, "caprese_kernel_bench: cuBLAS peer failed (%d)\n", static_cast<int>(st));
            std::exit(2);
          }
        };
        b.Case("matmul", "cublas", Name(dt), shape, peer, {&y}, kPeerRtol,
               static_cast<double>(s.n * s.k * esz + m * s.k * esz));
#endif
      }
      b.Release();
    }
  }
}

void BenchRmsNorm(Bench& b, const Sweep& sw) {
  const int64_t d = sw.rmsnorm_d;
  for (int64_t m : {sw.ms.front(), sw.ms.back()}) {
    if (b.OutOfTime()) return;
    Buf x = b.Random(CAPRESE_DTYPE_F32, m * d, 3, 1.0f), w = b.Random(CAPRESE_DTYPE_F32, d, 4, 1.0f),
        y = b.Alloc(CAPRESE_DTYPE_F32, m * d);
    auto op = [&](Side s) {
      caprese_tensor xt = T(s, x, {m, d}), wt = T(s, w, {d}), yt = T(s, y, {m, d});
      CAPRESE_OR_DIE(caprese_rmsnorm(b.ctx(s), &xt, &wt, 1e-5f, 0.0f, &yt));
    };
    b.Case("rmsnorm", "caprese", "f32", Fmt("M%lld D%lld", (long long)m, (long long)d), op, {&y}, kRtol,
           static_cast<double>((m + 1) * d * 4));
    b.Release();
  }
}

void BenchAttention(Bench& b, const Sweep& sw) {
  const int64_t hq = sw.attn.hq, hkv = sw.attn.hkv, hd = sw.attn.hd;
  for (int64_t s : sw.attn_seq) {
    if (b.OutOfTime()) return;
    Buf q = b.Random(CAPRESE_DTYPE_F32, hq * hd, 5, 1.0f), k = b.Random(CAPRESE_DTYPE_F32, s * hkv * hd, 6, 1.0f),
        v = b.Random(CAPRESE_DTYPE_F32, s * hkv * hd, 7, 1.0f), o = b.Alloc(CAPRESE_DTYPE_F32, hq * hd);
    caprese_attention_params p{};
    p.pos0 = static_cast<int32_t>(s - 1);
    p.scale = 1.0f / std::sqrt(static_cast<float>(hd));
    auto op = [&](Side side) {
      caprese_tensor qt = T(side, q, {1, hq, hd}), kt = T(side, k, {s, hkv, hd}), vt = T(side, v, {s, hkv, hd}),
                     ot = T(side, o, {1, hq, hd});
      CAPRESE_OR_DIE(caprese_attention(b.ctx(side), &qt, &kt, &vt, &p, &ot));
    };
    const std::string shape =
        Fmt("Hq%lld Hkv%lld hd%lld S%lld", (long long)hq, (long long)hkv, (long long)hd, (long long)s);
    b.Case("attention", "caprese", "f32", shape, op, {&o}, kRtol,
           static_cast<double>(2 * s * hkv * hd * 4 + hq * hd * 4));
    b.Release();
  }
}

// Sparse FFN (caprese_sparse_ffn), f16, against the dense FFN through the existing ops (gate
// and up GEMVs, gated activation, down GEMV on the [D, H] down weights). Variants per
// sparsity s (fraction of neurons skipped): "indices" (GRIFFIN gathered on the fly: k = (1-s)H
// random rows, sorted), "idx+rR" (Caprese merged: the same plus R adapter neurons in the one
// kernel), "idx+unmerged rR" (Caprese unmerged: the sparse FFN, then x·L, (x·L)·R and an add),
// "sliced" (ALL over weights compacted per prompt: a [k, D] view) and "threshold" (CATS,
// threshold set so that a fraction s of the neurons is inactive for every row; it also reads
// all of w_gate).
// CAPRESE_SPARSE_FFN_VARIANT for the lifetime of the scope (the plugin reads it per call);
// an empty name leaves the default.
struct SparseFfnVariantScope {
  explicit SparseFfnVariantScope(const std::string& name) : set(!name.empty()) {
    if (set) setenv("CAPRESE_SPARSE_FFN_VARIANT", name.c_str(), 1);
  }
  ~SparseFfnVariantScope() {
    if (set) unsetenv("CAPRESE_SPARSE_FFN_VARIANT");
  }
  bool set;
};

// With `variants` empty: the cases above on the default kernels. Otherwise only "indices" and
// "threshold", once per named variant, labelled "indices/<variant>", "threshold/<variant>".
void BenchSparseFfn(Bench& b, const Sweep& sw, const std::vector<std::string>& variants = {}) {
  const caprese_dtype dt = CAPRESE_DTYPE_F16;
  const double esz = 2;
  const int64_t r = sw.ffn_extra, mmax = sw.ms.back();
  const std::string rank = std::to_string(r);
  for (const Sweep::FfnShape& md : sw.ffn_shapes) {
    if (b.OutOfTime()) return;
    const int64_t d = md.d, h = md.h;
    Buf wg = b.Random(dt, h * d, 11, 0.02f), wu = b.Random(dt, h * d, 12, 0.02f);
    Buf wdt = b.Random(dt, h * d, 13, 0.02f);  // [H, D] for the sparse op
    Buf wdn = b.Random(dt, d * h, 14, 0.02f);  // [D, H] for the dense matmul
    Buf eu = b.Random(dt, r * d, 15, 0.02f), ed = b.Random(dt, r * d, 16, 0.02f);
    Buf edt_unmerged = b.Random(dt, d * r, 18, 0.02f);  // R^T [D, r]: the unmerged form's second product
    Buf x = b.Random(CAPRESE_DTYPE_F32, mmax * d, 17, 1.0f);
    Buf t = b.Alloc(CAPRESE_DTYPE_F32, mmax * r), y2 = b.Alloc(CAPRESE_DTYPE_F32, mmax * d);
    Buf y = b.Alloc(CAPRESE_DTYPE_F32, mmax * d), g = b.Alloc(CAPRESE_DTYPE_F32, mmax * h),
        u = b.Alloc(CAPRESE_DTYPE_F32, mmax * h);
    Buf idx = b.Alloc(CAPRESE_DTYPE_I32, h);
    for (int64_t m : sw.ms) {
      if (b.OutOfTime()) break;
      y.count = m * d;
      const std::string shape = Fmt("%s M%lld D%lld H%lld", md.name, (long long)m, (long long)d, (long long)h);
      const double x_bytes = static_cast<double>(m * d * 4);
      auto dense = [&](Side s) {
        caprese_tensor xt = T(s, x, {m, d}), yt = T(s, y, {m, d}), gt = T(s, g, {m, h}), ut = T(s, u, {m, h}),
                       wgt = T(s, wg, {h, d}), wut = T(s, wu, {h, d}), wdnt = T(s, wdn, {d, h});
        CAPRESE_OR_DIE(caprese_matmul(b.ctx(s), &xt, &wgt, nullptr, &gt));
        CAPRESE_OR_DIE(caprese_matmul(b.ctx(s), &xt, &wut, nullptr, &ut));
        CAPRESE_OR_DIE(caprese_gated_activation(b.ctx(s), &gt, &ut, CAPRESE_ACTIVATION_SILU, &gt));
        CAPRESE_OR_DIE(caprese_matmul(b.ctx(s), &gt, &wdnt, nullptr, &yt));
      };
      // 0 when the dense FFN failed its check: the sparse cases then run without a speed-up.
      const double dense_us = b.Case("ffn", "dense", "f16", shape, dense, {&y}, kRtol,
                                     3.0 * h * d * esz + x_bytes + 2.0 * m * h * 4);

      // Per-neuron max over rows of |silu(x·wg)|, from the CPU reference: a threshold between
      // two neighbouring peaks leaves a fraction s of the neurons inactive for every row, and
      // no neuron sits so near it that the device and the CPU could disagree on it.
      {
        caprese_tensor xt = T(kCpu, x, {m, d}), wgt = T(kCpu, wg, {h, d}), gt = T(kCpu, g, {m, h});
        CAPRESE_OR_DIE(caprese_matmul(b.ctx(kCpu), &xt, &wgt, nullptr, &gt));
      }
      std::vector<float> peak(h, 0.0f);
      for (int64_t rr = 0; rr < m; ++rr)
        for (int64_t j = 0; j < h; ++j) {
          const float v = g.host_f32()[rr * h + j];
          peak[j] = std::max(peak[j], std::fabs(v / (1.0f + std::exp(-v))));
        }
      std::vector<float> sorted_peak = peak;
      std::sort(sorted_peak.begin(), sorted_peak.end());

      for (int pct : sw.sparsities) {
        if (b.OutOfTime()) break;
        const int64_t k = h * (100 - pct) / 100;
        // k distinct rows spread over H, sorted (a runtime sorts GRIFFIN's top-k once per prompt).
        std::vector<int32_t> hidx(h);
        for (int64_t j = 0; j < h; ++j) hidx[j] = static_cast<int32_t>(j);
        unsigned state = 12345u + static_cast<unsigned>(pct);
        for (int64_t j = h - 1; j > 0; --j) {
          state = state * 1664525u + 1013904223u;
          std::swap(hidx[j], hidx[state % static_cast<unsigned>(j + 1)]);
        }
        hidx.resize(k);
        std::sort(hidx.begin(), hidx.end());
        std::memcpy(idx.host.data(), hidx.data(), k * 4);
        b.Upload(idx);
        const std::string sh = shape + " s" + std::to_string(pct) + "%";
        const double rows_bytes = static_cast<double>(k) * d * esz;
        caprese_sparse_ffn_params p{};
        p.activation = CAPRESE_ACTIVATION_SILU;

        const size_t q = std::min<size_t>(h - 1, static_cast<size_t>(h * pct / 100));
        const float threshold = pct == 0 ? 0.0f : 0.5f * (sorted_peak[q - 1] + sorted_peak[q]);
        int64_t active = 0;
        for (float v : peak) active += v >= threshold;

        auto sparse = [&](Side s, bool extras) {
          caprese_tensor xt = T(s, x, {m, d}), yt = T(s, y, {m, d}), wgt = T(s, wg, {h, d}), wut = T(s, wu, {h, d}),
                         wdtt = T(s, wdt, {h, d}), it = T(s, idx, {k}), eut = T(s, eu, {r, d}), edt = T(s, ed, {r, d});
          p.selection = CAPRESE_SPARSE_INDICES;
          CAPRESE_OR_DIE(caprese_sparse_ffn(b.ctx(s), &xt, &wgt, &wut, &wdtt, &it, extras ? &eut : nullptr,
                                            extras ? &edt : nullptr, &p, &yt));
        };
        auto cats = [&](Side s) {
          caprese_tensor xt = T(s, x, {m, d}), yt = T(s, y, {m, d}), wgt = T(s, wg, {h, d}), wut = T(s, wu, {h, d}),
                         wdtt = T(s, wdt, {h, d});
          p.selection = CAPRESE_SPARSE_THRESHOLD;
          p.threshold = threshold;
          CAPRESE_OR_DIE(caprese_sparse_ffn(b.ctx(s), &xt, &wgt, &wut, &wdtt, nullptr, nullptr, nullptr, &p, &yt));
        };
        const std::string cats_shape = sh + " act" + std::to_string(100 * active / h) + "%";
        const double cats_bytes = static_cast<double>(h + 2 * active) * d * esz + x_bytes;
        if (!variants.empty()) {
          for (const std::string& v : variants) {
            if (b.OutOfTime()) break;
            SparseFfnVariantScope scope(v);
            b.Case("sparse_ffn", "indices/" + v, "f16", sh, [&](Side s) { sparse(s, false); }, {&y}, kRtol,
                   3 * rows_bytes + x_bytes + k * 4.0, dense_us);
            b.Case("sparse_ffn", "threshold/" + v, "f16", cats_shape, cats, {&y}, kRtol, cats_bytes, dense_us);
          }
          continue;
        }
        b.Case("sparse_ffn", "indices", "f16", sh, [&](Side s) { sparse(s, false); }, {&y}, kRtol,
               3 * rows_bytes + x_bytes + k * 4.0, dense_us);
        b.Case("sparse_ffn", "idx+r" + rank, "f16", sh, [&](Side s) { sparse(s, true); }, {&y}, kRtol,
               3 * rows_bytes + 2.0 * r * d * esz + x_bytes + k * 4.0, dense_us);
        // Caprese unmerged: the same sparse FFN, then x·L and (x·L)·R as separate products and a residual add.
        b.Case("sparse_ffn", "idx+unmerged r" + rank, "f16", sh,
               [&](Side s) {
                 sparse(s, false);
                 caprese_tensor xt = T(s, x, {m, d}), yt = T(s, y, {m, d}), eut = T(s, eu, {r, d}),
                                tt = T(s, t, {m, r}), edtu = T(s, edt_unmerged, {d, r}), y2t = T(s, y2, {m, d});
                 CAPRESE_OR_DIE(caprese_matmul(b.ctx(s), &xt, &eut, nullptr, &tt));
                 CAPRESE_OR_DIE(caprese_matmul(b.ctx(s), &tt, &edtu, nullptr, &y2t));
                 CAPRESE_OR_DIE(caprese_add(b.ctx(s), &yt, &y2t, &yt));
               },
               {&y}, kRtol, 3 * rows_bytes + 2.0 * r * d * esz + x_bytes + k * 4.0, dense_us);
        b.Case("sparse_ffn", "sliced", "f16", sh,
               [&](Side s) {
                 caprese_tensor xt = T(s, x, {m, d}), yt = T(s, y, {m, d}), sg = T(s, wg, {k, d}),
                                su = T(s, wu, {k, d}), sd = T(s, wdt, {k, d});
                 p.selection = CAPRESE_SPARSE_ALL;
                 CAPRESE_OR_DIE(caprese_sparse_ffn(b.ctx(s), &xt, &sg, &su, &sd, nullptr, nullptr, nullptr, &p, &yt));
               },
               {&y}, kRtol, 3 * rows_bytes + x_bytes, dense_us);
        b.Case("sparse_ffn", "threshold", "f16", cats_shape, cats, {&y}, kRtol, cats_bytes, dense_us);
      }
    }
    b.Release();
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool simulated = kBackend == CAPRESE_BACKEND_CUDA_SIM;
  // The simulator is ~1000x slower than a GPU: its default is the tiny sweep with a few
  // repeats and a small flush (its timings mean nothing; the checks and the output do).
  std::string sweep = simulated ? "tiny" : "quick", json, suite = "all";
  int reps = simulated ? 3 : 50, device = 0;
  long flush_kib = simulated ? 64 : 0;
  double budget_s = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--reps" && has_value) {
      reps = std::atoi(argv[++i]);
    } else if (a == "--json" && has_value) {
      json = argv[++i];
    } else if (a == "--device" && has_value) {
      device = std::atoi(argv[++i]);
    } else if (a == "--budget-s" && has_value) {
      budget_s = std::atof(argv[++i]);
    } else if (a == "--flush-kib" && has_value) {
      flush_kib = std::atol(argv[++i]);
    } else if (a == "--sweep" && has_value &&
               (std::string(argv[i + 1]) == "tiny" || std::string(argv[i + 1]) == "quick" ||
                std::string(argv[i + 1]) == "full")) {
      sweep = argv[++i];
    } else if (a == "--suite" && has_value &&
               (std::string(argv[i + 1]) == "all" || std::string(argv[i + 1]) == "ops" ||
                std::string(argv[i + 1]) == "sparse_ffn" || std::string(argv[i + 1]) == "sparse_variants" ||
                std::string(argv[i + 1]) == "verify")) {
      suite = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: %s [--sweep tiny|quick|full] [--reps N] [--json path] [--device D] "
                   "[--suite all|ops|sparse_ffn|sparse_variants|verify] [--budget-s S] [--flush-kib K]\n",
                   argv[0]);
      return 2;
    }
  }
  // On a GPU fewer than 50 repeats give an unstable median; the simulator's times are not
  // measurements at all, so it takes any count.
  if (reps < (simulated ? 1 : 50) || flush_kib < 0) {
    std::fprintf(stderr, "caprese_kernel_bench: --reps must be >= %d (got %d) and --flush-kib >= 0\n",
                 simulated ? 1 : 50, reps);
    return 2;
  }
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    std::fprintf(stderr, "caprese_kernel_bench: no CUDA GPU available (%s); nothing to measure\n",
                 err != cudaSuccess ? cudaGetErrorString(err) : "0 devices");
    return 3;
  }
  if (caprese_backend_probe(kBackend) != CAPRESE_OK) {
    std::fprintf(stderr, "caprese_kernel_bench: the Caprese %s backend is unavailable: %s\n", kBackendName,
                 caprese_last_error());
    return 3;
  }
  Sweep sw = MakeSweep(sweep);
  if (suite == "verify") {
    // The cost model of speculative decoding and Sirius: a dense pass verifying k drafted rows is the layer's
    // matmuls at M = k, so every M from 1 to 16 (1 to 5 on the simulator) in the decode dtype; the ratio of each
    // to M = 1 is what `caprese bench-verify` measures end to end where .NET is available.
    sw.ms.clear();
    for (int64_t m = 1; m <= (simulated ? 5 : 16); ++m) sw.ms.push_back(m);
    sw.matmul_dtypes = {CAPRESE_DTYPE_F16};
  }
  const std::vector<std::string> kSparseVariants = {"serial", "tree", "wide"};  // sparse_ffn.cu's kVariants
  if (suite == "sparse_variants" && sweep != "tiny") {
    // Llama-3.1-8B's FFN at the batch sizes where the variants differ (1: the reduction; 8 and
    // 16: phase 2's loads) and GRIFFIN's/CATS's sparsities of the paper's goals (50%, 75%):
    // 48 checked and timed cases and 4 dense ones, about a minute on an H100 (quick); full adds
    // M = 2, 4 and sparsities 0 and 90.
    sw.ffn_shapes = {sw.ffn_shapes.front()};
    sw.ms = sweep == "quick" ? std::vector<int64_t>{1, 4, 8, 16} : std::vector<int64_t>{1, 2, 4, 8, 16};
    sw.sparsities = sweep == "quick" ? std::vector<int>{50, 75} : std::vector<int>{0, 50, 75, 90};
  }
  Bench b(device, reps, simulated ? 1 : 5, static_cast<size_t>(flush_kib), budget_s, json, sweep);
  std::printf("%s (sm_%d%d, %d SMs), backend %s, sweep %s, median of %d repeats, L2 flushed before each\n",
              b.prop().name, b.prop().major, b.prop().minor, b.prop().multiProcessorCount, kBackendName,
              sweep.c_str(), reps);
  if (simulated) std::printf("SIMULATED: the times below are the CPU simulator's, not a GPU's\n");
  b.MeasureRoofline(sw.roofline_bytes);
  if (suite == "verify") {
    BenchMatmuls(b, sw);
  } else if (suite == "sparse_variants") {
    BenchSparseFfn(b, sw, kSparseVariants);
  } else {
    if (suite != "sparse_ffn") {
      BenchMatmuls(b, sw);
      BenchRmsNorm(b, sw);
      BenchAttention(b, sw);
    }
    if (suite != "ops") BenchSparseFfn(b, sw);
  }
  CAPRESE_OR_DIE(caprese_context_synchronize(b.ctx(kDevice)));
  if (!b.WriteJson(true)) {
    std::fprintf(stderr, "caprese_kernel_bench: could not write %s\n", json.c_str());
    return 2;
  }
  if (b.OutOfTime()) std::printf("time budget spent: the rest of the sweep was skipped (\"truncated\" in the JSON)\n");
  if (b.failed_checks() > 0) {
    std::printf("%d case(s) FAILED their check against the CPU reference\n", b.failed_checks());
    return 1;
  }
  if (!json.empty()) std::printf("wrote %s\n", json.c_str());
  return 0;
}
