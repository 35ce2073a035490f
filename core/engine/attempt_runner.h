// AttemptRunner: runs one attempt of a task — an exec task's process
// through the Spawner, a handler's coroutine — stops it when asked (SIGTERM
// to its process group, SIGKILL after the grace; a handler is cancelled),
// and, once the attempt has ended, kills what is left of it.
//
// Promises: every Start() that returns leads to exactly one OnEnd for that
// (id, attempt), on the strand, never from inside Start(); progress comes
// through OnProgress on the strand until then. It decides nothing about the
// task's state: the manager applies the lifecycle rules to what it reports.
// Owns nothing per task: the process and the handler context live in the
// task's RunningAttempt, which the manager owns.
//
// Threading: everything on the strand given at construction (the manager
// strand). Reap() scans /proc for processes that left the task's group (a
// subreaper's own children) on an io thread, off the strand; the scan of
// KillAllEscaped() (once, at shutdown) runs on the caller's thread.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "core/engine/task_entry.h"
#include "core/exec/exec_runner.h"
#include "core/exec/handlers.h"
#include "core/model/asio.h"
#include "core/model/clock.h"
#include "core/model/task.h"

namespace taskd {

class AttemptRunner {
 public:
  struct Options {
    std::filesystem::path log_dir;  // where <id>.out and <id>.err live
    int64_t log_cap_bytes = 64 << 20;
    // Set in every exec task's environment, under the task's own env.
    const std::map<std::string, std::string>* task_env = nullptr;
  };
  using OnProgress =
      std::function<void(const std::string& id, int32_t attempt, double percent, std::string)>;
  using OnEnd = std::function<void(const std::string& id, int32_t attempt, TaskReason reason,
                                   std::optional<TaskResult> result, std::optional<TaskError>)>;

  AttemptRunner(Strand strand, Clock& clock, Spawner& spawner, const HandlerRegistry& handlers,
                Options options, OnProgress on_progress, OnEnd on_end);

  // TASKD_INSTANCE of the task processes (the canonical log directory).
  void SetInstance(std::string instance) { instance_ = std::move(instance); }
  const std::string& instance() const { return instance_; }

  struct Started {
    // False when an exec task's process could not be spawned: its end
    // (kSpawnFailed) is already posted, and there is nothing to record.
    bool running = true;
    std::optional<ProcessRef> process;  // with want_process_ref, an exec task's identity
  };
  // Starts attempt `task.attempt` of `task` into `run`. `want_process_ref`:
  // take the process's identity, so that a restart can kill what is left
  // of it (a durable store records it).
  Started Start(const Task& task, RunningAttempt& run, bool want_process_ref);
  // Stops the running attempt: SIGTERM now, SIGKILL after `grace` (a later
  // call with a shorter grace brings it forward); a handler is cancelled.
  void Stop(RunningAttempt& run, Duration grace);
  // The attempt has ended: SIGKILLs what is left of its process group and,
  // unless the task's kill_mode is group, what left the group.
  void Reap(const Task& task, RunningAttempt& run);
  // At shutdown, once nothing runs: kills every process that left a task's
  // group (a KillMode::kGroup task's excepted).
  void KillAllEscaped();

  std::filesystem::path StdoutPath(const std::string& id) const;
  std::filesystem::path StderrPath(const std::string& id) const;

 private:
  void StartHandler(const Task& task, const HandlerAction& action, RunningAttempt& run);
  void KillEscapedOf(const std::string& id);

  Strand strand_;
  Clock& clock_;
  Spawner& spawner_;
  const HandlerRegistry& handlers_;
  const Options options_;
  const OnProgress on_progress_;
  const OnEnd on_end_;
  std::string instance_;
};

}  // namespace taskd
