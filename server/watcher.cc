#include "server/watcher.h"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <limits>
#include <memory>
#include <set>

#include "server/convert.h"
#include "server/failed_stream.h"
#include "server/stream_writer.h"

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

struct Queued {
  std::shared_ptr<const WatchEvent> event;
  bool snapshot = false;  // from a snapshot page (not counted against the limits)
};

// Shared with the manager's subscription and with posted handlers; changed
// only on its strand.
class WatchState final : public StreamState, public std::enable_shared_from_this<WatchState> {
 public:
  WatchState(std::shared_ptr<WatchHub> h, Strand s) : StreamState(s), hub(std::move(h)) {}

  std::shared_ptr<WatchHub> hub;
  uint64_t subscription = 0;
  TaskFilter filter;
  bool forward_snapshot = false;
  bool by_ids = false;
  std::set<std::string> remaining;  // listed ids not yet terminal

  // Snapshot paging: pages cover ids up to `cursor` so far.
  bool paging = false;  // pages still to come
  bool page_requested = false;
  uint64_t cursor = 0;
  std::string cursor_id;
  size_t page_size = 64;

  std::deque<Queued> queue;
  size_t live_events = 0;  // queued events that are not snapshot events ...
  size_t live_bytes = 0;   // ... and their serialized size

  void Pump() override {
    if (finished()) return;
    if (!writing() && !queue.empty()) {
      Queued q = std::move(queue.front());
      queue.pop_front();
      if (!q.snapshot) {
        --live_events;
        live_bytes -= q.event->bytes;
      }
      grpc::ByteBuffer buffer(&q.event->message, 1);  // references the event's slice
      StartWrite(&buffer);
    }
    // Not forwarded, the snapshot only tells which listed tasks ended:
    // nothing to wait for.
    if (paging && !page_requested && (queue.empty() || !forward_snapshot)) RequestPage();
    if (by_ids && remaining.empty() && !writing() && queue.empty() &&
        !(paging && forward_snapshot)) {
      Stop(grpc::Status::OK);
    }
  }

  void RequestPage() {
    page_requested = true;
    auto self = shared_from_this();
    hub->manager().SnapshotPage(
        ListRequest{filter, page_size, cursor_id}, [self](StatusOr<ListResult> page) {
          // On the manager strand: the tasks are copies; convert them on ours.
          asio::post(self->strand(),
                     [self, page = std::move(page)]() mutable { self->OnPage(std::move(page)); });
        });
  }

  void OnPage(StatusOr<ListResult> page) {
    page_requested = false;
    if (finished()) return;
    if (!page.ok()) {
      Stop(ToGrpc(page.status()));
      return;
    }
    const WallTime now = std::chrono::system_clock::now();
    size_t bytes = 0;
    v1::TaskEvent event;
    for (const Task& t : page->tasks) {
      if (by_ids && IsTerminal(t.state)) remaining.erase(t.id);
      if (!forward_snapshot) continue;
      event.Clear();
      event.set_type(v1::TaskEvent::TYPE_SNAPSHOT);
      TaskToProto(t, event.mutable_task());
      TimeToProto(now, event.mutable_event_time());
      auto e = Serialized(event);
      bytes += e->bytes;
      queue.push_back(Queued{std::move(e), true});
    }
    if (page->last_id.empty()) {
      paging = false;
    } else {
      cursor = TaskIdNumber(page->last_id).value_or(std::numeric_limits<uint64_t>::max());
      cursor_id = std::move(page->last_id);
      if (bytes > 0) {
        const size_t per_task = std::max<size_t>(1, bytes / page->tasks.size());
        page_size = std::clamp<size_t>(kSnapshotPageBytes / per_task, 1, kMaxSnapshotPage);
      }
    }
    Pump();
  }

  // On the watcher's strand, for each live event the manager delivered.
  void Deliver(std::shared_ptr<const WatchEvent> event, uint64_t key, bool terminal_or_gone) {
    if (finished()) return;
    // Final either way: a terminal task never runs again.
    if (by_ids && terminal_or_gone) remaining.erase(event->task_id);
    if (paging && forward_snapshot && key > cursor) {
      // This task's page is still to come, with a newer state than this.
      Pump();
      return;
    }
    // One live event is always taken, however large: it is only too many.
    if (live_events > 0 &&
        (live_events >= kMaxQueuedEvents || live_bytes + event->bytes > kMaxQueuedBytes)) {
      Stop(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        "the watcher fell behind by more than " + std::to_string(kMaxQueuedBytes) +
                            " bytes or " + std::to_string(kMaxQueuedEvents) +
                            " events; read faster or watch again"));
      return;
    }
    ++live_events;
    live_bytes += event->bytes;
    queue.push_back(Queued{std::move(event), false});
    Pump();
  }

 private:
  void OnStop() override {
    paging = false;
    hub->manager().Unsubscribe(subscription);
    std::deque<Queued>().swap(queue);
    live_events = live_bytes = 0;
  }
  void OnDone() override { hub->Leave(); }
};

}  // namespace

