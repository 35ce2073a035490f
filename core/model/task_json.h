// Task <-> JSON, the format the SQLite store keeps a task in. Durations are
// integer nanoseconds, times integer nanoseconds since the Unix epoch.
#pragma once

#include <string>

#include "core/model/status.h"
#include "core/model/task.h"

namespace taskd {

std::string TaskToJson(const Task& task);
StatusOr<Task> TaskFromJson(const std::string& text);

}  // namespace taskd
