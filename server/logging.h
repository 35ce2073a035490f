// The daemon's log output: spdlog to stderr, one line per event, as text
// (for a terminal) or JSON lines (for journald, containers and collectors).
#pragma once

#include <string>

namespace taskd::server {

// format: "text", "json", or "auto" (text when stderr is a terminal).
// level: trace, debug, info, warn, error.
void SetupLogging(const std::string& level, const std::string& format);

// One JSON log line (without the newline) for a message: {"time", "level",
// "msg"} and "task_id" when the message is about a task ("task ID: ...").
std::string JsonLogLine(const std::string& time, const std::string& level, const std::string& msg);

}  // namespace taskd::server
