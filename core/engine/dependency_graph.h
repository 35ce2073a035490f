// DependencyGraph: which pending tasks wait for which task to end (a
// task's `after` ids that have not ended yet).
//
// Promises: Ended() hands each recorded dependent of a task to the
// `resolve` given at construction once, then forgets them. A `resolve` that
// ends more tasks (a failed dependency fails its dependents) calls Ended()
// again; those are resolved from a work list after it returns, not by
// recursion, so a chain of thousands of dependent tasks does not exhaust the
// stack. With no dependents recorded at all (the common case) Ended() costs
// one check.
//
// Threading: not thread-safe; the manager calls it on its strand only.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace taskd {

class DependencyGraph {
 public:
  using Resolve = std::function<void(const std::string& dependency,
                                     const std::vector<std::string>& dependents)>;

  explicit DependencyGraph(Resolve resolve) : resolve_(std::move(resolve)) {}

  // `dependent` waits for `dependency` to end.
  void Add(std::string dependency, std::string dependent);
  // `id` ended: resolve(id, its dependents), and likewise for every task
  // ended meanwhile, in the order they ended.
  void Ended(const std::string& id);
  size_t size() const { return dependents_.size(); }

 private:
  const Resolve resolve_;
  std::multimap<std::string, std::string> dependents_;  // dependency id -> dependent id
  std::deque<std::string> ended_;  // ended tasks whose dependents are still to resolve
  bool resolving_ = false;
};

}  // namespace taskd
