// TASKD_CHECK(condition, what): an impossible state, which is a bug in
// taskd, never a client's input (that gets a Status). When `condition` is
// false it logs the file, line, condition and `what` at critical level and
// aborts, in every build, so the bug shows where it happens instead of as
// undefined behaviour later.
#pragma once

#include <string_view>

namespace taskd {

[[noreturn]] void CheckFailed(const char* file, int line, const char* condition,
                              std::string_view what);

}  // namespace taskd

#define TASKD_CHECK(condition, what)                                \
  do {                                                              \
    if (!(condition)) [[unlikely]] {                                \
      ::taskd::CheckFailed(__FILE__, __LINE__, #condition, (what)); \
    }                                                               \
  } while (false)

// TASKD_DCHECK(condition, what): TASKD_CHECK in debug and sanitizer builds
// (NDEBUG unset); in release builds the condition is not evaluated. For
// checks on every call of a hot path, such as "this runs on the strand".
#ifdef NDEBUG
#define TASKD_DCHECK(condition, what) \
  do {                                \
    (void)sizeof(!(condition));       \
    (void)sizeof(what);               \
  } while (false)
#else
#define TASKD_DCHECK(condition, what) TASKD_CHECK(condition, what)
#endif
