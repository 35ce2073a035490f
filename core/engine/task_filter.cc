#include "core/engine/task_filter.h"

#include <algorithm>

namespace taskd {

namespace {
const std::string kDefaultQueue = "default";
}  // namespace

std::string_view QueueName(const TaskSpec& spec) {
  return spec.queue.empty() ? std::string_view(kDefaultQueue) : spec.queue.view();
}

bool TaskFilter::Matches(const Task& task) const {
  if (!ids.empty() && std::find(ids.begin(), ids.end(), task.id) == ids.end()) return false;
  if (!states.empty() && std::find(states.begin(), states.end(), task.state) == states.end()) {
    return false;
  }
  if (!queue.empty() && QueueName(task.spec) != queue) return false;
  if (!name_prefix.empty() && !task.spec.name.view().starts_with(name_prefix)) return false;
  for (const auto& [k, v] : labels) {
    auto it = task.spec.labels.find(k);
    if (it == task.spec.labels.end() || it->second != v) return false;
  }
  return true;
}

}  // namespace taskd
