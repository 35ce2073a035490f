#include "core/model/status.h"

#include <algorithm>

#include "common/status_codes.h"

namespace taskd {

std::string_view StatusCodeName(StatusCode code) {
  return StatusCodeNameOf(static_cast<int>(code));
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(StatusCodeName(code_)) + ": " + message_;
}

std::string Quote(std::string_view input, size_t max) {
  size_t n = std::min(input.size(), max);
  // Do not cut a multi-byte sequence: back up to the start of the last one.
  if (n < input.size()) {
    while (n > 0 && (static_cast<unsigned char>(input[n]) & 0xc0) == 0x80) --n;
  }
  std::string out = "'";
  for (size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(input[i]);
    out += c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c);
  }
  out += "'";
  if (n < input.size()) out += "... (" + std::to_string(input.size()) + " bytes)";
  return out;
}

}  // namespace taskd
