#include "core/engine/event_bus.h"

#include <algorithm>

namespace taskd {

void EventBus::Add(uint64_t handle, TaskFilter filter, OnEvent on_event, OnClose on_close,
                   EventTypes types) {
  subscribers_.emplace(
      handle, std::make_unique<Subscriber>(
                  Subscriber{std::move(filter), std::move(on_event), std::move(on_close), types}));
}

bool EventBus::Wants(TaskEvent::Type type) const {
  return std::any_of(subscribers_.begin(), subscribers_.end(),
                     [type](const auto& s) { return s.second->types.Has(type); });
}

void EventBus::Emit(TaskEvent::Type type, const Task& task, WallTime now) {
  if (subscribers_.empty()) return;
  const TaskEvent event{type, task, now, ++sequence_};
  for (const auto& [h, sub] : subscribers_) {
    if (sub->types.Has(type) && sub->filter.Matches(task)) sub->on_event(event);
  }
}

void EventBus::CloseAll(const Status& status) {
  auto subscribers = std::move(subscribers_);
  subscribers_.clear();
  for (auto& [h, sub] : subscribers) {
    if (sub->on_close) sub->on_close(status);
  }
}

}  // namespace taskd
