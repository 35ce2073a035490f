#include "core/engine/waiter_set.h"

#include <algorithm>

namespace taskd {

WaiterSet::Waiter& WaiterSet::Add(uint64_t handle, uint64_t key, std::string id,
                                  Callback<Task> done) {
  auto w = std::make_unique<Waiter>();
  w->id = std::move(id);
  w->done = std::move(done);
  Waiter& added = *w;
  waiters_[handle] = Entry{key, std::move(w)};
  by_task_[key].push_back(handle);
  return added;
}

std::unique_ptr<WaiterSet::Waiter> WaiterSet::Take(uint64_t handle) {
  auto it = waiters_.find(handle);
  if (it == waiters_.end()) return nullptr;
  const uint64_t key = it->second.key;
  auto waiter = std::move(it->second.waiter);
  waiters_.erase(it);
  if (auto t = by_task_.find(key); t != by_task_.end()) {
    std::erase(t->second, handle);
    if (t->second.empty()) by_task_.erase(t);
  }
  return waiter;
}

std::vector<uint64_t> WaiterSet::HandlesOf(uint64_t key) const {
  auto it = by_task_.find(key);
  return it == by_task_.end() ? std::vector<uint64_t>{} : it->second;
}

std::vector<uint64_t> WaiterSet::Handles() const {
  std::vector<uint64_t> out;
  out.reserve(waiters_.size());
  for (const auto& [h, e] : waiters_) out.push_back(h);
  return out;
}

}  // namespace taskd
