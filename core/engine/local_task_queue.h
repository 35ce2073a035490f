// LocalTaskQueue: the TaskQueue of one taskd with its own store. Claims
// come from the Scheduler's ready heaps in RAM (priority, FIFO, queue
// limits, token buckets); records go through the Persister to the Store.
//
// Promises: Dispatch claims every offered task the limits allow now, in
// the Scheduler's order, calling Hooks::claimed inline for each; when a
// rate-limited queue holds the rest back it arms one timer for the next
// token and dispatches again then. After Close nothing is claimed.
//
// Threading: on the strand given at construction (the manager strand).
#pragma once

#include <memory>
#include <string>

#include "core/engine/persister.h"
#include "core/engine/scheduler.h"
#include "core/model/asio.h"
#include "core/model/clock.h"
#include "core/store/task_queue.h"

namespace taskd {

class LocalTaskQueue final : public TaskQueue {
 public:
  LocalTaskQueue(Strand strand, Clock& clock, int max_running,
                 std::map<std::string, QueueOptions> queues, Scheduler::IsLive is_live,
                 Persister& persister, Hooks hooks);
  ~LocalTaskQueue() override;

  Queue* QueueOf(std::string_view name) override;
  void Offer(Queue* q, uint64_t key, int64_t priority, uint64_t sequence, void* ref) override;
  void Withdraw(Queue* q) override;
  void Dispatch() override;
  void Release(Queue* q) override;
  void Record(const Task& task, Ack ack) override;
  void Close() override;
  int running() const override { return scheduler_.running(); }
  void ForEachQueue(const std::function<void(const std::string&, int)>& fn) const override {
    scheduler_.ForEachQueue(fn);
  }

 private:
  static Scheduler::QueueRef Of(Queue* q) { return Scheduler::FromQueue(q); }

  Strand strand_;
  Clock& clock_;
  Scheduler scheduler_;
  Persister& persister_;
  Hooks hooks_;
  std::unique_ptr<Clock::Timer> wake_timer_;  // next rate-limit token
  SteadyTime wake_at_ = SteadyTime::max();
  bool closed_ = false;
};

}  // namespace taskd
