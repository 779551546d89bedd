/* Consumer test of the installed C ABI: CPU matmul + argmax with known results, then the
 * CUDA probe, whose message is printed whatever the outcome (on machines without a GPU it
 * must say why CUDA is unavailable). Prints "OK" and exits 0 on success. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <caprese.h>

#define CHECK(call)                                                                  \
  do {                                                                               \
    caprese_status st_ = (call);                                                     \
    if (st_ != CAPRESE_OK) {                                                         \
      fprintf(stderr, "FAIL %s: %s: %s\n", #call, caprese_status_string(st_),        \
              caprese_last_error());                                                 \
      return 1;                                                                      \
    }                                                                                \
  } while (0)

static caprese_tensor tensor2(void* data, caprese_dtype dtype, int64_t d0, int64_t d1) {
  caprese_tensor t;
  memset(&t, 0, sizeof t);
  t.data = data;
  t.dtype = dtype;
  t.ndim = d1 > 0 ? 2 : 1;
  t.shape[0] = d0;
  t.shape[1] = d1;
  return t;
}

int main(void) {
  printf("caprese %s, ABI %d\n", caprese_version(), caprese_abi_version());
  if (caprese_abi_version() != CAPRESE_ABI_VERSION) {
    fprintf(stderr, "FAIL: header ABI %d, library ABI %d\n", CAPRESE_ABI_VERSION, caprese_abi_version());
    return 1;
  }

  caprese_context_options opts;
  memset(&opts, 0, sizeof opts);
  opts.backend = CAPRESE_BACKEND_CPU;
  caprese_context_t ctx = NULL;
  CHECK(caprese_context_create(&opts, &ctx));

  /* x [2, 3] · w [4, 3]ᵀ: row 0 picks column 2, row 1 picks column 0. */
  const float x[6] = {1, 2, 3, -1, 0, 1};
  const float w[12] = {-1, 0, 0, 0, 1, 0, 1, 1, 1, 0, 0, 0};
  const float expected[8] = {-1, 2, 6, 0, 1, 0, 0, 0};
  caprese_buffer_t xb = NULL, wb = NULL, yb = NULL, ib = NULL;
  void *xp, *wp, *yp, *ip;
  CHECK(caprese_buffer_create(ctx, sizeof x, &xb));
  CHECK(caprese_buffer_create(ctx, sizeof w, &wb));
  CHECK(caprese_buffer_create(ctx, 8 * sizeof(float), &yb));
  CHECK(caprese_buffer_create(ctx, 2 * sizeof(int32_t), &ib));
  CHECK(caprese_buffer_data(xb, &xp));
  CHECK(caprese_buffer_data(wb, &wp));
  CHECK(caprese_buffer_data(yb, &yp));
  CHECK(caprese_buffer_data(ib, &ip));
  CHECK(caprese_copy(ctx, xp, x, sizeof x, CAPRESE_COPY_HOST_TO_DEVICE));
  CHECK(caprese_copy(ctx, wp, w, sizeof w, CAPRESE_COPY_HOST_TO_DEVICE));

  caprese_tensor xt = tensor2(xp, CAPRESE_DTYPE_F32, 2, 3);
  caprese_tensor wt = tensor2(wp, CAPRESE_DTYPE_F32, 4, 3);
  caprese_tensor yt = tensor2(yp, CAPRESE_DTYPE_F32, 2, 4);
  caprese_tensor it = tensor2(ip, CAPRESE_DTYPE_I32, 2, 0);
  CHECK(caprese_matmul(ctx, &xt, &wt, NULL, &yt));
  CHECK(caprese_argmax(ctx, &yt, &it));
  CHECK(caprese_context_synchronize(ctx));

  float y[8];
  int32_t ids[2];
  CHECK(caprese_copy(ctx, y, yp, sizeof y, CAPRESE_COPY_DEVICE_TO_HOST));
  CHECK(caprese_copy(ctx, ids, ip, sizeof ids, CAPRESE_COPY_DEVICE_TO_HOST));
  for (int i = 0; i < 8; ++i) {
    if (fabsf(y[i] - expected[i]) > 1e-6f) {
      fprintf(stderr, "FAIL: y[%d] = %g, expected %g\n", i, y[i], expected[i]);
      return 1;
    }
  }
  if (ids[0] != 2 || ids[1] != 0) {
    fprintf(stderr, "FAIL: argmax = {%d, %d}, expected {2, 0}\n", ids[0], ids[1]);
    return 1;
  }
  printf("matmul + argmax: {%d, %d}\n", ids[0], ids[1]);

  /* An error names the argument. */
  caprese_tensor bad = tensor2(wp, CAPRESE_DTYPE_F32, 3, 4);
  if (caprese_matmul(ctx, &xt, &bad, NULL, &yt) != CAPRESE_ERROR_SHAPE || strstr(caprese_last_error(), "w") == NULL) {
    fprintf(stderr, "FAIL: expected a shape error naming w, got: %s\n", caprese_last_error());
    return 1;
  }

  /* Destroy the context first: buffers keep the backend alive. */
  CHECK(caprese_context_destroy(ctx));
  CHECK(caprese_buffer_destroy(xb));
  CHECK(caprese_buffer_destroy(wb));
  CHECK(caprese_buffer_destroy(yb));
  CHECK(caprese_buffer_destroy(ib));

  caprese_status cuda = caprese_backend_probe(CAPRESE_BACKEND_CUDA);
  if (cuda == CAPRESE_OK) {
    printf("CUDA probe: available\n");
  } else {
    const char* why = caprese_last_error();
    printf("CUDA probe: %s: %s\n", caprese_status_string(cuda), why);
    if (why == NULL || why[0] == '\0') {
      fprintf(stderr, "FAIL: CUDA unavailable without a reason\n");
      return 1;
    }
  }
  printf("OK\n");
  return 0;
}