bool WatchHub::Admit() {
  size_t n = open_.fetch_add(1) + 1;
  if (n > max_watchers_) {
    open_.fetch_sub(1);
    return false;
  }
  std::lock_guard l(mu_);
  peak_ = std::max(peak_, n);
  burst_peak_ = std::max(burst_peak_, n);
  return true;
}

void WatchHub::Leave() {
  size_t n = open_.fetch_sub(1) - 1;
  {
    std::lock_guard l(mu_);
    // What the streams of a burst held is freed, but glibc keeps the pages
    // until asked.
    const bool burst = burst_peak_ >= kTrimBurst;
    if (n == 0) burst_peak_ = 0;
    if (!burst || (n > 0 && n * 4 > peak_)) return;
    peak_ = n;
  }
  if (trim_pending_->exchange(true)) return;
  // Not on the manager strand: trimming a large heap takes milliseconds.
  // The timer owns itself (its handler holds it), so nothing here has to
  // outlive it.
  auto timer =
      std::make_shared<asio::steady_timer>(manager_.strand().get_inner_executor(), kTrimDelay);
  timer->async_wait([timer, pending = trim_pending_](const boost::system::error_code& ec) {
    pending->store(false);
    if (!ec) ::malloc_trim(0);
  });
}

std::shared_ptr<const WatchEvent> Serialized(const v1::TaskEvent& event) {
  auto out = std::make_shared<WatchEvent>();
  const size_t size = event.ByteSizeLong();
  out->message = grpc::Slice(size);
  // Written in place: the slice was just made and nothing else refers to it.
  event.SerializeWithCachedSizesToArray(const_cast<uint8_t*>(out->message.begin()));
  out->task_id = event.task().id();
  out->bytes = size + kQueuedEventOverhead;
  return out;
}

const std::shared_ptr<const WatchEvent>& SharedEvent::Get() {
  std::call_once(once_, [this] {
    v1::TaskEvent event;
    event.set_type(EventType(type_));
    TaskToProto(task_, event.mutable_task());
    TimeToProto(time_, event.mutable_event_time());
    converted_ = Serialized(event);
  });
  return converted_;
}

std::shared_ptr<SharedEvent> WatchHub::Share(const TaskEvent& e) {
  if (e.sequence != 0 && e.sequence == last_sequence_) return last_event_;
  auto out = std::make_shared<SharedEvent>(e);
  if (e.sequence != 0) {
    last_sequence_ = e.sequence;
    last_event_ = out;
  }
  return out;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* NewWatcher(std::shared_ptr<WatchHub> hub,
                                                       const v1::WatchTasksRequest& req) {
  for (int i = 0; i < req.ids_size(); ++i) {
    if (req.ids(i).empty()) {
      return new FailedStream(
          InvalidArgument("ids[" + std::to_string(i) + "]", "must not be empty"));
    }
  }
  auto parsed = FilterFromProto(req);
  if (!parsed.ok()) return new FailedStream(parsed.status());
  TaskFilter filter = std::move(*parsed);
  filter.ids.assign(req.ids().begin(), req.ids().end());

  if (!hub->Admit()) {
    return new FailedStream(ResourceExhausted(
        "the watcher limit (max-watchers = " + std::to_string(hub->max_watchers()) +
        ") is reached: close a watch, or raise --max-watchers"));
  }
  TaskManager& manager = hub->manager();
  auto st =
      std::make_shared<WatchState>(hub, asio::make_strand(manager.strand().get_inner_executor()));
  st->by_ids = !filter.ids.empty();
  st->forward_snapshot = req.initial_snapshot();
  st->remaining.insert(filter.ids.begin(), filter.ids.end());
  // With ids the snapshot is always taken: it tells which listed tasks have
  // ended already (it is forwarded only when asked for).
  st->paging = st->by_ids || st->forward_snapshot;
  // Held until the first request below: no event may ask for a page first.
  st->page_requested = st->paging;
  st->filter = filter;
  auto* watcher = new StreamWriter(st);
  // Subscribe before the first page (both post to the manager strand, in
  // this order), so no event falls between the snapshot and the stream.
  st->subscription = manager.Subscribe(
      std::move(filter), /*snapshot=*/false,
      [st](const TaskEvent& e) {
        // On the manager strand: share the event (one copy of the task);
        // it is converted on the watcher's strand.
        auto event = st->hub->Share(e);
        const uint64_t key = TaskIdNumber(e.task.id).value_or(0);
        const bool ended = IsTerminal(e.task.state) || e.type == TaskEvent::Type::kDeleted;
        asio::post(st->strand(), [st, event = std::move(event), key, ended]() mutable {
          if (!st->finished()) st->Deliver(event->Get(), key, ended);
        });
      },
      [st](Status s) { asio::post(st->strand(), [st, s] { st->Stop(ToGrpc(s)); }); });
  if (st->paging) {
    asio::post(st->strand(), [st] {
      if (!st->finished()) st->RequestPage();
    });
  }
  return watcher;
}

}  // namespace taskd::server
