#include "gpu/gpu_test.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>

namespace caprese_gpu_test {
namespace {

std::mutex g_mutex;
std::vector<std::string>& Records() {
  static std::vector<std::string> r;
  return r;
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

std::string Num(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// Writes the records at the end of the process. ctest runs every test in its own process,
// so the file is a JSON array that each process extends: read, append, write a temp file,
// rename; an flock on a side file serialises processes that run in parallel (ctest -j).
class ReportEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    const char* path = std::getenv("CAPRESE_GPU_REPORT");
    if (path == nullptr || *path == '\0' || Records().empty()) return;
    const std::string lock_path = std::string(path) + ".lock";
    const int lock = open(lock_path.c_str(), O_CREAT | O_RDWR, 0644);
    if (lock >= 0) flock(lock, LOCK_EX);
    std::string existing;
    {
      std::ifstream in(path);
      std::stringstream ss;
      ss << in.rdbuf();
      existing = ss.str();
    }
    while (!existing.empty() && std::isspace(static_cast<unsigned char>(existing.back()))) existing.pop_back();
    std::string body;
    if (existing.size() >= 2 && existing.front() == '[' && existing.back() == ']') {
      body = existing.substr(0, existing.size() - 1);
      while (!body.empty() && std::isspace(static_cast<unsigned char>(body.back()))) body.pop_back();
      if (body != "[") body += ",";
    } else {
      body = "[";
    }
    for (size_t i = 0; i < Records().size(); ++i) body += (i ? ",\n" : "\n") + Records()[i];
    body += "\n]\n";
    const std::string tmp = std::string(path) + ".tmp." + std::to_string(getpid());
    bool ok = false;
    if (FILE* f = std::fopen(tmp.c_str(), "w")) {
      ok = std::fwrite(body.data(), 1, body.size(), f) == body.size();
      ok = std::fclose(f) == 0 && ok;
    }
    if (!ok || std::rename(tmp.c_str(), path) != 0) {
      std::fprintf(stderr, "caprese_gpu_tests: could not write the report %s\n", path);
      std::remove(tmp.c_str());
    }
    if (lock >= 0) {
      flock(lock, LOCK_UN);
      close(lock);
    }
  }
};

::testing::Environment* const g_report_env = ::testing::AddGlobalTestEnvironment(new ReportEnvironment);

}  // namespace

void Record(const std::string& op, const std::string& shape, const std::string& dtype, double max_abs_err,
            double max_rel_err, const std::string& tolerance, bool pass) {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string test = info ? std::string(info->test_suite_name()) + "." + info->name() : "";
  std::string rec = "{\"test\": \"" + JsonEscape(test) + "\", \"op\": \"" + JsonEscape(op) + "\", \"shape\": \"" +
                    JsonEscape(shape) + "\", \"dtype\": \"" + JsonEscape(dtype) + "\", \"max_abs_err\": " +
                    Num(max_abs_err) + ", \"max_rel_err\": " + Num(max_rel_err) + ", \"tolerance\": \"" +
                    JsonEscape(tolerance) + "\", \"pass\": " + (pass ? "true" : "false") + "}";
  std::lock_guard<std::mutex> lock(g_mutex);
  Records().push_back(rec);
}

std::vector<float> FastRandom(size_t n, uint64_t seed, float scale) {
  std::vector<float> v(n);
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
  for (float& f : v) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    f = (static_cast<float>(s >> 40) * (2.0f / 16777216.0f) - 1.0f) * scale;
  }
  return v;
}

namespace {

::testing::AssertionResult Verdict(const std::string& op, const std::string& shape, const std::string& dtype,
                                   const std::vector<float>& got, const std::vector<float>& want,
                                   const std::vector<double>* tols, double atol, double rtol,
                                   const std::string& tol_label) {
  if (got.size() != want.size()) {
    Record(op, shape, dtype, NAN, NAN, tol_label, false);
    return ::testing::AssertionFailure() << "size " << got.size() << " vs " << want.size();
  }
  double max_abs = 0, max_rel = 0, worst_ratio = 0;
  size_t bad = 0, worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    const double tol = tols ? (*tols)[i] : atol + rtol * std::fabs(want[i]);
    if (std::isnan(err)) {
      max_abs = NAN;
    } else {
      max_abs = std::max(max_abs, err);
      if (std::fabs(want[i]) > 1e-6) max_rel = std::max(max_rel, err / std::fabs(want[i]));
    }
    if (!(err <= tol)) {
      ++bad;
      const double r = std::isnan(err) ? 1e300 : err / tol;
      if (r > worst_ratio) worst_ratio = r, worst = i;
    }
  }
  Record(op, shape, dtype, max_abs, max_rel, tol_label, bad == 0);
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << op << " " << shape << " " << dtype << ": " << bad << " of " << got.size()
                                       << " elements off; worst [" << worst << "]: cuda " << got[worst] << ", cpu "
                                       << want[worst] << " (tolerance " << tol_label << ")";
}

}  // namespace

::testing::AssertionResult Compare(const std::string& op, const std::string& shape, const std::string& dtype,
                                   const std::vector<float>& got, const std::vector<float>& want, double atol,
                                   double rtol) {
  char label[64];
  std::snprintf(label, sizeof label, "atol %.3g + rtol %.3g", atol, rtol);
  return Verdict(op, shape, dtype, got, want, nullptr, atol, rtol, label);
}

::testing::AssertionResult CompareBounded(const std::string& op, const std::string& shape,
                                          const std::string& dtype, const std::vector<float>& got,
                                          const std::vector<float>& want, const std::vector<double>& tol,
                                          const std::string& tol_label) {
  return Verdict(op, shape, dtype, got, want, &tol, 0, 0, tol_label);
}

Context* CudaTest::cpu_ = nullptr;
Context* CudaTest::gpu_ = nullptr;
std::string CudaTest::skip_reason_;

void CudaTest::SetUpTestSuite() {
  skip_reason_.clear();
  if (caprese_backend_probe(kGpuBackend) != CAPRESE_OK) {
    skip_reason_ = std::string("no usable ") + kGpuBackendName + " backend: " + caprese_last_error();
    return;
  }
  cpu_ = new Context(CAPRESE_BACKEND_CPU);
  gpu_ = new Context(kGpuBackend);
  if (!gpu_->ok()) skip_reason_ = "CUDA context creation failed: " + gpu_->message;
}

void CudaTest::TearDownTestSuite() {
  delete gpu_;
  delete cpu_;
  gpu_ = cpu_ = nullptr;
}

void CudaTest::SetUp() {
  // On the GPU machine (CAPRESE_EXPECT_GPU=1, set by gpu-validate.sh) a test that cannot run
  // is a failure, never a quiet skip.
  const char* expect = std::getenv("CAPRESE_EXPECT_GPU");
  if (!skip_reason_.empty() && expect != nullptr && std::string(expect) == "1")
    FAIL() << "CAPRESE_EXPECT_GPU=1 but " << skip_reason_;
  if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
  ASSERT_TRUE(cpu_->ok()) << cpu_->message;
}

}  // namespace caprese_gpu_test
