// The bearer-token rule, one for taskd (--token-file) and for its clients
// (taskctl --token-file, TASKD_TOKEN_FILE): the file's content without the
// whitespace around it, which must be 16 or more printable ASCII characters
// without spaces. Header-only, so taskd does not link the client library
// and the installed client library needs nothing more.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace taskd {

inline constexpr size_t kMinTokenLength = 16;

// The token in a token file's `content`, or nullopt with *why saying what
// is wrong with it (a sentence fragment: "must hold a token of ...").
inline std::optional<std::string> TokenFromFile(std::string_view content, std::string* why) {
  constexpr std::string_view kSpace = " \t\r\n";
  const size_t first = content.find_first_not_of(kSpace);
  std::string_view t = first == std::string_view::npos
                           ? std::string_view()
                           : content.substr(first, content.find_last_not_of(kSpace) - first + 1);
  if (t.size() < kMinTokenLength) {
    *why = "must hold a token of " + std::to_string(kMinTokenLength) + " or more characters";
    return std::nullopt;
  }
  for (char c : t) {
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) {
      *why = "the token must be printable ASCII without spaces";
      return std::nullopt;
    }
  }
  return std::string(t);
}

}  // namespace taskd
