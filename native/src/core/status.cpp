#include "core/status.h"

#include <cstdarg>
#include <cstdio>

namespace caprese {

Status Fail(caprese_status code, const char* format, ...) {
  char buf[1024];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buf, sizeof buf, format, args);
  va_end(args);
  return Status{code, buf};
}

}  // namespace caprese
