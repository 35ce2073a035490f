#include "core/engine/expiry_queue.h"

namespace taskd {

void ExpiryQueue::Schedule(std::string id, SteadyTime at) {
  if (fifo_.empty() || fifo_.back().first <= at) {
    fifo_.emplace_back(at, std::move(id));
  } else {
    out_of_order_.emplace(at, std::move(id));
  }
}

std::optional<SteadyTime> ExpiryQueue::Next() const {
  std::optional<SteadyTime> next;
  if (!fifo_.empty()) next = fifo_.front().first;
  if (!out_of_order_.empty() && (!next || out_of_order_.begin()->first < *next)) {
    next = out_of_order_.begin()->first;
  }
  return next;
}

bool ExpiryQueue::PopDue(SteadyTime now, std::string* id) {
  const bool fifo_due = !fifo_.empty() && fifo_.front().first <= now;
  const bool map_due = !out_of_order_.empty() && out_of_order_.begin()->first <= now;
  if (fifo_due && (!map_due || fifo_.front().first <= out_of_order_.begin()->first)) {
    *id = std::move(fifo_.front().second);
    fifo_.pop_front();
    return true;
  }
  if (map_due) {
    *id = std::move(out_of_order_.begin()->second);
    out_of_order_.erase(out_of_order_.begin());
    return true;
  }
  return false;
}

}  // namespace taskd
