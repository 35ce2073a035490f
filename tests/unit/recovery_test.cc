// Recovery's pure steps alone: a task found RUNNING at start, and the ended
// index's deadlines moved onto the steady clock.
#include "core/engine/recovery.h"

#include <gtest/gtest.h>

namespace taskd {
namespace {

using namespace std::chrono_literals;

Task Running(int32_t attempt, int32_t max_attempts) {
  Task t;
  t.id = NewTaskId();
  t.state = TaskState::kRunning;
  t.attempt = attempt;
  t.spec.retry.max_attempts = max_attempts;
  return t;
}

TEST(RecoveryEndInterrupted, ARunningTaskWithoutAttemptsLeftFailsInterruptedWithItsTimes) {
  Task t = Running(1, 0);
  const WallTime now = std::chrono::system_clock::now();
  ASSERT_TRUE(EndInterrupted(t, now, 1h));
  EXPECT_EQ(t.state, TaskState::kFailed);
  EXPECT_EQ(t.reason, TaskReason::kInterrupted);
  ASSERT_TRUE(t.end_time && t.expire_time);
  EXPECT_EQ(*t.end_time, now);
  EXPECT_EQ(*t.expire_time, now + 1h);
}

TEST(RecoveryEndInterrupted, ARunningTaskWithAttemptsLeftIsRequeued) {
  Task t = Running(1, 3);
  ASSERT_TRUE(EndInterrupted(t, std::chrono::system_clock::now(), 1h));
  EXPECT_EQ(t.state, TaskState::kPending);
  EXPECT_FALSE(t.end_time);
}

TEST(RecoveryEndInterrupted, AnyOtherTaskIsLeftAsItIs) {
  Task t = Running(1, 0);
  t.state = TaskState::kPending;
  EXPECT_FALSE(EndInterrupted(t, std::chrono::system_clock::now(), 1h));
  EXPECT_EQ(t.state, TaskState::kPending);
}

TEST(RecoveryDeadlines, WallExpireTimesBecomeSteadyDeadlines) {
  const SteadyTime steady{std::chrono::seconds(1000)};
  const WallTime wall{std::chrono::seconds(2'000'000'000)};
  auto ns = [](auto t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  };
  std::vector<EndedTask> ended(3);
  ended[0].key = 7;
  ended[0].expire_ns = ns(wall + 30s);  // in 30 s
  ended[1].key = 9;
  ended[1].expire_ns = ns(wall - 30s);  // already past: due now
  ended[2].key = 8;                     // never expires
  EXPECT_EQ(ToSteadyDeadlines(ended, steady, wall), 9u);
  EXPECT_EQ(ended[0].expire_ns, ns(steady + 30s));
  EXPECT_EQ(ended[1].expire_ns, ns(steady));
  EXPECT_EQ(ended[2].expire_ns, INT64_MAX);
}

}  // namespace
}  // namespace taskd
