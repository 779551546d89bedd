// Per-thread last-error storage and the guard every C entry point runs its body in.
#pragma once

#include <exception>
#include <new>

#include "caprese.h"
#include "core/status.h"

namespace caprese {

// Records the message for caprese_last_error() and returns the code (OK clears nothing).
caprese_status Report(const Status& status);

// Runs `body` (returning Status) and converts everything, exceptions included, into a
// caprese_status: nothing thrown inside the library escapes through the C ABI.
template <typename F>
caprese_status Guard(F&& body) noexcept {
  try {
    return Report(body());
  } catch (const std::bad_alloc&) {
    return Report(Fail(CAPRESE_ERROR_OUT_OF_MEMORY, "host allocation failed (std::bad_alloc)"));
  } catch (const std::exception& e) {
    return Report(Fail(CAPRESE_ERROR_INTERNAL, "unexpected C++ exception: %s", e.what()));
  } catch (...) {
    return Report(Fail(CAPRESE_ERROR_INTERNAL, "unexpected non-standard C++ exception"));
  }
}

}  // namespace caprese
