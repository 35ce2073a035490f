#include "core/check.h"

#include <spdlog/spdlog.h>

#include <cstdlib>

namespace taskd {

void CheckFailed(const char* file, int line, const char* condition, std::string_view what) {
  spdlog::critical("{}:{}: check failed: {}: {}", file, line, condition, what);
  spdlog::shutdown();  // flush every sink before the process goes
  std::abort();
}

}  // namespace taskd
