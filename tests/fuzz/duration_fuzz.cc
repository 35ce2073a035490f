// ParseDuration (taskctl's and the config file's "1h30m", "90s", "250ms").
#include <cstdint>
#include <string_view>

#include "client/duration.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto d = taskd::client::ParseDuration(text)) {
    FUZZ_CHECK(d->count() >= 0);
    // What taskctl prints reads back as the same duration.
    auto again = taskd::client::ParseDuration(taskd::client::FormatDuration(*d));
    FUZZ_CHECK(again.has_value());
  }
  return 0;
}
