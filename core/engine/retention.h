// Retention: when finished tasks are deleted, and the one path by which
// every deletion goes.
//
// Owns the TTL deadlines of finished tasks in RAM (an ExpiryQueue) and the
// sweep timer, which also serves the deadlines in the TaskTable's ended
// index (finished tasks only in the store). A deletion — at the end of
// retention, or asked for (DeleteTask) — takes the task out of the table
// (or the ended index), removes its log files, deletes its row through the
// Persister (retried until it commits; the table hides the task meanwhile)
// and emits kDeleted. Reaching the end of retention for a task only in the
// store reads its row only when some subscriber wants kDeleted, on an io
// thread, and deletes the row once it is read.
//
// Promises: a finished task is deleted at its deadline (give or take the
// sweep's batching: at most kExpireBatch store rows per turn, the sweep
// coming straight back for more), and never while unfinished; after Stop()
// no sweep runs.
//
// Threading: strand-only (the manager's), like the units it uses. The log
// files are unlinked, and the rows read for delete events, off the strand
// (on the io_context under it); the rest is bookkeeping. Nothing blocks.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/engine/event_bus.h"
#include "core/engine/expiry_queue.h"
#include "core/engine/persister.h"
#include "core/engine/task_table.h"
#include "core/model/asio.h"
#include "core/model/clock.h"

namespace taskd {

class Retention {
 public:
  // Store rows deleted per sweep turn: a backlog (after a long downtime)
  // does not hold the strand.
  static constexpr size_t kExpireBatch = 1000;
  // A task's log file paths (stdout, stderr).
  using LogPaths = std::function<std::vector<std::filesystem::path>(const std::string& id)>;

  Retention(Strand strand, Clock& clock, Store& store, TaskTable& table, Persister& persister,
            EventBus& events, LogPaths log_paths);
  Retention(const Retention&) = delete;
  Retention& operator=(const Retention&) = delete;

  // A finished task in RAM is deleted at `at`.
  void Schedule(const std::string& id, SteadyTime at);
  // A deadline now in the ended index (a task that left RAM, or those
  // loaded at start: then `expire_ns` is their earliest or INT64_MAX).
  void Indexed(int64_t expire_ns);
  // No more sweeps (shutdown).
  void Stop();

  // Deletes a finished task held in RAM now. `logs_gone` (optional) runs on
  // the strand once its log files are unlinked.
  void Erase(const std::string& id, std::function<void()> logs_gone = nullptr);
  // Deletes a finished task that is only in the store now (as Erase).
  void EraseStored(const Task& task, std::function<void()> logs_gone = nullptr);

 private:
  std::optional<SteadyTime> Next();
  void Arm();
  void Sweep();
  void ExpireEnded(SteadyTime now);
  // Deletes the tasks' rows, and their logs off the strand (then
  // `logs_gone`, if any, on the strand).
  void DeleteRows(std::vector<std::string> ids, Persister::OnCommit on_commit,
                  std::function<void()> logs_gone = nullptr);

  Strand strand_;
  Clock& clock_;
  Store& store_;
  TaskTable& table_;
  Persister& persister_;
  EventBus& events_;
  const LogPaths log_paths_;
  ExpiryQueue expiries_;  // finished tasks in RAM
  std::unique_ptr<Clock::Timer> sweep_timer_;
  SteadyTime sweep_at_ = SteadyTime::max();
  bool stopped_ = false;
};

}  // namespace taskd
