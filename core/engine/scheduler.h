// Scheduler: which ready task starts next. It owns one ready heap per queue
// (priority, then FIFO), each queue's running count, max_running and token
// bucket, and the global running count; it knows tasks only by their key
// and an opaque pointer the caller gave it.
//
// Promises: Next() hands out the best head among the queues that may start
// a task now (under the global limit, the queue's limit and its rate), and
// counts it running; every task made ready is handed out at most once per
// Ready(). It never reads a clock or a store: the caller passes `now`.
//
// Threading: not thread-safe; the manager calls it on its strand only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/model/task.h"
#include "core/store/task_queue.h"

namespace taskd {

struct QueueOptions {
  int max_running = 0;  // 0: only the global limit applies
  double rate = 0;      // starts per second (token bucket); 0: unlimited
  int burst = 1;        // bucket size: starts allowed at once after a quiet spell
};

class Scheduler {
  struct QueueState;

 public:
  // A queue, as Queue() returns it: stable for the scheduler's life. It is
  // the TaskQueue::Queue that LocalTaskQueue hands out (FromQueue undoes it).
  using QueueRef = QueueState*;
  static QueueRef FromQueue(TaskQueue::Queue* q) { return static_cast<QueueState*>(q); }
  // Whether the item (key, sequence) of a task is still its live ready
  // item. Asked only for queues that have had items dropped by Unready().
  using IsLive = std::function<bool(uint64_t key, uint64_t sequence)>;

  Scheduler(int max_running, std::map<std::string, QueueOptions> queues, IsLive is_live);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // The queue of this name (created with its configured limits on first use).
  QueueRef Queue(std::string_view name);

  // The task is ready to start. `ref` comes back from Next(); (key,
  // sequence) identifies this readiness (a task made ready again gets a new
  // sequence).
  void Ready(QueueRef q, uint64_t key, int64_t priority, uint64_t sequence, void* ref);
  // A task of `q` made ready is no longer (cancelled, finished): its item
  // is dropped lazily, by IsLive, once it reaches the top.
  void Unready(QueueRef q);

  struct Pick {
    uint64_t key;
    void* ref;
  };
  // The task to start now, counted running in its queue and globally; or
  // nullopt, and then *wake is lowered to when a rate-limited queue gets its
  // next token (left as it is when no queue waits for one).
  std::optional<Pick> Next(SteadyTime now, SteadyTime* wake);
  // A task started by Next() in `q` stopped running.
  void Stopped(QueueRef q);

  // Forgets every ready task (at shutdown): Next() finds none after this.
  void ClearReady();

  int running() const { return running_; }
  // Running tasks per queue name, of every queue seen so far.
  void ForEachQueue(const std::function<void(const std::string&, int running)>& fn) const;

 private:
  // Refills q's bucket: true when it holds a start token, else false and
  // when the next one comes in *next.
  static bool HasToken(QueueState& q, SteadyTime now, SteadyTime* next);
  // A task in its queue's ready heap, ordered by priority, then sequence
  // (FIFO among equals). An item whose task stopped being ready stays in
  // the heap (a heap cannot remove from the middle) until it reaches the
  // top and is dropped; while a queue has such dead items, `ref` may
  // dangle and an item is checked by IsLive first.
  struct Item {
    int64_t neg_priority;
    uint64_t sequence;
    uint64_t key;
    void* ref;
    // For std::push_heap (a max-heap): "a starts after b".
    friend bool operator<(const Item& a, const Item& b) {
      return a.neg_priority != b.neg_priority ? a.neg_priority > b.neg_priority
                                              : a.sequence > b.sequence;
    }
  };
  struct QueueState final : TaskQueue::Queue {
    int limit = 0;     // max running; 0: only the global limit
    double rate = 0;   // starts per second; 0: unlimited
    double burst = 1;  // token bucket size
    int running = 0;
    double tokens = 0;
    SteadyTime refilled{};
    bool bucket_started = false;
    std::vector<Item> ready;  // a heap
    size_t stale = 0;         // items in `ready` whose task is no longer ready
    bool active = false;      // in active_
  };
  // q's best live item (dropping dead ones on top), or nullptr.
  const Item* Top(QueueState& q);

  const int max_running_;
  const std::map<std::string, QueueOptions> options_;
  const IsLive is_live_;
  int running_ = 0;
  std::unordered_map<std::string, QueueState> queues_;  // a node map: QueueRefs stay valid
  std::vector<QueueState*> active_;                     // queues with ready items, in no order
};

}  // namespace taskd
