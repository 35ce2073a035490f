// TaskFilter: which tasks a List or a subscription matches. A value type,
// any thread.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/model/task.h"

namespace taskd {

// The queue a spec names; "default" when it names none.
std::string_view QueueName(const TaskSpec& spec);

// Empty fields match everything.
struct TaskFilter {
  std::vector<std::string> ids;
  std::vector<TaskState> states;
  std::map<std::string, std::string> labels;  // every pair must match
  std::string queue;
  std::string name_prefix;
  bool Matches(const Task& task) const;
};

}  // namespace taskd
