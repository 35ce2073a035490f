#include "core/engine/task_driver.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/engine/lifecycle.h"
#include "core/engine/manager_options.h"
#include "core/engine/recovery.h"
#include "core/model/check.h"

namespace taskd {

namespace {
constexpr Duration kProgressFlush = std::chrono::milliseconds(250);
}  // namespace

TaskDriver::TaskDriver(Strand strand, const ManagerOptions& options, Clock& clock, Spawner& spawner,
                       Store& store, const HandlerRegistry& handlers)
    : strand_(std::move(strand)),
      options_(options),
      clock_(clock),
      store_(store),
      retry_defaults_{options_.default_initial_backoff, options_.default_max_backoff,
                      options_.default_backoff_multiplier},
      table_(store),
      deps_([this](const std::string& id, const std::vector<std::string>& dependents) {
        ResolveDependents(id, dependents);
      }),
      runner_(
          strand_, clock_, spawner, handlers,
          AttemptRunner::Options{options_.log_dir, options_.log_cap_bytes, &options_.task_env},
          [this](const std::string& id, int32_t attempt, double percent, std::string message) {
            ApplyProgress(id, attempt, percent, std::move(message));
          },
          [this](const std::string& id, int32_t attempt, TaskReason reason,
                 std::optional<TaskResult> result, std::optional<TaskError> error) {
            OnAttemptEnd(id, attempt, reason, std::move(result), std::move(error));
          }),
      persister_(store, strand_, clock_,
                 Persister::Hooks{
                     .current = [this](const std::string& id) -> const Task* {
                       auto it = FindTask(id);
                       return it == table_.end() ? nullptr : &it->second.task;
                     },
                     .deletion_pending =
                         [this](const std::string& id) {
                           return !table_.evicts() || table_.IsDeleting(TaskKey(id));
                         },
                     .committed = [this](const std::vector<std::string>& ids,
                                         Persister::WriteOf of) { OnCommitted(ids, of); },
                     .retries = Persister::NotifyIf(table_.evicts()),
                 }),
      queue_(
          strand_, clock_, options_.max_running, options_.queues,
          [this](uint64_t key, uint64_t sequence) {
            auto it = table_.entries().find(key);
            return it != table_.end() && it->second.ready && it->second.sequence == sequence;
          },
          persister_,
          TaskQueue::Hooks{.claimed =
                               [this](uint64_t, void* ref) {
                                 Entry& e = *static_cast<Entry*>(ref);
                                 e.ready = false;
                                 StartAttempt(e);
                               }}),
      retention_(strand_, clock_, store, table_, persister_, events_,
                 [this](const std::string& id) {
                   return std::vector<std::filesystem::path>{runner_.StdoutPath(id),
                                                             runner_.StderrPath(id)};
                 }) {}

TaskDriver::~TaskDriver() = default;

// Puts a committed (or recovered) task under management.
void TaskDriver::Admit(Task task, bool recovered) {
  OnStrand("Admit");
  std::string id = task.id;
  Entry* inserted = table_.Insert(std::move(task));
  if (!inserted) return;
  Entry& e = *inserted;
  e.queue = queue_.QueueOf(QueueName(e.task.spec));
  e.sequence = ++sequence_;
  if (e.task.next_attempt_time) {
    // A wall-clock start time (not_before, or a backoff stored before a
    // restart) becomes a monotonic deadline once, here.
    auto wait = std::max<Duration>(Duration::zero(), *e.task.next_attempt_time - clock_.WallNow());
    AuxOf(e).start_at = clock_.SteadyNow() + ToSteady(wait);
  }
  if (recovered && e.task.state == TaskState::kPending) ++pending_;
  if (!recovered) Emit(TaskEvent::Type::kCreated, e.task, e.task.create_time);
  if (IsTerminal(e.task.state)) {
    // When evicting, the deadline goes with the task into the ended index (see
    // MaybeEvict; Start() evicts the tasks it loaded finished).
    if (!table_.evicts() && e.task.expire_time) {
      auto left = std::max<Duration>(Duration::zero(), *e.task.expire_time - clock_.WallNow());
      retention_.Schedule(id, clock_.SteadyNow() + ToSteady(left));
    }
    return;
  }
  // PENDING: dependencies first, then the start delay.
  for (const auto& dep : e.task.spec.after) {
    auto d = FindTask(dep);
    TaskState dep_state = TaskState::kCompleted;
    if (d != table_.end()) {
      dep_state = d->second.task.state;
    } else if (table_.evicts()) {
      // Ended, and in the store only (or deleted since: see below).
      auto stored = table_.ReadStored(dep);
      if (!stored.ok()) {
        spdlog::error("task {}: cannot read dependency {}: {}", id, dep, stored.status().message());
      } else if (*stored) {
        dep_state = (*stored)->state;
      }
    }
    // A dependency that is nowhere was deleted after it ended (a submit
    // checks its ids, so only a recovered task meets this). It COMPLETED —
    // had it failed, this task would have been failed, and persisted so,
    // before then.
    if (FailsDependents(dep_state)) {
      Finish(e, TaskState::kFailed, TaskReason::kDependencyFailed,
             TaskError{StatusCode::kFailedPrecondition,
                       "dependency " + dep + " ended " + std::string(StateName(dep_state))});
      return;
    }
    if (dep_state != TaskState::kCompleted) {
      ++e.unmet_deps;
      deps_.Add(dep, id);
    }
  }
  MakeReady(e);
}

// Marks a PENDING task with no unmet dependency startable, after its delay.
void TaskDriver::MakeReady(Entry& e) {
  OnStrand("MakeReady");
  if (e.unmet_deps > 0 || e.ready) return;
  if (e.aux && e.aux->start_at > clock_.SteadyNow()) {
    starts_.Schedule(e.task.id, e.aux->start_at);
    ArmStartTimer();
    return;
  }
  if (e.aux) {
    e.aux->start_at = {};
    TrimAux(e);
  }
  e.task.next_attempt_time.reset();
  e.ready = true;
  queue_.Offer(e.queue, TaskKey(e.task.id), e.task.spec.priority, e.sequence, &e);
}

void TaskDriver::Unready(Entry& e) {
  if (!e.ready) return;
  e.ready = false;
  queue_.Withdraw(e.queue);
}

void TaskDriver::ArmStartTimer() {
  const auto next = starts_.Next();
  if (!next || *next >= start_timer_at_ || shutting_down_) return;
  start_timer_at_ = *next;
  start_timer_ = clock_.RunAt(*next, strand_, [this] {
    start_timer_at_ = SteadyTime::max();
    StartDue();
  });
}

void TaskDriver::StartDue() {
  OnStrand("StartDue");
  const SteadyTime now = clock_.SteadyNow();
  std::string id;
  bool any = false;
  while (starts_.PopDue(now, &id)) {
    auto it = FindTask(id);
    if (it == table_.end()) continue;
    Entry& e = it->second;
    // Stale: it started, ended or was re-delayed (a later entry is queued).
    if (e.task.state != TaskState::kPending || e.ready || !e.aux ||
        e.aux->start_at == SteadyTime{} || e.aux->start_at > now) {
      continue;
    }
    e.aux->start_at = {};
    TrimAux(e);
    MakeReady(e);
    any = true;
  }
  if (any) Dispatch();
  ArmStartTimer();
}

void TaskDriver::StartEntryGone() {
  if (++stale_starts_ < 1024 || stale_starts_ * 2 < starts_.size()) return;
  ExpiryQueue live;
  for (auto& [id, e] : table_.entries()) {
    if (e.task.state == TaskState::kPending && !e.ready && e.unmet_deps == 0 && e.aux &&
        e.aux->start_at != SteadyTime{}) {
      live.Schedule(e.task.id, e.aux->start_at);
    }
  }
  starts_ = std::move(live);
  stale_starts_ = 0;
  // The timer may now fire before the earliest entry: StartDue finds
  // nothing due and sets it again.
}

TaskDriver::Aux& TaskDriver::AuxOf(Entry& e) {
  if (!e.aux) e.aux = std::make_unique<Aux>();
  return *e.aux;
}

void TaskDriver::TrimAux(Entry& e) {
  if (e.aux && !e.aux->timer && !e.aux->run && e.aux->start_at == SteadyTime{}) {
    e.aux.reset();
  }
}

void TaskDriver::StartAttempt(Entry& e) {
  OnStrand("StartAttempt");
  Task& t = e.task;
  t.state = TaskState::kRunning;
  t.reason = TaskReason::kUnspecified;
  ++t.attempt;
  const WallTime now = clock_.WallNow();
  t.start_time = now;
  t.next_attempt_time.reset();
  t.result.reset();
  t.error.reset();
  t.progress = Progress{};
  AuxOf(e).run.emplace();
  --pending_;  // and running: counted by the scheduler, which picked it
  // Persisted below, once: with the process for an exec task.
  Emit(TaskEvent::Type::kStateChanged, t, now);
  spdlog::debug("task {}: attempt {} started", t.id, t.attempt);

  if (t.spec.timeout > Duration::zero()) {
    std::string id = t.id;
    int32_t attempt = t.attempt;
    e.aux->timer = clock_.RunAfter(t.spec.timeout, strand_, [this, id, attempt] {
      auto it = FindTask(id);
      if (it == table_.end() || it->second.task.state != TaskState::kRunning ||
          it->second.task.attempt != attempt || it->second.aux->run->stopping) {
        return;
      }
      spdlog::info("task {}: timed out after attempt {} ran its timeout", id, attempt);
      StopAttempt(it->second, TaskReason::kTimedOut, KillGrace(it->second.task.spec));
    });
  }

  // Persisted once it runs: with its process for an exec task, so a
  // restart after a crash can kill what is left of it. (A crash before this
  // commits is covered by the TASKD_TASK_ID scan in Start(); a failed spawn
  // is written as it ends.)
  auto started = runner_.Start(t, *e.aux->run, store_.durable());
  if (!started.running) return;
  t.process = std::move(started.process);
  Record(t);
}

void TaskDriver::StopAttempt(Entry& e, TaskReason why, Duration grace) {
  OnStrand("StopAttempt");
  if (e.aux->run->stopping) {
    // Already stopping: a cancel overrides a timeout's reason, and a
    // shorter grace may bring the SIGKILL forward.
    if (why == TaskReason::kCancelled) e.aux->run->stopping = why;
  } else {
    e.aux->run->stopping = why;
  }
  runner_.Stop(*e.aux->run, grace);
}

void TaskDriver::OnAttemptEnd(const std::string& id, int32_t attempt, TaskReason reason,
                              std::optional<TaskResult> result, std::optional<TaskError> error) {
  OnStrand("OnAttemptEnd");
  auto it = FindTask(id);
  if (it == table_.end()) return;
  Entry& e = it->second;
  Task& t = e.task;
  if (t.state != TaskState::kRunning || t.attempt != attempt) return;
  queue_.Release(e.queue);
  runner_.Reap(t, *e.aux->run);
  t.process.reset();
  const std::optional<TaskReason> stopping = e.aux->run->stopping;
  e.aux->run.reset();
  e.aux->timer.reset();
  TrimAux(e);
  t.result = std::move(result);
  if (!t.result) t.result = TaskResult{};

  Transition next = AfterAttempt(t, AttemptEnd{reason, std::move(error), stopping}, shutting_down_,
                                 retry_defaults_);
  if (next.kind == Transition::Kind::kRequeue) {
    t.reason = next.reason;
    t.error = std::move(next.error);
    Requeue(e, next.delay);
  } else {
    Finish(e, next.state, next.reason, std::move(next.error));
  }
  MaybeFinishShutdown();
  Dispatch();
}

void TaskDriver::Requeue(Entry& e, Duration delay) {
  OnStrand("Requeue");
  Task& t = e.task;
  t.state = TaskState::kPending;
  const WallTime now = clock_.WallNow();
  t.next_attempt_time = now + std::chrono::duration_cast<WallTime::duration>(delay);
  AuxOf(e).start_at = clock_.SteadyNow() + ToSteady(delay);
  ++pending_;
  e.sequence = ++sequence_;
  Record(t);
  Emit(TaskEvent::Type::kStateChanged, t, now);
  spdlog::info("task {}: attempt {} failed ({}); retrying in {} ms", t.id, t.attempt,
               ReasonName(t.reason),
               std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
  if (!shutting_down_) MakeReady(e);
}

void TaskDriver::Finish(Entry& e, TaskState state, TaskReason reason,
                        std::optional<TaskError> error) {
  OnStrand("Finish");
  Task& t = e.task;
  if (t.state == TaskState::kPending) {
    --pending_;
    Unready(e);
    if (e.aux) e.aux->timer.reset();
    if (e.aux && e.aux->start_at != SteadyTime{}) StartEntryGone();
  }
  t.state = state;
  t.reason = reason;
  t.error = std::move(error);
  t.next_attempt_time.reset();
  const WallTime now = clock_.WallNow();
  const Duration ttl = t.spec.ttl.value_or(options_.default_ttl);
  t.end_time = now;
  t.expire_time = now + std::chrono::duration_cast<WallTime::duration>(ttl);
  Record(t);
  Emit(TaskEvent::Type::kStateChanged, t, now);
  spdlog::info("task {}: {} ({}){}", t.id, StateName(state), ReasonName(reason),
               t.error ? ": " + t.error->message : "");
  ReleaseWaiters(e);
  e.aux.reset();  // nothing in it outlives the task's end
  // When evicting, the deadline goes into the ended index with the task, once
  // its final state is committed (see MaybeEvict).
  if (!table_.evicts()) retention_.Schedule(t.id, clock_.SteadyNow() + ToSteady(ttl));
  deps_.Ended(t.id);
}

void TaskDriver::ResolveDependents(const std::string& id,
                                   const std::vector<std::string>& dependents) {
  OnStrand("ResolveDependents");
  const Task& dep = FindTask(id)->second.task;
  for (const auto& did : dependents) {
    auto it = FindTask(did);
    if (it == table_.end() || it->second.task.state != TaskState::kPending) continue;
    Entry& d = it->second;
    if (dep.state == TaskState::kCompleted) {
      if (--d.unmet_deps == 0) MakeReady(d);
    } else {
      Finish(d, TaskState::kFailed, TaskReason::kDependencyFailed,
             TaskError{StatusCode::kFailedPrecondition,
                       "dependency " + Quote(id) + " ended " + std::string(StateName(dep.state))});
    }
  }
}

void TaskDriver::ApplyProgress(const std::string& id, int32_t attempt, double percent,
                               std::string message) {
  OnStrand("ApplyProgress");
  auto it = FindTask(id);
  if (it == table_.end()) return;
  Task& t = it->second.task;
  if (t.state != TaskState::kRunning || t.attempt != attempt) return;
  t.progress.percent = std::clamp(percent, 0.0, 100.0);
  t.progress.message = std::move(message);
  t.progress.update_time = clock_.WallNow();
  Emit(TaskEvent::Type::kProgress, t, *t.progress.update_time);
  // Progress is persisted coalesced: the latest value at most once per
  // kProgressFlush, so a chatty task never dominates the store's writes.
  // (The attempt's end persists the final value anyway.)
  Running& run = *it->second.aux->run;
  if (store_.durable() && !run.progress_flush) {
    run.progress_flush = clock_.RunAfter(kProgressFlush, strand_, [this, id, attempt] {
      auto it = FindTask(id);
      if (it == table_.end()) return;
      Entry& e = it->second;
      if (e.task.state != TaskState::kRunning || e.task.attempt != attempt) return;
      e.aux->run->progress_flush.reset();
      Record(e.task);
    });
  }
}

WaiterSet::Waiter& TaskDriver::AddWaiter(uint64_t handle, Entry& e, Callback<Task> done) {
  return waiters_.Add(handle, TaskKey(e.task.id), e.task.id, std::move(done));
}

void TaskDriver::AnswerWaiter(uint64_t handle, std::optional<Status> status) {
  OnStrand("AnswerWaiter");
  auto waiter = waiters_.Take(handle);
  if (!waiter) return;  // answered already
  auto tit = FindTask(waiter->id);
  if (status) {
    waiter->done(*status);
  } else if (tit == table_.end()) {
    waiter->done(NotFound("task '" + waiter->id + "' was deleted"));
  } else {
    waiter->done(tit->second.task);
  }
}

void TaskDriver::ReleaseWaiters(Entry& e) {
  if (waiters_.size() == 0) return;  // the common case, without parsing the id
  for (uint64_t h : waiters_.HandlesOf(TaskKey(e.task.id))) AnswerWaiter(h);
}

void TaskDriver::OnCommitted(const std::vector<std::string>& ids, Persister::WriteOf of) {
  OnStrand("OnCommitted");
  for (const auto& id : ids) {
    auto key = TaskIdNumber(id);
    if (!key) continue;
    if (of == Persister::WriteOf::kDeletes) {
      table_.Deleted(*key);  // the store no longer has it
      continue;
    }
    // A put: its task may leave RAM now (if it was deleted meanwhile, its
    // deletion is still pending and keeps it hidden).
    if (auto it = table_.entries().find(*key); it != table_.end()) MaybeEvict(it);
  }
}

void TaskDriver::MaybeEvict(TaskTable::Map::iterator it, bool released) {
  OnStrand("MaybeEvict");
  Entry& e = it->second;
  const Task& t = e.task;
  // Waiters are answered at the end and dependents resolved then, so an
  // entry with aux or a change still to be written is the rare exception.
  if (!table_.evicts() || !IsTerminal(t.state) || e.aux || persister_.Unpersisted(t.id) ||
      waiters_.Has(it->first)) {
    return;
  }
  int64_t expire_ns = INT64_MAX;
  if (t.expire_time) {
    auto left = std::max<Duration>(Duration::zero(), *t.expire_time - clock_.WallNow());
    expire_ns = NanosSinceEpoch(clock_.SteadyNow() + ToSteady(left));
  }
  if (!table_.Evict(it, expire_ns, released)) return;  // after the reads out (EndOutsideRead)
  retention_.Indexed(expire_ns);
}

void TaskDriver::EndOutsideRead(uint64_t ticket) {
  OnStrand("EndOutsideRead");
  for (uint64_t key : table_.EndOutsideRead(ticket)) {
    if (auto it = table_.entries().find(key); it != table_.end()) MaybeEvict(it, true);
  }
}

void TaskDriver::Emit(TaskEvent::Type type, const Task& task, WallTime now) {
  OnStrand("Emit");
  // Subscribe and Unsubscribe only ever post, so no callback can change the
  // subscriptions while they are called.
  events_.Emit(type, task, now);
}

void TaskDriver::Record(const Task& task) {
  OnStrand("Record");
  queue_.Record(task, table_.evicts() && IsTerminal(task.state) ? TaskQueue::Ack::kOnCommit
                                                                : TaskQueue::Ack::kNone);
}

void TaskDriver::MaybeFinishShutdown() {
  OnStrand("MaybeFinishShutdown");
  if (!shutting_down_ || queue_.running() > 0 || !shutdown_done_) return;
  // Nothing a task started outlives the daemon, in its group or not.
  runner_.KillAllEscaped();
  auto done = std::move(shutdown_done_);
  shutdown_done_ = nullptr;
  done();
}

Duration TaskDriver::KillGrace(const TaskSpec& spec) const {
  return spec.kill_grace > Duration::zero() ? spec.kill_grace : options_.default_kill_grace;
}

void TaskDriver::OnStrand(const char* where) const {
  TASKD_DCHECK(!started_.load(std::memory_order_relaxed) || strand_.running_in_this_thread(),
               std::string(where) + " ran off the manager strand");
}

std::pair<size_t, size_t> TaskDriver::Recover(StoredTasks loaded) {
  size_t interrupted = 0, pending = 0;
  // First kill what a previous daemon left running.
  const int killed = KillLeftovers(loaded.tasks, runner_.instance());
  if (killed > 0) spdlog::warn("killed {} processes left running by the previous taskd", killed);
  // The index first: tasks recovered below may join it (MaybeEvict).
  if (!loaded.ended.empty()) {
    if (!table_.evicts()) {
      spdlog::error("the {} store indexed {} finished tasks it cannot read; ignored", store_.Name(),
                    loaded.ended.size());
    } else {
      ObserveTaskId(
          TaskIdFromNumber(ToSteadyDeadlines(loaded.ended, clock_.SteadyNow(), clock_.WallNow())));
      table_.ended().Reset(std::move(loaded.ended));
      retention_.Indexed(table_.ended().NextDeadline());
    }
  }
  for (Task& task : loaded.tasks) {
    ObserveTaskId(task.id);
    task.process.reset();
    // Stored finished as it is: nothing more to write before it leaves RAM.
    const bool stored_finished = IsTerminal(task.state);
    if (EndInterrupted(task, clock_.WallNow(), options_.default_ttl)) {
      ++interrupted;
      Record(task);
    }
    if (task.state == TaskState::kPending) ++pending;
    const std::string id = task.id;
    Admit(std::move(task), /*recovered=*/true);
    if (stored_finished && table_.evicts()) {
      if (auto it = FindTask(id); it != table_.end()) MaybeEvict(it);
    }
  }
  return {interrupted, pending};
}

void TaskDriver::WithStored(const std::string& id, Callback<Task> then) {
  OnStrand("WithStored");
  auto key = TaskIdNumber(id);
  if (!table_.evicts() || !key || table_.IsDeleting(*key)) {
    then(TaskTable::TaskNotFound(id));
    return;
  }
  // Deletions that commit meanwhile stay known while the ticket is out.
  const uint64_t ticket = table_.BeginOutsideRead();
  RunOffStrand(
      strand_, [this, key = *key] { return store_.Read(key); },
      [this, id, key = *key, ticket, then = std::move(then)](StatusOr<std::optional<Task>> read) {
        StatusOr<Task> answer = TaskTable::TaskNotFound(id);
        if (!read.ok()) {
          answer = read.status();
        } else if (*read && !table_.IsDeleting(key)) {
          answer = std::move(**read);
        }
        EndOutsideRead(ticket);
        then(std::move(answer));
      });
}

ManagerStats TaskDriver::Stats() {
  ManagerStats st;
  for (TaskState s : {TaskState::kCompleted, TaskState::kFailed, TaskState::kCancelled}) {
    st.by_state[static_cast<size_t>(s)] = table_.ended().count(s);
  }
  st.finished_in_store = table_.ended().size();
  queue_.ForEachQueue(
      [&](const std::string& name, int running) { st.queues[name].running = running; });
  for (const auto& [key, e] : table_.entries()) {
    const Task& t = e.task;
    ++st.by_state[static_cast<size_t>(t.state)];
    if (t.state == TaskState::kPending) {
      ++st.queues[std::string(QueueName(t.spec))].pending;
      // The table is in creation order: the first pending one is the oldest.
      if (!st.oldest_pending_create_time) st.oldest_pending_create_time = t.create_time;
    }
  }
  return st;
}

void TaskDriver::Shutdown(std::function<void()> done) {
  OnStrand("Shutdown");
  shutting_down_ = true;
  shutdown_done_ = std::move(done);
  retention_.Stop();
  // The queue forgets its offers: none is withdrawn from it after this.
  for (auto& [id, e] : table_.entries()) e.ready = false;
  queue_.Close();
  // Waits end with the current state; subscriptions end with UNAVAILABLE.
  for (uint64_t h : waiters_.Handles()) AnswerWaiter(h);
  events_.CloseAll(Unavailable("taskd is shutting down"));
  start_timer_.reset();  // no delayed task starts now
  for (auto& [id, e] : table_.entries()) {
    if (e.task.state == TaskState::kPending && e.aux) e.aux->timer.reset();
    if (e.task.state == TaskState::kRunning) {
      StopAttempt(e, TaskReason::kInterrupted,
                  std::min(KillGrace(e.task.spec), options_.shutdown_grace));
    }
  }
  MaybeFinishShutdown();
}

}  // namespace taskd
