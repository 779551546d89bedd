// caprese_kernel_bench: times Caprese's CUDA ops through the public C API and puts each
// next to the memory roofline measured in the same run.
//
// Method: every case is timed with CUDA events around one op on the context's stream;
// before each repeat a kernel writes a buffer twice the L2 size, so the weights come from
// HBM as they do in a real decode step (a model's layers never fit in L2). The reported
// time is the median of the repeats after warm-up. The roofline is a plain 16-byte
// streaming-read kernel over 1 GiB timed the same way; a case's GB/s counts the bytes it
// must read (weights + activations; KV cache for attention) and its % is against that.
// Sparse FFN cases count only the bytes they actually read (active rows, extras, x,
// indices) and carry their speed-up over the dense FFN (three matmuls + activation)
// timed in the same run.
//
//   caprese_kernel_bench [--reps N>=50] [--json path] [--device D] [--suite all|ops|sparse_ffn]
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "caprese.h"

namespace {

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

// Overwrites the whole buffer so the next case starts with nothing useful in L2.
__global__ void FlushL2(uint4* buf, size_t n, unsigned salt) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    buf[i] = make_uint4(salt, static_cast<unsigned>(i), salt, 0u);
}

// The roofline: read every byte once with 16-byte loads; the XOR keeps the loads alive
// and the conditional store (never taken in practice) keeps the compiler from dropping them.
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

template <typename T>
__global__ void Convert(const float* in, T* out, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    out[i] = static_cast<T>(in[i]);
}

struct Result {
  std::string name, impl, dtype, shape;
  double us = 0, bytes = 0, gbps = 0, pct = 0;
  double speedup = 0;  // sparse FFN: dense FFN time / this time (0: not applicable)
};

class Bench {
 public:
  Bench(int device, int reps) : reps_(reps) {
    CUDA_OR_DIE(cudaSetDevice(device));
    CUDA_OR_DIE(cudaGetDeviceProperties(&prop_, device));
    int l2 = 0;
    CUDA_OR_DIE(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device));
    flush_n_ = 2 * static_cast<size_t>(l2) / sizeof(uint4);
    CUDA_OR_DIE(cudaMalloc(&flush_, flush_n_ * sizeof(uint4)));
    CUDA_OR_DIE(cudaMalloc(&sink_, sizeof(unsigned)));
    CUDA_OR_DIE(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    CUDA_OR_DIE(cudaEventCreate(&start_));
    CUDA_OR_DIE(cudaEventCreate(&stop_));
    caprese_context_options opt{};
    opt.backend = CAPRESE_BACKEND_CUDA;
    opt.device = device;
    opt.stream = stream_;  // our events and flushes share the ops' stream
    CAPRESE_OR_DIE(caprese_context_create(&opt, &ctx_));
    if (cublasCreate(&cublas_) != CUBLAS_STATUS_SUCCESS || cublasSetStream(cublas_, stream_) != CUBLAS_STATUS_SUCCESS) {
      std::fprintf(stderr, "caprese_kernel_bench: cuBLAS initialisation failed\n");
      std::exit(2);
    }
  }
  ~Bench() {
    caprese_context_destroy(ctx_);
    cublasDestroy(cublas_);
    for (void* p : allocations_) cudaFree(p);
    cudaFree(flush_);
    cudaFree(sink_);
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
    cudaStreamDestroy(stream_);
  }

  const cudaDeviceProp& prop() const { return prop_; }
  caprese_context_t ctx() const { return ctx_; }
  cublasHandle_t cublas() const { return cublas_; }
  size_t l2_bytes() const { return flush_n_ * sizeof(uint4) / 2; }
  double roofline_gbps() const { return roofline_gbps_; }

