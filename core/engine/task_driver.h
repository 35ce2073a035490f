// TaskDriver: moves each task through its lifecycle. It admits a
// committed task, offers it to the TaskQueue once its dependencies and
// start delay allow, starts the attempts the queue claims (AttemptRunner),
// applies the lifecycle rules (lifecycle.h) to how each attempt ended, and
// finishes the task: its waiters are answered, its dependents resolved, its
// retention scheduled. It owns the units that hold task state (TaskTable,
// DependencyGraph, WaiterSet, EventBus, Persister, the TaskQueue,
// Retention) and lends them to the TaskManager façade, which answers the
// public API over them.
//
// Promises: every state change is recorded (TaskQueue::Record) and emitted
// (EventBus) in the unit of work that makes it; a task's waiters are
// answered when it ends; after Shutdown nothing is claimed and the done
// callback runs once nothing runs.
//
// Threading: everything on the manager strand; OnStrand() checks that in
// debug and sanitizer builds once MarkStarted() was called.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/engine/attempt_runner.h"
#include "core/engine/dependency_graph.h"
#include "core/engine/event_bus.h"
#include "core/engine/expiry_queue.h"
#include "core/engine/lifecycle.h"
#include "core/engine/local_task_queue.h"
#include "core/engine/persister.h"
#include "core/engine/retention.h"
#include "core/engine/task_table.h"
#include "core/engine/waiter_set.h"
#include "core/exec/handlers.h"
#include "core/model/asio.h"
#include "core/model/clock.h"
#include "core/model/task.h"
#include "core/store/store.h"

namespace taskd {

struct ManagerOptions;
struct ManagerStats;

class TaskDriver {
 public:
  using Entry = TaskEntry;

  // `options` must outlive the driver (the manager's own copy).
  TaskDriver(Strand strand, const ManagerOptions& options, Clock& clock, Spawner& spawner,
             Store& store, const HandlerRegistry& handlers);
  ~TaskDriver();
  TaskDriver(const TaskDriver&) = delete;
  TaskDriver& operator=(const TaskDriver&) = delete;

  // From here on strand-only functions check that they run on the strand.
  void MarkStarted() { started_.store(true, std::memory_order_relaxed); }
  // Aborts, in debug and sanitizer builds, when called off the strand after
  // MarkStarted(); `where` names the caller.
  void OnStrand(const char* where) const;

  // Start-up: puts what the store loaded under management (see
  // TaskManager::Start). Returns {interrupted, pending} counts.
  std::pair<size_t, size_t> Recover(StoredTasks loaded);

  // Puts a committed (or recovered) task under management: a PENDING one
  // waits for its dependencies and start delay, then is offered.
  void Admit(Task task, bool recovered);
  // Claims and starts what the queue allows now.
  void Dispatch() {
    OnStrand("Dispatch");
    queue_.Dispatch();
  }
  // Ends `e` (PENDING or just ended an attempt) in a terminal state.
  void Finish(Entry& e, TaskState state, TaskReason reason, std::optional<TaskError> error);
  // Stops e's running attempt (SIGTERM, SIGKILL after `grace`); its end
  // comes through the runner as for any attempt.
  void StopAttempt(Entry& e, TaskReason why, Duration grace);
  // Progress of attempt `attempt` of a RUNNING task (ignored otherwise).
  void ApplyProgress(const std::string& id, int32_t attempt, double percent, std::string message);
  // Registers waiter `handle` for `e`; ReleaseWaiters or AnswerWaiter answers it.
  WaiterSet::Waiter& AddWaiter(uint64_t handle, Entry& e, Callback<Task> done);
  // Removes waiter `handle` (if still there) and answers it: with `status`
  // when given, else with its task as it is now (NOT_FOUND if deleted).
  void AnswerWaiter(uint64_t handle, std::optional<Status> status = std::nullopt);
  // The finished task `id` as the store has it, read on an io thread: `then`
  // runs on the strand, with NOT_FOUND when there is none or it is being
  // (or was, meanwhile) deleted. For a task not in RAM.
  void WithStored(const std::string& id, Callback<Task> then);
  // The read made ahead with this ticket (TaskTable::BeginOutsideRead) is
  // back: evicts what waited for it.
  void EndOutsideRead(uint64_t ticket);
  // Runs `work` (store reads) on an io thread, then `then(its result)` on
  // the strand, holding a ticket from now until `then` has run, so the
  // result is good as reads made on the strand would be.
  template <typename Work, typename Then>
  void ReadOffStrand(Work work, Then then) {
    OnStrand("ReadOffStrand");
    const uint64_t ticket = table_.BeginOutsideRead();
    RunOffStrand(strand_, std::move(work),
                 [this, ticket, then = std::move(then)](auto result) mutable {
                   then(std::move(result));
                   EndOutsideRead(ticket);
                 });
  }
  // Stops admitting and claiming; ends waits and watches; stops what runs
  // (its grace capped at options.shutdown_grace). `done` runs once nothing runs.
  void Shutdown(std::function<void()> done);

