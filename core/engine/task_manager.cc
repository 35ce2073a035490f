#include "core/engine/task_manager.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <future>
#include <thread>

#include "core/model/files.h"

namespace taskd {

namespace {

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
      store_(store),
      handlers_(handlers),
      driver_(strand_, options_, clock_, options_.spawner ? *options_.spawner : PosixSpawner(),
              store, handlers),
      intake_(strand_, options_, clock_, store_, driver_) {}

TaskManager::~TaskManager() = default;

std::filesystem::path TaskManager::StdoutPath(const std::string& id) const {
  return driver_.runner().StdoutPath(id);
}
std::filesystem::path TaskManager::StderrPath(const std::string& id) const {
  return driver_.runner().StderrPath(id);
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

// ---------------------------------------------------------------- start-up

Status TaskManager::Start() {
  if (auto s = MakeDirectories(options_.log_dir, 0700); !s.ok()) return s;
  std::error_code ec;
  {
    auto canonical = std::filesystem::weakly_canonical(options_.log_dir, ec);
    driver_.runner().SetInstance((ec ? options_.log_dir : canonical).lexically_normal().string());
  }
  auto loaded = store_.Load();
  if (!loaded.ok()) return loaded.status();
  const size_t total = loaded->tasks.size() + loaded->ended.size();
  const size_t ended = loaded->ended.size();
  auto [interrupted, pending] = driver_.Recover(std::move(*loaded));
  if (total > 0) {
    spdlog::info("recovered {} tasks from the {} store: {} pending, {} interrupted, {} finished",
                 total, store_.Name(), pending, interrupted, ended);
  }
  driver_.MarkStarted();
  asio::post(strand_, [this] { driver_.Dispatch(); });
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
    intake_.Submit(std::move(one), [done = std::move(done)](StatusOr<std::vector<Task>> r) {
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
    intake_.Submit(std::move(requests), std::move(done));
  });
}

// ---------------------------------------------------------------- reads

void TaskManager::Get(std::string id, Callback<Task> done) {
  asio::post(strand_, [this, id = std::move(id), done = std::move(done)] {
    auto it = table().Find(id);
    if (it != table().end()) {
      done(it->second.task);
      return;
    }
    driver_.WithStored(id, std::move(done));
  });
}

void TaskManager::List(ListRequest request, Callback<ListResult> done) {
  asio::post(strand_, [this, request = std::move(request), done = std::move(done)]() mutable {
    if (!table().ScansStore(request)) return ListOrSnapshot(std::move(request), false, done);
    // The scan of finished tasks runs on an io thread; the page is merged
    // with RAM back here.
    driver_.ReadOffStrand([this, request] { return TaskTable::ReadEndedAhead(store_, request); },
                          [this, request, done = std::move(done)](TaskTable::EndedAhead ahead) {
                            done(table().List(request, &ahead));
                          });
  });
}

void TaskManager::SnapshotPage(ListRequest request, Callback<ListResult> done) {
  asio::post(strand_, [this, request = std::move(request), done = std::move(done)]() mutable {
    if (!checks_.empty()) {
      // After the subscriptions being checked now (see Subscribe).
      waiting_pages_.emplace_back(check_seq_,
                                  [this, request = std::move(request), done = std::move(done)] {
                                    ListOrSnapshot(request, true, done);
                                  });
      return;
    }
    ListOrSnapshot(std::move(request), true, std::move(done));
  });
}

void TaskManager::ListOrSnapshot(ListRequest request, bool snapshot, Callback<ListResult> done) {
  driver_.OnStrand("ListOrSnapshot");
  std::vector<std::string> ids = request.filter.ids;
  WithIdsRead(ids, [this, snapshot, request = std::move(request),
                    done = std::move(done)](Status read) mutable {
    if (!read.ok()) return done(read);
    done(snapshot ? table().Snapshot(std::move(request)) : table().List(request));
  });
}

void TaskManager::WithIdsRead(const std::vector<std::string>& ids,
                              std::function<void(Status)> then) {
  driver_.OnStrand("WithIdsRead");
  StoreReads reads;
  reads.keys = table().OnlyInStore(ids);
  if (reads.empty()) return then(OkStatus());
  // Deletions that commit meanwhile stay known (the read's ticket), so the
  // reads hold for every key that is not being, or was not, deleted.
  driver_.ReadOffStrand([this, reads = std::move(reads)] { return ReadAhead(store_, reads); },
                        [this, then = std::move(then)](TaskTable::Prefetched got) {
                          TaskTable::Using ahead(table(), &got);
                          then(got.status);
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
  driver_.OnStrand("CancelOnStrand");
  auto it = table().Find(id);
  if (it == table().end()) {
    // Only finished tasks leave RAM.
    driver_.WithStored(id, [id, done = std::move(done)](StatusOr<Task> stored) {
      done(stored.ok() ? NothingToCancel(id, stored->state) : stored.status());
    });
    return;
  }
  TaskEntry& e = it->second;
  if (IsTerminal(e.task.state)) {
    done(NothingToCancel(id, e.task.state));
    return;
  }
  if (e.task.state == TaskState::kPending) {
    driver_.Finish(e, TaskState::kCancelled, TaskReason::kCancelled,
                   TaskError{StatusCode::kCancelled, "cancelled before it started"});
    done(e.task);
    driver_.Dispatch();
    return;
  }
  // RUNNING: answer once the attempt has ended (CancelWait(handle) ends the
  // wait early; the task is still stopped).
  driver_.AddWaiter(handle, e, std::move(done));
  driver_.StopAttempt(e, TaskReason::kCancelled, grace.value_or(driver_.KillGrace(e.task.spec)));
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
  driver_.OnStrand("WaitOnStrand");
  auto it = table().Find(id);
  if (it == table().end()) {
    // Only finished tasks leave RAM: one in the store is answered at once.
    driver_.WithStored(id, std::move(done));
    return;
  }
  TaskEntry& e = it->second;
  if (IsTerminal(e.task.state) || driver_.shutting_down() ||
      (timeout && *timeout <= Duration::zero())) {
    done(e.task);
    return;
  }
  WaiterSet::Waiter& w = driver_.AddWaiter(handle, e, std::move(done));
  if (timeout) {
    w.timer = clock_.RunAfter(*timeout, strand_, [this, handle] { driver_.AnswerWaiter(handle); });
  }
}

void TaskManager::CancelWait(uint64_t handle) {
  asio::post(strand_, [this, handle] {
    driver_.AnswerWaiter(handle, Status(StatusCode::kCancelled, "wait cancelled"));
  });
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
    auto it = table().Find(id);
    if (it == table().end()) {
      driver_.WithStored(id, [id, done = std::move(done)](StatusOr<Task> stored) {
        done(stored.ok() ? NotRunning(id, stored->state) : stored.status());
      });
      return;
    }
    Task& t = it->second.task;
    if (t.state != TaskState::kRunning) {
      done(NotRunning(id, t.state));
      return;
    }
    driver_.ApplyProgress(id, t.attempt, percent, std::move(message));
    done(t);
  });
}

// ---------------------------------------------------------------- delete, TTL

void TaskManager::Delete(std::string id, std::function<void(Status)> done) {
  asio::post(strand_, [this, id = std::move(id), done = std::move(done)] {
    auto it = table().Find(id);
    if (it == table().end()) {
      // Finished, or it would be in RAM. Answered once its logs are gone.
      driver_.WithStored(id, [this, done](StatusOr<Task> stored) {
        if (!stored.ok()) return done(stored.status());
        driver_.retention().EraseStored(*stored, [done] { done(OkStatus()); });
      });
      return;
    }
    if (!IsTerminal(it->second.task.state)) {
      done(FailedPrecondition("task " + Quote(id) + " is " +
                              std::string(StateName(it->second.task.state)) +
                              "; only a task that has ended can be deleted (cancel it first)"));
      return;
    }
    driver_.retention().Erase(id, [done] { done(OkStatus()); });
  });
}

// ---------------------------------------------------------------- events

// A subscription whose listed tasks are being read: registered at once, so
// it misses no event, but holding its events until the check is done.
struct TaskManager::Checking {
  struct Held {
    TaskEvent::Type type;
    Task task;
    WallTime time;
    uint64_t sequence;
  };
  std::function<void(const TaskEvent&)> on_event;
  bool live = false;
  bool closed = false;  // closed meanwhile (shutdown)
  std::vector<Held> held;
};

uint64_t TaskManager::Subscribe(TaskFilter filter, bool snapshot,
                                std::function<void(const TaskEvent&)> on_event,
                                std::function<void(Status)> on_close, EventTypes types) {
  uint64_t handle = next_handle_++;
  asio::post(strand_, [this, handle, filter = std::move(filter), snapshot, types,
                       on_event = std::move(on_event), on_close = std::move(on_close)]() mutable {
    if (driver_.shutting_down()) {
      if (on_close) on_close(Unavailable("taskd is shutting down"));
      return;
    }
    if (table().OnlyInStore(filter.ids).empty()) {
      // Every listed task is in RAM: checked, and registered, now.
      if (Status s = CheckIds(filter); !s.ok()) {
        if (on_close) on_close(std::move(s));
        return;
      }
      if (Status s = snapshot ? EmitSnapshot(filter, on_event) : OkStatus(); !s.ok()) {
        if (on_close) on_close(std::move(s));
        return;
      }
      driver_.events().Add(handle, std::move(filter), std::move(on_event), std::move(on_close),
                           types);
      return;
    }
    // Listed tasks only in the store are read on an io thread first; the
    // subscription holds its events meanwhile, then delivers them (or its
    // snapshot, which is newer) or ends NOT_FOUND. Pages asked for meanwhile
    // wait for it (Subscribe, then page: see the header).
    auto st = std::make_shared<Checking>();
    st->on_event = std::move(on_event);
    const uint64_t seq = ++check_seq_;
    checks_.insert(seq);
    std::vector<std::string> ids = filter.ids;
    driver_.events().Add(
        handle, filter,
        [st](const TaskEvent& e) {
          if (st->live) return st->on_event(e);
          st->held.push_back({e.type, e.task, e.time, e.sequence});
        },
        [st, on_close](Status s) {
          st->closed = true;
          if (on_close) on_close(std::move(s));
        },
        types);
    WithIdsRead(ids, [this, handle, seq, st, snapshot, filter = std::move(filter),
                      on_close = std::move(on_close)](Status read) mutable {
      checks_.erase(seq);
      if (!st->closed && driver_.events().Has(handle)) {  // not unsubscribed meanwhile
        if (read.ok()) read = CheckIds(filter);
        // The snapshot is newer than what it held.
        if (read.ok() && snapshot) read = EmitSnapshot(filter, st->on_event);
        if (!read.ok()) {
          driver_.events().Remove(handle);
          if (on_close) on_close(std::move(read));
        } else if (!snapshot) {
          for (const auto& h : st->held)
            st->on_event(TaskEvent{h.type, h.task, h.time, h.sequence});
        }
        st->held.clear();
        st->live = true;
      }
      // The pages asked for after a check that is still out wait on.
      const uint64_t oldest = checks_.empty() ? UINT64_MAX : *checks_.begin();
      while (!waiting_pages_.empty() && waiting_pages_.front().first < oldest) {
        // Posted: not under this read's answers (TaskTable::Using).
        asio::post(strand_, std::move(waiting_pages_.front().second));
        waiting_pages_.pop_front();
      }
    });
  });
  return handle;
}

Status TaskManager::CheckIds(const TaskFilter& filter) {
  driver_.OnStrand("CheckIds");
  for (size_t i = 0; i < filter.ids.size(); ++i) {
    if (table().Find(filter.ids[i]) != table().end()) continue;
    auto t = table().ReadStored(filter.ids[i]);
    if (!t.ok()) return t.status();
    if (!*t)
      return NotFound("ids[" + std::to_string(i) + "]: task '" + filter.ids[i] + "' not found");
  }
  return OkStatus();
}

Status TaskManager::EmitSnapshot(const TaskFilter& filter,
                                 const std::function<void(const TaskEvent&)>& on_event) {
  driver_.OnStrand("EmitSnapshot");
  const WallTime now = clock_.WallNow();
  ListRequest page{filter, 1024, ""};
  for (;;) {
    auto got = table().Snapshot(page);
    if (!got.ok()) return got.status();
    for (const Task& t : got->tasks) on_event(TaskEvent{TaskEvent::Type::kSnapshot, t, now});
    if (got->last_id.empty()) return OkStatus();
    page.start_after = std::move(got->last_id);
  }
}

void TaskManager::Unsubscribe(uint64_t handle) {
  asio::post(strand_, [this, handle] { driver_.events().Remove(handle); });
}

// ---------------------------------------------------------------- stats

void TaskManager::GetStats(std::function<void(ManagerStats)> done) {
  asio::post(strand_, [this, done = std::move(done)] { done(driver_.Stats()); });
}

// ---------------------------------------------------------------- shutdown

void TaskManager::Shutdown(std::function<void()> done) {
  asio::post(strand_,
             [this, done = std::move(done)]() mutable { driver_.Shutdown(std::move(done)); });
}

size_t TaskManager::TEST_StartEntries() {
  std::promise<size_t> got;
  asio::post(strand_, [&] { got.set_value(driver_.start_entries()); });
  return got.get_future().get();
}

}  // namespace taskd