  template <typename T = float>
  T* Alloc(size_t count) {
    void* p = nullptr;
    CUDA_OR_DIE(cudaMalloc(&p, count * sizeof(T)));
    allocations_.push_back(p);
    return static_cast<T*>(p);
  }
  void Release() {
    CUDA_OR_DIE(cudaStreamSynchronize(stream_));
    for (void* p : allocations_) cudaFree(p);
    allocations_.clear();
  }
  float* Random(size_t n, unsigned seed, float scale) {
    float* p = Alloc<float>(n);
    FillRandom<<<1024, 256, 0, stream_>>>(p, n, seed, scale);
    CUDA_OR_DIE(cudaGetLastError());
    return p;
  }
  template <typename T>
  T* RandomAs(size_t n, unsigned seed, float scale) {
    float* f = Random(n, seed, scale);
    T* out = Alloc<T>(n);
    Convert<T><<<1024, 256, 0, stream_>>>(f, out, n);
    CUDA_OR_DIE(cudaGetLastError());
    return out;
  }

  // Median time in microseconds of `op`, each repeat after an L2 flush.
  double TimeUs(const std::function<void()>& op) {
    for (int i = 0; i < 5; ++i) op();  // warm-up: lazy module loading, cuBLAS heuristics
    CUDA_OR_DIE(cudaStreamSynchronize(stream_));
    std::vector<float> ms(reps_);
    for (int r = 0; r < reps_; ++r) {
      FlushL2<<<4 * prop_.multiProcessorCount, 512, 0, stream_>>>(flush_, flush_n_, r);
      CUDA_OR_DIE(cudaEventRecord(start_, stream_));
      op();
      CUDA_OR_DIE(cudaEventRecord(stop_, stream_));
      CUDA_OR_DIE(cudaEventSynchronize(stop_));
      CUDA_OR_DIE(cudaEventElapsedTime(&ms[r], start_, stop_));
    }
    CUDA_OR_DIE(cudaGetLastError());
    std::sort(ms.begin(), ms.end());
    const double med = reps_ % 2 ? ms[reps_ / 2] : 0.5 * (ms[reps_ / 2 - 1] + ms[reps_ / 2]);
    return med * 1000.0;
  }

  void MeasureRoofline() {
    const size_t bytes = size_t{1} << 30;
    const size_t n = bytes / sizeof(uint4);
    uint4* buf = Alloc<uint4>(n);
    CUDA_OR_DIE(cudaMemsetAsync(buf, 1, bytes, stream_));
    const double us = TimeUs([&] {
      StreamRead<<<8 * prop_.multiProcessorCount, 512, 0, stream_>>>(buf, n, sink_);
    });
    roofline_gbps_ = bytes / us / 1e3;
    Add("stream_read", "roofline", "u8", "1 GiB", us, static_cast<double>(bytes));
    Release();
  }

  void Add(const std::string& name, const std::string& impl, const std::string& dtype, const std::string& shape,
           double us, double bytes, double speedup = 0) {
    Result r{name, impl, dtype, shape, us, bytes, bytes / us / 1e3, 0, speedup};
    r.pct = roofline_gbps_ > 0 ? 100.0 * r.gbps / roofline_gbps_ : 100.0;
    std::printf("%-12s %-10s %-5s %-24s %10.2f us %9.1f GB/s %6.1f %%", r.name.c_str(), r.impl.c_str(),
                r.dtype.c_str(), r.shape.c_str(), r.us, r.gbps, r.pct);
    if (speedup > 0) std::printf("  x%.2f vs dense", speedup);
    std::printf("\n");
    std::fflush(stdout);
    results_.push_back(r);
  }

  const std::vector<Result>& results() const { return results_; }

 private:
  int reps_;
  cudaDeviceProp prop_{};
  uint4* flush_ = nullptr;
  size_t flush_n_ = 0;
  unsigned* sink_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
  caprese_context_t ctx_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  std::vector<void*> allocations_;
  std::vector<Result> results_;
  double roofline_gbps_ = 0;
};

caprese_tensor Tensor(void* data, caprese_dtype dt, std::initializer_list<int64_t> shape) {
  caprese_tensor t{};
  t.data = data;
  t.dtype = dt;
  t.ndim = static_cast<int32_t>(shape.size());
  int i = 0;
  for (int64_t e : shape) t.shape[i++] = e;
  return t;
}

