// C ABI of graph capture and replay (CUDA graphs) and of scratch reservation.
#include "api/errors.h"
#include "api/handles.h"

using namespace caprese;

extern "C" {

CAPRESE_API caprese_status caprese_context_reserve_scratch(caprese_context_t ctx, size_t bytes) {
  return Guard([&]() -> Status {
    if (ctx == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "ctx: NULL context");
    return ctx->backend->ReserveScratch(bytes);
  });
}

CAPRESE_API caprese_status caprese_graph_begin_capture(caprese_context_t ctx) {
  return Guard([&]() -> Status {
    if (ctx == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "ctx: NULL context");
    return ctx->backend->BeginCapture();
  });
}

CAPRESE_API caprese_status caprese_graph_end_capture(caprese_context_t ctx, caprese_graph_t* out) {
  return Guard([&]() -> Status {
    if (out == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "out: NULL pointer");
    *out = nullptr;
    if (ctx == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "ctx: NULL context");
    std::unique_ptr<caprese_graph> g(new caprese_graph());
    g->backend = ctx->backend;
    CAPRESE_RETURN_IF_ERROR(ctx->backend->EndCapture(&g->graph));
    *out = g.release();
    return Status::Ok();
  });
}

CAPRESE_API caprese_status caprese_graph_launch(caprese_context_t ctx, caprese_graph_t graph) {
  return Guard([&]() -> Status {
    if (ctx == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "ctx: NULL context");
    if (graph == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "graph: NULL graph");
    if (graph->backend != ctx->backend)
      return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "graph: captured on another context (its pointers and scratch belong there)");
    return ctx->backend->LaunchGraph(graph->graph.get());
  });
}

CAPRESE_API caprese_status caprese_graph_destroy(caprese_graph_t graph) {
  return Guard([&]() -> Status {
    delete graph;  // the graph first, then (maybe) the backend it holds
    return Status::Ok();
  });
}

}  // extern "C"
