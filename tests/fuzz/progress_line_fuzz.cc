// ParseProgressLine on any bytes a task writes to its progress fd.
#include <cmath>
#include <cstdint>
#include <string_view>

#include "core/exec/exec_runner.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  if (auto p = taskd::ParseProgressLine(line)) {
    FUZZ_CHECK(std::isfinite(p->first) && p->first >= 0 && p->first <= 100);
    FUZZ_CHECK(p->second.size() <= size);
  }
  return 0;
}
