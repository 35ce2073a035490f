// DecodePageToken on any client-sent page_token: a token is accepted only
// when it is exactly what EncodePageToken made of a task id.
#include <cstdint>
#include <string>

#include "core/model/task.h"
#include "server/page_token.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string token(reinterpret_cast<const char*>(data), size);
  auto cursor = taskd::server::DecodePageToken(token);
  if (cursor.ok()) {
    FUZZ_CHECK(taskd::TaskIdNumber(*cursor).has_value());
    FUZZ_CHECK(taskd::server::EncodePageToken(*cursor) == token);
  } else {
    FUZZ_CHECK(cursor.status().code() == taskd::StatusCode::kInvalidArgument);
    FUZZ_CHECK(cursor.status().message().rfind("page_token", 0) == 0);
  }
  // Any id string encodes to a token that decodes to it.
  if (taskd::TaskIdNumber(token)) {
    auto back = taskd::server::DecodePageToken(taskd::server::EncodePageToken(token));
    FUZZ_CHECK(back.ok() && *back == token);
  }
  return 0;
}
