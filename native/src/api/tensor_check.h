// Argument checks shared by every op entry point: the "API layer" between the C ABI and the
// backends. Each failure names the argument and what is wrong with it.
#pragma once

#include <cstdint>
#include <initializer_list>

#include "caprese.h"
#include "core/status.h"

namespace caprese {

int64_t DtypeSize(int32_t dtype);  // 0 for an unknown dtype
const char* DtypeName(int32_t dtype);

// Non-null, 1..max_dims dims (exactly `ndim` if ndim > 0), positive extents whose byte size
// does not overflow, a dtype from `dtypes`, data aligned to the element size.
Status CheckTensor(const char* name, const caprese_tensor* t, int ndim,
                   std::initializer_list<caprese_dtype> dtypes);

int64_t NumElements(const caprese_tensor& t);
int64_t Rows(const caprese_tensor& t);  // product of all dims but the last
inline int64_t Cols(const caprese_tensor& t) { return t.shape[t.ndim - 1]; }
bool SameShape(const caprese_tensor& a, const caprese_tensor& b);
// Whether the byte ranges of a and b intersect (kernels declare their pointers __restrict__).
bool TensorsOverlap(const caprese_tensor& a, const caprese_tensor& b);
// "[2, 3, 4]" for messages.
const char* ShapeString(const caprese_tensor& t, char* buf, size_t size);

}  // namespace caprese
