#include "core/engine/task_manager.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "core/engine/lifecycle.h"
#include "core/engine/recovery.h"
#include "core/exec/exec_runner.h"
#include "core/model/check.h"
#include "core/model/files.h"

namespace taskd {

namespace {

constexpr Duration kProgressFlush = std::chrono::milliseconds(250);

// The refusals of a cancel of a task that has ended, and of progress for a
// task that is not running.
Status NothingToCancel(std::string_view id, TaskState state) {
  return FailedPrecondition("task " + Quote(id) + " already ended (" +
                            std::string(StateName(state)) + "); nothing to cancel");
}
Status NotRunning(std::string_view id, TaskState state) {
  return FailedPrecondition("task " + Quote(id) + " is " + std::string(StateName(state)) +
                            "; progress can only be reported while it runs");
}

ManagerOptions WithDefaults(ManagerOptions o) {
  if (o.max_running <= 0) {
    o.max_running = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  return o;
}
}  // namespace

TaskManager::TaskManager(asio::io_context& io, ManagerOptions options, Store& store,
                         const HandlerRegistry& handlers)
    : strand_(asio::make_strand(io)),
      options_(WithDefaults(std::move(options))),
      clock_(options_.clock ? *options_.clock : SystemClock::Get()),
      spawner_(options_.spawner ? *options_.spawner : PosixSpawner()),
      store_(store),
      handlers_(handlers),
      retry_defaults_{options_.default_initial_backoff, options_.default_max_backoff,
                      options_.default_backoff_multiplier},
      table_(store),
      scheduler_(options_.max_running, options_.queues,
                 [this](uint64_t key, uint64_t sequence) {
                   auto it = table_.entries().find(key);
                   return it != table_.end() && it->second.ready && it->second.sequence == sequence;
                 }),
      deps_([this](const std::string& id, const std::vector<std::string>& dependents) {
        ResolveDependents(id, dependents);
      }),
      runner_(
          strand_, clock_, spawner_, handlers_,
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
      retention_(strand_, clock_, store, table_, persister_, events_,
                 [this](const std::string& id) {
                   return std::vector<std::filesystem::path>{StdoutPath(id), StderrPath(id)};
                 }) {}

TaskManager::~TaskManager() = default;

std::filesystem::path TaskManager::StdoutPath(const std::string& id) const {
  return runner_.StdoutPath(id);
}
std::filesystem::path TaskManager::StderrPath(const std::string& id) const {
  return runner_.StderrPath(id);
}

Status TaskManager::Validate(const SubmitRequest& request, std::string_view prefix) const {
  std::string spec_field(prefix);
  spec_field += spec_field.empty() ? "spec" : ".spec";
  std::string rid_field(prefix);
  rid_field += rid_field.empty() ? "request_id" : ".request_id";
  if (auto s = ValidateRequestId(request.request_id, rid_field, options_.limits); !s.ok()) return s;
  return ValidateSpec(
      request.spec, spec_field, options_.limits,
      [this](std::string_view p, const HandlerAction& a) { return handlers_.Check(p, a); });
}

Duration TaskManager::KillGrace(const TaskSpec& spec) const {
  return spec.kill_grace > Duration::zero() ? spec.kill_grace : options_.default_kill_grace;
}

void TaskManager::OnStrand(const char* where) const {
  TASKD_DCHECK(!started_.load(std::memory_order_relaxed) || strand_.running_in_this_thread(),
               std::string(where) + " ran off the manager strand");
}

// ---------------------------------------------------------------- start-up

Status TaskManager::Start() {
  if (auto s = MakeDirectories(options_.log_dir, 0700); !s.ok()) return s;
  std::error_code ec;
  {
    auto canonical = std::filesystem::weakly_canonical(options_.log_dir, ec);
    runner_.SetInstance((ec ? options_.log_dir : canonical).lexically_normal().string());
  }
  auto loaded = store_.Load();
  if (!loaded.ok()) return loaded.status();
  size_t interrupted = 0, pending = 0;
  // First kill what a previous daemon left running.
  const int killed = KillLeftovers(loaded->tasks, runner_.instance());
  if (killed > 0) spdlog::warn("killed {} processes left running by the previous taskd", killed);
  // The index first: tasks recovered below may join it (MaybeEvict).
  const size_t ended = loaded->ended.size();
  if (!loaded->ended.empty()) {
    if (!table_.evicts()) {
      spdlog::error("the {} store indexed {} finished tasks it cannot read; ignored", store_.Name(),
                    ended);
    } else {
      ObserveTaskId(
          TaskIdFromNumber(ToSteadyDeadlines(loaded->ended, clock_.SteadyNow(), clock_.WallNow())));
      table_.ended().Reset(std::move(loaded->ended));
      retention_.Indexed(table_.ended().NextDeadline());
    }
  }
  for (Task& task : loaded->tasks) {
    ObserveTaskId(task.id);
    task.process.reset();
    // Stored finished as it is: nothing more to write before it leaves RAM.
    const bool stored_finished = IsTerminal(task.state);
    if (EndInterrupted(task, clock_.WallNow(), options_.default_ttl)) {
      ++interrupted;
      Persist(task);
    }
    if (task.state == TaskState::kPending) ++pending;
    const std::string id = task.id;
    Admit(std::move(task), /*recovered=*/true);
    if (stored_finished && table_.evicts()) {
      if (auto it = FindTask(id); it != table_.end()) MaybeEvict(it);
    }
  }
  if (!loaded->tasks.empty() || ended > 0) {
    spdlog::info("recovered {} tasks from the {} store: {} pending, {} interrupted, {} finished",
                 loaded->tasks.size() + ended, store_.Name(), pending, interrupted, ended);
  }
  started_ = true;
  asio::post(strand_, [this] { Pump(); });
  return OkStatus();
}

// ---------------------------------------------------------------- submit

void TaskManager::Submit(SubmitRequest request, Callback<Task> done) {
  if (auto s = Validate(request, ""); !s.ok()) {
    Refuse(std::move(done), std::move(s));
    return;
  }
  std::vector<SubmitRequest> one;
  one.push_back(std::move(request));
  asio::post(strand_, [this, one = std::move(one), done = std::move(done)]() mutable {
    DoSubmit(std::move(one), [done = std::move(done)](StatusOr<std::vector<Task>> r) {
      if (!r.ok()) {
        done(r.status());
      } else {
        done(std::move(r->front()));
      }
    });
  });
}

void TaskManager::BatchSubmit(std::vector<SubmitRequest> requests,
                              Callback<std::vector<Task>> done) {
  if (requests.empty()) {
    Refuse(std::move(done), InvalidArgument("requests", "must not be empty"));
    return;
  }
  if (requests.size() > 1000) {
    Refuse(std::move(done), InvalidArgument("requests", "must hold at most 1000 entries"));
    return;
  }
  std::unordered_map<std::string_view, size_t> request_ids;
  for (size_t i = 0; i < requests.size(); ++i) {
    std::string prefix = "requests[" + std::to_string(i) + "]";
    if (auto s = Validate(requests[i], prefix); !s.ok()) {
      Refuse(std::move(done), std::move(s));
      return;
    }
    const std::string& rid = requests[i].request_id;
    if (rid.empty()) continue;
    if (auto [it, fresh] = request_ids.emplace(rid, i); !fresh) {
      Refuse(std::move(done),
             InvalidArgument(prefix + ".request_id",
                             "repeats requests[" + std::to_string(it->second) + "].request_id"));
      return;
    }
  }
  asio::post(strand_, [this, requests = std::move(requests), done = std::move(done)]() mutable {
    DoSubmit(std::move(requests), std::move(done));
  });
}

void TaskManager::DoSubmit(std::vector<SubmitRequest> requests, Callback<std::vector<Task>> done) {
  OnStrand("DoSubmit");
  if (shutting_down_) {
    done(Unavailable("taskd is shutting down"));
    return;
  }
  const bool single = requests.size() == 1;
  // A repeated request_id of a single submit whose first request is still
  // being committed waits for that commit.
  if (single && !requests[0].request_id.empty()) {
    auto it = inflight_.find(requests[0].request_id);
    if (it != inflight_.end()) {
      it->second.push_back([done](StatusOr<Task> t) {
        if (!t.ok()) {
          done(t.status());
        } else {
          done(std::vector<Task>{std::move(t).value()});
        }
      });
      return;
    }
  }
  auto plan = PlanAdmission(requests, table_,
                            [this](const std::string& rid) { return inflight_.count(rid) > 0; });
  if (!plan.ok()) {
    done(plan.status());
    return;
  }
  std::vector<Task> out = std::move(plan->out);
  std::vector<size_t> fresh = std::move(plan->fresh);  // the requests that create a task
  if (pending_ + fresh.size() > options_.max_pending) {
    done(ResourceExhausted("the pending task limit (" + std::to_string(options_.max_pending) +
                           ") is reached; retry later"));
    return;
  }
  if (fresh.empty()) {
    done(std::move(out));
    return;
  }
  std::vector<StoreOp> ops;
  ops.reserve(fresh.size());
  WallTime now = clock_.WallNow();
  for (size_t i : fresh) {
    Task t;
    t.id = NewTaskId();
    t.request_id = std::move(requests[i].request_id);
    t.spec = std::move(requests[i].spec);
    t.state = TaskState::kPending;
    t.create_time = now;
    if (t.spec.not_before && *t.spec.not_before > now) t.next_attempt_time = t.spec.not_before;
    if (!t.request_id.empty()) inflight_[t.request_id.str()];
    if (store_.durable()) ops.push_back(StoreOp{StoreOp::Kind::kPut, t, {}});
    out[i] = std::move(t);
  }
  pending_ += fresh.size();
  // The acknowledgement waits for the commit; the tasks are admitted only
  // once committed, so no task runs that a crash could forget.
  store_.Write(std::move(ops), [this, out = std::move(out), fresh = std::move(fresh),
                                done = std::move(done)](Status s) mutable {
    asio::post(strand_, [this, s = std::move(s), out = std::move(out), fresh = std::move(fresh),
                         done = std::move(done)]() mutable {
      pending_ -= fresh.size();
      for (size_t i : fresh) {
        std::vector<Callback<Task>> followers;
        if (const auto& rid = out[i].request_id; !rid.empty()) {
          auto it = inflight_.find(rid.str());
          if (it != inflight_.end()) {
            followers = std::move(it->second);
            inflight_.erase(it);
          }
        }
        if (s.ok()) {
          ++pending_;
          std::string id = out[i].id;
          Admit(std::move(out[i]), /*recovered=*/false);
          out[i] = FindTask(id)->second.task;  // as admitted: it may have ended already
          for (auto& f : followers) f(out[i]);
        } else {
          for (auto& f : followers) f(s);
        }
      }
      if (!s.ok()) {
        done(s);
        return;
      }
      done(std::move(out));
      Pump();
    });
  });
}

// Puts a committed (or recovered) task under management.
void TaskManager::Admit(Task task, bool recovered) {
  OnStrand("Admit");
  std::string id = task.id;
  Entry* inserted = table_.Insert(std::move(task));
  if (!inserted) return;
  Entry& e = *inserted;
  e.queue = scheduler_.Queue(QueueName(e.task.spec));
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
    if (dep_state == TaskState::kFailed || dep_state == TaskState::kCancelled) {
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
void TaskManager::MakeReady(Entry& e) {
  OnStrand("MakeReady");
  if (e.unmet_deps > 0 || e.ready) return;
  if (e.aux && e.aux->start_at > clock_.SteadyNow()) {
    std::string id = e.task.id;
    e.aux->timer = clock_.RunAt(e.aux->start_at, strand_, [this, id] {
      auto it = FindTask(id);
      if (it == table_.end() || it->second.task.state != TaskState::kPending) return;
      Entry& e = it->second;
      e.aux->timer.reset();
      e.aux->start_at = {};
      TrimAux(e);
      MakeReady(e);
      Pump();
    });
    return;
  }
  if (e.aux) {
    e.aux->start_at = {};
    TrimAux(e);
  }
  e.task.next_attempt_time.reset();
  e.ready = true;
  scheduler_.Ready(e.queue, TaskKey(e.task.id), e.task.spec.priority, e.sequence, &e);
}

void TaskManager::Unready(Entry& e) {
  if (!e.ready) return;
  e.ready = false;
  scheduler_.Unready(e.queue);
}

TaskManager::Aux& TaskManager::AuxOf(Entry& e) {
  if (!e.aux) e.aux = std::make_unique<Aux>();
  return *e.aux;
}

void TaskManager::TrimAux(Entry& e) {
  if (e.aux && !e.aux->timer && !e.aux->run && e.aux->start_at == SteadyTime{}) {
    e.aux.reset();
  }
}

// Starts ready tasks while the global and per-queue limits allow.
void TaskManager::Pump() {
  OnStrand("Pump");
  if (shutting_down_) return;
  const SteadyTime now = clock_.SteadyNow();
  SteadyTime wake = SteadyTime::max();  // when a rate-limited queue gets its next token
  while (auto pick = scheduler_.Next(now, &wake)) {
    Entry& e = *static_cast<Entry*>(pick->ref);
    e.ready = false;
    StartAttempt(e);
  }
  if (wake != SteadyTime::max() && wake < pump_at_) {
    pump_at_ = wake;
    pump_timer_ = clock_.RunAt(wake, strand_, [this] {
      pump_at_ = SteadyTime::max();
      Pump();
    });
  }
}

// ---------------------------------------------------------------- running

void TaskManager::StartAttempt(Entry& e) {
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
  Persist(t);
}

void TaskManager::StopAttempt(Entry& e, TaskReason why, Duration grace) {
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

void TaskManager::OnAttemptEnd(const std::string& id, int32_t attempt, TaskReason reason,
                               std::optional<TaskResult> result, std::optional<TaskError> error) {
  OnStrand("OnAttemptEnd");
  auto it = FindTask(id);
  if (it == table_.end()) return;
  Entry& e = it->second;
  Task& t = e.task;
  if (t.state != TaskState::kRunning || t.attempt != attempt) return;
  scheduler_.Stopped(e.queue);
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
  Pump();
}

void TaskManager::Requeue(Entry& e, Duration delay) {
  OnStrand("Requeue");
  Task& t = e.task;
  t.state = TaskState::kPending;
  const WallTime now = clock_.WallNow();
  t.next_attempt_time = now + std::chrono::duration_cast<WallTime::duration>(delay);
  AuxOf(e).start_at = clock_.SteadyNow() + ToSteady(delay);
  ++pending_;
  e.sequence = ++sequence_;
  Persist(t);
  Emit(TaskEvent::Type::kStateChanged, t, now);
  spdlog::info("task {}: attempt {} failed ({}); retrying in {} ms", t.id, t.attempt,
               ReasonName(t.reason),
               std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
  if (!shutting_down_) MakeReady(e);
}

void TaskManager::Finish(Entry& e, TaskState state, TaskReason reason,
                         std::optional<TaskError> error) {
  OnStrand("Finish");
  Task& t = e.task;
  if (t.state == TaskState::kPending) {
    --pending_;
    Unready(e);
    if (e.aux) e.aux->timer.reset();
  }
  t.state = state;
  t.reason = reason;
  t.error = std::move(error);
  t.next_attempt_time.reset();
  const WallTime now = clock_.WallNow();
  const Duration ttl = t.spec.ttl.value_or(options_.default_ttl);
  t.end_time = now;
  t.expire_time = now + std::chrono::duration_cast<WallTime::duration>(ttl);
  Persist(t);
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

void TaskManager::ResolveDependents(const std::string& id,
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

void TaskManager::ApplyProgress(const std::string& id, int32_t attempt, double percent,
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
      Persist(e.task);
    });
  }
}

// ---------------------------------------------------------------- reads

void TaskManager::Get(std::string id, Callback<Task> done) {
  asio::post(strand_, [this, id = std::move(id), done = std::move(done)] {
    auto it = FindTask(id);
    if (it != table_.end()) {
      done(it->second.task);
      return;
    }
    done(table_.StoredOrNotFound(id));
  });
}

void TaskManager::List(ListRequest request, Callback<ListResult> done) {
  asio::post(strand_, [this, request = std::move(request), done = std::move(done)] {
    done(table_.List(request));
  });
}

void TaskManager::SnapshotPage(ListRequest request, Callback<ListResult> done) {
  asio::post(strand_, [this, request = std::move(request), done = std::move(done)]() mutable {
    done(table_.Snapshot(std::move(request)));
  });
}

// ---------------------------------------------------------------- cancel

void TaskManager::Cancel(std::string id, std::optional<Duration> grace, Callback<Task> done) {
  uint64_t handle = NewHandle();
  asio::post(strand_, [this, handle, id = std::move(id), grace, done = std::move(done)]() mutable {
    CancelOnStrand(handle, id, grace, std::move(done));
  });
}

void TaskManager::CancelOnStrand(uint64_t handle, const std::string& id,
                                 std::optional<Duration> grace, Callback<Task> done) {
  OnStrand("CancelOnStrand");
  auto it = FindTask(id);
  if (it == table_.end()) {
    // Only finished tasks leave RAM.
    auto stored = table_.StoredOrNotFound(id);
    done(stored.ok() ? NothingToCancel(id, stored->state) : stored.status());
    return;
  }
  Entry& e = it->second;
  if (IsTerminal(e.task.state)) {
    done(NothingToCancel(id, e.task.state));
    return;
  }
  if (e.task.state == TaskState::kPending) {
    Finish(e, TaskState::kCancelled, TaskReason::kCancelled,
           TaskError{StatusCode::kCancelled, "cancelled before it started"});
    done(e.task);
    Pump();
    return;
  }
  // RUNNING: answer once the attempt has ended (CancelWait(handle) ends the
  // wait early; the task is still stopped).
  AddWaiter(handle, e, std::move(done));
  StopAttempt(e, TaskReason::kCancelled, grace.value_or(KillGrace(e.task.spec)));
}

// ---------------------------------------------------------------- wait

uint64_t TaskManager::Wait(std::string id, std::optional<Duration> timeout, Callback<Task> done) {
  uint64_t handle = NewHandle();
  asio::post(strand_,
             [this, handle, id = std::move(id), timeout, done = std::move(done)]() mutable {
               WaitOnStrand(handle, id, timeout, std::move(done));
             });
  return handle;
}

void TaskManager::WaitOnStrand(uint64_t handle, const std::string& id,
                               std::optional<Duration> timeout, Callback<Task> done) {
  OnStrand("WaitOnStrand");
  auto it = FindTask(id);
  if (it == table_.end()) {
    // Only finished tasks leave RAM: one in the store is answered at once.
    done(table_.StoredOrNotFound(id));
    return;
  }
  Entry& e = it->second;
  if (IsTerminal(e.task.state) || shutting_down_ || (timeout && *timeout <= Duration::zero())) {
    done(e.task);
    return;
  }
  WaiterSet::Waiter& w = AddWaiter(handle, e, std::move(done));
  if (timeout) {
    w.timer = clock_.RunAfter(*timeout, strand_, [this, handle] { AnswerWaiter(handle); });
  }
}

WaiterSet::Waiter& TaskManager::AddWaiter(uint64_t handle, Entry& e, Callback<Task> done) {
  return waiters_.Add(handle, TaskKey(e.task.id), e.task.id, std::move(done));
}

void TaskManager::CancelWait(uint64_t handle) {
  asio::post(strand_, [this, handle] {
    AnswerWaiter(handle, Status(StatusCode::kCancelled, "wait cancelled"));
  });
}

void TaskManager::AnswerWaiter(uint64_t handle, std::optional<Status> status) {
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

void TaskManager::ReleaseWaiters(Entry& e) {
  if (waiters_.size() == 0) return;  // the common case, without parsing the id
  for (uint64_t h : waiters_.HandlesOf(TaskKey(e.task.id))) AnswerWaiter(h);
}

// ---------------------------------------------------------------- progress

void TaskManager::ReportProgress(std::string id, double percent, std::string message,
                                 Callback<Task> done) {
  if (!std::isfinite(percent) || percent < 0 || percent > 100) {
    Refuse(std::move(done), InvalidArgument("percent", "must be between 0 and 100"));
    return;
  }
  if (message.size() > 4096) {
    Refuse(std::move(done), InvalidArgument("message", "must be at most 4096 bytes"));
    return;
  }
  asio::post(strand_, [this, id = std::move(id), percent, message = std::move(message),
                       done = std::move(done)]() mutable {
    auto it = FindTask(id);
    if (it == table_.end()) {
      auto stored = table_.StoredOrNotFound(id);
      done(stored.ok() ? NotRunning(id, stored->state) : stored.status());
      return;
    }
    Task& t = it->second.task;
    if (t.state != TaskState::kRunning) {
      done(NotRunning(id, t.state));
      return;
    }
    ApplyProgress(id, t.attempt, percent, std::move(message));
    done(t);
  });
}

// ---------------------------------------------------------------- delete, TTL

void TaskManager::Delete(std::string id, std::function<void(Status)> done) {
  asio::post(strand_, [this, id = std::move(id), done = std::move(done)] {
    auto it = FindTask(id);
    if (it == table_.end()) {
      auto stored = table_.StoredOrNotFound(id);
      if (stored.ok()) retention_.EraseStored(*stored);  // finished, or it would be in RAM
      done(stored.status());
      return;
    }
    if (!IsTerminal(it->second.task.state)) {
      done(FailedPrecondition("task " + Quote(id) + " is " +
                              std::string(StateName(it->second.task.state)) +
                              "; only a task that has ended can be deleted (cancel it first)"));
      return;
    }
    retention_.Erase(id);
    done(OkStatus());
  });
}

void TaskManager::OnCommitted(const std::vector<std::string>& ids, Persister::WriteOf of) {
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

void TaskManager::MaybeEvict(TaskTable::Map::iterator it) {
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
  table_.Evict(it, expire_ns);
  retention_.Indexed(expire_ns);
}

// ---------------------------------------------------------------- events

uint64_t TaskManager::Subscribe(TaskFilter filter, bool snapshot,
                                std::function<void(const TaskEvent&)> on_event,
                                std::function<void(Status)> on_close, EventTypes types) {
  uint64_t handle = next_handle_++;
  asio::post(strand_, [this, handle, filter = std::move(filter), snapshot, types,
                       on_event = std::move(on_event), on_close = std::move(on_close)]() mutable {
    auto close = [&](Status s) {
      if (on_close) on_close(std::move(s));
    };
    if (shutting_down_) {
      close(Unavailable("taskd is shutting down"));
      return;
    }
    // Every listed task must exist (those only in the store are read).
    for (size_t i = 0; i < filter.ids.size(); ++i) {
      if (FindTask(filter.ids[i]) != table_.end()) continue;
      auto t = table_.ReadStored(filter.ids[i]);
      if (!t.ok()) {
        close(t.status());
        return;
      }
      if (!*t) {
        close(NotFound("ids[" + std::to_string(i) + "]: task '" + filter.ids[i] + "' not found"));
        return;
      }
    }
    if (snapshot) {
      const WallTime now = clock_.WallNow();
      ListRequest page{filter, 1024, ""};
      for (;;) {
        auto got = table_.Snapshot(page);
        if (!got.ok()) {
          close(got.status());
          return;
        }
        for (const Task& t : got->tasks) on_event(TaskEvent{TaskEvent::Type::kSnapshot, t, now});
        if (got->last_id.empty()) break;
        page.start_after = std::move(got->last_id);
      }
    }
    events_.Add(handle, std::move(filter), std::move(on_event), std::move(on_close), types);
  });
  return handle;
}

void TaskManager::Unsubscribe(uint64_t handle) {
  asio::post(strand_, [this, handle] { events_.Remove(handle); });
}

void TaskManager::Emit(TaskEvent::Type type, const Task& task, WallTime now) {
  OnStrand("Emit");
  // Subscribe and Unsubscribe only ever post, so no callback can change the
  // subscriptions while they are called.
  events_.Emit(type, task, now);
}

void TaskManager::Persist(const Task& task) {
  OnStrand("Persist");
  persister_.Put(task, Persister::NotifyIf(table_.evicts() && IsTerminal(task.state)));
}

// ---------------------------------------------------------------- stats

void TaskManager::GetStats(std::function<void(ManagerStats)> done) {
  asio::post(strand_, [this, done = std::move(done)] {
    ManagerStats st;
    for (TaskState s : {TaskState::kCompleted, TaskState::kFailed, TaskState::kCancelled}) {
      st.by_state[static_cast<size_t>(s)] = table_.ended().count(s);
    }
    st.finished_in_store = table_.ended().size();
    scheduler_.ForEachQueue(
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
    done(std::move(st));
  });
}

// ---------------------------------------------------------------- shutdown

void TaskManager::Shutdown(std::function<void()> done) {
  asio::post(strand_, [this, done = std::move(done)]() mutable {
    shutting_down_ = true;
    shutdown_done_ = std::move(done);
    retention_.Stop();
    pump_timer_.reset();
    // Waits end with the current state; subscriptions end with UNAVAILABLE.
    for (uint64_t h : waiters_.Handles()) AnswerWaiter(h);
    events_.CloseAll(Unavailable("taskd is shutting down"));
    for (auto& [id, e] : table_.entries()) {
      if (e.task.state == TaskState::kPending && e.aux) e.aux->timer.reset();
      if (e.task.state == TaskState::kRunning) {
        StopAttempt(e, TaskReason::kInterrupted,
                    std::min(KillGrace(e.task.spec), options_.shutdown_grace));
      }
    }
    scheduler_.ClearReady();
    for (auto& [id, e] : table_.entries()) e.ready = false;
    MaybeFinishShutdown();
  });
}

void TaskManager::MaybeFinishShutdown() {
  OnStrand("MaybeFinishShutdown");
  if (!shutting_down_ || scheduler_.running() > 0 || !shutdown_done_) return;
  // Nothing a task started outlives the daemon, in its group or not.
  runner_.KillAllEscaped();
  auto done = std::move(shutdown_done_);
  shutdown_done_ = nullptr;
  done();
}

}  // namespace taskd
