// Lifecycle: where a task goes when an attempt ends, or when a start finds
// it was RUNNING under a daemon that stopped. Pure functions of the task,
// how the attempt ended and the retry policy: no clock, no store, no
// threads; the engine applies what they return (TaskManager::Apply).
//
// The rule "may another attempt run?" lives here once (HasAttemptsLeft),
// for the end of an attempt and for recovery at start alike.
#pragma once

#include <optional>

#include "core/model/task.h"

namespace taskd {

struct ExecOutcome;

// The daemon's retry defaults, for a spec that leaves a field at 0.
struct RetryDefaults {
  Duration initial_backoff = std::chrono::seconds(1);
  Duration max_backoff = std::chrono::minutes(5);
  double multiplier = 2.0;
};

// True while the task's retry policy allows an attempt after `task.attempt`.
bool HasAttemptsLeft(const Task& task);

// The wait before the attempt after `attempt` failed: initial, then
// multiplied per attempt, capped at the maximum.
Duration Backoff(const RetryPolicy& policy, int32_t attempt, const RetryDefaults& defaults);

// How an attempt ended.
struct AttemptEnd {
  // As the attempt itself ended: kSucceeded, kExitCode, kSignaled,
  // kHandlerError or kSpawnFailed.
  TaskReason reason = TaskReason::kSucceeded;
  std::optional<TaskError> error;
  // Why taskd was stopping it, when it was: kCancelled, kTimedOut or
  // kInterrupted (daemon shutdown).
  std::optional<TaskReason> stopping;
};

// An exec attempt's exit as an AttemptEnd (exit 0: kSucceeded; a signal:
// kSignaled; any other code: kExitCode), and its result.
AttemptEnd EndOfExit(const ExecOutcome& outcome);
TaskResult ResultOfExit(const ExecOutcome& outcome);

// What to do with the task.
struct Transition {
  enum class Kind { kFinish, kRequeue };
  Kind kind = Kind::kFinish;
  TaskState state = TaskState::kFailed;  // kFinish: the terminal state
  TaskReason reason = TaskReason::kUnspecified;
  std::optional<TaskError> error;
  Duration delay{0};  // kRequeue: before the next attempt may start
};

// The transition after attempt `task.attempt` ended as `end`.
// `shutting_down`: the daemon is stopping, so a failed attempt is not
// retried now (an interrupted one is requeued for the next start).
Transition AfterAttempt(const Task& task, const AttemptEnd& end, bool shutting_down,
                        const RetryDefaults& defaults);

// The transition of a task that a start found RUNNING: its attempt did not
// finish. Requeued at once while attempts are left, else FAILED INTERRUPTED.
Transition AfterDaemonStopped(const Task& task);

}  // namespace taskd
