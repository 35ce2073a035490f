// ExecAttempt: one attempt of an exec task, a child process supervised
// without blocking a thread.
//
// posix_spawn puts the child in its own process group with signal mask and
// dispositions reset, stdin on /dev/null, stdout/stderr/progress on pipes,
// and every other fd closed. The child's exit is observed through a pidfd
// (never waitpid(-1)); the daemon reads the pipes, appends output to the
// per-task log files up to a size cap (the excess is counted and dropped, so
// the child never blocks), and parses "PERCENT [MESSAGE]" lines from the
// progress fd (fd 3, announced in TASKD_PROGRESS_FD).
//
// Threading: Start() and SignalGroup() run on the strand given to Start()
// (the manager strand); on_progress and on_exit are posted to it. The pipe
// reads, the log writes and the exit watch run on a strand of the attempt's
// own, over the same io_context, so the output costs the caller's strand
// nothing. The object keeps itself alive until its exit has been reported.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/model/asio.h"
#include "core/model/status.h"
#include "core/model/task.h"

namespace taskd {

struct ExecOutcome {
  std::optional<int> exit_code;
  std::optional<int> signal;
  int64_t stdout_bytes = 0;
  int64_t stderr_bytes = 0;
  bool logs_truncated = false;
};

struct ExecLaunch {
  const ExecAction* action = nullptr;
  std::string task_id;
  int32_t attempt = 0;
  std::filesystem::path stdout_path;
  std::filesystem::path stderr_path;
  int64_t log_cap_bytes = 64 << 20;  // per stream
  // Names the daemon instance (its log directory) in TASKD_INSTANCE, so a
  // later daemon can tell its own leftover processes from another's.
  std::string instance;
  // Variables the daemon gives every task (e.g. TASKD_ADDR), under the task's own env.
  const std::map<std::string, std::string>* daemon_env = nullptr;
  std::function<void(double percent, std::string message)> on_progress;
  std::function<void(ExecOutcome)> on_exit;
};

// Builds the child's environment: the allowlisted variables of the daemon's
// environment (or all of it with inherit_env), then `daemon_env`, then the
// task's env, then TASKD_TASK_ID, TASKD_ATTEMPT, TASKD_PROGRESS_FD (and
// TASKD_INSTANCE, and TASKD_KILL_MODE=group for KillMode::kGroup; a
// TASKD_KILL_MODE from anywhere else is dropped).
std::vector<std::string> BuildChildEnv(
    const ExecAction& action, const std::string& task_id, int32_t attempt,
    const std::string& instance = "",
    const std::map<std::string, std::string>* daemon_env = nullptr);

// Parses one progress line "PERCENT [MESSAGE]"; nullopt when malformed.
std::optional<std::pair<double, std::string>> ParseProgressLine(std::string_view line);

// A running attempt's process, as the TaskManager sees it.
class Process {
 public:
  virtual ~Process() = default;
  virtual pid_t pid() const = 0;
  // Its identity, taken before it could be reaped; nullopt when unknown.
  virtual std::optional<ProcessRef> ref() const { return std::nullopt; }
  // Sends `sig` to the process's whole group (grandchildren included).
  virtual void SignalGroup(int sig) = 0;
};

// Starts processes. The TaskManager takes one so tests can inject faults;
// PosixSpawner() is the real one.
class Spawner {
 public:
  virtual ~Spawner() = default;
  // Starts `launch`; reports progress and the exit through its callbacks,
  // on `strand` (the output goes to the log files, off it). A missing or non-executable program or
  // a bad cwd is returned as an error with the OS error text; nothing runs then.
  virtual StatusOr<std::shared_ptr<Process>> Spawn(Strand strand, ExecLaunch launch) = 0;
};
Spawner& PosixSpawner();

class ExecAttempt final : public Process, public std::enable_shared_from_this<ExecAttempt> {
 public:
  static StatusOr<std::shared_ptr<ExecAttempt>> Start(Strand strand, ExecLaunch launch);
  ~ExecAttempt() override;

  pid_t pid() const override { return pid_; }
  std::optional<ProcessRef> ref() const override { return ref_; }
  void SignalGroup(int sig) override;

  // Tests only: a wake-up of the exit watcher as if the pidfd were readable,
  // as the kernel may report it before the child has exited.
  void TEST_WakeExitWatcher();

  struct Impl;

 private:
  ExecAttempt() = default;
  void ReadPipe(int which);  // 0 stdout, 1 stderr, 2 progress
  void WatchExit();
  void OnExitWakeup(const boost::system::error_code& ec);
  void MaybeFinish();

  std::unique_ptr<Impl> impl_;
  pid_t pid_ = -1;
  std::optional<ProcessRef> ref_;  // set in Start(), before the exit can be reaped
};

}  // namespace taskd
