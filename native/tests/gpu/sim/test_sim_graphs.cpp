// The simulator's stream capture and graphs: captured work does not run at capture time,
// replays run it in order with the arguments copied at capture (values behind pointers read at
// replay), copies and memsets are nodes too, and synchronising a capturing stream invalidates
// the capture as on a GPU.
#include <cuda_runtime.h>
#include <cudasim/inspect.h>
#include <gtest/gtest.h>

#include <vector>

namespace {

#define SIM_LAUNCH(kernel, grid, block, stream, ...) \
  ::cudasim::Launch(__FILE__, __LINE__, kernel, grid, block, 0, stream, __VA_ARGS__)

__global__ void AddScaled(float* out, const float* in, float scale, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] += scale * in[i];
}

TEST(SimGraphs, CaptureRecordsAndReplaysInOrder) {
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  const int n = 64;
  float *in = nullptr, *out = nullptr, *staged = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&in), n * 4), cudaSuccess);
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&out), n * 4), cudaSuccess);
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&staged), n * 4), cudaSuccess);
  std::vector<float> host(n, 1.0f);
  ASSERT_EQ(cudaMemcpy(in, host.data(), n * 4, cudaMemcpyHostToDevice), cudaSuccess);
  // cudaMalloc does not clear memory (under ASan it is filled with a pattern): zero `out` eagerly, so
  // "capture did not run the work" is a real check.
  ASSERT_EQ(cudaMemset(out, 0, n * 4), cudaSuccess);

  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
  ASSERT_EQ(cudaStreamIsCapturing(s, &st), cudaSuccess);
  EXPECT_EQ(st, cudaStreamCaptureStatusActive);
  float scale = 2.0f;
  ASSERT_EQ(cudaMemsetAsync(out, 0, n * 4, s), cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync(staged, in, n * 4, cudaMemcpyDeviceToDevice, s), cudaSuccess);
  SIM_LAUNCH(AddScaled, 1, n, s, out, staged, scale, n);
  scale = 100.0f;  // arguments were copied at capture: the graph keeps 2
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(s, &graph), cudaSuccess);
  ASSERT_EQ(cudaStreamIsCapturing(s, &st), cudaSuccess);
  EXPECT_EQ(st, cudaStreamCaptureStatusNone);
  std::vector<float> got(n, -1.0f);
  ASSERT_EQ(cudaMemcpy(got.data(), out, n * 4, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(got, std::vector<float>(n, 0.0f)) << "capture must not run the work";

  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiateWithFlags(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphDestroy(graph), cudaSuccess);  // the executable graph stands alone
  for (float v : {1.0f, 3.0f}) {
    std::fill(host.begin(), host.end(), v);  // new contents behind the captured pointer
    ASSERT_EQ(cudaMemcpy(in, host.data(), n * 4, cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(got.data(), out, n * 4, cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(got, std::vector<float>(n, 2.0f * v)) << "memset, copy, then kernel, in order";
  }
  EXPECT_EQ(cudaGraphExecDestroy(exec), cudaSuccess);
  cudaFree(in);
  cudaFree(out);
  cudaFree(staged);
  EXPECT_EQ(cudaStreamDestroy(s), cudaSuccess);
}

TEST(SimGraphs, SynchronizingACapturingStreamInvalidatesTheCapture) {
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_EQ(cudaStreamBeginCapture(nullptr, cudaStreamCaptureModeGlobal), cudaErrorStreamCaptureUnsupported);
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), cudaSuccess);
  EXPECT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), cudaErrorIllegalState);
  EXPECT_EQ(cudaStreamSynchronize(s), cudaErrorStreamCaptureUnsupported);
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
  ASSERT_EQ(cudaStreamIsCapturing(s, &st), cudaSuccess);
  EXPECT_EQ(st, cudaStreamCaptureStatusInvalidated);
  cudaGraph_t graph = reinterpret_cast<cudaGraph_t>(0x1);
  EXPECT_EQ(cudaStreamEndCapture(s, &graph), cudaErrorStreamCaptureInvalidated);
  EXPECT_EQ(graph, nullptr);
  EXPECT_EQ(cudaStreamEndCapture(s, &graph), cudaErrorIllegalState);
  cudaGetLastError();
  EXPECT_EQ(cudaStreamSynchronize(s), cudaSuccess);  // no longer capturing
  EXPECT_EQ(cudaStreamDestroy(s), cudaSuccess);
}

}  // namespace