const char* Name(caprese_dtype dt) {
  return dt == CAPRESE_DTYPE_F16 ? "f16" : dt == CAPRESE_DTYPE_BF16 ? "bf16" : "f32";
}

void BenchMatmuls(Bench& b) {
  struct Shape {
    int64_t n, k;
    const char* what;
  };
  const Shape shapes[] = {{4096, 4096, "q/o"}, {14336, 4096, "gate/up"}, {4096, 14336, "down"}};
  for (caprese_dtype dt : {CAPRESE_DTYPE_F16, CAPRESE_DTYPE_BF16, CAPRESE_DTYPE_F32}) {
    const size_t esz = dt == CAPRESE_DTYPE_F32 ? 4 : 2;
    for (const Shape& s : shapes) {
      void* w = dt == CAPRESE_DTYPE_F32   ? static_cast<void*>(b.Random(s.n * s.k, 1, 0.05f))
                : dt == CAPRESE_DTYPE_F16 ? static_cast<void*>(b.RandomAs<__half>(s.n * s.k, 1, 0.05f))
                                          : static_cast<void*>(b.RandomAs<__nv_bfloat16>(s.n * s.k, 1, 0.05f));
      float* x = b.Random(16 * s.k, 2, 1.0f);
      float* y = b.Alloc<float>(16 * s.n);
      // cuBLAS peer: the same product with x already in the weight dtype (its best case).
      void* x16 = dt == CAPRESE_DTYPE_F16    ? static_cast<void*>(b.RandomAs<__half>(16 * s.k, 2, 1.0f))
                  : dt == CAPRESE_DTYPE_BF16 ? static_cast<void*>(b.RandomAs<__nv_bfloat16>(16 * s.k, 2, 1.0f))
                                             : nullptr;
      for (int64_t m : {1, 2, 4, 8, 16}) {
        caprese_tensor xt = Tensor(x, CAPRESE_DTYPE_F32, {m, s.k}), wt = Tensor(w, dt, {s.n, s.k}),
                       yt = Tensor(y, CAPRESE_DTYPE_F32, {m, s.n});
        char shape[64];
        std::snprintf(shape, sizeof shape, "M%lld N%lld K%lld", (long long)m, (long long)s.n, (long long)s.k);
        const double bytes = static_cast<double>(s.n * s.k * esz + m * s.k * 4);
        b.Add("matmul", "caprese", Name(dt), shape,
              b.TimeUs([&] { CAPRESE_OR_DIE(caprese_matmul(b.ctx(), &xt, &wt, nullptr, &yt)); }), bytes);
        const float alpha = 1.0f, beta = 0.0f;
        const int n = static_cast<int>(s.n), k = static_cast<int>(s.k), mm = static_cast<int>(m);
        const double peer_bytes = static_cast<double>(s.n * s.k * esz + m * s.k * (dt == CAPRESE_DTYPE_F32 ? 4 : 2));
        b.Add("matmul", "cublas", Name(dt), shape, b.TimeUs([&] {
          cublasStatus_t st;
          if (dt == CAPRESE_DTYPE_F32) {
            st = cublasSgemm(b.cublas(), CUBLAS_OP_T, CUBLAS_OP_N, n, mm, k, &alpha, static_cast<float*>(w), k, x, k,
                             &beta, y, n);
          } else {
            const cudaDataType_t t = dt == CAPRESE_DTYPE_F16 ? CUDA_R_16F : CUDA_R_16BF;
            st = cublasGemmEx(b.cublas(), CUBLAS_OP_T, CUBLAS_OP_N, n, mm, k, &alpha, w, t, k, x16, t, k, &beta, y,
                              CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
          }
          if (st != CUBLAS_STATUS_SUCCESS) {
            std::fprintf(stderr, "caprese_kernel_bench: cuBLAS peer failed (%d)\n", static_cast<int>(st));
            std::exit(2);
          }
        }), peer_bytes);
      }
      b.Release();
    }
  }
}

void BenchRmsNorm(Bench& b) {
  const int64_t d = 4096;
  for (int64_t m : {1, 16}) {
    float *x = b.Random(m * d, 3, 1.0f), *w = b.Random(d, 4, 1.0f), *y = b.Alloc<float>(m * d);
    caprese_tensor xt = Tensor(x, CAPRESE_DTYPE_F32, {m, d}), wt = Tensor(w, CAPRESE_DTYPE_F32, {d}),
                   yt = Tensor(y, CAPRESE_DTYPE_F32, {m, d});
    char shape[64];
    std::snprintf(shape, sizeof shape, "M%lld D%lld", (long long)m, (long long)d);
    b.Add("rmsnorm", "caprese", "f32", shape,
          b.TimeUs([&] { CAPRESE_OR_DIE(caprese_rmsnorm(b.ctx(), &xt, &wt, 1e-5f, 0.0f, &yt)); }),
          static_cast<double>((m + 1) * d * 4));
    b.Release();
  }
}

void BenchAttention(Bench& b) {
  const int64_t hq = 32, hkv = 8, hd = 128;  // Llama-3.1-8B
  for (int64_t s : {1024, 4096, 8192}) {
    float *q = b.Random(hq * hd, 5, 1.0f), *k = b.Random(s * hkv * hd, 6, 1.0f), *v = b.Random(s * hkv * hd, 7, 1.0f),
          *o = b.Alloc<float>(hq * hd);
    caprese_tensor qt = Tensor(q, CAPRESE_DTYPE_F32, {1, hq, hd}), kt = Tensor(k, CAPRESE_DTYPE_F32, {s, hkv, hd}),
                   vt = Tensor(v, CAPRESE_DTYPE_F32, {s, hkv, hd}), ot = Tensor(o, CAPRESE_DTYPE_F32, {1, hq, hd});
    caprese_attention_params p{};
    p.pos0 = static_cast<int32_t>(s - 1);
    p.scale = 1.0f / std::sqrt(static_cast<float>(hd));
    char shape[64];
    std::snprintf(shape, sizeof shape, "Hq32 Hkv8 hd128 S%lld", (long long)s);
    b.Add("attention", "caprese", "f32", shape,
          b.TimeUs([&] { CAPRESE_OR_DIE(caprese_attention(b.ctx(), &qt, &kt, &vt, &p, &ot)); }),
          static_cast<double>(2 * s * hkv * hd * 4 + hq * hd * 4));
    b.Release();
  }
}

// Sparse FFN (caprese_sparse_ffn) at Llama-3.1-8B, Qwen2.5-14B and Llama-3.1-70B FFN shapes,
// f16, against the dense FFN through the existing ops (gate and up GEMVs, gated activation,
// down GEMV on the [D, H] down weights). Variants per sparsity s (fraction of neurons
// skipped): "indices" (GRIFFIN gathered on the fly: k = (1-s)H random rows, sorted),
// "indices+r256" (Caprese merged: the same plus 256 adapter neurons in the one kernel), "idx+unmerged r256"
// (Caprese unmerged: the sparse FFN, then x·L, (x·L)·R and an add), "sliced" (ALL over
// weights compacted per prompt: a [k, D] view) and "threshold" (CATS, threshold set so that
// a fraction s of the neurons is inactive for every row; it also reads all of w_gate).
void BenchSparseFfn(Bench& b) {
  struct Model {
    int64_t d, h;
    const char* name;
  };
  const Model models[] = {{4096, 14336, "8B"}, {5120, 13824, "14B"}, {8192, 28672, "70B"}};
  const caprese_dtype dt = CAPRESE_DTYPE_F16;
  const double esz = 2;
  const int64_t r = 256;
  for (const Model& md : models) {
    const int64_t d = md.d, h = md.h;
    __half* wg = b.RandomAs<__half>(h * d, 11, 0.02f);
    __half* wu = b.RandomAs<__half>(h * d, 12, 0.02f);
    __half* wdt = b.RandomAs<__half>(h * d, 13, 0.02f);  // [H, D] for the sparse op
    __half* wdn = b.RandomAs<__half>(d * h, 14, 0.02f);  // [D, H] for the dense matmul
    __half* eu = b.RandomAs<__half>(r * d, 15, 0.02f);
    __half* ed = b.RandomAs<__half>(r * d, 16, 0.02f);
    __half* edt_unmerged = b.RandomAs<__half>(d * r, 18, 0.02f);  // R^T [D, r]: the unmerged form's second product
    float* t = b.Alloc<float>(16 * r);
    float* y2 = b.Alloc<float>(16 * d);
    float* x = b.Random(16 * d, 17, 1.0f);
    float* y = b.Alloc<float>(16 * d);
    float* g = b.Alloc<float>(16 * h);
    float* u = b.Alloc<float>(16 * h);
    int32_t* idx = b.Alloc<int32_t>(h);
    for (int64_t m : {1, 2, 4, 8, 16}) {
      caprese_tensor xt = Tensor(x, CAPRESE_DTYPE_F32, {m, d}), yt = Tensor(y, CAPRESE_DTYPE_F32, {m, d}),
                     gt = Tensor(g, CAPRESE_DTYPE_F32, {m, h}), ut = Tensor(u, CAPRESE_DTYPE_F32, {m, h}),
                     wgt = Tensor(wg, dt, {h, d}), wut = Tensor(wu, dt, {h, d}), wdtt = Tensor(wdt, dt, {h, d}),
                     wdnt = Tensor(wdn, dt, {d, h}), eut = Tensor(eu, dt, {r, d}), edt = Tensor(ed, dt, {r, d}),
                     edtu = Tensor(edt_unmerged, dt, {d, r}), tt = Tensor(t, CAPRESE_DTYPE_F32, {m, r}),
                     y2t = Tensor(y2, CAPRESE_DTYPE_F32, {m, d});
      char shape[96];
      std::snprintf(shape, sizeof shape, "%s M%lld D%lld H%lld", md.name, (long long)m, (long long)d, (long long)h);
      const double x_bytes = static_cast<double>(m * d * 4);
      const double dense_us = b.TimeUs([&] {
        CAPRESE_OR_DIE(caprese_matmul(b.ctx(), &xt, &wgt, nullptr, &gt));
        CAPRESE_OR_DIE(caprese_matmul(b.ctx(), &xt, &wut, nullptr, &ut));
        CAPRESE_OR_DIE(caprese_gated_activation(b.ctx(), &gt, &ut, CAPRESE_ACTIVATION_SILU, &gt));
        CAPRESE_OR_DIE(caprese_matmul(b.ctx(), &gt, &wdnt, nullptr, &yt));
      });
      b.Add("ffn", "dense", "f16", shape, dense_us, 3.0 * h * d * esz + x_bytes + 2.0 * m * h * 4, 1.0);

      // Per-neuron max over rows of |silu(x·wg)|: a threshold at its s-quantile leaves a
      // fraction s of the neurons inactive for every row.
      CAPRESE_OR_DIE(caprese_matmul(b.ctx(), &xt, &wgt, nullptr, &gt));
      std::vector<float> gh(m * h);  // host copies wait for the context's stream
      CAPRESE_OR_DIE(caprese_copy(b.ctx(), gh.data(), g, gh.size() * 4, CAPRESE_COPY_DEVICE_TO_HOST));
      std::vector<float> peak(h, 0.0f);
      for (int64_t rr = 0; rr < m; ++rr)
        for (int64_t j = 0; j < h; ++j) {
          const float v = gh[rr * h + j];
          peak[j] = std::max(peak[j], std::fabs(v / (1.0f + std::exp(-v))));
        }
      std::vector<float> sorted_peak = peak;
      std::sort(sorted_peak.begin(), sorted_peak.end());

      for (int pct = 0; pct <= 90; pct += 10) {  // the sparsity sweep 0-90%
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
        CAPRESE_OR_DIE(caprese_copy(b.ctx(), idx, hidx.data(), k * 4, CAPRESE_COPY_HOST_TO_DEVICE));
        caprese_tensor it = Tensor(idx, CAPRESE_DTYPE_I32, {k});
        char label[32];
        std::snprintf(label, sizeof label, "%d%%", pct);
        const std::string sh = std::string(shape) + " s" + label;
        const double rows_bytes = static_cast<double>(k) * d * esz;

        caprese_sparse_ffn_params p{};
        p.activation = CAPRESE_ACTIVATION_SILU;
        p.selection = CAPRESE_SPARSE_INDICES;
        double us = b.TimeUs([&] {
          CAPRESE_OR_DIE(caprese_sparse_ffn(b.ctx(), &xt, &wgt, &wut, &wdtt, &it, nullptr, nullptr, &p, &yt));
        });
        b.Add("sparse_ffn", "indices", "f16", sh, us, 3 * rows_bytes + x_bytes + k * 4.0, dense_us / us);
        us = b.TimeUs([&] {
          CAPRESE_OR_DIE(caprese_sparse_ffn(b.ctx(), &xt, &wgt, &wut, &wdtt, &it, &eut, &edt, &p, &yt));
        });
        b.Add("sparse_ffn", "idx+r256", "f16", sh, us, 3 * rows_bytes + 2.0 * r * d * esz + x_bytes + k * 4.0,
              dense_us / us);
        // Caprese unmerged: the same sparse FFN, then x·L and (x·L)·R as separate products and a residual add.
        us = b.TimeUs([&] {
          CAPRESE_OR_DIE(caprese_sparse_ffn(b.ctx(), &xt, &wgt, &wut, &wdtt, &it, nullptr, nullptr, &p, &yt));
          CAPRESE_OR_DIE(caprese_matmul(b.ctx(), &xt, &eut, nullptr, &tt));
          CAPRESE_OR_DIE(caprese_matmul(b.ctx(), &tt, &edtu, nullptr, &y2t));
          CAPRESE_OR_DIE(caprese_add(b.ctx(), &yt, &y2t, &yt));
        });
        b.Add("sparse_ffn", "idx+unmerged r256", "f16", sh, us, 3 * rows_bytes + 2.0 * r * d * esz + x_bytes + k * 4.0,
              dense_us / us);

        p.selection = CAPRESE_SPARSE_ALL;
        caprese_tensor sg = Tensor(wg, dt, {k, d}), su = Tensor(wu, dt, {k, d}), sd = Tensor(wdt, dt, {k, d});
        us = b.TimeUs([&] {
          CAPRESE_OR_DIE(caprese_sparse_ffn(b.ctx(), &xt, &sg, &su, &sd, nullptr, nullptr, nullptr, &p, &yt));
        });
        b.Add("sparse_ffn", "sliced", "f16", sh, us, 3 * rows_bytes + x_bytes, dense_us / us);

        p.selection = CAPRESE_SPARSE_THRESHOLD;
        const size_t q = std::min<size_t>(h - 1, static_cast<size_t>(h * pct / 100));
        p.threshold = pct == 0 ? 0.0f : sorted_peak[q];
        int64_t active = 0;
        for (float v : peak) active += v >= p.threshold;
        us = b.TimeUs([&] {
          CAPRESE_OR_DIE(caprese_sparse_ffn(b.ctx(), &xt, &wgt, &wut, &wdtt, nullptr, nullptr, nullptr, &p, &yt));
        });
        std::snprintf(label, sizeof label, " act%.0f%%", 100.0 * active / h);
        b.Add("sparse_ffn", "threshold", "f16", sh + label, us,
              static_cast<double>(h + 2 * active) * d * esz + x_bytes, dense_us / us);
      }
    }
    CAPRESE_OR_DIE(caprese_context_synchronize(b.ctx()));
    b.Release();
  }
}

std::string JsonEscape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o;
}

