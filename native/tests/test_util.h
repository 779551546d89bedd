// Helpers shared by the native tests (CPU and GPU): RAII handles over the public C API,
// seeded random data, f16/bf16 weight packing and error measures. Only caprese.h and
// core/half.h are used, so GPU tests can include this file too.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "caprese.h"
#include "core/half.h"

namespace caprese_test {

// Expects `call` to return CAPRESE_OK, printing caprese_last_error() otherwise.
#define CAPRESE_ASSERT_OK(call)                                                        \
  do {                                                                                 \
    caprese_status _st = (call);                                                       \
    ASSERT_EQ(_st, CAPRESE_OK) << #call << ": " << caprese_status_string(_st) << ": " \
                               << caprese_last_error();                                \
  } while (0)

// A context that is destroyed at scope end. `ok()` is false if creation failed (e.g. no GPU),
// with `status` and `message` saying why.
class Context {
 public:
  explicit Context(caprese_backend backend = CAPRESE_BACKEND_CPU, int32_t num_threads = 0,
                   int32_t device = 0) {
    caprese_context_options opt{};
    opt.backend = backend;
    opt.device = device;
    opt.num_threads = num_threads;
    status = caprese_context_create(&opt, &ctx_);
    if (status != CAPRESE_OK) message = caprese_last_error();
  }
  ~Context() { caprese_context_destroy(ctx_); }
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  bool ok() const { return status == CAPRESE_OK; }
  caprese_context_t get() const { return ctx_; }
  operator caprese_context_t() const { return ctx_; }

  caprese_status status = CAPRESE_OK;
  std::string message;

