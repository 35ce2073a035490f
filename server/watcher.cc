#include "server/watcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "server/convert.h"
#include "server/failed_stream.h"
#include "server/heap.h"
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

size_t VarintSize(size_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
uint8_t* PutVarint(uint8_t* p, size_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<uint8_t>(v);
  return p;
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
  bool batched = false;             // WatchTasksBatched: the queued events go together
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

  // Batched: when the last message was started, and the timer of a
  // message that waits for kBatchLinger (see Linger).
  std::chrono::steady_clock::time_point last_write{};
  std::unique_ptr<asio::steady_timer> linger_timer;
  uint64_t linger_generation = 0;  // a timer's handler acts only for its own

  void Pump() override {
    if (finished()) return;
    if (!writing() && !queue.empty() && !Linger()) {
      grpc::ByteBuffer buffer = batched ? TakeBatch() : TakeOne();
      if (batched) last_write = std::chrono::steady_clock::now();
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

  // Batched: true while the next message waits for kBatchLinger to pass
  // since the last one (a timer then pumps again).
  bool Linger() {
    if (!batched) return false;
    const auto due = last_write + kBatchLinger;
    if (std::chrono::steady_clock::now() >= due || live_bytes >= kBatchLingerBytes ||
        queue.front().snapshot) {
      linger_timer.reset();  // enough is queued: at once (its handler sees a newer generation)
      ++linger_generation;
      return false;
    }
    if (linger_timer) return true;
    linger_timer = std::make_unique<asio::steady_timer>(strand(), due);
    linger_timer->async_wait([self = shared_from_this(),
                              generation = linger_generation](const boost::system::error_code& ec) {
      if (ec || generation != self->linger_generation) return;
      self->linger_timer.reset();
      self->Pump();
    });
    return true;
  }

  // The queue's first event, as its own message (WatchTasks).
  grpc::ByteBuffer TakeOne() {
    Queued q = std::move(queue.front());
    queue.pop_front();
    Dequeued(q);
    return grpc::ByteBuffer(&q.event->message, 1);  // references the event's slice
  }

  // The queue's first events, up to kMaxBatchBytes (at least one), as one
  // serialized v1::TaskEventBatch (WatchTasksBatched): each event is field 1
  // of the batch, its tag and length followed by the event's bytes.
  grpc::ByteBuffer TakeBatch() {
    size_t n = 0, size = 0;
    for (const Queued& q : queue) {
      const size_t len = q.event->message.size();
      const size_t framed = 1 + VarintSize(len) + len;
      if (n > 0 && size + framed > kMaxBatchBytes) break;
      size += framed;
      ++n;
    }
    grpc::Slice out(size);
    // Written in place: the slice was just made and nothing else refers to it.
    auto* p = const_cast<uint8_t*>(out.begin());
    for (size_t i = 0; i < n; ++i) {
      const grpc::Slice& m = queue.front().event->message;
      *p++ = 0x0a;  // field 1, length-delimited
      p = PutVarint(p, m.size());
      std::memcpy(p, m.begin(), m.size());
      p += m.size();
      Dequeued(queue.front());
      queue.pop_front();
    }
    return grpc::ByteBuffer(&out, 1);
  }

  void Dequeued(const Queued& q) {
    if (!q.snapshot) {
      --live_events;
      live_bytes -= q.event->bytes;
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

  // A live event, from the manager strand to the watcher's.
  struct Incoming {
    std::shared_ptr<SharedEvent> event;
    uint64_t key;           // the task's id number
    bool terminal_or_gone;  // the task ended or was deleted
  };

  // On the manager strand, for each live event the subscription matched:
  // one post for every event that arrives while the last is not yet taken,
  // so a burst crosses to the watcher's strand in a few handlers, not one
  // per event.
  void Arrive(Incoming in) {
    bool post;
    {
      std::lock_guard l(inbox_mu_);
      inbox_.push_back(std::move(in));
      post = !take_posted_;
      take_posted_ = true;
    }
    if (post) {
      asio::post(strand(), [self = shared_from_this()] { self->TakeArrived(); });
    }
  }

 private:
  // On the watcher's strand: what arrived, converted (once per event, shared
  // with other watchers) and queued, then the next write.
  void TakeArrived() {
    std::vector<Incoming> arrived;
    {
      std::lock_guard l(inbox_mu_);
      arrived.swap(inbox_);
      take_posted_ = false;
    }
    for (Incoming& in : arrived) {
      if (finished()) return;
      Queue(in.event->Get(), in.key, in.terminal_or_gone);
    }
    Pump();
  }

  void Queue(std::shared_ptr<const WatchEvent> event, uint64_t key, bool terminal_or_gone) {
    // Final either way: a terminal task never runs again.
    if (by_ids && terminal_or_gone) remaining.erase(event->task_id);
    // This task's page is still to come, with a newer state than this.
    if (paging && forward_snapshot && key > cursor) return;
    // One live event is always taken, however large: it is only too many.
    const size_t max_events = batched ? kMaxBatchedQueuedEvents : kMaxQueuedEvents;
    const size_t max_bytes = batched ? kMaxBatchedQueuedBytes : kMaxQueuedBytes;
    if (live_events > 0 && (live_events >= max_events || live_bytes + event->bytes > max_bytes)) {
      // Which bound, and how far: what an operator needs to size a client.
      Stop(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        "the watcher fell behind: " + std::to_string(live_events) + " events (" +
                            std::to_string(live_bytes) +
                            " bytes) wait to be sent, and the bound is " +
                            std::to_string(max_events) + " events or " + std::to_string(max_bytes) +
                            " bytes; read faster or watch again"));
      return;
    }
    ++live_events;
    live_bytes += event->bytes;
    queue.push_back(Queued{std::move(event), false});
  }

  std::mutex inbox_mu_;
  std::vector<Incoming> inbox_;  // guarded by inbox_mu_
  bool take_posted_ = false;     // a TakeArrived is posted; guarded by inbox_mu_

  void OnStop() override {
    linger_timer.reset();  // its handler sees operation_aborted
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
    if (!ec) ReleaseFreeHeap();
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
                                                       const v1::WatchTasksRequest& req,
                                                       bool batched) {
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
  st->batched = batched;
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
        st->Arrive(
            WatchState::Incoming{st->hub->Share(e), TaskIdNumber(e.task.id).value_or(0),
                                 IsTerminal(e.task.state) || e.type == TaskEvent::Type::kDeleted});
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
