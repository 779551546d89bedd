#include "api/errors.h"

#include <string>

namespace caprese {
namespace {
thread_local std::string t_last_error;
}

caprese_status Report(const Status& status) {
  if (!status.ok()) {
    // Assigning may itself throw bad_alloc; keep the code even if the message is lost.
    try {
      t_last_error = status.message.empty() ? caprese_status_string(status.code) : status.message;
    } catch (...) {
    }
  }
  return status.code;
}

}  // namespace caprese

extern "C" {

CAPRESE_API const char* caprese_last_error(void) { return caprese::t_last_error.c_str(); }

CAPRESE_API void caprese_clear_last_error(void) { caprese::t_last_error.clear(); }

CAPRESE_API const char* caprese_status_string(int32_t status) {
  switch (status) {  // an int: values outside the enum reach the fallback below
    case CAPRESE_OK: return "ok";
    case CAPRESE_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case CAPRESE_ERROR_SHAPE: return "shape mismatch";
    case CAPRESE_ERROR_DTYPE: return "unsupported dtype";
    case CAPRESE_ERROR_ALIGNMENT: return "misaligned pointer";
    case CAPRESE_ERROR_OUT_OF_MEMORY: return "out of memory";
    case CAPRESE_ERROR_BACKEND_UNAVAILABLE: return "backend unavailable";
    case CAPRESE_ERROR_DEVICE: return "device error";
    case CAPRESE_ERROR_OUT_OF_RANGE: return "index out of range";
    case CAPRESE_ERROR_INTERNAL: return "internal error";
    case CAPRESE_ERROR_NOT_SUPPORTED: return "not supported by this backend";
  }
  return "unknown status";
}

#define CAPRESE_STR2(x) #x
#define CAPRESE_STR(x) CAPRESE_STR2(x)
CAPRESE_API const char* caprese_version(void) {
  return CAPRESE_STR(CAPRESE_VERSION_MAJOR) "." CAPRESE_STR(CAPRESE_VERSION_MINOR) "." CAPRESE_STR(
      CAPRESE_VERSION_PATCH);
}

CAPRESE_API int32_t caprese_abi_version(void) { return CAPRESE_ABI_VERSION; }

}  // extern "C"
