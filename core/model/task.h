// The task model: what a client submits (TaskSpec) and what taskd knows about
// its execution (Task). Plain values, no behaviour; the TaskManager owns every
// live Task and is the only code that changes one.
//
// Lifecycle (TaskManager enforces it; no other transition exists):
//
//   PENDING ──start──▶ RUNNING ──exit 0──────────▶ COMPLETED
//      │                  │ ──exit≠0 / error──────▶ FAILED   (reason says why)
//      │                  │ ──timeout─────────────▶ FAILED   (TIMED_OUT)
//      │                  │ ──cancel──────────────▶ CANCELLED
//      │                  └──fail, attempts left──▶ PENDING (backoff), never after a cancel
//      └──cancel──────────────────────────────────▶ CANCELLED
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/model/compact.h"
#include "core/model/status.h"

namespace taskd {

using Duration = std::chrono::nanoseconds;
// Wall-clock time, for display only; every deadline runs on the steady clock.
using WallTime = std::chrono::system_clock::time_point;
using SteadyTime = std::chrono::steady_clock::time_point;

// Identifies one process across pid reuse: a pid is recycled, but never
// with the same start time in the same boot. core/exec/proc.h finds and
// signals processes by it.
struct ProcessRef {
  int32_t pid = 0;  // also the process group id: each attempt leads its own group
  uint64_t start_ticks = 0;
  std::string boot_id;
};

enum class TaskState : uint8_t {
  kUnspecified = 0,
  kPending = 1,
  kRunning = 2,
  kCompleted = 3,
  kFailed = 4,
  kCancelled = 5,
};

enum class TaskReason : uint8_t {
  kUnspecified = 0,
  kSucceeded = 1,
  kExitCode = 2,
  kSignaled = 3,
  kSpawnFailed = 4,
  kTimedOut = 5,
  kCancelled = 6,
  kInterrupted = 7,
  kRetriesExhausted = 8,
  kDependencyFailed = 9,
  kHandlerError = 10,
  kShutdown = 11,
};

inline bool IsTerminal(TaskState s) {
  return s == TaskState::kCompleted || s == TaskState::kFailed || s == TaskState::kCancelled;
}
// A dependency that ended so fails the tasks that run `after` it.
inline bool FailsDependents(TaskState s) {
  return s == TaskState::kFailed || s == TaskState::kCancelled;
}
// "PENDING", "RUNNING", ... (the proto names without prefix).
std::string_view StateName(TaskState s);
std::optional<TaskState> ParseState(std::string_view name);  // case-insensitive
std::string_view ReasonName(TaskReason r);

// What is killed when an attempt ends and at shutdown (KillMode in the proto).
enum class KillMode : uint8_t {
  kAll = 0,    // the process group and the attempt's processes that left it
  kGroup = 1,  // only the process group: one that left it (a daemon) lives on
};

struct ExecAction {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::string cwd;
  bool inherit_env = false;
  KillMode kill_mode = KillMode::kAll;
};

struct HandlerAction {
  std::string name;
  CompactString payload;  // JSON text; empty means {}
};

struct RetryPolicy {
  int32_t max_attempts = 0;     // 0 or 1: no retry
  Duration initial_backoff{0};  // 0: default
  Duration max_backoff{0};      // 0: default
  double multiplier = 0;        // 0: default
};

// Field types: see compact.h (every unfinished task is in memory).
struct TaskSpec {
  CompactString name;
  std::map<std::string, std::string> labels;
  // An exec action is boxed so that handler tasks do not pay for its size.
  std::variant<Boxed<ExecAction>, HandlerAction> action;
  Duration timeout{0};     // 0: none
  Duration kill_grace{0};  // 0: the manager's default
  int32_t priority = 0;
  CompactString queue;  // empty: "default"
  RetryPolicy retry;
  CompactOptional<Duration> ttl;  // unset: the manager's default
  CompactOptional<WallTime> not_before;
  std::vector<std::string> after;

  // nullptr unless the action is an exec action (a default TaskSpec has none).
  const ExecAction* exec() const {
    const auto* b = std::get_if<Boxed<ExecAction>>(&action);
    return b && *b ? &**b : nullptr;
  }
  // The exec action, created empty when the spec has no action yet.
  ExecAction* mutable_exec() {
    auto* b = std::get_if<Boxed<ExecAction>>(&action);
    if (b == nullptr) return nullptr;
    if (!*b) b->emplace();
    return &**b;
  }
  const HandlerAction* handler() const { return std::get_if<HandlerAction>(&action); }
};

struct Progress {
  double percent = 0;
  CompactString message;
  CompactOptional<WallTime> update_time;
};

struct TaskResult {
  std::optional<int32_t> exit_code;
  std::optional<int32_t> signal;
  std::string output;  // a handler's JSON result
  int64_t stdout_bytes = 0;
  int64_t stderr_bytes = 0;
  bool logs_truncated = false;
};

struct TaskError {
  StatusCode code = StatusCode::kUnknown;
  std::string message;
};

struct Task {
  std::string id;
  CompactString request_id;
  TaskSpec spec;
  TaskState state = TaskState::kPending;
  TaskReason reason = TaskReason::kUnspecified;
  int32_t attempt = 0;
  Progress progress;
  Boxed<TaskResult> result;
  Boxed<TaskError> error;
  WallTime create_time{};
  CompactOptional<WallTime> start_time;
  CompactOptional<WallTime> end_time;
  CompactOptional<WallTime> expire_time;
  CompactOptional<WallTime> next_attempt_time;
  // The running attempt's process (exec tasks), recorded so that a daemon
  // restarting after a crash can kill what is left of it. Not in the API.
  Boxed<ProcessRef> process;
};

// A new task id: 13 Crockford base32 characters encoding
// (unix milliseconds << 16 | node << 12 | sequence), so ids sort by creation
// time, are strictly increasing in this process, and ids made by different
// nodes sharing one store never collide. Short enough to need no heap
// allocation. Thread-safe.
std::string NewTaskId();
inline constexpr int kTaskIdNodeBits = 4;
// 4,096 ids per millisecond and node; beyond that ids run ahead of the clock.
inline constexpr int kTaskIdSequenceBits = 12;
inline constexpr uint32_t kTaskIdNodes = 1u << kTaskIdNodeBits;
// The node number that NewTaskId puts in ids from now on (0 to
// kTaskIdNodes - 1; 0 until set): a shared store leases it to each node.
void SetTaskIdNode(uint32_t node);
// The node number inside an id's number (TaskIdNumber).
uint32_t TaskIdNode(uint64_t number);
// Makes later NewTaskId() results sort after `id` (called for every task
// loaded from the store, so ids keep increasing across restarts even if the
// wall clock stepped back).
void ObserveTaskId(std::string_view id);
// The number a task id encodes; ids compare as their numbers do. nullopt
// for anything NewTaskId cannot have made.
std::optional<uint64_t> TaskIdNumber(std::string_view id);
// The number of an id taskd issued itself: one that is not is a bug
// (TASKD_CHECK), never client input (use TaskIdNumber for that).
uint64_t TaskKey(std::string_view id);
// The id whose number is `n` (the inverse of TaskIdNumber).
std::string TaskIdFromNumber(uint64_t n);

}  // namespace taskd
