#include "core/engine/task_manager.h"

#include <signal.h>

#include <fstream>

#include "tests/fakes/manager_harness.h"
#include "tests/fakes/spawners.h"

namespace taskd {
namespace {

using namespace std::chrono_literals;
using namespace testing;  // taskd::testing: the harness and its spec helpers

// Options whose exec tasks run ProgramSpawner's programs, not processes:
// for the tests about the engine's rules, not the OS.
ProgramSpawner& Programs() {
  static ProgramSpawner spawner;
  return spawner;
}
ManagerOptions FakePrograms(ManagerOptions o = {}) {
  o.spawner = &Programs();
  return o;
}

TEST(TaskManager, ExecTrueCompletesWithExitCodeZero) {
  ManagerHarness h;
  ASSERT_TRUE(h.start_status().ok());
  Task t = h.MustSubmit(Exec({"true"}));
  EXPECT_EQ(t.state, TaskState::kPending);
  EXPECT_EQ(t.id.size(), 13u);
  auto done = h.Wait(t.id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, TaskState::kCompleted);
  EXPECT_EQ(done->reason, TaskReason::kSucceeded);
  ASSERT_TRUE(done->result && done->result->exit_code);
  EXPECT_EQ(*done->result->exit_code, 0);
  EXPECT_EQ(done->attempt, 1);
  EXPECT_TRUE(done->end_time && done->expire_time);
}

TEST(TaskManager, ExecNonZeroExitFailsWithItsCode) {
  ManagerHarness h;
  Task t = h.MustSubmit(Exec({"sh", "-c", "exit 3"}));
  auto done = h.Wait(t.id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, TaskState::kFailed);
  EXPECT_EQ(done->reason, TaskReason::kExitCode);
  EXPECT_EQ(done->result->exit_code.value_or(-1), 3);
  ASSERT_TRUE(done->error);
  EXPECT_NE(done->error->message.find("3"), std::string::npos);
}

TEST(TaskManager, OutputGoesToPerTaskLogFiles) {
  ManagerHarness h;
  Task t = h.MustSubmit(Exec({"sh", "-c", "echo out; echo err >&2"}));
  auto done = h.Wait(t.id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(ReadFile(h.m().StdoutPath(t.id)), "out\n");
  EXPECT_EQ(ReadFile(h.m().StderrPath(t.id)), "err\n");
  EXPECT_EQ(done->result->stdout_bytes, 4);
  EXPECT_EQ(done->result->stderr_bytes, 4);
}

TEST(TaskManager, MissingBinaryFailsWithSpawnFailedAndOsText) {
  ManagerHarness h;
  Task t = h.MustSubmit(Exec({"/nonexistent/program"}));
  auto done = h.Wait(t.id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, TaskState::kFailed);
  EXPECT_EQ(done->reason, TaskReason::kSpawnFailed);
  ASSERT_TRUE(done->error);
  EXPECT_NE(done->error->message.find("No such file or directory"), std::string::npos)
      << done->error->message;
}

TEST(TaskManager, BadCwdFailsWithSpawnFailed) {
  ManagerHarness h;
  TaskSpec spec = Exec({"true"});
  spec.mutable_exec()->cwd = "/nonexistent-dir";
  auto done = h.Wait(h.MustSubmit(spec).id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->reason, TaskReason::kSpawnFailed);
  EXPECT_NE(done->error->message.find("cwd"), std::string::npos) << done->error->message;
}

TEST(TaskManager, NonExecutableFileFailsWithSpawnFailed) {
  ManagerHarness h;
  auto path = h.dir() / "not-executable.sh";
  std::ofstream(path) << "#!/bin/sh\nexit 0\n";
  auto done = h.Wait(h.MustSubmit(Exec({path.string()})).id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->reason, TaskReason::kSpawnFailed);
  EXPECT_NE(done->error->message.find("Permission denied"), std::string::npos)
      << done->error->message;
}

TEST(TaskManager, HandlersNoopAndSleepComplete) {
  ManagerHarness h;
  auto noop = h.Wait(h.MustSubmit(Handler("noop")).id);
  ASSERT_TRUE(noop.ok());
  EXPECT_EQ(noop->state, TaskState::kCompleted);
  auto sleep = h.Wait(h.MustSubmit(Handler("sleep", R"({"seconds": 0.2})")).id);
  ASSERT_TRUE(sleep.ok());
  EXPECT_EQ(sleep->state, TaskState::kCompleted);
  EXPECT_DOUBLE_EQ(sleep->progress.percent, 100.0);
  EXPECT_NE(sleep->result->output.find("slept_seconds"), std::string::npos);
}

TEST(TaskManager, UnknownHandlerIsInvalidArgumentNamingTheField) {
  ManagerHarness h;
  auto t = h.Submit(Handler("no-such-handler"));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find("spec.handler.name"), std::string::npos);
  auto bad = h.Submit(Handler("sleep", R"({"seconds": -1})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("spec.handler.payload.seconds"), std::string::npos);
}

TEST(TaskManager, EmptyArgvIsInvalidArgument) {
  ManagerHarness h;
  auto t = h.Submit(Exec({}));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(t.status().message(), "spec.exec.argv: must not be empty");
}

TEST(TaskManager, WaitWithTimeoutReturnsRunningTask) {
  ManagerHarness h;
  Task t = h.MustSubmit(Handler("sleep", R"({"seconds": 30})"));
  auto w = h.Wait(t.id, 200ms);
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE(IsTerminal(w->state));
  auto c = h.Cancel(t.id);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->state, TaskState::kCancelled);
}

TEST(TaskManager, CancelPendingIsImmediate) {
  ManagerOptions o;
  o.max_running = 1;
  ManagerHarness h(o);
  Task blocker = h.MustSubmit(Handler("sleep", R"({"seconds": 30})"));
  Task queued = h.MustSubmit(Exec({"true"}));
  auto c = h.Cancel(queued.id);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->state, TaskState::kCancelled);
  EXPECT_EQ(c->reason, TaskReason::kCancelled);
  EXPECT_EQ(c->attempt, 0);
  // Cancelling again says it already ended.
  auto again = h.Cancel(queued.id);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(h.Cancel(blocker.id).ok());
}

TEST(TaskManager, CancelRunningChildThatIgnoresSigtermKillsItAfterGrace) {
  ManagerHarness h;
  TaskSpec spec = Exec({"sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"});
  spec.kill_grace = 300ms;
  Task t = h.MustSubmit(spec);
  h.WaitFor(t.id, [&](const Task& x) {
    return x.state == TaskState::kRunning && std::filesystem::exists(h.m().StdoutPath(t.id)) &&
           std::filesystem::file_size(h.m().StdoutPath(t.id)) > 0;
  });
  auto start = std::chrono::steady_clock::now();
  auto c = h.Cancel(t.id);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->state, TaskState::kCancelled);
  EXPECT_EQ(c->result->signal.value_or(0), SIGKILL);
  EXPECT_LT(took, 300ms + 1s);
}

TEST(TaskManager, TimeoutKillsAndFailsWithTimedOut) {
  ManagerHarness h;
  TaskSpec spec = Exec({"sleep", "30"});
  spec.timeout = 200ms;
  spec.kill_grace = 200ms;
  auto done = h.Wait(h.MustSubmit(spec).id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, TaskState::kFailed);
  EXPECT_EQ(done->reason, TaskReason::kTimedOut);
  EXPECT_EQ(done->error->code, StatusCode::kDeadlineExceeded);
}

TEST(TaskManager, HandlerSeesTimeoutAsCancellation) {
  ManagerHarness h;
  TaskSpec spec = Handler("sleep", R"({"seconds": 30})");
  spec.timeout = 100ms;
  auto done = h.Wait(h.MustSubmit(spec).id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->reason, TaskReason::kTimedOut);
}

TEST(TaskManager, RetriesCountAttemptsThenExhaust) {
  ManagerHarness h(FakePrograms());
  TaskSpec spec = Exec({"exit", "5"});
  spec.retry.max_attempts = 3;
  spec.retry.initial_backoff = 10ms;
  auto done = h.Wait(h.MustSubmit(spec).id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, TaskState::kFailed);
  EXPECT_EQ(done->reason, TaskReason::kRetriesExhausted);
  EXPECT_EQ(done->attempt, 3);
  EXPECT_EQ(done->result->exit_code.value_or(-1), 5);
}

TEST(TaskManager, RetrySucceedsOnALaterAttempt) {
  ManagerHarness h(FakePrograms());
  auto marker = h.dir() / "attempted";
  TaskSpec spec = Exec({"fails-once", marker.string()});
  spec.retry.max_attempts = 3;
  spec.retry.initial_backoff = 10ms;
  auto done = h.Wait(h.MustSubmit(spec).id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, TaskState::kCompleted);
  EXPECT_EQ(done->attempt, 2);
}

TEST(TaskManager, PriorityOrdersStartsWithinAQueue) {
  ManagerOptions o;
  o.max_running = 1;
  ManagerHarness h(FakePrograms(o));
  auto order = h.dir() / "order";
  // Holds the one slot until every other task is queued.
  Task blocker = h.MustSubmit(Exec({"hold"}));
  h.WaitFor(blocker.id, [](const Task& t) { return t.state == TaskState::kRunning; });
  std::vector<std::string> ids;
  for (int p : {1, 5, 3, 5}) {
    TaskSpec spec = Exec({"append", std::to_string(p), order.string()});
    spec.priority = p;
    spec.name = "p" + std::to_string(p);
    ids.push_back(h.MustSubmit(spec).id);
  }
  Programs().ReleaseHeld();
  for (const auto& id : ids) ASSERT_TRUE(h.Wait(id).ok());
  EXPECT_EQ(ReadFile(order), "5\n5\n3\n1\n");
  (void)blocker;
}

TEST(TaskManager, DependencyChainRunsInOrderAndFailurePropagates) {
  ManagerHarness h(FakePrograms());
  auto order = h.dir() / "order";
  TaskSpec a = Exec({"append", "a", order.string()});
  Task ta = h.MustSubmit(a);
  TaskSpec b = Exec({"append", "b", order.string()});
  b.after = {ta.id};
  Task tb = h.MustSubmit(b);
  TaskSpec c = Exec({"exit", "1"});
  c.after = {tb.id};
  Task tc = h.MustSubmit(c);
  TaskSpec d = Exec({"true"});
  d.after = {tc.id};
  Task td = h.MustSubmit(d);
  auto dd = h.Wait(td.id);
  ASSERT_TRUE(dd.ok());
  EXPECT_EQ(ReadFile(order), "a\nb\n");
  EXPECT_EQ(dd->state, TaskState::kFailed);
  EXPECT_EQ(dd->reason, TaskReason::kDependencyFailed);
  EXPECT_EQ(dd->attempt, 0);

  TaskSpec bad = Exec({"true"});
  bad.after = {"01NOTATASK"};
  auto r = h.Submit(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("spec.after[0]"), std::string::npos);
}

TEST(TaskManager, RequestIdReturnsTheFirstTask) {
  ManagerHarness h(FakePrograms());
  Task a = *h.Submit(Exec({"true"}), "req-1");
  Task b = *h.Submit(Exec({"false"}), "req-1");
  EXPECT_EQ(a.id, b.id);
  Task c = *h.Submit(Exec({"true"}), "req-2");
  EXPECT_NE(a.id, c.id);
}

TEST(TaskManager, PendingLimitIsResourceExhausted) {
  ManagerOptions o;
  o.max_running = 1;
  o.max_pending = 2;
  ManagerHarness h(FakePrograms(o));
  Task running = h.MustSubmit(Handler("sleep", R"({"seconds": 30})"));
  h.WaitFor(running.id, [](const Task& t) { return t.state == TaskState::kRunning; });
  ASSERT_TRUE(h.Submit(Exec({"true"})).ok());
  ASSERT_TRUE(h.Submit(Exec({"true"})).ok());
  auto full = h.Submit(Exec({"true"}));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(h.Cancel(running.id).ok());
}

TEST(TaskManager, TtlDeletesTaskAndLogs) {
  ManagerHarness h(FakePrograms());
  TaskSpec spec = Exec({"echo", "hello"});
  spec.ttl = 200ms;
  Task t = h.MustSubmit(spec);
  ASSERT_TRUE(h.Wait(t.id).ok());
  EXPECT_TRUE(std::filesystem::exists(h.m().StdoutPath(t.id)));
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (h.Get(t.id).ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  auto gone = h.Get(t.id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(testing::GoneSoon(h.m().StdoutPath(t.id)));
}

// Runs `script` (which writes progress lines to fd 3, then sleeps) until its
// progress reaches `percent`: the task as then, and it is cancelled.
Task ProgressReached(const std::string& script, double percent) {
  ManagerHarness h;
  Task t = h.MustSubmit(Exec({"sh", "-c", script}));
  Task seen = h.WaitFor(t.id, [&](const Task& x) { return x.progress.percent == percent; });
  EXPECT_TRUE(h.Cancel(t.id, 0s).ok());
  return seen;
}

TEST(TaskManager, ProgressFromTheProgressFd) {
  Task seen = ProgressReached("echo 'garbage' >&3; echo '42 half way' >&3; sleep 30", 42);
  EXPECT_EQ(seen.progress.message, "half way");
}

TEST(TaskManager, ThousandWaitersReleasedByOneCompletion) {
  ManagerHarness h;
  Task t = h.MustSubmit(Handler("sleep", R"({"seconds": 0.3})"));
  constexpr int kWaiters = 1000;
  std::atomic<int> released{0};
  std::promise<void> all;
  for (int i = 0; i < kWaiters; ++i) {
    h.m().Wait(t.id, std::nullopt, [&](StatusOr<Task> r) {
      if (r.ok() && r->state == TaskState::kCompleted && ++released == kWaiters) all.set_value();
    });
  }
  auto f = all.get_future();
  testing::Await(f);
  EXPECT_EQ(released.load(), kWaiters);
}

TEST(TaskManager, DeleteOnlyEndedTasks) {
  ManagerHarness h;
  Task running = h.MustSubmit(Handler("sleep", R"({"seconds": 30})"));
  std::promise<Status> p1;
  h.m().Delete(running.id, [&](Status s) { p1.set_value(s); });
  auto f1 = p1.get_future();
  EXPECT_EQ(testing::Await(f1).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(h.Cancel(running.id).ok());
  std::promise<Status> p2;
  h.m().Delete(running.id, [&](Status s) { p2.set_value(s); });
  auto f2 = p2.get_future();
  EXPECT_TRUE(testing::Await(f2).ok());
  EXPECT_EQ(h.Get(running.id).status().code(), StatusCode::kNotFound);
}

TEST(TaskManager, ListFiltersAndPages) {
  ManagerHarness h;
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    TaskSpec spec = Handler("noop");
    spec.labels["team"] = i % 2 ? "odd" : "even";
    ids.push_back(h.MustSubmit(spec).id);
  }
  for (const auto& id : ids) ASSERT_TRUE(h.Wait(id).ok());
  std::vector<std::string> seen;
  ListRequest req;
  req.page_size = 2;
  req.filter.labels["team"] = "even";
  for (;;) {
    std::promise<StatusOr<ListResult>> p;
    h.m().List(req, [&](StatusOr<ListResult> r) { p.set_value(std::move(r)); });
    auto f = p.get_future();
    auto r = testing::Await(f);
    ASSERT_TRUE(r.ok());
    for (const auto& t : r->tasks) seen.push_back(t.id);
    if (r->last_id.empty()) break;
    req.start_after = r->last_id;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{ids[0], ids[2], ids[4]}));
}

TEST(TaskManagerSubmit, BatchSubmitIsAllOrNothing) {
  ManagerHarness h;
  std::vector<SubmitRequest> batch;
  batch.push_back({Exec({"true"}), ""});
  batch.push_back({Exec({}), ""});  // invalid
  std::promise<StatusOr<std::vector<Task>>> p1;
  h.m().BatchSubmit(batch, [&](StatusOr<std::vector<Task>> r) { p1.set_value(std::move(r)); });
  auto f1 = p1.get_future();
  auto bad = testing::Await(f1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind("requests[1].spec.exec.argv:", 0), 0u);
  std::promise<StatusOr<ListResult>> lp;
  h.m().List({}, [&](StatusOr<ListResult> r) { lp.set_value(std::move(r)); });
  auto lf = lp.get_future();
  EXPECT_TRUE(testing::Await(lf)->tasks.empty());

  batch[1].spec = Handler("noop");
  std::promise<StatusOr<std::vector<Task>>> p2;
  h.m().BatchSubmit(batch, [&](StatusOr<std::vector<Task>> r) { p2.set_value(std::move(r)); });
  auto f2 = p2.get_future();
  auto good = testing::Await(f2);
  ASSERT_TRUE(good.ok());
  ASSERT_EQ(good->size(), 2u);
  EXPECT_LT((*good)[0].id, (*good)[1].id);
  for (const auto& t : *good) EXPECT_EQ(h.Wait(t.id)->state, TaskState::kCompleted);
}

TEST(TaskManagerEvents, SubscribeDeliversStateAndProgressEvents) {
  ManagerHarness h;
  std::mutex mu;
  std::vector<std::pair<TaskEvent::Type, TaskState>> seen;
  std::promise<void> ended;
  TaskFilter filter;
  filter.labels["watch"] = "me";
  h.m().Subscribe(filter, false, [&](const TaskEvent& e) {
    std::lock_guard l(mu);
    seen.emplace_back(e.type, e.task.state);
    if (e.type == TaskEvent::Type::kStateChanged && IsTerminal(e.task.state)) ended.set_value();
  });
  TaskSpec other = Handler("noop");  // not matching the filter
  h.MustSubmit(other);
  TaskSpec spec = Handler("sleep", R"({"seconds": 0.1})");
  spec.labels["watch"] = "me";
  h.MustSubmit(spec);
  auto f = ended.get_future();
  testing::Await(f);
  std::lock_guard l(mu);
  ASSERT_GE(seen.size(), 4u);
  EXPECT_EQ(seen.front().first, TaskEvent::Type::kCreated);
  EXPECT_EQ(seen[1], std::make_pair(TaskEvent::Type::kStateChanged, TaskState::kRunning));
  EXPECT_TRUE(std::any_of(seen.begin(), seen.end(),
                          [](const auto& s) { return s.first == TaskEvent::Type::kProgress; }));
  EXPECT_EQ(seen.back(), std::make_pair(TaskEvent::Type::kStateChanged, TaskState::kCompleted));
}

TEST(TaskManagerProgress, ReportProgressOnlyWhileRunning) {
  ManagerHarness h;
  Task t = h.MustSubmit(Exec({"sleep", "1000"}));
  h.WaitFor(t.id, [](const Task& x) { return x.state == TaskState::kRunning; });
  std::promise<StatusOr<Task>> p;
  h.m().ReportProgress(t.id, 75, "three quarters",
                       [&](StatusOr<Task> r) { p.set_value(std::move(r)); });
  auto f = p.get_future();
  auto r = testing::Await(f);
  ASSERT_TRUE(r.ok());
  EXPECT_DOUBLE_EQ(r->progress.percent, 75);
  EXPECT_EQ(h.Get(t.id)->progress.message, "three quarters");
  std::promise<StatusOr<Task>> bad;
  h.m().ReportProgress(t.id, 101, "", [&](StatusOr<Task> r2) { bad.set_value(std::move(r2)); });
  auto fb = bad.get_future();
  EXPECT_EQ(testing::Await(fb).status().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(h.Cancel(t.id, 0s).ok());
  std::promise<StatusOr<Task>> late;
  h.m().ReportProgress(t.id, 10, "", [&](StatusOr<Task> r3) { late.set_value(std::move(r3)); });
  auto fl = late.get_future();
  EXPECT_EQ(testing::Await(fl).status().code(), StatusCode::kFailedPrecondition);
}

TEST(TaskManagerLogs, LogCapDropsTheExcessWithoutBlockingTheChild) {
  ManagerOptions o;
  o.log_cap_bytes = 1000;
  ManagerHarness h(o);
  // 200,000 bytes: far more than the cap and than a pipe buffer.
  Task t = h.MustSubmit(Exec({"sh", "-c", "head -c 200000 /dev/zero"}));
  auto done = h.Wait(t.id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, TaskState::kCompleted);
  EXPECT_EQ(done->result->stdout_bytes, 200000);
  EXPECT_TRUE(done->result->logs_truncated);
  EXPECT_EQ(std::filesystem::file_size(h.m().StdoutPath(t.id)), 1000u);
  EXPECT_FALSE(std::filesystem::exists(h.m().StderrPath(t.id)));  // nothing written, no file
}

TEST(TaskManagerHandlers, ThrowingHandlerFailsItsTaskOnly) {
  HandlerRegistry handlers;
  handlers.RegisterBuiltins();
  handlers.Register("boom", [](HandlerContext&) -> asio::awaitable<StatusOr<std::string>> {
    throw std::runtime_error("kaboom");
    co_return std::string("{}");
  });
  handlers.Register("refuse", [](HandlerContext&) -> asio::awaitable<StatusOr<std::string>> {
    co_return Status(StatusCode::kFailedPrecondition, "not today");
  });
  ManagerHarness h({}, nullptr, &handlers);
  auto boom = h.Wait(h.MustSubmit(Handler("boom")).id);
  ASSERT_TRUE(boom.ok());
  EXPECT_EQ(boom->state, TaskState::kFailed);
  EXPECT_EQ(boom->reason, TaskReason::kHandlerError);
  EXPECT_NE(boom->error->message.find("kaboom"), std::string::npos);
  auto refuse = h.Wait(h.MustSubmit(Handler("refuse")).id);
  EXPECT_EQ(refuse->error->code, StatusCode::kFailedPrecondition);
  EXPECT_EQ(refuse->error->message, "not today");
  EXPECT_EQ(h.Wait(h.MustSubmit(Handler("noop")).id)->state, TaskState::kCompleted);
}

TEST(TaskManagerDependencies, LongDependencyChainFailsWithoutRecursion) {
  ManagerOptions o;
  o.max_running = 1;
  ManagerHarness h(o);
  // Runs until cancelled, however long the submissions take.
  Task head = h.MustSubmit(Handler("sleep", R"({"seconds": 86400})"));
  std::string prev = head.id;
  std::string last;
  // Deep enough to overflow an 8 MiB stack if dependents were failed
  // recursively; sanitized builds (slow submits, bigger frames) use fewer.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  constexpr int kChain = 3000;
#else
  constexpr int kChain = 20000;
#endif
  for (int i = 0; i < kChain; ++i) {
    TaskSpec spec = Handler("noop");
    spec.after = {prev};
    prev = last = h.MustSubmit(spec).id;
  }
  ASSERT_TRUE(h.Cancel(head.id, 0s).ok());
  Task end = h.WaitFor(
      last, [](const Task& t) { return IsTerminal(t.state); }, 60s);
  EXPECT_EQ(end.reason, TaskReason::kDependencyFailed);
}

TEST(TaskManagerSubmit, DuplicateRequestIdsInOneBatchAreRefused) {
  ManagerHarness h;
  std::vector<SubmitRequest> batch = {
      {Handler("noop"), "same"}, {Handler("noop"), "other"}, {Handler("noop"), "same"}};
  std::promise<StatusOr<std::vector<Task>>> p;
  h.m().BatchSubmit(batch, [&](StatusOr<std::vector<Task>> r) { p.set_value(std::move(r)); });
  auto f = p.get_future();
  auto r = testing::Await(f);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "requests[2].request_id: repeats requests[0].request_id");
}

TEST(TaskManagerProgress, ProgressMessagesAreMadeValidUtf8) {
  Task seen = ProgressReached("printf '50 caf\\303\\251 \\377\\n' >&3; sleep 1000", 50);
  EXPECT_EQ(seen.progress.message, "caf\xC3\xA9 \xEF\xBF\xBD");
}

TEST(TaskManagerScheduling, CancelledReadyTasksLeaveTheStartOrderIntact) {
  ManagerOptions o;
  o.max_running = 1;
  ManagerHarness h(o);
  std::mutex mu;
  std::vector<std::string> started;  // names, in start order
  h.m().Subscribe({}, false, [&](const TaskEvent& e) {
    if (e.type == TaskEvent::Type::kStateChanged && e.task.state == TaskState::kRunning &&
        !e.task.spec.name.empty()) {
      std::lock_guard l(mu);
      started.push_back(e.task.spec.name.str());
    }
  });
  Task blocker = h.MustSubmit(Handler("sleep", R"({"seconds": 3600})"));
  h.WaitFor(blocker.id, [](const Task& t) { return t.state == TaskState::kRunning; });
  // Two queues, three priorities; cancelling three of every four tasks
  // leaves dead items in both ready heaps, enough to make them rebuild.
  struct Kept {
    int priority;
    int index;
  };
  std::vector<Kept> kept;
  std::vector<std::string> kept_ids;
  for (int i = 0; i < 400; ++i) {
    TaskSpec spec = Handler("noop");
    spec.priority = i % 3;
    spec.queue = i % 2 ? "a" : "b";
    spec.name = std::to_string(i);
    Task t = h.MustSubmit(spec);
    if (i % 4 == 0) {
      kept.push_back({spec.priority, i});
      kept_ids.push_back(t.id);
    } else {
      ASSERT_TRUE(h.Cancel(t.id).ok());
    }
  }
  ASSERT_TRUE(h.Cancel(blocker.id, 0s).ok());
  for (const auto& id : kept_ids) ASSERT_TRUE(h.Wait(id).ok());
  // Higher priority first, then submission order, across both queues.
  std::stable_sort(kept.begin(), kept.end(),
                   [](const Kept& a, const Kept& b) { return a.priority > b.priority; });
  std::vector<std::string> want;
  for (const auto& k : kept) want.push_back(std::to_string(k.index));
  std::lock_guard l(mu);
  EXPECT_EQ(started, want);
}

}  // namespace
}  // namespace taskd
