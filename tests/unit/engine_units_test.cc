// The engine's small units alone, without a manager: the retention
// deadlines, the waiter set, the event bus and the dependency graph.
#include <gtest/gtest.h>

#include "core/engine/dependency_graph.h"
#include "core/engine/event_bus.h"
#include "core/engine/expiry_queue.h"
#include "core/engine/waiter_set.h"

namespace taskd {
namespace {

using namespace std::chrono_literals;

TEST(ExpiryQueue, PopsDueIdsEarliestFirstWhateverTheOrderScheduled) {
  ExpiryQueue q;
  SteadyTime t0{};
  q.Schedule("b", t0 + 20s);
  q.Schedule("c", t0 + 30s);
  q.Schedule("a", t0 + 10s);  // out of order
  EXPECT_EQ(q.Next(), t0 + 10s);
  std::string id;
  EXPECT_FALSE(q.PopDue(t0 + 9s, &id));
  std::vector<std::string> got;
  while (q.PopDue(t0 + 25s, &id)) got.push_back(id);
  EXPECT_EQ(got, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(q.Next(), t0 + 30s);
  EXPECT_EQ(q.size(), 1u);
}

TEST(ExpiryQueue, EmptyHasNoDeadline) {
  ExpiryQueue q;
  EXPECT_FALSE(q.Next());
  std::string id;
  EXPECT_FALSE(q.PopDue(SteadyTime::max(), &id));
}

TEST(WaiterSet, TakeHandsAWaiterOutOnce) {
  WaiterSet w;
  int called = 0;
  w.Add(7, 100, "t", [&](StatusOr<Task>) { ++called; });
  auto got = w.Take(7);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, "t");
  got->done(Task{});
  EXPECT_EQ(called, 1);
  EXPECT_FALSE(w.Take(7));
  EXPECT_FALSE(w.Has(100));
}

TEST(WaiterSet, HandlesOfATaskInTheOrderAdded) {
  WaiterSet w;
  w.Add(3, 100, "t", nullptr);
  w.Add(1, 100, "t", nullptr);
  w.Add(2, 200, "u", nullptr);
  EXPECT_EQ(w.HandlesOf(100), (std::vector<uint64_t>{3, 1}));
  w.Take(3);
  EXPECT_EQ(w.HandlesOf(100), (std::vector<uint64_t>{1}));
  EXPECT_TRUE(w.Has(200));
  EXPECT_EQ(w.size(), 2u);
  EXPECT_EQ(w.HandlesOf(300), std::vector<uint64_t>{});
}

Task TaskIn(std::string id, std::string queue) {
  Task t;
  t.id = std::move(id);
  t.spec.queue = queue;
  return t;
}

TEST(EventBus, DeliversByTypeAndFilterWithOneSequencePerEvent) {
  EventBus bus;
  std::vector<std::pair<std::string, uint64_t>> a, b;
  bus.Add(
      1, TaskFilter{}, [&](const TaskEvent& e) { a.emplace_back(e.task.id, e.sequence); }, nullptr,
      EventTypes::All());
  TaskFilter only_q;
  only_q.queue = "q";
  bus.Add(
      2, only_q, [&](const TaskEvent& e) { b.emplace_back(e.task.id, e.sequence); }, nullptr,
      EventTypes{TaskEvent::Type::kStateChanged});
  bus.Emit(TaskEvent::Type::kCreated, TaskIn("x", "q"), WallTime{});
  bus.Emit(TaskEvent::Type::kStateChanged, TaskIn("y", "other"), WallTime{});
  bus.Emit(TaskEvent::Type::kStateChanged, TaskIn("z", "q"), WallTime{});
  EXPECT_EQ(a, (std::vector<std::pair<std::string, uint64_t>>{{"x", 1}, {"y", 2}, {"z", 3}}));
  EXPECT_EQ(b, (std::vector<std::pair<std::string, uint64_t>>{{"z", 3}}));
}

TEST(EventBus, WantsOnlyTheTypesSomeSubscriberNamed) {
  EventBus bus;
  EXPECT_FALSE(bus.Wants(TaskEvent::Type::kDeleted));
  bus.Add(
      1, TaskFilter{}, [](const TaskEvent&) {}, nullptr,
      EventTypes{TaskEvent::Type::kCreated, TaskEvent::Type::kStateChanged});
  EXPECT_FALSE(bus.Wants(TaskEvent::Type::kDeleted));
  EXPECT_TRUE(bus.Wants(TaskEvent::Type::kCreated));
  bus.Add(
      2, TaskFilter{}, [](const TaskEvent&) {}, nullptr, EventTypes::All());
  EXPECT_TRUE(bus.Wants(TaskEvent::Type::kDeleted));
  bus.Remove(2);
  EXPECT_FALSE(bus.Wants(TaskEvent::Type::kDeleted));
}

TEST(EventBus, CloseAllEndsEverySubscriptionOnce) {
  EventBus bus;
  int closed = 0, events = 0;
  bus.Add(
      1, TaskFilter{}, [&](const TaskEvent&) { ++events; },
      [&](Status s) {
        EXPECT_EQ(s.code(), StatusCode::kUnavailable);
        ++closed;
      },
      EventTypes::All());
  bus.Add(
      2, TaskFilter{}, [&](const TaskEvent&) { ++events; }, nullptr, EventTypes::All());
  bus.CloseAll(Status(StatusCode::kUnavailable, "bye"));
  EXPECT_EQ(closed, 1);
  EXPECT_EQ(bus.size(), 0u);
  bus.Emit(TaskEvent::Type::kCreated, TaskIn("x", ""), WallTime{});
  EXPECT_EQ(events, 0);
}

TEST(DependencyGraph, HandsEachDependentOutOnce) {
  std::vector<std::string> got;
  int calls = 0;
  DependencyGraph g([&](const std::string& dep, const std::vector<std::string>& ids) {
    EXPECT_EQ(dep, "a");
    got = ids;
    ++calls;
  });
  g.Add("a", "b");
  g.Add("a", "c");
  g.Ended("a");
  EXPECT_EQ(got, (std::vector<std::string>{"b", "c"}));
  g.Ended("a");
  EXPECT_EQ(calls, 1);  // not again
  EXPECT_EQ(g.size(), 0u);
}

TEST(DependencyGraph, AChainOfAHundredThousandResolvesWithoutRecursion) {
  const int n = 100000;
  int depth = 0, max_depth = 0, resolved = 0;
  DependencyGraph* graph = nullptr;
  DependencyGraph g([&](const std::string&, const std::vector<std::string>& ids) {
    max_depth = std::max(max_depth, ++depth);
    for (const auto& id : ids) {
      ++resolved;
      graph->Ended(id);  // the dependent fails in turn
    }
    --depth;
  });
  graph = &g;
  for (int i = 0; i < n; ++i) g.Add(std::to_string(i), std::to_string(i + 1));
  g.Ended("0");
  EXPECT_EQ(resolved, n);
  EXPECT_EQ(max_depth, 1);
}

}  // namespace
}  // namespace taskd
