// Scheduling and deadlines on a ManualClock: timeouts, backoff, start
// delays, TTL, wait timeouts and rate limits without real waiting.
#include <fstream>
#include <mutex>

#include "tests/fakes/manager_harness.h"
#include "tests/fakes/stores.h"

namespace taskd {
namespace {

using namespace std::chrono_literals;
using testing::Exec;
using testing::Handler;
using testing::ManagerHarness;
using testing::ReadFile;
using testing::RecordingStore;

class ClockTest : public ::testing::Test {
 protected:
  ManagerOptions Options() {
    ManagerOptions o;
    o.clock = &clock_;
    return o;
  }
  ManualClock clock_;
};

TEST_F(ClockTest, TimeoutFiresOnlyWhenTheClockSaysSo) {
  ManagerHarness h(Options());
  TaskSpec spec = Exec({"sleep", "1000"});
  spec.timeout = 10min;
  Task t = h.MustSubmit(spec);
  h.WaitFor(t.id, [](const Task& x) { return x.state == TaskState::kRunning; });
  clock_.Advance(9min);
  EXPECT_EQ(h.Get(t.id)->state, TaskState::kRunning);
  clock_.Advance(1min);
  Task done = h.WaitFor(t.id, [](const Task& x) { return IsTerminal(x.state); });
  EXPECT_EQ(done.reason, TaskReason::kTimedOut);
  EXPECT_EQ(done.result->signal.value_or(0), SIGTERM);
}

TEST_F(ClockTest, ProgressIsPersistedCoalesced) {
  RecordingStore store;
  ManagerHarness h(Options(), &store);
  Task t = h.MustSubmit(Exec({"sleep", "1000"}));
  h.WaitFor(t.id, [](const Task& x) { return x.state == TaskState::kRunning; });
  // (The start has been written: RUNNING, with its process.)
  const size_t before = store.puts();
  for (int i = 1; i <= 50; ++i) {
    std::promise<StatusOr<Task>> p;
    h.m().ReportProgress(t.id, i, "step", [&](StatusOr<Task> r) { p.set_value(std::move(r)); });
    auto f = p.get_future();
    ASSERT_TRUE(testing::Await(f).ok());
  }
  EXPECT_EQ(store.puts(), before);  // nothing written yet
  clock_.Advance(250ms);
  EXPECT_EQ(h.Get(t.id)->progress.percent, 50);  // after the flush, on the strand
  EXPECT_EQ(store.puts(), before + 1);           // fifty updates, one write
  EXPECT_EQ(store.last_percent(), 50);
  ASSERT_TRUE(h.Cancel(t.id, 0s).ok());
}

TEST_F(ClockTest, RetryWaitsForItsBackoff) {
  ManagerHarness h(Options());
  TaskSpec spec = Exec({"false"});
  spec.retry.max_attempts = 3;
  spec.retry.initial_backoff = 1min;
  spec.retry.multiplier = 2;
  Task t = h.MustSubmit(spec);
  Task first = h.WaitFor(
      t.id, [](const Task& x) { return x.state == TaskState::kPending && x.attempt == 1; });
  EXPECT_TRUE(first.next_attempt_time);
  EXPECT_EQ(first.reason, TaskReason::kExitCode);
  clock_.Advance(59s);
  EXPECT_EQ(h.Get(t.id)->attempt, 1);
  clock_.Advance(1s);
  h.WaitFor(t.id, [](const Task& x) { return x.state == TaskState::kPending && x.attempt == 2; });
  clock_.Advance(119s);  // second backoff: 2 minutes
  EXPECT_EQ(h.Get(t.id)->attempt, 2);
  clock_.Advance(1s);
  Task done = h.WaitFor(t.id, [](const Task& x) { return IsTerminal(x.state); });
  EXPECT_EQ(done.attempt, 3);
  EXPECT_EQ(done.reason, TaskReason::kRetriesExhausted);
}

TEST_F(ClockTest, NotBeforeDelaysTheStart) {
  ManagerHarness h(Options());
  TaskSpec spec = Handler("noop");
  spec.not_before = clock_.WallNow() + 1h;
  Task t = h.MustSubmit(spec);
  EXPECT_TRUE(t.next_attempt_time);
  clock_.Advance(59min);
  EXPECT_EQ(h.Get(t.id)->state, TaskState::kPending);
  clock_.Advance(1min);
  Task done = h.WaitFor(t.id, [](const Task& x) { return IsTerminal(x.state); });
  EXPECT_EQ(done.state, TaskState::kCompleted);
}

// Start delays share one clock timer: a thousand tasks held by not_before
// (out of order) hold one timer, not one each (an asio timer is ~570 bytes
// of RSS per task), and each still starts at its own time; a cancelled one
// does not start when its time comes.
TEST_F(ClockTest, DelayedTasksShareOneTimerAndEachStartsAtItsTime) {
  ManagerHarness h(Options());
  (void)h.Get("0000000000000");  // through the strand: what starting set is set
  const size_t before = clock_.pending_timers();
  auto minute_of = [](int i) { return 1 + (i * 7) % 60; };
  std::vector<Task> tasks;
  for (int i = 0; i < 1000; ++i) {
    TaskSpec spec = Handler("noop");
    spec.not_before = clock_.WallNow() + std::chrono::minutes(minute_of(i));
    tasks.push_back(h.MustSubmit(spec));
  }
  (void)h.Get(tasks.back().id);  // after the last admission, on the strand
  EXPECT_LE(clock_.pending_timers(), before + 1);
  ASSERT_TRUE(h.Cancel(tasks[1].id, 0s).ok());  // due at minute 8
  clock_.Advance(30min);
  for (int i = 0; i < 1000; ++i) {
    if (i != 1 && minute_of(i) <= 30) {
      EXPECT_EQ(h.WaitFor(tasks[static_cast<size_t>(i)].id,
                          [](const Task& x) { return IsTerminal(x.state); })
                    .state,
                TaskState::kCompleted);
    }
  }
  for (int i = 0; i < 1000; ++i) {
    if (minute_of(i) > 30) {
      EXPECT_EQ(h.Get(tasks[static_cast<size_t>(i)].id)->state, TaskState::kPending) << i;
    }
  }
  EXPECT_EQ(h.Get(tasks[1].id)->state, TaskState::kCancelled);
  clock_.Advance(30min);
  for (int i = 2; i < 1000; ++i) {
    EXPECT_EQ(h.WaitFor(tasks[static_cast<size_t>(i)].id,
                        [](const Task& x) { return IsTerminal(x.state); })
                  .state,
              TaskState::kCompleted);
  }
}

// A delayed task cancelled before its start leaves an entry in the start
// queue until its time; a loop of "submit a year ahead, cancel" must not grow
// it without bound (it is rebuilt once stale entries are most of it).
TEST_F(ClockTest, CancelledDelayedTasksDoNotPileUpInTheStartQueue) {
  ManagerHarness h(Options());
  TaskSpec later = Handler("noop");
  later.not_before = clock_.WallNow() + 24h * 365;
  Task kept = h.MustSubmit(later);
  for (int i = 0; i < 5000; ++i) {
    Task t = h.MustSubmit(later);
    ASSERT_TRUE(h.Cancel(t.id, 0s).ok());
  }
  EXPECT_LT(h.m().TEST_StartEntries(), 2100u);
  EXPECT_EQ(h.Get(kept.id)->state, TaskState::kPending);
  clock_.Advance(24h * 366);
  EXPECT_EQ(h.WaitFor(kept.id, [](const Task& x) { return IsTerminal(x.state); }).state,
            TaskState::kCompleted);
}

TEST_F(ClockTest, TtlDeletesExactlyWhenDue) {
  ManagerHarness h(Options());
  TaskSpec spec = Handler("noop");
  spec.ttl = 2h;
  Task t = h.MustSubmit(spec);
  Task done = h.WaitFor(t.id, [](const Task& x) { return IsTerminal(x.state); });
  ASSERT_TRUE(done.expire_time);
  EXPECT_EQ(*done.expire_time - *done.end_time, 2h);
  clock_.Advance(2h - 1s);
  EXPECT_TRUE(h.Get(t.id).ok());
  clock_.Advance(1s);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (h.Get(t.id).ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(h.Get(t.id).status().code(), StatusCode::kNotFound);
}

TEST_F(ClockTest, DefaultTtlIsOneHour) {
  ManagerHarness h(Options());
  Task t = h.MustSubmit(Handler("noop"));
  Task done = h.WaitFor(t.id, [](const Task& x) { return IsTerminal(x.state); });
  EXPECT_EQ(*done.expire_time - *done.end_time, 1h);
}

TEST_F(ClockTest, WaitTimeoutUsesTheClock) {
  ManagerHarness h(Options());
  Task t = h.MustSubmit(Exec({"sleep", "1000"}));
  std::promise<StatusOr<Task>> p;
  h.m().Wait(t.id, 30s, [&](StatusOr<Task> r) { p.set_value(std::move(r)); });
  auto f = p.get_future();
  EXPECT_EQ(f.wait_for(200ms), std::future_status::timeout);
  clock_.Advance(30s);
  auto r = testing::Await(f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->state, TaskState::kRunning);
  ASSERT_TRUE(h.Cancel(t.id, 0s).ok());
}

TEST_F(ClockTest, RateLimitSpacesStarts) {
  ManagerOptions o = Options();
  o.queues["slow"].rate = 1;  // one start per second
  o.queues["slow"].burst = 1;
  ManagerHarness h(o);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    TaskSpec spec = Handler("noop");
    spec.queue = "slow";
    ids.push_back(h.MustSubmit(spec).id);
  }
  h.WaitFor(ids[0], [](const Task& x) { return x.state == TaskState::kCompleted; });
  EXPECT_EQ(h.Get(ids[1])->state, TaskState::kPending);
  EXPECT_EQ(h.Get(ids[2])->state, TaskState::kPending);
  clock_.Advance(1s);
  h.WaitFor(ids[1], [](const Task& x) { return x.state == TaskState::kCompleted; });
  EXPECT_EQ(h.Get(ids[2])->state, TaskState::kPending);
  clock_.Advance(1s);
  h.WaitFor(ids[2], [](const Task& x) { return x.state == TaskState::kCompleted; });
  // Other queues are not limited.
  Task other = h.MustSubmit(Handler("noop"));
  h.WaitFor(other.id, [](const Task& x) { return x.state == TaskState::kCompleted; });
}

TEST(Scheduling, PerQueueConcurrencyLimit) {
  ManagerOptions o;
  o.max_running = 4;
  o.queues["one"].max_running = 1;
  ManagerHarness h(o);
  auto log = h.dir() / "log";
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    TaskSpec spec = Exec(
        {"sh", "-c", "echo start >> " + log.string() + "; sleep 0.1; echo end >> " + log.string()});
    spec.queue = "one";
    ids.push_back(h.MustSubmit(spec).id);
  }
  // Another queue is not held back by "one".
  TaskSpec free = Exec({"true"});
  free.queue = "other";
  Task f = h.MustSubmit(free);
  ASSERT_TRUE(h.Wait(f.id).ok());
  EXPECT_NE(h.Get(ids[2])->state, TaskState::kCompleted);
  for (const auto& id : ids) ASSERT_TRUE(h.Wait(id).ok());
  EXPECT_EQ(ReadFile(log), "start\nend\nstart\nend\nstart\nend\n");
}

TEST(Scheduling, GlobalLimitHoldsTasks) {
  ManagerOptions o;
  o.max_running = 2;
  ManagerHarness h(o);
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i)
    ids.push_back(h.MustSubmit(Handler("sleep", R"({"seconds": 30})")).id);
  h.WaitFor(ids[1], [](const Task& x) { return x.state == TaskState::kRunning; });
  EXPECT_EQ(h.Get(ids[0])->state, TaskState::kRunning);
  EXPECT_EQ(h.Get(ids[2])->state, TaskState::kPending);
  EXPECT_EQ(h.Get(ids[3])->state, TaskState::kPending);
  ASSERT_TRUE(h.Cancel(ids[0]).ok());
  h.WaitFor(ids[2], [](const Task& x) { return x.state == TaskState::kRunning; });
  EXPECT_EQ(h.Get(ids[3])->state, TaskState::kPending);
  for (const auto& id : ids) (void)h.Cancel(id);
}

TEST(Scheduling, CancelledTaskIsNeverRetried) {
  ManagerHarness h;
  TaskSpec spec = Exec({"sleep", "1000"});
  spec.retry.max_attempts = 5;
  Task t = h.MustSubmit(spec);
  h.WaitFor(t.id, [](const Task& x) { return x.state == TaskState::kRunning; });
  auto c = h.Cancel(t.id, 100ms);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->state, TaskState::kCancelled);
  EXPECT_EQ(c->attempt, 1);
}

}  // namespace
}  // namespace taskd
