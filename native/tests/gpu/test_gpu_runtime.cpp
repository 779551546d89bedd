// The CUDA backend's runtime surface: devices, contexts, streams, memory, events, errors.
#include <cstring>
#include <string>
#include <vector>

#ifdef CAPRESE_TEST_HAVE_CUDART
#include <cuda_runtime.h>
#endif

#include "gpu/gpu_test.h"

namespace caprese_gpu_test {
namespace {

TEST(CudaProbe, ReportsAReasonWhenUnavailable) {
  // Runs everywhere: either the backend is usable, or the probe says why in words.
  const caprese_status st = caprese_backend_probe(kGpuBackend);
  if (st == CAPRESE_OK) {
    int32_t count = 0;
    CAPRESE_ASSERT_OK(caprese_backend_device_count(kGpuBackend, &count));
    EXPECT_GE(count, 1);
  } else {
    EXPECT_EQ(st, CAPRESE_ERROR_BACKEND_UNAVAILABLE);
    EXPECT_GT(std::strlen(caprese_last_error()), 20u) << caprese_last_error();
    caprese_context_options opt{};
    opt.backend = kGpuBackend;
    caprese_context_t ctx = nullptr;
    EXPECT_EQ(caprese_context_create(&opt, &ctx), CAPRESE_ERROR_BACKEND_UNAVAILABLE);
    EXPECT_EQ(ctx, nullptr);
  }
}

TEST_F(CudaTest, DeviceInfoIsSane) {
  int32_t count = 0;
  CAPRESE_ASSERT_OK(caprese_backend_device_count(kGpuBackend, &count));
  ASSERT_GE(count, 1);
  caprese_device_info info{};
  CAPRESE_ASSERT_OK(caprese_backend_device_info(kGpuBackend, 0, &info));
  EXPECT_GT(std::strlen(info.name), 0u);
  EXPECT_GT(info.total_memory_bytes, int64_t{1} << 30);
  EXPECT_GE(info.compute_major, 7);
  EXPECT_GT(info.multiprocessor_count, 0);
  EXPECT_GT(info.memory_bus_width_bits, 0);
  EXPECT_GT(info.memory_clock_khz, 0);
  EXPECT_GT(info.l2_cache_bytes, 0);
  // Out of range: INVALID_ARGUMENT naming how many devices there are.
  EXPECT_EQ(caprese_backend_device_info(kGpuBackend, count, &info), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(caprese_test::LastErrorMentions(std::to_string(count) + (kSimulator ? " simulated CUDA device" : " CUDA device")));
  caprese_context_options opt{};
  opt.backend = kGpuBackend;
  opt.device = count;
  caprese_context_t ctx = nullptr;
  EXPECT_EQ(caprese_context_create(&opt, &ctx), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(caprese_test::LastErrorMentions("out of range"));
}

TEST_F(CudaTest, HugeAllocationIsOutOfMemory) {
  caprese_buffer_t buf = nullptr;
  EXPECT_EQ(caprese_buffer_create(*gpu_, size_t{1} << 50, &buf), CAPRESE_ERROR_OUT_OF_MEMORY);
  EXPECT_EQ(buf, nullptr);
  EXPECT_TRUE(caprese_test::LastErrorMentions("free of"));
  // The context still works afterwards.
  DeviceTensor t(*gpu_, CAPRESE_DTYPE_F32, {16});
  std::vector<float> v(16, 1.5f);
  CAPRESE_ASSERT_OK(t.Upload(v));
  EXPECT_EQ(t.Download<float>(), v);
}

TEST_F(CudaTest, BuffersAreZeroedAndCopiesRoundTrip) {
  DeviceTensor a(*gpu_, CAPRESE_DTYPE_F32, {1000}), b(*gpu_, CAPRESE_DTYPE_F32, {1000});
  std::vector<float> zeros(1000, 0.0f);
  EXPECT_EQ(a.Download<float>(), zeros);
  std::vector<float> v = FastRandom(1000, 5, 1.0f);
  CAPRESE_ASSERT_OK(a.Upload(v));
  CAPRESE_ASSERT_OK(caprese_copy(*gpu_, b.data(), a.data(), 4000, CAPRESE_COPY_DEVICE_TO_DEVICE));
  EXPECT_EQ(b.Download<float>(), v);
  CAPRESE_ASSERT_OK(caprese_memset(*gpu_, b.data(), 0, 4000));
  EXPECT_EQ(b.Download<float>(), zeros);
  std::vector<float> h(1000);
  CAPRESE_ASSERT_OK(caprese_copy(*gpu_, h.data(), v.data(), 4000, CAPRESE_COPY_HOST_TO_HOST));
  EXPECT_EQ(h, v);
}

TEST_F(CudaTest, EventsMeasureTime) {
  caprese_event_t start = nullptr, end = nullptr;
  CAPRESE_ASSERT_OK(caprese_event_create(*gpu_, &start));
  CAPRESE_ASSERT_OK(caprese_event_create(*gpu_, &end));
  const int64_t n = kSimulator ? 256 : 4096, k = n;  // the simulator's events time its (slow) kernels too
  DeviceTensor x(*gpu_, CAPRESE_DTYPE_F32, {1, k}), w(*gpu_, CAPRESE_DTYPE_F16, {n, k}), y(*gpu_, CAPRESE_DTYPE_F32, {1, n});
  CAPRESE_ASSERT_OK(caprese_event_record(*gpu_, start));
  for (int i = 0; i < 10; ++i) CAPRESE_ASSERT_OK(caprese_matmul(*gpu_, x.ct(), w.ct(), nullptr, y.t()));
  CAPRESE_ASSERT_OK(caprese_event_record(*gpu_, end));
  CAPRESE_ASSERT_OK(caprese_event_synchronize(end));
  float ms = -1;
  CAPRESE_ASSERT_OK(caprese_event_elapsed_ms(start, end, &ms));
  EXPECT_GT(ms, 0.0f);
  EXPECT_LT(ms, 1000.0f);
  caprese_event_destroy(start);
  caprese_event_destroy(end);
}

TEST_F(CudaTest, OwnStreamIsReportedAndRestored) {
  void* own = nullptr;
  CAPRESE_ASSERT_OK(caprese_context_get_stream(*gpu_, &own));
  EXPECT_NE(own, nullptr);  // the context's own (non-blocking) stream
  CAPRESE_ASSERT_OK(caprese_context_set_stream(*gpu_, nullptr));
  void* again = nullptr;
  CAPRESE_ASSERT_OK(caprese_context_get_stream(*gpu_, &again));
  EXPECT_EQ(again, own);
}

#ifdef CAPRESE_TEST_HAVE_CUDART

TEST_F(CudaTest, CallerOwnedStream) {
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  void* own = nullptr;
  CAPRESE_ASSERT_OK(caprese_context_get_stream(*gpu_, &own));
  CAPRESE_ASSERT_OK(caprese_context_set_stream(*gpu_, stream));
  void* got = nullptr;
  CAPRESE_ASSERT_OK(caprese_context_get_stream(*gpu_, &got));
  EXPECT_EQ(got, static_cast<void*>(stream));

  // Ops enqueued on the caller's stream: when that stream is idle the results are there.
  const int64_t n = 1024, k = 4096;
  std::vector<float> x = FastRandom(k, 1, 1.0f), w = FastRandom(n * k, 2, 0.05f);
  DeviceTensor xg(*gpu_, CAPRESE_DTYPE_F32, {1, k}), wg(*gpu_, CAPRESE_DTYPE_F32, {n, k}), yg(*gpu_, CAPRESE_DTYPE_F32, {1, n});
  CAPRESE_ASSERT_OK(xg.Upload(x));
  CAPRESE_ASSERT_OK(wg.Upload(w));
  CAPRESE_ASSERT_OK(caprese_matmul(*gpu_, xg.ct(), wg.ct(), nullptr, yg.t()));
  CAPRESE_ASSERT_OK(caprese_add(*gpu_, yg.ct(), yg.ct(), yg.t()));
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  std::vector<float> y(n);
  ASSERT_EQ(cudaMemcpy(y.data(), yg.data(), n * 4, cudaMemcpyDeviceToHost), cudaSuccess);
  DeviceTensor xc(*cpu_, CAPRESE_DTYPE_F32, {1, k}), wc(*cpu_, CAPRESE_DTYPE_F32, {n, k}), yc(*cpu_, CAPRESE_DTYPE_F32, {1, n});
  CAPRESE_ASSERT_OK(xc.Upload(x));
  CAPRESE_ASSERT_OK(wc.Upload(w));
  CAPRESE_ASSERT_OK(caprese_matmul(*cpu_, xc.ct(), wc.ct(), nullptr, yc.t()));
  CAPRESE_ASSERT_OK(caprese_add(*cpu_, yc.ct(), yc.ct(), yc.t()));
  // Random-sign f32 sums of 4096 terms of size <= 0.05: reordering error far below 1e-4.
  EXPECT_TRUE(Compare("matmul+add on caller stream", "1x1024x4096", "f32", y, yc.Download<float>(), 1e-4, 1e-4));

  // Back to the own stream; the caller's stream is ours to destroy, the context keeps working.
  CAPRESE_ASSERT_OK(caprese_context_set_stream(*gpu_, nullptr));
  CAPRESE_ASSERT_OK(caprese_context_get_stream(*gpu_, &got));
  EXPECT_EQ(got, own);
  ASSERT_EQ(cudaStreamDestroy(stream), cudaSuccess);
  CAPRESE_ASSERT_OK(caprese_context_synchronize(*gpu_));
}

TEST_F(CudaTest, ContextCreatedOnCallerStream) {
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  caprese_context_options opt{};
  opt.backend = kGpuBackend;
  opt.stream = stream;
  caprese_context_t ctx = nullptr;
  CAPRESE_ASSERT_OK(caprese_context_create(&opt, &ctx));
  void* got = nullptr;
  CAPRESE_ASSERT_OK(caprese_context_get_stream(ctx, &got));
  EXPECT_EQ(got, static_cast<void*>(stream));
  CAPRESE_ASSERT_OK(caprese_context_destroy(ctx));
  // Destroying the context must leave the caller's stream alive.
  EXPECT_EQ(cudaStreamQuery(stream), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(stream), cudaSuccess);
}

TEST_F(CudaTest, CallerOwnedDeviceMemoryAsTensors) {
  const int64_t m = 2, d = 4096;
  float *x = nullptr, *w = nullptr, *y = nullptr;
  ASSERT_EQ(cudaMalloc(&x, m * d * 4), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&w, d * 4), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&y, m * d * 4), cudaSuccess);
  std::vector<float> xv = FastRandom(m * d, 3, 2.0f), wv = FastRandom(d, 4, 1.0f);
  ASSERT_EQ(cudaMemcpy(x, xv.data(), m * d * 4, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(w, wv.data(), d * 4, cudaMemcpyHostToDevice), cudaSuccess);
  caprese_tensor xt = caprese_test::MakeTensor(x, CAPRESE_DTYPE_F32, {m, d});
  caprese_tensor wt = caprese_test::MakeTensor(w, CAPRESE_DTYPE_F32, {d});
  caprese_tensor yt = caprese_test::MakeTensor(y, CAPRESE_DTYPE_F32, {m, d});
  CAPRESE_ASSERT_OK(caprese_rmsnorm(*gpu_, &xt, &wt, 1e-5f, 0.0f, &yt));
  CAPRESE_ASSERT_OK(caprese_context_synchronize(*gpu_));
  std::vector<float> got(m * d);
  ASSERT_EQ(cudaMemcpy(got.data(), y, m * d * 4, cudaMemcpyDeviceToHost), cudaSuccess);
  DeviceTensor xc(*cpu_, CAPRESE_DTYPE_F32, {m, d}), wc(*cpu_, CAPRESE_DTYPE_F32, {d}), yc(*cpu_, CAPRESE_DTYPE_F32, {m, d});
  CAPRESE_ASSERT_OK(xc.Upload(xv));
  CAPRESE_ASSERT_OK(wc.Upload(wv));
  CAPRESE_ASSERT_OK(caprese_rmsnorm(*cpu_, xc.ct(), wc.ct(), 1e-5f, 0.0f, yc.t()));
  EXPECT_TRUE(Compare("rmsnorm on caller memory", "2x4096", "f32", got, yc.Download<float>(), 1e-6, 2e-6));
  cudaFree(x);
  cudaFree(w);
  cudaFree(y);
}

// Scratch cannot grow while the caller captures a CUDA graph (cudaMalloc/cudaFree are not
// capturable): the op says so instead of invalidating the capture. After a warm-up call
// has sized the scratch, the same op captures and replays with the same result.
TEST_F(CudaTest, ScratchGrowthRefusedDuringGraphCapture) {
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  caprese_context_options opt{};
  opt.backend = kGpuBackend;
  opt.stream = stream;
  caprese_context_t ctx = nullptr;
  CAPRESE_ASSERT_OK(caprese_context_create(&opt, &ctx));
  // ALL over 4096 neurons at M = 1 splits over many blocks: partial sums need scratch.
  const int64_t m = 1, d = 64, h = 4096;
  DeviceTensor x(ctx, CAPRESE_DTYPE_F32, {m, d}), wg(ctx, CAPRESE_DTYPE_F32, {h, d}), wu(ctx, CAPRESE_DTYPE_F32, {h, d}),
      wd(ctx, CAPRESE_DTYPE_F32, {h, d}), y1(ctx, CAPRESE_DTYPE_F32, {m, d}), y2(ctx, CAPRESE_DTYPE_F32, {m, d});
  CAPRESE_ASSERT_OK(x.Upload(FastRandom(m * d, 40, 1.0f)));
  CAPRESE_ASSERT_OK(wg.Upload(FastRandom(h * d, 41, 0.25f)));
  CAPRESE_ASSERT_OK(wu.Upload(FastRandom(h * d, 42, 0.25f)));
  CAPRESE_ASSERT_OK(wd.Upload(FastRandom(h * d, 43, 0.1f)));
  caprese_sparse_ffn_params p{};
  p.selection = CAPRESE_SPARSE_ALL;
  auto run = [&](DeviceTensor& y) {
    return caprese_sparse_ffn(ctx, x.ct(), wg.ct(), wu.ct(), wd.ct(), nullptr, nullptr, nullptr, &p, y.t());
  };

  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  EXPECT_EQ(run(y1), CAPRESE_ERROR_INVALID_ARGUMENT);
  EXPECT_TRUE(caprese_test::LastErrorMentions("captur")) << caprese_last_error();
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess) << "the refused op must not invalidate the capture";
  cudaGraphDestroy(graph);

  CAPRESE_ASSERT_OK(run(y1));  // warm-up: sizes the scratch
  CAPRESE_ASSERT_OK(caprese_context_synchronize(ctx));
  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  CAPRESE_ASSERT_OK(run(y2));
  ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiateWithFlags(&exec, graph, 0), cudaSuccess);  // same signature in CUDA 11.4+ and 12+
  ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  // Same kernels, same block split: identical bits.
  EXPECT_EQ(y2.Download<float>(), y1.Download<float>());
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  CAPRESE_ASSERT_OK(caprese_context_destroy(ctx));
  EXPECT_EQ(cudaStreamDestroy(stream), cudaSuccess);
}
#endif  // CAPRESE_TEST_HAVE_CUDART

}  // namespace
}  // namespace caprese_gpu_test
