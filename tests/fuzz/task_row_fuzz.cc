// TaskFromJson: the SQLite row decoder, on any bytes a damaged or edited
// database may hold. A row it accepts writes back to one it accepts again,
// unchanged.
#include <cstdint>
#include <string>

#include "core/model/task_json.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto task = taskd::TaskFromJson(text);
  if (task.ok()) {
    std::string row = taskd::TaskToJson(*task);
    auto again = taskd::TaskFromJson(row);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(taskd::TaskToJson(*again) == row);
  }
  return 0;
}
