// The names of the status codes (gRPC's numbering, which core's StatusCode
// and grpc::StatusCode share): one table for the daemon's errors, its
// metrics labels and taskctl's messages.
#pragma once

#include <array>
#include <string_view>

namespace taskd {

inline constexpr std::array<std::string_view, 17> kStatusCodeNames = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

// "NOT_FOUND" for 5; "UNKNOWN" for a number outside the table.
constexpr std::string_view StatusCodeNameOf(int code) {
  return code >= 0 && code < static_cast<int>(kStatusCodeNames.size())
             ? kStatusCodeNames[static_cast<size_t>(code)]
             : "UNKNOWN";
}

}  // namespace taskd
