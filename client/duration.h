// Human durations for the command line: "90s", "5m", "1h30m", "250ms",
// "1.5h"; a bare number is seconds.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace taskd::client {

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text);
// "1h2m", "3.2s", "150ms".
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace taskd::client
