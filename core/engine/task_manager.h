// TaskManager: the task engine's façade. Accepts tasks, schedules them
// under the global, per-queue and priority rules, runs them (ExecAttempt
// for exec tasks, coroutines for handlers), enforces timeouts, cancel and
// retry policy, keeps terminal tasks until their TTL, and persists every
// change through a Store. It validates and posts to the strand; the
// TaskDriver (task_driver.h) moves tasks through their lifecycle over the
// units it owns, and the reads here answer from those units.
//
// Finished tasks: with a store that serves reads (SqliteStore), a finished
// task leaves RAM once the write holding its final state has committed and
// nothing still needs its entry (waiters, dependents); from then on reads
// go to the store, and RAM keeps only an EndedIndex entry (TTL deadline,
// request_id hash, state: 24 bytes). With a store that keeps nothing
// (MemoryStore) finished tasks stay in RAM until their TTL.
//
// Threading: all task state is owned by one strand (the manager strand) and
// changes there, one unit of work at a time. Public methods may be called
// from any thread; they post to the strand and return at once. Every
// callback runs on the strand, also one refusing a request that failed
// validation, but one: a submit that was written is answered on the store's
// commit thread (see Submit). Callbacks must not block (post elsewhere for
// real work).
// Strand-only functions (the *OnStrand ones, and everything private) check
// that they run there in debug and sanitizer builds, once Start() returned.
//
// Lifetime: construct, Start(), use, Shutdown(); destroy only after the
// Shutdown callback ran and the io_context has no more manager work.
#pragma once

#include <atomic>
#include <deque>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/engine/admission.h"
#include "core/engine/event_bus.h"
#include "core/engine/intake.h"
#include "core/engine/manager_options.h"
#include "core/engine/task_driver.h"
#include "core/engine/task_filter.h"
#include "core/engine/task_table.h"
#include "core/exec/exec_runner.h"
#include "core/exec/handlers.h"
#include "core/model/asio.h"
#include "core/model/clock.h"
#include "core/model/status.h"
#include "core/model/task.h"
#include "core/model/validate.h"
#include "core/store/ended_index.h"
#include "core/store/store.h"

namespace taskd {

class TaskManager {
 public:
  TaskManager(asio::io_context& io, ManagerOptions options, Store& store,
              const HandlerRegistry& handlers);
  ~TaskManager();
  TaskManager(const TaskManager&) = delete;
  TaskManager& operator=(const TaskManager&) = delete;

  // Loads the store and recovers: PENDING tasks are scheduled again; tasks
  // that were RUNNING end FAILED/INTERRUPTED (or are requeued when their
  // retry policy allows). Call once, before the io_context runs.
  Status Start();

  // Stops admitting work; ends waits and watches with the current state;
  // stops running tasks (SIGTERM, then SIGKILL after their grace) and ends
  // them INTERRUPTED or requeues them. `done` runs on the strand once
  // nothing is running.
  void Shutdown(std::function<void()> done);

  // `done` runs on the store's commit thread once the new task is durable,
  // after its admission was posted to the strand (so a call made after the
  // answer finds it). It runs on the strand instead for a refusal, for a
  // request_id that names a task already, for a failed write, for a store
  // that writes nothing, and when an `after` id had failed when the submit
  // was planned (the answer is then the FAILED task).
  void Submit(SubmitRequest request, Callback<Task> done);
  // All requests are validated first; then all are accepted or none is.
  // `done` runs on the thread Submit's would.
  void BatchSubmit(std::vector<SubmitRequest> requests, Callback<std::vector<Task>> done);
  void Get(std::string id, Callback<Task> done);
  void List(ListRequest request, Callback<ListResult> done);
  // Answers once the task has ended (CANCELLED, or how it ended if it ended
  // first while being stopped). `grace` overrides the spec's kill_grace.
  void Cancel(std::string id, std::optional<Duration> grace, Callback<Task> done);
  // Answers when the task is terminal, or at `timeout` with its latest state.
  // Returns a handle for CancelWait.
  uint64_t Wait(std::string id, std::optional<Duration> timeout, Callback<Task> done);
  // Ends a wait early: its callback gets CANCELLED (unless it already ran).
  void CancelWait(uint64_t handle);
  void ReportProgress(std::string id, double percent, std::string message, Callback<Task> done);
  // Deletes a terminal task and its logs; `done` runs once the logs are gone.
  void Delete(std::string id, std::function<void(Status)> done);
  // Calls `on_event` (on the strand) for every event on a matching task.
  // With `snapshot`, first a kSnapshot per task SnapshotPage covers, all in
  // this one unit of work on the strand: for an embedder with few tasks. A
  // consumer that must bound its memory (a gRPC stream) subscribes without
  // and pages the snapshot with SnapshotPage. Returns a handle.
  // `on_close` (optional) runs at most once, on the strand, when the
  // subscription ends without Unsubscribe: NOT_FOUND when a listed id does
  // not exist (nothing is registered then), UNAVAILABLE at shutdown.
  // Listed ids of tasks only in the store are read on an io thread before
  // the subscription delivers anything. It is registered at once all the
  // same and misses no event: those meanwhile are held, then delivered (or
  // stand replaced by the snapshot, which is newer). SnapshotPage calls made
  // after it wait for its check.
  // `types` limits the events delivered (kSnapshot is about `snapshot`
  // only); name only those you use, so the manager can skip the rest.
  uint64_t Subscribe(TaskFilter filter, bool snapshot,
                     std::function<void(const TaskEvent&)> on_event,
                     std::function<void(Status)> on_close = nullptr,
                     EventTypes types = EventTypes::All());
  void Unsubscribe(uint64_t handle);
  // One page of a subscription's snapshot, in id order, after
  // `request.start_after`: with filter.ids each listed task (from RAM or the
  // store); without, every matching task held in RAM — with a store that
  // serves reads, that is every unfinished task, and finished ones are not
  // part of it. `last_id` is set while more may follow: ask again with it as
  // start_after. Each page holds the tasks' states when it is taken.
  //
  // To stream a snapshot consistent with the live events: Subscribe first
  // (without snapshot; calls from one thread reach the strand in order), then
  // page. While paging, an event on a task past the last page's last_id is
  // older than that task's page will be: drop it; events on tasks up to it
  // are newer than their page: keep them, after the page.
  void SnapshotPage(ListRequest request, Callback<ListResult> done);

