// WatchTasks and WatchTasksBatched: stream state and progress events. With ids, the stream ends
// once every listed task is terminal; with a filter it runs until the client
// cancels or taskd shuts down (UNAVAILABLE).
//
// Flow control: one StartWrite at a time. WatchTasks writes one event per
// message; WatchTasksBatched writes every event queued behind the last
// write (up to kMaxBatchBytes) in the next, so a client that keeps reading
// drains the queue as fast as events come. The initial snapshot is pulled
// from the manager a page at a time (TaskManager::SnapshotPage), and the next
// page only once the watcher's queue has drained, so a snapshot of any size
// streams at the client's pace with at most one page held. Live events queue
// behind it; a watcher whose queued live events pass kMaxQueuedBytes
// (heap held, see WatchEvent::bytes) or kMaxQueuedEvents gets RESOURCE_EXHAUSTED — a client that
// keeps reading drains its queue and is never dropped for a snapshot's size.
//
// Memory bound: per watcher one snapshot page (about kSnapshotPageBytes, at
// least one task) + kMaxQueuedBytes of live events + the event in flight;
// WatchHub admits at most max_watchers streams daemon-wide.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/slice.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>

#include "core/engine/task_manager.h"
#include "taskd/v1/taskd.grpc.pb.h"

namespace taskd::server {

inline constexpr size_t kMaxQueuedEvents = 10000;
inline constexpr size_t kMaxQueuedBytes = 1 << 20;
// WatchTasksBatched: a message holds at most this many serialized bytes of
// events (at least one event, however large).
inline constexpr size_t kMaxBatchBytes = 1 << 20;
// A WatchTasksBatched stream that wrote less than kBatchLinger ago waits
// until then before the next message, unless kBatchLingerBytes are queued
// (or a snapshot page): an idle stream sends an event at once, a busy one at
// most one message per kBatchLinger. With 100 streams on a busy daemon,
// messages of ~20 events each cost the daemon more in wakeups and writes
// than the events themselves.
inline constexpr std::chrono::milliseconds kBatchLinger{5};
inline constexpr size_t kBatchLingerBytes = 64 << 10;
// A WatchTasksBatched stream may hold more queued: each write takes what is
// queued, so its queue is only what came during one write, and a daemon
// busy enough to emit 100 MB of events a second fills 1 MiB while a client
// thread waits 10 ms for a core. Queued events are shared with the other
// watchers they go to (one serialized copy each), so the heap all streams
// hold for the same events is about this once, plus per stream about 1/20
// of it in queue slots. 64 MiB is about 230,000 noop events (290 bytes
// each, counted as held): half a second of a daemon running 140,000 noop
// tasks a second. At 16 MiB (140 ms of it) taskd_bench's reader, one
// thread among the daemon's on two cores, was cut off in some runs.
inline constexpr size_t kMaxBatchedQueuedBytes = 64 << 20;
inline constexpr size_t kMaxBatchedQueuedEvents = 250000;
// A snapshot page is sized to hold about this many serialized bytes (1 to
// kMaxSnapshotPage tasks, adapted to the size of the tasks seen so far).
inline constexpr size_t kSnapshotPageBytes = 256 << 10;
inline constexpr size_t kMaxSnapshotPage = 256;
inline constexpr size_t kDefaultMaxWatchers = 1000;
inline constexpr size_t kTrimBurst = 32;
// The trim waits this long: the connections of streams that just ended
// close a moment later, and what they free is returned too.
inline constexpr std::chrono::milliseconds kTrimDelay{500};

// The heap a queued event holds besides its serialized bytes: the
// WatchEvent in its shared_ptr block, the slice's refcount header and its
// queue slot (WatchEventTest checks it against malloc's own count).
inline constexpr size_t kQueuedEventOverhead = 192;

// An event serialized once and shared by every watcher it is queued for:
// one flat slice, which each write references (the byte buffer a write
// needs, about 300 bytes, exists only for the write in flight).
struct WatchEvent {
  grpc::Slice message;  // a serialized v1::TaskEvent
  std::string task_id;
  // What it holds while queued (message.size() + kQueuedEventOverhead): the
  // figure counted against kMaxQueuedBytes and snapshot pages.
  size_t bytes = 0;
};

// `event` serialized into a WatchEvent.
std::shared_ptr<const WatchEvent> Serialized(const v1::TaskEvent& event);

// A live event as the manager emitted it, shared by every watcher it goes
// to, and converted to its serialized proto once, by the first watcher that
// needs it, on that watcher's strand (not the manager strand).
class SharedEvent {
 public:
  // Copies the task: a TaskEvent only refers to the manager's.
  explicit SharedEvent(const TaskEvent& e) : type_(e.type), task_(e.task), time_(e.time) {}
  // The serialized event (converted on the first call, from any thread).
  const std::shared_ptr<const WatchEvent>& Get();

 private:
  const TaskEvent::Type type_;
  const Task task_;
  const WallTime time_;
  std::once_flag once_;
  std::shared_ptr<const WatchEvent> converted_;
};

// What the watchers of one TaskManager share: the daemon-wide limit on open
// streams and the last live event.
//
// Thread-safety: Admit/Leave from any thread; Share on the manager strand
// only (that is where events are delivered).
class WatchHub {
 public:
  WatchHub(TaskManager& manager, size_t max_watchers)
      : manager_(manager), max_watchers_(max_watchers) {}

  // Takes a place for a new stream: false when max_watchers are open.
  bool Admit();
  // Gives a stream's place back once its reactor is done. After a burst of
  // at least kTrimBurst streams, each time the open ones fall to a quarter
  // of their peak and when the last one leaves, freed heap is returned to
  // the system (ReleaseFreeHeap after kTrimDelay, on the io pool, not the
  // manager strand).
  void Leave();
  size_t max_watchers() const { return max_watchers_; }
  size_t open() const { return open_.load(); }

  // `e` as an event every watcher it goes to shares (by
  // TaskEvent::sequence): one copy of the task on the manager strand, one
  // conversion off it, however many watchers.
  std::shared_ptr<SharedEvent> Share(const TaskEvent& e);

  TaskManager& manager() { return manager_; }

 private:
  TaskManager& manager_;
  const size_t max_watchers_;
  std::atomic<size_t> open_{0};
  std::mutex mu_;
  size_t peak_ = 0;        // most streams open since the last trim; guarded by mu_
  size_t burst_peak_ = 0;  // most streams open since none was; guarded by mu_
  // Set while a trim is scheduled (shared with the timer, which may outlive this).
  std::shared_ptr<std::atomic<bool>> trim_pending_ = std::make_shared<std::atomic<bool>>(false);
  // The manager strand's last shared event.
  uint64_t last_sequence_ = 0;
  std::shared_ptr<SharedEvent> last_event_;
};

// Validates `req` and returns the reactor serving the call (it deletes
// itself when done): RESOURCE_EXHAUSTED naming --max-watchers when `hub` is
// full.
// `batched`: WatchTasksBatched (each message a v1::TaskEventBatch of the
// events queued, up to kMaxBatchBytes), else WatchTasks (one v1::TaskEvent
// per message).
grpc::ServerWriteReactor<grpc::ByteBuffer>* NewWatcher(std::shared_ptr<WatchHub> hub,
                                                       const v1::WatchTasksRequest& req,
                                                       bool batched = false);

}  // namespace taskd::server