 private:
  caprese_context_t ctx_ = nullptr;
};

inline int64_t DtypeBytes(caprese_dtype dt) {
  return (dt == CAPRESE_DTYPE_F16 || dt == CAPRESE_DTYPE_BF16) ? 2 : 4;
}

inline caprese_tensor MakeTensor(void* data, caprese_dtype dtype, std::initializer_list<int64_t> shape) {
  caprese_tensor t{};
  t.data = data;
  t.dtype = dtype;
  t.ndim = static_cast<int32_t>(shape.size());
  int i = 0;
  for (int64_t e : shape) t.shape[i++] = e;
  return t;
}

// A buffer in the context's memory space plus the tensor view over it. Upload/Download
// go through caprese_copy, so the same test code runs on CPU and CUDA contexts.
class Buffer {
 public:
  Buffer() = default;
  Buffer(caprese_context_t ctx, size_t bytes) : ctx_(ctx), bytes_(bytes) {
    status = caprese_buffer_create(ctx, bytes, &buf_);
    if (status == CAPRESE_OK) caprese_buffer_data(buf_, &data_);
  }
  ~Buffer() { caprese_buffer_destroy(buf_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept { *this = std::move(o); }
  Buffer& operator=(Buffer&& o) noexcept {
    std::swap(ctx_, o.ctx_);
    std::swap(buf_, o.buf_);
    std::swap(data_, o.data_);
    std::swap(bytes_, o.bytes_);
    status = o.status;
    return *this;
  }

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  caprese_buffer_t handle() const { return buf_; }

  caprese_status Upload(const void* src, size_t bytes) {
    return caprese_copy(ctx_, data_, src, bytes, CAPRESE_COPY_HOST_TO_DEVICE);
  }
  caprese_status Download(void* dst, size_t bytes) const {
    caprese_status st = caprese_copy(ctx_, dst, data_, bytes, CAPRESE_COPY_DEVICE_TO_HOST);
    if (st != CAPRESE_OK) return st;
    return caprese_context_synchronize(ctx_);
  }

  caprese_status status = CAPRESE_OK;

 private:
  caprese_context_t ctx_ = nullptr;
  caprese_buffer_t buf_ = nullptr;
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// A typed tensor backed by a Buffer: holds data of shape `shape` in `dtype`.
class DeviceTensor {
 public:
  DeviceTensor(caprese_context_t ctx, caprese_dtype dtype, std::initializer_list<int64_t> shape)
      : t_(MakeTensor(nullptr, dtype, shape)) {
    int64_t n = 1;
    for (int64_t e : shape) n *= e;
    count_ = n;
    buf_ = Buffer(ctx, static_cast<size_t>(n * DtypeBytes(dtype)));
    t_.data = buf_.data();
  }
  caprese_tensor* t() { return &t_; }
  const caprese_tensor* ct() const { return &t_; }
  int64_t count() const { return count_; }
  size_t bytes() const { return buf_.bytes(); }
  void* data() const { return buf_.data(); }

  template <typename T>
  caprese_status Upload(const std::vector<T>& v) {
    EXPECT_EQ(v.size() * sizeof(T), bytes());
    return buf_.Upload(v.data(), bytes());
  }
  template <typename T>
  std::vector<T> Download() const {
    std::vector<T> v(bytes() / sizeof(T));
    caprese_status st = buf_.Download(v.data(), bytes());
    EXPECT_EQ(st, CAPRESE_OK) << caprese_last_error();
    return v;
  }

 private:
  caprese_tensor t_;
  Buffer buf_;
  int64_t count_ = 0;
};

// ------------------------------------------------------------- random data

inline std::vector<float> RandomVector(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

inline std::vector<float> RandomNormal(size_t n, uint32_t seed, float stddev = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

// --------------------------------------------------- narrow weight packing

// Rounds every value to the precision of `dtype` (f32: unchanged), so a reference computed
// from the result sees exactly the weights the backend sees.
inline std::vector<float> RoundTo(caprese_dtype dtype, std::vector<float> v) {
  if (dtype == CAPRESE_DTYPE_F16)
    for (float& f : v) f = caprese::RoundToF16(f);
  if (dtype == CAPRESE_DTYPE_BF16)
    for (float& f : v) f = caprese::RoundToBF16(f);
  return v;
}

// The bytes of `v` stored as `dtype` (f32, f16 or bf16).
inline std::vector<uint8_t> Pack(caprese_dtype dtype, const std::vector<float>& v) {
  std::vector<uint8_t> out(v.size() * DtypeBytes(dtype));
  for (size_t i = 0; i < v.size(); ++i) {
    if (dtype == CAPRESE_DTYPE_F32) {
      std::memcpy(&out[i * 4], &v[i], 4);
    } else {
      uint16_t h = dtype == CAPRESE_DTYPE_F16 ? caprese::F32ToF16(v[i]) : caprese::F32ToBF16(v[i]);
      std::memcpy(&out[i * 2], &h, 2);
    }
  }
  return out;
}

inline const char* DtypeLabel(caprese_dtype dt) {
  switch (dt) {
    case CAPRESE_DTYPE_F32: return "f32";
    case CAPRESE_DTYPE_F16: return "f16";
    case CAPRESE_DTYPE_BF16: return "bf16";
    case CAPRESE_DTYPE_I32: return "i32";
  }
  return "?";
}

// ------------------------------------------------------------ error measures

inline double MaxAbsDiff(const std::vector<float>& a, const std::vector<double>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

// Passes when |got[i] - want[i]| <= atol + rtol * |want[i]| for every i (NaN never passes);
// the failure message names the worst element.
inline ::testing::AssertionResult AllClose(const std::vector<float>& got, const std::vector<double>& want,
                                           double atol, double rtol) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "size " << got.size() << " vs " << want.size();
  size_t bad = 0, worst = 0;
  double worst_excess = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    double tol = atol + rtol * std::fabs(want[i]);
    if (!(err <= tol)) {
      ++bad;
      double excess = std::isnan(err) ? 1e300 : err / tol;
      if (excess > worst_excess) worst_excess = excess, worst = i;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << got.size() << " elements off; worst ["
                                       << worst << "]: got " << got[worst] << ", want " << want[worst]
                                       << " (atol " << atol << ", rtol " << rtol << ")";
}

// Per-element tolerance: |got[i] - want[i]| <= tol[i].
inline ::testing::AssertionResult WithinBounds(const std::vector<float>& got, const std::vector<double>& want,
                                               const std::vector<double>& tol) {
  size_t bad = 0, worst = 0;
  double worst_ratio = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (!(err <= tol[i])) {
      ++bad;
      double r = std::isnan(err) ? 1e300 : err / tol[i];
      if (r > worst_ratio) worst_ratio = r, worst = i;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << got.size() << " elements off; worst ["
                                       << worst << "]: got " << got[worst] << ", want " << want[worst]
                                       << ", tol " << tol[worst];
}

// True if the last error message on this thread contains `needle`.
inline ::testing::AssertionResult LastErrorMentions(const std::string& needle) {
  std::string msg = caprese_last_error();
  if (msg.find(needle) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "last error \"" << msg << "\" does not mention \"" << needle << "\"";
}

}  // namespace caprese_test
