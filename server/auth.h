// The rules every taskd listener shares: which hosts count as loopback, and
// how a bearer token is checked.
#pragma once

#include <string>
#include <string_view>

namespace taskd::server {

// "localhost", 127.0.0.0/8 or ::1 (brackets allowed).
bool IsLoopbackHost(const std::string& host);

// `header` is "Bearer TOKEN" (scheme in any case) with this token. The
// comparison takes the same time wherever the first difference is, so
// timing does not leak the token.
bool BearerMatches(std::string_view header, std::string_view token);

}  // namespace taskd::server
