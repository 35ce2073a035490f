#include "server/watcher.h"

#include <deque>
#include <memory>
#include <set>

#include "server/convert.h"
#include "server/failed_stream.h"

namespace taskd::server {

namespace {

v1::TaskEvent::Type EventType(TaskEvent::Type t) {
  switch (t) {
    case TaskEvent::Type::kSnapshot:
      return v1::TaskEvent::TYPE_SNAPSHOT;
    case TaskEvent::Type::kCreated:
      return v1::TaskEvent::TYPE_CREATED;
    case TaskEvent::Type::kStateChanged:
      return v1::TaskEvent::TYPE_STATE_CHANGED;
    case TaskEvent::Type::kProgress:
      return v1::TaskEvent::TYPE_PROGRESS;
    case TaskEvent::Type::kDeleted:
      return v1::TaskEvent::TYPE_DELETED;
  }
  return v1::TaskEvent::TYPE_UNSPECIFIED;
}

class Watcher;

// Shared with the manager's subscription and with posted handlers: once
// `finished` is set nothing touches `reactor` (which may be deleted).
struct WatchState {
  WatchState(TaskManager& m, Strand s) : manager(m), strand(s) {}
  TaskManager& manager;
  Strand strand;
  Watcher* reactor = nullptr;
  uint64_t subscription = 0;
  bool forward_snapshot = false;
  bool by_ids = false;
  std::set<std::string> remaining;  // listed ids not yet terminal
  std::deque<v1::TaskEvent> queue;
  v1::TaskEvent in_flight;
  bool writing = false;
  bool finished = false;
};

class Watcher final : public grpc::ServerWriteReactor<v1::TaskEvent> {
 public:
  explicit Watcher(std::shared_ptr<WatchState> st) : st_(std::move(st)) { st_->reactor = this; }

  void OnWriteDone(bool ok) override {
    auto st = st_;
    asio::post(st->strand, [st, ok] {
      st->writing = false;
      if (!ok) {
        Stop(*st, grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
      } else {
        Pump(*st);
      }
    });
  }
  void OnCancel() override {
    auto st = st_;
    asio::post(st->strand, [st] {
      if (!st->writing) Stop(*st, grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
    });
  }
  void OnDone() override { delete this; }

  static void Stop(WatchState& st, const grpc::Status& status) {
    if (st.finished) return;
    st.finished = true;
    st.manager.Unsubscribe(st.subscription);
    st.queue.clear();
    st.reactor->Finish(status);
  }

  static void Pump(WatchState& st) {
    if (st.finished || st.writing) return;
    if (st.queue.empty()) {
      if (st.by_ids && st.remaining.empty()) Stop(st, grpc::Status::OK);
      return;
    }
    st.in_flight = std::move(st.queue.front());
    st.queue.pop_front();
    st.writing = true;
    st.reactor->StartWrite(&st.in_flight);
  }

  // On the watcher's strand, for each event the manager delivered.
  static void Deliver(WatchState& st, v1::TaskEvent event, bool terminal_or_gone) {
    if (st.finished) return;
    const std::string id = event.task().id();
    const bool snapshot = event.type() == v1::TaskEvent::TYPE_SNAPSHOT;
    if (!snapshot || st.forward_snapshot) {
      if (st.queue.size() >= kMaxQueuedEvents) {
        Stop(st, grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              "the watcher fell more than " + std::to_string(kMaxQueuedEvents) +
                                  " events behind; watch again"));
        return;
      }
      st.queue.push_back(std::move(event));
    }
    if (st.by_ids && terminal_or_gone) st.remaining.erase(id);
    Pump(st);
  }

 private:
  std::shared_ptr<WatchState> st_;
};

}  // namespace

grpc::ServerWriteReactor<v1::TaskEvent>* NewWatcher(TaskManager& manager,
                                                    const v1::WatchTasksRequest& req) {
  TaskFilter filter;
  for (int i = 0; i < req.ids_size(); ++i) {
    if (req.ids(i).empty()) {
      return new FailedStream<v1::TaskEvent>(
          InvalidArgument("ids[" + std::to_string(i) + "]", "must not be empty"));
    }
    filter.ids.push_back(req.ids(i));
  }
  for (int i = 0; i < req.states_size(); ++i) {
    auto s = StateFromProto(req.states(i), "states[" + std::to_string(i) + "]");
    if (!s.ok()) return new FailedStream<v1::TaskEvent>(s.status());
    filter.states.push_back(*s);
  }
  filter.labels.insert(req.labels().begin(), req.labels().end());
  filter.queue = req.queue();
  filter.name_prefix = req.name_prefix();

  auto st = std::make_shared<WatchState>(manager,
                                         asio::make_strand(manager.strand().get_inner_executor()));
  st->by_ids = !filter.ids.empty();
  st->forward_snapshot = req.initial_snapshot();
  st->remaining.insert(filter.ids.begin(), filter.ids.end());
  auto* watcher = new Watcher(st);
  // With ids the snapshot is always taken: it tells which listed tasks have
  // ended already (it is forwarded only when asked for).
  st->subscription = manager.Subscribe(
      std::move(filter), st->by_ids || st->forward_snapshot,
      [st](const TaskEvent& e) {
        // On the manager strand: convert here, where the task is valid.
        v1::TaskEvent event;
        event.set_type(EventType(e.type));
        TaskToProto(e.task, event.mutable_task());
        TimeToProto(e.time, event.mutable_event_time());
        bool ended = IsTerminal(e.task.state) || e.type == TaskEvent::Type::kDeleted;
        asio::post(st->strand, [st, event = std::move(event), ended]() mutable {
          Watcher::Deliver(*st, std::move(event), ended);
        });
      },
      [st](Status s) { asio::post(st->strand, [st, s] { Watcher::Stop(*st, ToGrpc(s)); }); });
  return watcher;
}

}  // namespace taskd::server
