#include "core/model/check.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>

namespace taskd {

void CheckFailed(const char* file, int line, const char* condition, std::string_view what) {
  spdlog::critical("{}:{}: check failed: {}: {}", file, line, condition, what);
  spdlog::shutdown();  // flush every sink before the process goes
  // Also on stderr, whatever the log sinks are (a JSON log file, say).
  std::fprintf(stderr, "taskd: %s:%d: check failed: %s: %.*s\n", file, line, condition,
               static_cast<int>(what.size()), what.data());
  std::abort();
}

}  // namespace taskd
