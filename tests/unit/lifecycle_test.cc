// The lifecycle rules alone: where a task goes after an attempt ends, and
// after a start finds it was running. No manager, no clock, no processes.
#include "core/engine/lifecycle.h"

#include <gtest/gtest.h>
#include <signal.h>

#include "core/exec/exec_runner.h"

namespace taskd {
namespace {

using namespace std::chrono_literals;
using Kind = Transition::Kind;

const RetryDefaults kDefaults{1s, 5min, 2.0};

Task Attempt(int32_t attempt, int32_t max_attempts) {
  Task t;
  t.id = "t";
  t.state = TaskState::kRunning;
  t.attempt = attempt;
  t.spec.retry.max_attempts = max_attempts;
  return t;
}

AttemptEnd Exited(int code) {
  ExecOutcome o;
  o.exit_code = code;
  return EndOfExit(o);
}

// An attempt that exited with `code` while being stopped for `why`.
AttemptEnd Stopped(int code, TaskReason why) {
  AttemptEnd end = Exited(code);
  end.stopping = why;
  return end;
}

void ExpectFinish(const Transition& t, TaskState state, TaskReason reason) {
  EXPECT_EQ(t.kind, Kind::kFinish);
  EXPECT_EQ(t.state, state);
  EXPECT_EQ(t.reason, reason);
}

void ExpectRequeue(const Transition& t, TaskReason reason, Duration delay) {
  EXPECT_EQ(t.kind, Kind::kRequeue);
  EXPECT_EQ(t.reason, reason);
  EXPECT_EQ(t.delay, delay);
}

TEST(LifecycleExit, ExitZeroSucceeds) {
  AttemptEnd end = Exited(0);
  EXPECT_EQ(end.reason, TaskReason::kSucceeded);
  EXPECT_FALSE(end.error);
}

TEST(LifecycleExit, NonZeroExitNamesTheCode) {
  AttemptEnd end = Exited(3);
  EXPECT_EQ(end.reason, TaskReason::kExitCode);
  ASSERT_TRUE(end.error);
  EXPECT_EQ(end.error->message, "exited with code 3");
}

TEST(LifecycleExit, ASignalNamesTheSignal) {
  ExecOutcome o;
  o.signal = SIGKILL;
  AttemptEnd end = EndOfExit(o);
  EXPECT_EQ(end.reason, TaskReason::kSignaled);
  ASSERT_TRUE(end.error);
  EXPECT_EQ(end.error->code, StatusCode::kAborted);
  EXPECT_NE(end.error->message.find("killed by signal 9"), std::string::npos);
}

TEST(LifecycleExit, NoExitCodeAndNoSignalIsAFailureNotASuccess) {
  AttemptEnd end = EndOfExit(ExecOutcome{});
  EXPECT_EQ(end.reason, TaskReason::kExitCode);
  ASSERT_TRUE(end.error);
  EXPECT_EQ(end.error->message, "exited with code -1");
}

TEST(LifecycleExit, TheResultCarriesTheCountsOfTheOutcome) {
  ExecOutcome o;
  o.exit_code = 0;
  o.stdout_bytes = 5;
  o.stderr_bytes = 7;
  o.logs_truncated = true;
  TaskResult r = ResultOfExit(o);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.signal);
  EXPECT_EQ(r.stdout_bytes, 5);
  EXPECT_EQ(r.stderr_bytes, 7);
  EXPECT_TRUE(r.logs_truncated);
}

TEST(LifecycleAfterAttempt, SuccessCompletes) {
  Transition t = AfterAttempt(Attempt(1, 3), Exited(0), false, kDefaults);
  ExpectFinish(t, TaskState::kCompleted, TaskReason::kSucceeded);
  EXPECT_FALSE(t.error);
}

TEST(LifecycleAfterAttempt, AFailureWithAttemptsLeftIsRequeuedAfterItsBackoff) {
  Transition t = AfterAttempt(Attempt(2, 3), Exited(1), false, kDefaults);
  ExpectRequeue(t, TaskReason::kExitCode, 2s);  // initial 1 s, times 2 after the second attempt
  EXPECT_EQ(t.state, TaskState::kPending);
  ASSERT_TRUE(t.error);
  EXPECT_EQ(t.error->message, "exited with code 1");
}

TEST(LifecycleAfterAttempt, TheLastFailedAttemptEndsRetriesExhaustedNamingTheLastError) {
  Transition t = AfterAttempt(Attempt(3, 3), Exited(4), false, kDefaults);
  ExpectFinish(t, TaskState::kFailed, TaskReason::kRetriesExhausted);
  ASSERT_TRUE(t.error);
  EXPECT_EQ(t.error->message, "attempt 3 of 3 failed (EXIT_CODE): exited with code 4");
}

TEST(LifecycleAfterAttempt, WithoutARetryPolicyAFailureKeepsItsOwnReason) {
  Transition t = AfterAttempt(Attempt(1, 0), Exited(4), false, kDefaults);
  ExpectFinish(t, TaskState::kFailed, TaskReason::kExitCode);
}

TEST(LifecycleAfterAttempt, ASpawnFailureIsNeverRetried) {
  AttemptEnd end{TaskReason::kSpawnFailed, TaskError{StatusCode::kFailedPrecondition, "no such"},
                 TaskReason::kTimedOut};
  Transition t = AfterAttempt(Attempt(1, 5), end, false, kDefaults);
  EXPECT_EQ(t.kind, Kind::kFinish);
  EXPECT_EQ(t.reason, TaskReason::kSpawnFailed);
  EXPECT_EQ(t.error->message, "no such");
}

TEST(LifecycleAfterAttempt, ACancelWinsOverHowTheAttemptEnded) {
  AttemptEnd end = Stopped(0, TaskReason::kCancelled);
  Transition t = AfterAttempt(Attempt(1, 5), end, false, kDefaults);
  EXPECT_EQ(t.kind, Kind::kFinish);
  EXPECT_EQ(t.state, TaskState::kCancelled);
  EXPECT_EQ(t.error->code, StatusCode::kCancelled);
}

TEST(LifecycleAfterAttempt, ATimeoutIsDeadlineExceededNamingTheTimeoutEvenIfItExitedZero) {
  Task task = Attempt(1, 0);
  task.spec.timeout = 1500ms;
  AttemptEnd end = Stopped(0, TaskReason::kTimedOut);
  Transition t = AfterAttempt(task, end, false, kDefaults);
  EXPECT_EQ(t.state, TaskState::kFailed);
  EXPECT_EQ(t.reason, TaskReason::kTimedOut);
  EXPECT_EQ(t.error->code, StatusCode::kDeadlineExceeded);
  EXPECT_EQ(t.error->message, "timed out after 1500 ms");
}

TEST(LifecycleAfterAttempt, ATimedOutAttemptIsRetriedWhileAttemptsAreLeft) {
  Task task = Attempt(1, 2);
  task.spec.timeout = 1s;
  AttemptEnd end = Stopped(0, TaskReason::kTimedOut);
  Transition t = AfterAttempt(task, end, false, kDefaults);
  ExpectRequeue(t, TaskReason::kTimedOut, 1s);
}

TEST(LifecycleAfterAttempt, AnAttemptStoppedByShutdownIsRequeuedAtOnceWhileAttemptsAreLeft) {
  AttemptEnd end = Stopped(143, TaskReason::kInterrupted);
  Transition t = AfterAttempt(Attempt(1, 2), end, true, kDefaults);
  ExpectRequeue(t, TaskReason::kInterrupted, 0s);
  EXPECT_FALSE(t.error);
}

TEST(LifecycleAfterAttempt, AnAttemptStoppedByShutdownWithoutAttemptsLeftEndsInterrupted) {
  AttemptEnd end = Stopped(143, TaskReason::kInterrupted);
  Transition t = AfterAttempt(Attempt(2, 2), end, true, kDefaults);
  ExpectFinish(t, TaskState::kFailed, TaskReason::kInterrupted);
  EXPECT_EQ(t.error->code, StatusCode::kAborted);
}

TEST(LifecycleAfterAttempt, AFailureDuringShutdownIsNotRetriedNow) {
  Transition t = AfterAttempt(Attempt(1, 3), Exited(1), true, kDefaults);
  EXPECT_EQ(t.kind, Kind::kFinish);
  EXPECT_EQ(t.reason, TaskReason::kRetriesExhausted);
}

TEST(LifecycleAfterDaemonStopped, ARunningTaskWithAttemptsLeftIsRequeuedAtOnce) {
  Transition t = AfterDaemonStopped(Attempt(1, 2));
  ExpectRequeue(t, TaskReason::kInterrupted, 0s);
  EXPECT_EQ(t.state, TaskState::kPending);
  ASSERT_TRUE(t.error);
  EXPECT_EQ(t.error->message, "the daemon stopped while attempt 1 was running");
}

TEST(LifecycleAfterDaemonStopped, ARunningTaskOnItsLastAttemptEndsFailedInterrupted) {
  Transition t = AfterDaemonStopped(Attempt(1, 0));
  ExpectFinish(t, TaskState::kFailed, TaskReason::kInterrupted);
  EXPECT_EQ(t.error->code, StatusCode::kAborted);
}

TEST(LifecycleBackoff, GrowsByTheMultiplierUpToTheMaximum) {
  RetryPolicy p;
  p.initial_backoff = 100ms;
  p.max_backoff = 1s;
  p.multiplier = 3;
  EXPECT_EQ(Backoff(p, 1, kDefaults), 100ms);
  EXPECT_EQ(Backoff(p, 2, kDefaults), 300ms);
  EXPECT_EQ(Backoff(p, 3, kDefaults), 900ms);
  EXPECT_EQ(Backoff(p, 4, kDefaults), 1s);
  EXPECT_EQ(Backoff(p, 1000, kDefaults), 1s);  // no overflow far out
}

TEST(LifecycleBackoff, AFieldLeftAtZeroTakesTheDaemonDefault) {
  RetryPolicy p;
  RetryDefaults d{250ms, 2s, 4.0};
  EXPECT_EQ(Backoff(p, 1, d), 250ms);
  EXPECT_EQ(Backoff(p, 2, d), 1s);
  EXPECT_EQ(Backoff(p, 3, d), 2s);
}

}  // namespace
}  // namespace taskd
