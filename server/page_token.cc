#include "server/page_token.h"

#include <cstdint>
#include <string_view>

#include "core/model/task.h"

namespace taskd::server {

namespace {

const char kHex[] = "0123456789abcdef";

// FNV-1a over the cursor, salted: a token that was cut short, edited or
// made up fails this check instead of silently restarting the listing.
uint64_t PageTokenCheck(std::string_view cursor) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : std::string_view("taskd page token v2")) h = (h ^ c) * 0x100000001b3ull;
  for (unsigned char c : cursor) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

void AppendHex(std::string& out, std::string_view bytes) {
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
}

}  // namespace

// "p2" + hex(last id) + hex(8-byte check of it).
std::string EncodePageToken(const std::string& last_id) {
  std::string out = "p2";
  AppendHex(out, last_id);
  uint64_t check = PageTokenCheck(last_id);
  char raw[8];
  for (int i = 0; i < 8; ++i) raw[i] = static_cast<char>(check >> (56 - 8 * i));
  AppendHex(out, std::string_view(raw, 8));
  return out;
}

StatusOr<std::string> DecodePageToken(const std::string& token) {
  auto bad = InvalidArgument("page_token",
                             "is not one this taskd issued; pass next_page_token "
                             "unchanged, or leave it empty for the first page");
  if (token.size() < 2 + 2 + 16 || token.compare(0, 2, "p2") != 0 || token.size() % 2 != 0) {
    return bad;
  }
  std::string bytes;
  for (size_t i = 2; i < token.size(); i += 2) {
    auto nib = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    int hi = nib(token[i]), lo = nib(token[i + 1]);
    if (hi < 0 || lo < 0) return bad;
    bytes += static_cast<char>(hi << 4 | lo);
  }
  std::string cursor = bytes.substr(0, bytes.size() - 8);
  uint64_t check = 0;
  for (size_t i = bytes.size() - 8; i < bytes.size(); ++i) {
    check = check << 8 | static_cast<unsigned char>(bytes[i]);
  }
  if (check != PageTokenCheck(cursor) || !TaskIdNumber(cursor)) return bad;
  return cursor;
}

}  // namespace taskd::server