  Duration KillGrace(const TaskSpec& spec) const;
  // Counts tasks by state and queue: O(tasks in RAM).
  ManagerStats Stats();
  bool shutting_down() const { return shutting_down_; }
  // PENDING tasks, committed or in flight (the admission limit counts these).
  size_t pending() const { return pending_; }
  void AddPending(size_t n) { pending_ += n; }
  void SubPending(size_t n) { pending_ -= n; }

  TaskTable& table() { return table_; }
  EventBus& events() { return events_; }
  Retention& retention() { return retention_; }
  AttemptRunner& runner() { return runner_; }
  const AttemptRunner& runner() const { return runner_; }
  // Entries in the start-delay queue, live and stale (on the strand).
  size_t start_entries() const { return starts_.size(); }

 private:
  using Aux = TaskAux;
  using Running = RunningAttempt;

  void MakeReady(Entry& e);
  // Start delays (not_before, retry backoff) wait in starts_ under one
  // clock timer, set for the earliest: a timer per delayed task held ~570
  // bytes of RSS each. Entries are checked when due (a task cancelled,
  // deleted or re-delayed since leaves a stale one behind).
  void ArmStartTimer();
  void StartDue();
  // A delayed task ended before its start (cancelled, a dependency failed):
  // its entry is stale. Once stale entries are most of starts_, it is
  // rebuilt from the table, so a loop of "submit a year ahead, cancel"
  // cannot grow it without bound.
  void StartEntryGone();
  void Unready(Entry& e);
  void StartAttempt(Entry& e);
  void OnAttemptEnd(const std::string& id, int32_t attempt, TaskReason reason,
                    std::optional<TaskResult> result, std::optional<TaskError> error);
  void Requeue(Entry& e, Duration delay);
  // The dependents of a task that ended: started, or failed with it.
  void ResolveDependents(const std::string& id, const std::vector<std::string>& dependents);
  void ReleaseWaiters(Entry& e);
  // Records the task as it is now; a finished task's final state, once
  // committed, lets it leave RAM.
  void Record(const Task& task);
  // A write of these ids committed: finished tasks among them may leave RAM
  // (puts), or deleted ones are gone from the store for good (deletes; only
  // a deletion's own commit ends its deleting entry).
  void OnCommitted(const std::vector<std::string>& ids, Persister::WriteOf of);
  // Moves a finished task whose final state is committed out of RAM (see
  // TaskTable::Evict), unless something still needs its entry; `released`:
  // no read made ahead holds it back any more.
  void MaybeEvict(TaskTable::Map::iterator it, bool released = false);
  void Emit(TaskEvent::Type type, const Task& task, WallTime now);
  void MaybeFinishShutdown();
  Aux& AuxOf(Entry& e);    // allocates it when missing
  void TrimAux(Entry& e);  // frees it when empty
  TaskTable::Map::iterator FindTask(std::string_view id) { return table_.Find(id); }

  Strand strand_;
  const ManagerOptions& options_;
  Clock& clock_;
  Store& store_;
  const RetryDefaults retry_defaults_;

  TaskTable table_;
  DependencyGraph deps_;
  WaiterSet waiters_;
  EventBus events_;
  AttemptRunner runner_;
  Persister persister_;
  LocalTaskQueue queue_;
  Retention retention_;
  ExpiryQueue starts_;
  size_t stale_starts_ = 0;  // entries in starts_ of tasks that ended
  std::unique_ptr<Clock::Timer> start_timer_;
  SteadyTime start_timer_at_ = SteadyTime::max();
  uint64_t sequence_ = 0;
  size_t pending_ = 0;
  bool shutting_down_ = false;
  std::atomic<bool> started_{false};
  std::function<void()> shutdown_done_;
};

}  // namespace taskd
