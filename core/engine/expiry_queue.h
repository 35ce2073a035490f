// ExpiryQueue: deadlines by task id, in deadline order: the retention
// deadlines of finished tasks held in RAM (Retention), and the start delays
// of pending tasks (TaskDriver). Most tasks share the default TTL, so
// deadlines mostly arrive in order: those go to a FIFO (O(1)); the others to
// an ordered map.
//
// Promises: PopDue() returns every scheduled id once its deadline has come,
// earliest first. Knows nothing of tasks beyond their ids: a popped id may
// name a task that is gone, and the caller checks.
//
// Threading: not thread-safe; the manager calls it on its strand only.
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <string>

#include "core/model/task.h"

namespace taskd {

class ExpiryQueue {
 public:
  void Schedule(std::string id, SteadyTime at);
  // The earliest deadline, if any.
  std::optional<SteadyTime> Next() const;
  // Takes the id with the earliest deadline, if that is at or before `now`.
  bool PopDue(SteadyTime now, std::string* id);
  size_t size() const { return fifo_.size() + out_of_order_.size(); }

 private:
  std::deque<std::pair<SteadyTime, std::string>> fifo_;  // in deadline order
  std::multimap<SteadyTime, std::string> out_of_order_;
};

}  // namespace taskd
