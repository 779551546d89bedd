// Stream capture and graphs for cuda-sim. Streams run their work synchronously, so a graph is
// simply the list of operations captured on one stream, in order; launching it runs them
// again on the calling thread. Enough for what CUDA graphs give Caprese (one launch replaying
// a decode step whose varying inputs live in device memory); no graph editing, no forks
// across streams.
#include <mutex>
#include <vector>

#include "internal.h"

namespace cudasim {

struct Graph {
  std::vector<internal::GraphNode> nodes;
};
struct GraphExec {
  std::vector<internal::GraphNode> nodes;
};

namespace internal {
namespace {
// Only the thread that began a capture touches its stream's capture state in Caprese's use,
// but launches of other threads may ask whether a stream is capturing: one lock keeps it simple.
std::mutex& CaptureMutex() {
  static std::mutex* m = new std::mutex();
  return *m;
}
}  // namespace

bool CaptureIfCapturing(cudaStream_t stream, GraphNode node) {
  if (stream == nullptr) return false;
  std::lock_guard<std::mutex> lock(CaptureMutex());
  if (stream->capture == nullptr) return false;
  if (!stream->capture_invalidated) stream->capture->nodes.push_back(std::move(node));
  return true;
}

bool IsCapturing(cudaStream_t stream) {
  if (stream == nullptr) return false;
  std::lock_guard<std::mutex> lock(CaptureMutex());
  return stream->capture != nullptr;
}

void InvalidateCapture(cudaStream_t stream) {
  if (stream == nullptr) return;
  std::lock_guard<std::mutex> lock(CaptureMutex());
  if (stream->capture != nullptr) stream->capture_invalidated = true;
}

}  // namespace internal

using internal::Record;

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
  if (stream == nullptr)
    return Record(cudaErrorStreamCaptureUnsupported, "cudaStreamBeginCapture: the legacy default stream cannot be captured");
  if (!internal::ValidStream(stream))
    return Record(cudaErrorInvalidResourceHandle, "cudaStreamBeginCapture: the stream was destroyed or never created");
  if (mode != cudaStreamCaptureModeGlobal && mode != cudaStreamCaptureModeThreadLocal &&
      mode != cudaStreamCaptureModeRelaxed)
    return Record(cudaErrorInvalidValue, "cudaStreamBeginCapture: unknown capture mode");
  std::lock_guard<std::mutex> lock(internal::CaptureMutex());
  if (stream->capture != nullptr)
    return Record(cudaErrorIllegalState, "cudaStreamBeginCapture: the stream is already being captured");
  stream->capture = new Graph();
  stream->capture_invalidated = false;
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  if (graph == nullptr) return Record(cudaErrorInvalidValue, "cudaStreamEndCapture: NULL graph");
  *graph = nullptr;
  if (!internal::ValidStream(stream) || stream == nullptr)
    return Record(cudaErrorInvalidResourceHandle, "cudaStreamEndCapture: not a live stream");
  std::lock_guard<std::mutex> lock(internal::CaptureMutex());
  if (stream->capture == nullptr)
    return Record(cudaErrorIllegalState, "cudaStreamEndCapture: the stream is not being captured");
  Graph* g = stream->capture;
  const bool invalidated = stream->capture_invalidated;
  stream->capture = nullptr;
  stream->capture_invalidated = false;
  if (invalidated) {
    delete g;
    return Record(cudaErrorStreamCaptureInvalidated,
                  "cudaStreamEndCapture: the capture was invalidated by a call not permitted during capture");
  }
  *graph = g;
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiateWithFlags(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags) {
  if (exec == nullptr || graph == nullptr) return Record(cudaErrorInvalidValue, "cudaGraphInstantiate: NULL argument");
  if (flags != 0) return Record(cudaErrorInvalidValue, "cudaGraphInstantiate: cuda-sim supports no flags");
  *exec = new GraphExec{graph->nodes};  // the executable keeps its own copy, as in CUDA
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (exec == nullptr) return Record(cudaErrorInvalidValue, "cudaGraphLaunch: NULL graph");
  if (!internal::ValidStream(stream))
    return Record(cudaErrorInvalidResourceHandle, "cudaGraphLaunch: the stream was destroyed or never created");
  if (internal::IsCapturing(stream)) {
    // A graph launched into a capture becomes one node of the outer graph.
    std::vector<internal::GraphNode> nodes = exec->nodes;
    internal::CaptureIfCapturing(stream, [nodes]() -> cudaError_t {
      cudaError_t first = cudaSuccess;
      for (const auto& n : nodes) {
        const cudaError_t e = n();
        if (first == cudaSuccess) first = e;
      }
      return first;
    });
    return cudaSuccess;
  }
  // Like the GPU, every node runs even after one fails; the first error is returned (and
  // each failing node has recorded its own, as a kernel fault does).
  cudaError_t first = cudaSuccess;
  for (const auto& n : exec->nodes) {
    const cudaError_t e = n();
    if (first == cudaSuccess) first = e;
  }
  return first;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}

}  // namespace cudasim
