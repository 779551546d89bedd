// Internal error type. Backends never throw across their boundary: every entry point
// returns a Status, and the C ABI layer turns it into caprese_status + caprese_last_error().
#pragma once

#include <string>

#include "caprese.h"

namespace caprese {

struct Status {
  caprese_status code = CAPRESE_OK;
  std::string message;

  bool ok() const { return code == CAPRESE_OK; }
  static Status Ok() { return Status{}; }
};

// printf-style constructor for failures: Fail(CAPRESE_ERROR_SHAPE, "x has %d dims", n).
Status Fail(caprese_status code, const char* format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

}  // namespace caprese

#define CAPRESE_RETURN_IF_ERROR(expr)          \
  do {                                         \
    ::caprese::Status _caprese_st = (expr);    \
    if (!_caprese_st.ok()) return _caprese_st; \
  } while (0)
