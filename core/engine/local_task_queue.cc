#include "core/engine/local_task_queue.h"

namespace taskd {

LocalTaskQueue::LocalTaskQueue(Strand strand, Clock& clock, int max_running,
                               std::map<std::string, QueueOptions> queues,
                               Scheduler::IsLive is_live, Persister& persister, Hooks hooks)
    : strand_(std::move(strand)),
      clock_(clock),
      scheduler_(max_running, std::move(queues), std::move(is_live)),
      persister_(persister),
      hooks_(std::move(hooks)) {}

LocalTaskQueue::~LocalTaskQueue() = default;

TaskQueue::Queue* LocalTaskQueue::QueueOf(std::string_view name) { return scheduler_.Queue(name); }

void LocalTaskQueue::Offer(Queue* q, uint64_t key, int64_t priority, uint64_t sequence, void* ref) {
  scheduler_.Ready(Of(q), key, priority, sequence, ref);
}

void LocalTaskQueue::Withdraw(Queue* q) { scheduler_.Unready(Of(q)); }

void LocalTaskQueue::Dispatch() {
  if (closed_) return;
  const SteadyTime now = clock_.SteadyNow();
  SteadyTime wake = SteadyTime::max();  // when a rate-limited queue gets its next token
  while (auto pick = scheduler_.Next(now, &wake)) hooks_.claimed(pick->key, pick->ref);
  if (wake != SteadyTime::max() && wake < wake_at_) {
    wake_at_ = wake;
    wake_timer_ = clock_.RunAt(wake, strand_, [this] {
      wake_at_ = SteadyTime::max();
      Dispatch();
    });
  }
}

void LocalTaskQueue::Release(Queue* q) { scheduler_.Stopped(Of(q)); }

void LocalTaskQueue::Record(const Task& task, Ack ack) {
  persister_.Put(task, Persister::NotifyIf(ack == Ack::kOnCommit));
}

void LocalTaskQueue::Close() {
  closed_ = true;
  wake_timer_.reset();
  scheduler_.ClearReady();
}

}  // namespace taskd