  // For callers that must be able to end a wait before it is registered
  // (gRPC reactors): take a handle, then on the strand call WaitOnStrand or
  // CancelOnStrand with it; CancelWait(handle) ends it from any thread.
  uint64_t NewHandle() { return next_handle_++; }
  // Strand only: as Wait / Cancel, registering at once under `handle`.
  void WaitOnStrand(uint64_t handle, const std::string& id, std::optional<Duration> timeout,
                    Callback<Task> done);
  void CancelOnStrand(uint64_t handle, const std::string& id, std::optional<Duration> grace,
                      Callback<Task> done);

  // Counts tasks by state and queue (O(tasks): for scrapes, not hot paths).
  void GetStats(std::function<void(ManagerStats)> done);

  // Validates without touching state (any thread).
  Status Validate(const SubmitRequest& request, std::string_view prefix) const;

  std::filesystem::path StdoutPath(const std::string& id) const;
  std::filesystem::path StderrPath(const std::string& id) const;
  const ManagerOptions& options() const { return options_; }
  const HandlerRegistry& handlers() const { return handlers_; }
  const char* store_name() const { return store_.Name(); }
  Strand strand() const { return strand_; }
  // For tests, from any thread but the strand: the entries of the
  // start-delay queue (live and stale), read on the strand.
  size_t TEST_StartEntries();

 private:
  // Answers `done` with `s` on the strand (the refusal of a public call).
  template <typename T>
  void Refuse(Callback<T> done, Status s) {
    asio::post(strand_, [done = std::move(done), s = std::move(s)] { done(s); });
  }
  // Strand only: a page of List (or SnapshotPage), once the store reads
  // for its listed ids were made on an io thread.
  void ListOrSnapshot(ListRequest request, bool snapshot, Callback<ListResult> done);
  struct Checking;
  // Strand only: NOT_FOUND naming the first listed id that names no task
  // (the store is read for those not in RAM, unless read ahead).
  Status CheckIds(const TaskFilter& filter);
  // Strand only: a kSnapshot event per task of the subscription's snapshot;
  // the error of a read that failed (the subscription then ends with it).
  Status EmitSnapshot(const TaskFilter& filter,
                      const std::function<void(const TaskEvent&)>& on_event);
  // Strand only: runs `then` once the store reads of those `ids` that are
  // only in the store were made on an io thread (the table answers from
  // them while `then` runs), or at once when there are none. `then` gets
  // the error of a read that failed.
  void WithIdsRead(const std::vector<std::string>& ids, std::function<void(Status)> then);
  TaskTable& table() { return driver_.table(); }

  Strand strand_;
  ManagerOptions options_;
  Clock& clock_;
  Store& store_;
  const HandlerRegistry& handlers_;
  std::atomic<uint64_t> next_handle_{1};
  TaskDriver driver_;
  Intake intake_;
  // Strand only: the subscriptions whose listed ids are being read, by
  // number, and the snapshot pages asked for meanwhile, each with the
  // newest check it waits for.
  uint64_t check_seq_ = 0;
  std::set<uint64_t> checks_;
  std::deque<std::pair<uint64_t, std::function<void()>>> waiting_pages_;
};

}  // namespace taskd
