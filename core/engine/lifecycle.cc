#include "core/engine/lifecycle.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/exec/exec_runner.h"

namespace taskd {

bool HasAttemptsLeft(const Task& task) { return task.attempt < task.spec.retry.max_attempts; }

Duration Backoff(const RetryPolicy& r, int32_t attempt, const RetryDefaults& defaults) {
  double initial = static_cast<double>(
      (r.initial_backoff > Duration::zero() ? r.initial_backoff : defaults.initial_backoff)
          .count());
  double max = static_cast<double>(
      (r.max_backoff > Duration::zero() ? r.max_backoff : defaults.max_backoff).count());
  double mult = r.multiplier >= 1 ? r.multiplier : defaults.multiplier;
  // attempt 1 failed -> initial; attempt 2 failed -> initial * mult; ...
  double d = initial * std::pow(mult, std::max(0, attempt - 1));
  return Duration(static_cast<int64_t>(std::min(d, max)));
}

AttemptEnd EndOfExit(const ExecOutcome& o) {
  AttemptEnd end;
  if (o.signal) {
    end.reason = TaskReason::kSignaled;
    end.error = TaskError{StatusCode::kAborted, "killed by signal " + std::to_string(*o.signal) +
                                                    " (" + strsignal(*o.signal) + ")"};
  } else if (o.exit_code.value_or(-1) != 0) {
    end.reason = TaskReason::kExitCode;
    end.error = TaskError{StatusCode::kUnknown,
                          "exited with code " + std::to_string(o.exit_code.value_or(-1))};
  }
  return end;
}

TaskResult ResultOfExit(const ExecOutcome& o) {
  TaskResult r;
  r.exit_code = o.exit_code;
  r.signal = o.signal;
  r.stdout_bytes = o.stdout_bytes;
  r.stderr_bytes = o.stderr_bytes;
  r.logs_truncated = o.logs_truncated;
  return r;
}

namespace {

Transition Finish(TaskState state, TaskReason reason, std::optional<TaskError> error) {
  Transition t;
  t.kind = Transition::Kind::kFinish;
  t.state = state;
  t.reason = reason;
  t.error = std::move(error);
  return t;
}

Transition Requeue(TaskReason reason, std::optional<TaskError> error, Duration delay) {
  Transition t;
  t.kind = Transition::Kind::kRequeue;
  t.state = TaskState::kPending;
  t.reason = reason;
  t.error = std::move(error);
  t.delay = delay;
  return t;
}

}  // namespace

Transition AfterAttempt(const Task& task, const AttemptEnd& end, bool shutting_down,
                        const RetryDefaults& defaults) {
  if (end.stopping == TaskReason::kCancelled) {
    return Finish(TaskState::kCancelled, TaskReason::kCancelled,
                  TaskError{StatusCode::kCancelled, "cancelled while running"});
  }
  if (end.reason == TaskReason::kSpawnFailed) {
    // Nothing ran, whatever a timeout or shutdown meanwhile wanted to stop;
    // a missing binary or bad cwd does not heal on retry.
    return Finish(TaskState::kFailed, TaskReason::kSpawnFailed, end.error);
  }
  if (end.stopping == TaskReason::kInterrupted) {
    // Daemon shutdown: requeued when the retry policy allows, so the next
    // start runs it again; otherwise it ends INTERRUPTED.
    if (HasAttemptsLeft(task)) return Requeue(TaskReason::kInterrupted, std::nullopt, {});
    return Finish(
        TaskState::kFailed, TaskReason::kInterrupted,
        TaskError{StatusCode::kAborted, "the daemon shut down while the task was running"});
  }
  if (end.reason == TaskReason::kSucceeded && !end.stopping) {
    return Finish(TaskState::kCompleted, TaskReason::kSucceeded, std::nullopt);
  }
  TaskReason reason = end.reason;
  std::optional<TaskError> error = end.error;
  if (end.stopping == TaskReason::kTimedOut) {
    reason = TaskReason::kTimedOut;
    error = TaskError{
        StatusCode::kDeadlineExceeded,
        "timed out after " +
            std::to_string(
                std::chrono::duration_cast<std::chrono::milliseconds>(task.spec.timeout).count()) +
            " ms"};
  }
  if (HasAttemptsLeft(task) && !shutting_down) {
    return Requeue(reason, std::move(error), Backoff(task.spec.retry, task.attempt, defaults));
  }
  if (task.spec.retry.max_attempts > 1) {
    std::string msg = "attempt " + std::to_string(task.attempt) + " of " +
                      std::to_string(task.spec.retry.max_attempts) + " failed (" +
                      std::string(ReasonName(reason)) + ")";
    if (error) msg += ": " + error->message;
    return Finish(TaskState::kFailed, TaskReason::kRetriesExhausted,
                  TaskError{error ? error->code : StatusCode::kUnknown, msg});
  }
  return Finish(TaskState::kFailed, reason, std::move(error));
}

Transition AfterDaemonStopped(const Task& task) {
  TaskError error{StatusCode::kAborted, "the daemon stopped while attempt " +
                                            std::to_string(task.attempt) + " was running"};
  if (HasAttemptsLeft(task)) return Requeue(TaskReason::kInterrupted, std::move(error), {});
  return Finish(TaskState::kFailed, TaskReason::kInterrupted, std::move(error));
}

}  // namespace taskd
