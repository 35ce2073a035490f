// EventBus: the subscriptions to task events, and the numbering of live
// events.
//
// Promises: Emit() calls each subscriber that wants the event's type and
// whose filter matches, in one pass, with one sequence number shared by
// all of them; it skips the work entirely when nobody subscribes. Wants()
// tells whether any subscriber wants a type, so the engine can skip work
// that only an unwanted event needs. CloseAll() ends every subscription
// with its on_close.
//
// Threading: not thread-safe; the manager calls it on its strand only, and
// subscriber callbacks run there, inside Emit/CloseAll: they must not block
// and must not add or remove subscriptions directly (post instead).
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <unordered_map>

#include "core/engine/task_filter.h"
#include "core/model/status.h"
#include "core/model/task.h"

namespace taskd {

// Passed to subscribers by reference, valid only during the callback: copy
// what you keep.
struct TaskEvent {
  enum class Type { kSnapshot, kCreated, kStateChanged, kProgress, kDeleted };
  Type type;
  const Task& task;
  WallTime time;
  // Numbers live events (1, 2, …) in the order they happen; every
  // subscriber of one event sees the same number, so a consumer may convert
  // an event once and share it. 0 for snapshot events.
  uint64_t sequence = 0;
};

// Which event types a subscriber wants. The manager skips work that only
// an unwanted event needs: a finished task reaching the end of its
// retention is read from the store only when some subscriber wants
// kDeleted.
class EventTypes {
 public:
  constexpr EventTypes(std::initializer_list<TaskEvent::Type> types) {
    for (auto t : types) bits_ |= Bit(t);
  }
  // Every type, also one added later.
  static constexpr EventTypes All() {
    EventTypes all{};
    all.bits_ = ~0u;
    return all;
  }
  constexpr bool Has(TaskEvent::Type t) const { return (bits_ & Bit(t)) != 0; }

 private:
  static constexpr unsigned Bit(TaskEvent::Type t) { return 1u << static_cast<unsigned>(t); }
  unsigned bits_ = 0;
};

class EventBus {
 public:
  using OnEvent = std::function<void(const TaskEvent&)>;
  using OnClose = std::function<void(Status)>;

  void Add(uint64_t handle, TaskFilter filter, OnEvent on_event, OnClose on_close,
           EventTypes types);
  void Remove(uint64_t handle) { subscribers_.erase(handle); }
  bool Has(uint64_t handle) const { return subscribers_.count(handle) > 0; }
  bool Wants(TaskEvent::Type type) const;
  void Emit(TaskEvent::Type type, const Task& task, WallTime now);
  // Ends every subscription: on_close(status) for those that have one.
  void CloseAll(const Status& status);
  size_t size() const { return subscribers_.size(); }

 private:
  struct Subscriber {
    TaskFilter filter;
    OnEvent on_event;
    OnClose on_close;
    EventTypes types;
  };
  uint64_t sequence_ = 0;  // of the last live event
  std::unordered_map<uint64_t, std::unique_ptr<Subscriber>> subscribers_;
};

}  // namespace taskd
