// WaiterSet: the calls waiting for a task to end (WaitTask, and a Cancel
// of a running task), by handle and by task.
//
// Promises: a waiter is taken out at most once (Take), so it is answered at
// most once; the caller answers it. Owns each waiter's callback and its
// timeout timer (destroying the set cancels the timers).
//
// Threading: not thread-safe; the manager calls it on its strand only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/model/clock.h"
#include "core/model/status.h"
#include "core/model/task.h"

namespace taskd {

class WaiterSet {
 public:
  struct Waiter {
    std::string id;  // the task waited for
    Callback<Task> done;
    std::unique_ptr<Clock::Timer> timer;  // the wait's timeout, if it has one
  };

  // Registers a waiter under `handle` (unique: from the manager's handles)
  // for the task with this key and id.
  Waiter& Add(uint64_t handle, uint64_t key, std::string id, Callback<Task> done);
  // Removes waiter `handle`: nullptr when there is none (answered already).
  std::unique_ptr<Waiter> Take(uint64_t handle);
  // The handles waiting for the task with this key, in the order added.
  std::vector<uint64_t> HandlesOf(uint64_t key) const;
  bool Has(uint64_t key) const { return by_task_.count(key) > 0; }
  // Every handle, in no order.
  std::vector<uint64_t> Handles() const;
  size_t size() const { return waiters_.size(); }

 private:
  struct Entry {
    uint64_t key;
    std::unique_ptr<Waiter> waiter;
  };
  std::unordered_map<uint64_t, Entry> waiters_;                  // by handle
  std::unordered_map<uint64_t, std::vector<uint64_t>> by_task_;  // task key -> handles
};

}  // namespace taskd
