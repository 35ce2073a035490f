// Scheduler alone: which ready task starts next, under the global limit,
// per-queue limits and token buckets. No manager, no clock: time is passed in.
#include "core/engine/scheduler.h"

#include <gtest/gtest.h>

#include <set>

namespace taskd {
namespace {

using namespace std::chrono_literals;

struct Fixture {
  std::set<std::pair<uint64_t, uint64_t>> live;  // (key, sequence) still ready
  Scheduler s;
  SteadyTime now{};
  uint64_t seq = 0;
  Fixture(int max_running, std::map<std::string, QueueOptions> queues = {})
      : s(max_running, std::move(queues), [this](uint64_t k, uint64_t q) {
          return live.count({k, q}) > 0;
        }) {}
  void Ready(std::string_view queue, uint64_t key, int64_t priority = 0) {
    ++seq;
    live.insert({key, seq});
    s.Ready(s.Queue(queue), key, priority, seq, reinterpret_cast<void*>(key));
  }
  void Unready(std::string_view queue, uint64_t key) {
    std::erase_if(live, [&](const auto& p) { return p.first == key; });
    s.Unready(s.Queue(queue));
  }
  // The key Next() picks, or 0.
  uint64_t Next(SteadyTime* wake = nullptr) {
    SteadyTime w = SteadyTime::max();
    auto p = s.Next(now, wake ? wake : &w);
    if (!p) return 0;
    EXPECT_EQ(p->ref, reinterpret_cast<void*>(p->key));
    std::erase_if(live, [&](const auto& l) { return l.first == p->key; });
    return p->key;
  }
};

TEST(SchedulerOrder, HigherPriorityFirstThenFifo) {
  Fixture f(10);
  f.Ready("default", 1, 0);
  f.Ready("default", 2, 5);
  f.Ready("default", 3, 0);
  f.Ready("default", 4, 5);
  EXPECT_EQ(f.Next(), 2u);
  EXPECT_EQ(f.Next(), 4u);
  EXPECT_EQ(f.Next(), 1u);
  EXPECT_EQ(f.Next(), 3u);
  EXPECT_EQ(f.Next(), 0u);
}

TEST(SchedulerOrder, BestHeadAcrossQueues) {
  Fixture f(10);
  f.Ready("a", 1, 0);
  f.Ready("b", 2, 9);
  f.Ready("a", 3, 9);
  EXPECT_EQ(f.Next(), 2u);  // equal priority: the earlier one
  EXPECT_EQ(f.Next(), 3u);
  EXPECT_EQ(f.Next(), 1u);
}

TEST(SchedulerLimits, GlobalLimitHoldsUntilATaskStops) {
  Fixture f(2);
  for (uint64_t k = 1; k <= 3; ++k) f.Ready("default", k);
  EXPECT_EQ(f.Next(), 1u);
  EXPECT_EQ(f.Next(), 2u);
  EXPECT_EQ(f.Next(), 0u);
  EXPECT_EQ(f.s.running(), 2);
  f.s.Stopped(f.s.Queue("default"));
  EXPECT_EQ(f.Next(), 3u);
}

TEST(SchedulerLimits, QueueLimitLetsOtherQueuesStart) {
  Fixture f(10, {{"one", QueueOptions{1, 0, 1}}});
  f.Ready("one", 1);
  f.Ready("one", 2);
  f.Ready("other", 3);
  EXPECT_EQ(f.Next(), 1u);
  EXPECT_EQ(f.Next(), 3u);  // "one" is at its limit
  EXPECT_EQ(f.Next(), 0u);
  f.s.Stopped(f.s.Queue("one"));
  EXPECT_EQ(f.Next(), 2u);
  int one = -1;
  f.s.ForEachQueue([&](const std::string& name, int running) {
    if (name == "one") one = running;
  });
  EXPECT_EQ(one, 1);
}

TEST(SchedulerRate, BurstThenOneTokenPerPeriodWithTheWakeTime) {
  Fixture f(10, {{"slow", QueueOptions{0, 2.0, 2}}});  // 2/s, burst 2
  for (uint64_t k = 1; k <= 4; ++k) f.Ready("slow", k);
  EXPECT_EQ(f.Next(), 1u);
  EXPECT_EQ(f.Next(), 2u);
  SteadyTime wake = SteadyTime::max();
  EXPECT_EQ(f.Next(&wake), 0u);
  EXPECT_EQ(wake, f.now + 500ms);
  f.now += 499ms;
  EXPECT_EQ(f.Next(), 0u);
  f.now += 2ms;  // past the token (floating-point refill: not exactly at it)
  EXPECT_EQ(f.Next(), 3u);
  EXPECT_EQ(f.Next(), 0u);
}

TEST(SchedulerRate, NoWakeTimeWhenNothingWaitsForAToken) {
  Fixture f(1, {{"slow", QueueOptions{0, 1.0, 1}}});
  f.Ready("slow", 1);
  f.Ready("slow", 2);
  EXPECT_EQ(f.Next(), 1u);
  SteadyTime wake = SteadyTime::max();
  EXPECT_EQ(f.Next(&wake), 0u);  // the global limit, not the bucket, holds it
  EXPECT_EQ(wake, SteadyTime::max());
}

TEST(SchedulerUnready, ADroppedTaskIsNeverHandedOut) {
  Fixture f(10);
  f.Ready("default", 1);
  f.Ready("default", 2);
  f.Ready("default", 3);
  f.Unready("default", 1);
  f.Unready("default", 3);
  EXPECT_EQ(f.Next(), 2u);
  EXPECT_EQ(f.Next(), 0u);
}

TEST(SchedulerUnready, ManyDroppedItemsAreCompacted) {
  Fixture f(1000);
  for (uint64_t k = 1; k <= 500; ++k) f.Ready("default", k);
  for (uint64_t k = 1; k <= 499; ++k) f.Unready("default", k);
  EXPECT_EQ(f.Next(), 500u);
  EXPECT_EQ(f.Next(), 0u);
}

TEST(SchedulerUnready, ATaskReadyAgainIsHandedOutOnce) {
  Fixture f(10);
  f.Ready("default", 1);
  f.Unready("default", 1);
  f.Ready("default", 1);  // a new sequence: the old item is dead
  EXPECT_EQ(f.Next(), 1u);
  EXPECT_EQ(f.Next(), 0u);
}

TEST(SchedulerShutdown, ClearReadyForgetsEveryReadyTask) {
  Fixture f(10);
  f.Ready("a", 1);
  f.Ready("b", 2);
  f.s.ClearReady();
  EXPECT_EQ(f.Next(), 0u);
}

}  // namespace
}  // namespace taskd
