/* Consumer test of the installed C ABI: CPU matmul + argmax with known results, then the
 * CUDA probe, whose message is printed whatever the outcome (on machines without a GPU it
 * must say why CUDA is unavailable), then the same matmul + argmax on the CUDA simulator
 * where the package says it ships (caprese_HAS_CUDA_SIM_PLUGIN; run-consumer-tests.sh sets
 * CAPRESE_CONSUMER_EXPECT_CUDA_SIM=1 then): the installed plugin and its runtime must load from
 * the prefix. Prints "OK" and exits 0 on success. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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

/* x [2, 3] · w [4, 3]ᵀ and its argmax on `backend`, checked against known results; copies use
 * the device kinds, which the CPU backend accepts too. Returns 0 on success. */
static int check_matmul(caprese_backend backend, const char* label) {
  caprese_context_options opts;
  memset(&opts, 0, sizeof opts);
  opts.backend = backend;
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
      fprintf(stderr, "FAIL: %s y[%d] = %g, expected %g\n", label, i, y[i], expected[i]);
      return 1;
    }
  }
  if (ids[0] != 2 || ids[1] != 0) {
    fprintf(stderr, "FAIL: %s argmax = {%d, %d}, expected {2, 0}\n", label, ids[0], ids[1]);
    return 1;
  }
  printf("%s matmul + argmax: {%d, %d}\n", label, ids[0], ids[1]);

  /* An error names the argument. */
  caprese_tensor bad = tensor2(wp, CAPRESE_DTYPE_F32, 3, 4);
  if (caprese_matmul(ctx, &xt, &bad, NULL, &yt) != CAPRESE_ERROR_SHAPE || strstr(caprese_last_error(), "w") == NULL) {
    fprintf(stderr, "FAIL: %s: expected a shape error naming w, got: %s\n", label, caprese_last_error());
    return 1;
  }

  /* Destroy the context first: buffers keep the backend alive. */
  CHECK(caprese_context_destroy(ctx));
  CHECK(caprese_buffer_destroy(xb));
  CHECK(caprese_buffer_destroy(wb));
  CHECK(caprese_buffer_destroy(yb));
  CHECK(caprese_buffer_destroy(ib));

  return 0;
}

int main(void) {
  printf("caprese %s, ABI %d\n", caprese_version(), caprese_abi_version());
  if (caprese_abi_version() != CAPRESE_ABI_VERSION) {
    fprintf(stderr, "FAIL: header ABI %d, library ABI %d\n", CAPRESE_ABI_VERSION, caprese_abi_version());
    return 1;
  }

  if (check_matmul(CAPRESE_BACKEND_CPU, "cpu") != 0) return 1;

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

  const char* expect_sim = getenv("CAPRESE_CONSUMER_EXPECT_CUDA_SIM");
  caprese_status sim = caprese_backend_probe(CAPRESE_BACKEND_CUDA_SIM);
  if (sim == CAPRESE_OK) {
    int32_t count = 0;
    caprese_device_info info;
    CHECK(caprese_backend_device_count(CAPRESE_BACKEND_CUDA_SIM, &count));
    CHECK(caprese_backend_device_info(CAPRESE_BACKEND_CUDA_SIM, 0, &info));
    if (count != 1 || strstr(info.name, "simulated") == NULL) {
      fprintf(stderr, "FAIL: the CUDA simulator lists %d device(s), the first named '%s' (expected 1, marked simulated)\n",
              (int)count, info.name);
      return 1;
    }
    printf("CUDA simulator: %s\n", info.name);
    if (check_matmul(CAPRESE_BACKEND_CUDA_SIM, "cuda-sim") != 0) return 1;
  } else if (expect_sim != NULL && strcmp(expect_sim, "1") == 0) {
    fprintf(stderr, "FAIL: the installed package has the CUDA simulator (caprese_HAS_CUDA_SIM_PLUGIN), but: %s: %s\n",
            caprese_status_string(sim), caprese_last_error());
    return 1;
  } else {
    printf("CUDA simulator probe: %s: %s\n", caprese_status_string(sim), caprese_last_error());
  }
  printf("OK\n");
  return 0;
}
