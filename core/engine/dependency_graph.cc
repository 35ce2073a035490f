#include "core/engine/dependency_graph.h"

namespace taskd {

void DependencyGraph::Add(std::string dependency, std::string dependent) {
  dependents_.emplace(std::move(dependency), std::move(dependent));
}

void DependencyGraph::Ended(const std::string& id) {
  if (dependents_.empty()) return;  // the common case: nothing waits for anything
  ended_.push_back(id);
  if (resolving_) return;  // the loop below, further up the stack, takes it
  resolving_ = true;
  while (!ended_.empty()) {
    std::string next = std::move(ended_.front());
    ended_.pop_front();
    auto range = dependents_.equal_range(next);
    if (range.first == range.second) continue;
    std::vector<std::string> ids;
    for (auto it = range.first; it != range.second; ++it) ids.push_back(it->second);
    dependents_.erase(range.first, range.second);
    resolve_(next, ids);
  }
  resolving_ = false;
}

}  // namespace taskd
