#include "api/tensor_check.h"

#include <cstdio>

namespace caprese {

int64_t DtypeSize(int32_t dtype) {
  switch (dtype) {
    case CAPRESE_DTYPE_F32: return 4;
    case CAPRESE_DTYPE_F16: return 2;
    case CAPRESE_DTYPE_BF16: return 2;
    case CAPRESE_DTYPE_I32: return 4;
  }
  return 0;
}

const char* DtypeName(int32_t dtype) {
  switch (dtype) {
    case CAPRESE_DTYPE_F32: return "f32";
    case CAPRESE_DTYPE_F16: return "f16";
    case CAPRESE_DTYPE_BF16: return "bf16";
    case CAPRESE_DTYPE_I32: return "i32";
  }
  return "unknown";
}

Status CheckTensor(const char* name, const caprese_tensor* t, int ndim,
                   std::initializer_list<caprese_dtype> dtypes) {
  if (t == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "%s: NULL tensor", name);
  if (t->ndim < 1 || t->ndim > CAPRESE_MAX_DIMS)
    return Fail(CAPRESE_ERROR_SHAPE, "%s: ndim must be 1..%d (got %d)", name, CAPRESE_MAX_DIMS, t->ndim);
  if (ndim > 0 && t->ndim != ndim)
    return Fail(CAPRESE_ERROR_SHAPE, "%s: expected %d dims, got %d", name, ndim, t->ndim);
  int64_t elem = DtypeSize(t->dtype);
  if (elem == 0)
    return Fail(CAPRESE_ERROR_DTYPE, "%s: unknown dtype value %d", name, t->dtype);
  bool allowed = false;
  for (caprese_dtype d : dtypes) allowed = allowed || d == t->dtype;
  if (!allowed) {
    char list[64] = {0};
    size_t used = 0;
    for (caprese_dtype d : dtypes)
      used += std::snprintf(list + used, sizeof list - used, "%s%s", used ? "|" : "", DtypeName(d));
    return Fail(CAPRESE_ERROR_DTYPE, "%s: dtype %s not supported here (expected %s)", name,
                DtypeName(t->dtype), list);
  }
  // Extents positive and the byte size representable (< 2^62), checked before multiplying.
  int64_t bytes = elem;
  for (int i = 0; i < t->ndim; ++i) {
    int64_t e = t->shape[i];
    if (e <= 0) return Fail(CAPRESE_ERROR_SHAPE, "%s: shape[%d] must be > 0 (got %lld)", name, i, (long long)e);
    if (bytes > (int64_t{1} << 62) / e)
      return Fail(CAPRESE_ERROR_SHAPE, "%s: size overflows (shape[%d] = %lld)", name, i, (long long)e);
    bytes *= e;
  }
  if (t->data == nullptr) return Fail(CAPRESE_ERROR_INVALID_ARGUMENT, "%s: NULL data pointer", name);
  if (reinterpret_cast<uintptr_t>(t->data) % static_cast<uintptr_t>(elem) != 0)
    return Fail(CAPRESE_ERROR_ALIGNMENT, "%s: data pointer %p not aligned to its %lld-byte elements",
                name, t->data, (long long)elem);
  return Status::Ok();
}

int64_t NumElements(const caprese_tensor& t) {
  int64_t n = 1;
  for (int i = 0; i < t.ndim; ++i) n *= t.shape[i];
  return n;
}

int64_t Rows(const caprese_tensor& t) {
  int64_t n = 1;
  for (int i = 0; i + 1 < t.ndim; ++i) n *= t.shape[i];
  return n;
}

bool SameShape(const caprese_tensor& a, const caprese_tensor& b) {
  if (a.ndim != b.ndim) return false;
  for (int i = 0; i < a.ndim; ++i)
    if (a.shape[i] != b.shape[i]) return false;
  return true;
}

const char* ShapeString(const caprese_tensor& t, char* buf, size_t size) {
  size_t used = std::snprintf(buf, size, "[");
  for (int i = 0; i < t.ndim && i < CAPRESE_MAX_DIMS && used < size; ++i)
    used += std::snprintf(buf + used, size - used, "%s%lld", i ? ", " : "", (long long)t.shape[i]);
  if (used < size) std::snprintf(buf + used, size - used, "]");
  return buf;
}

bool TensorsOverlap(const caprese_tensor& a, const caprese_tensor& b) {
  const char* pa = static_cast<const char*>(a.data);
  const char* pb = static_cast<const char*>(b.data);
  const int64_t na = NumElements(a) * DtypeSize(a.dtype), nb = NumElements(b) * DtypeSize(b.dtype);
  return pa < pb + nb && pb < pa + na;
}

}  // namespace caprese