bool WriteJson(const Bench& b, const std::string& path, int reps) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return false;
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  std::fprintf(f, "{\n  \"gpu\": \"%s\",\n  \"compute_capability\": \"%d.%d\",\n  \"driver_version\": %d,\n",
               JsonEscape(b.prop().name).c_str(), b.prop().major, b.prop().minor, driver);
  std::fprintf(f, "  \"runtime_version\": %d,\n  \"l2_bytes\": %zu,\n  \"repeats\": %d,\n", runtime, b.l2_bytes(), reps);
  std::fprintf(f, "  \"method\": \"CUDA events around one op, L2 flushed (2x L2 write) before each repeat, median\",\n");
  std::fprintf(f, "  \"roofline_gbps\": %.2f,\n  \"cases\": [\n", b.roofline_gbps());
  const auto& rs = b.results();
  for (size_t i = 0; i < rs.size(); ++i) {
    const Result& r = rs[i];
    std::fprintf(f,
                 "    {\"op\": \"%s\", \"impl\": \"%s\", \"dtype\": \"%s\", \"shape\": \"%s\", \"median_us\": %.3f, "
                 "\"bytes\": %.0f, \"gbps\": %.2f, \"pct_roofline\": %.2f, \"speedup_vs_dense\": %.3f}%s\n",
                 r.name.c_str(), r.impl.c_str(), r.dtype.c_str(), r.shape.c_str(), r.us, r.bytes, r.gbps, r.pct,
                 r.speedup, i + 1 < rs.size() ? "," : "");
  }
  std::fprintf(f, "  ]\n}\n");
  const bool ok = std::fclose(f) == 0;
  return ok && std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 50, device = 0;
  std::string json, suite = "all";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--reps" && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
    } else if (a == "--json" && i + 1 < argc) {
      json = argv[++i];
    } else if (a == "--device" && i + 1 < argc) {
      device = std::atoi(argv[++i]);
    } else if (a == "--suite" && i + 1 < argc && (std::string(argv[i + 1]) == "all" ||
                                                  std::string(argv[i + 1]) == "ops" ||
                                                  std::string(argv[i + 1]) == "sparse_ffn")) {
      suite = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--reps N>=50] [--json path] [--device D] [--suite all|ops|sparse_ffn]\n",
                   argv[0]);
      return 2;
    }
  }
  if (reps < 50) {
    std::fprintf(stderr, "caprese_kernel_bench: --reps must be >= 50 for a stable median (got %d)\n", reps);
    return 2;
  }
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    std::fprintf(stderr, "caprese_kernel_bench: no CUDA GPU available (%s); nothing to measure\n",
                 err != cudaSuccess ? cudaGetErrorString(err) : "0 devices");
    return 1;
  }
  if (caprese_backend_probe(CAPRESE_BACKEND_CUDA) != CAPRESE_OK) {
    std::fprintf(stderr, "caprese_kernel_bench: the Caprese CUDA backend is unavailable: %s\n", caprese_last_error());
    return 1;
  }
  Bench b(device, reps);
  std::printf("%s (sm_%d%d, %d SMs, L2 %.0f MiB), median of %d repeats, L2 flushed before each\n", b.prop().name,
              b.prop().major, b.prop().minor, b.prop().multiProcessorCount, b.l2_bytes() / 1048576.0, reps);
  std::printf("%-12s %-10s %-5s %-24s %13s %14s %8s\n", "op", "impl", "dtype", "shape", "time", "bandwidth", "roofline");
  b.MeasureRoofline();
  if (suite != "sparse_ffn") {
    BenchMatmuls(b);
    BenchRmsNorm(b);
    BenchAttention(b);
  }
  if (suite != "ops") BenchSparseFfn(b);
  if (!json.empty()) {
    if (!WriteJson(b, json, reps)) {
      std::fprintf(stderr, "caprese_kernel_bench: could not write %s\n", json.c_str());
      return 2;
    }
    std::printf("wrote %s\n", json.c_str());
  }
  return 0;
}
