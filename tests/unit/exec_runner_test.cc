#include "core/exec/exec_runner.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <optional>
#include <thread>

#include "tests/fakes/manager_harness.h"

namespace taskd {
namespace {

TEST(ProgressLine, ParsesPercentAndMessage) {
  auto p = ParseProgressLine("42 copying file 3");
  ASSERT_TRUE(p);
  EXPECT_DOUBLE_EQ(p->first, 42);
  EXPECT_EQ(p->second, "copying file 3");
  auto q = ParseProgressLine("  7.5%\r");
  ASSERT_TRUE(q);
  EXPECT_DOUBLE_EQ(q->first, 7.5);
  EXPECT_EQ(q->second, "");
}

TEST(ProgressLine, IgnoresMalformed) {
  for (const char* bad : {"", "hello", "101", "-1 x", "nan", "12abc"}) {
    EXPECT_FALSE(ParseProgressLine(bad)) << '"' << bad << '"';
  }
}

bool Has(const std::vector<std::string>& env, const std::string& kv) {
  return std::find(env.begin(), env.end(), kv) != env.end();
}
bool HasName(const std::vector<std::string>& env, const std::string& name) {
  return std::any_of(env.begin(), env.end(),
                     [&](const std::string& kv) { return kv.rfind(name + "=", 0) == 0; });
}

TEST(ChildEnv, AllowlistPlusTaskVariables) {
  ::setenv("TASKD_TEST_SECRET", "s3cret", 1);
  ::setenv("HOME", "/home/test", 1);
  ExecAction a;
  a.env["FOO"] = "bar";
  a.env["HOME"] = "/override";
  auto env = BuildChildEnv(a, "01ABC", 2);
  EXPECT_FALSE(HasName(env, "TASKD_TEST_SECRET"));
  EXPECT_TRUE(Has(env, "FOO=bar"));
  EXPECT_TRUE(Has(env, "HOME=/override"));
  EXPECT_TRUE(Has(env, "TASKD_TASK_ID=01ABC"));
  EXPECT_TRUE(Has(env, "TASKD_ATTEMPT=2"));
  EXPECT_TRUE(Has(env, "TASKD_PROGRESS_FD=3"));
  EXPECT_TRUE(HasName(env, "PATH"));

  a.inherit_env = true;
  auto all = BuildChildEnv(a, "01ABC", 1);
  EXPECT_TRUE(Has(all, "TASKD_TEST_SECRET=s3cret"));
  ::unsetenv("TASKD_TEST_SECRET");
}

TEST(ChildEnv, DaemonVariablesUnderTheTasksOwn) {
  std::map<std::string, std::string> daemon{{"TASKD_ADDR", "unix:/run/x.sock"}, {"A", "daemon"}};
  ExecAction a;
  a.env["A"] = "task";
  auto env = BuildChildEnv(a, "01ABC", 1, "", &daemon);
  EXPECT_TRUE(Has(env, "TASKD_ADDR=unix:/run/x.sock"));
  EXPECT_TRUE(Has(env, "A=task"));
  EXPECT_FALSE(Has(env, "A=daemon"));
}

// KillMode::kGroup marks the attempt's processes so the escaped-process scan
// spares them; nobody else can set or keep the mark.
TEST(ChildEnv, KillModeGroupIsMarkedAndTheMarkIsTaskdsOwn) {
  ExecAction a;
  EXPECT_FALSE(HasName(BuildChildEnv(a, "01ABC", 1), "TASKD_KILL_MODE"));
  a.kill_mode = KillMode::kGroup;
  EXPECT_TRUE(Has(BuildChildEnv(a, "01ABC", 1), "TASKD_KILL_MODE=group"));

  a.kill_mode = KillMode::kAll;
  a.env["TASKD_KILL_MODE"] = "group";
  EXPECT_FALSE(HasName(BuildChildEnv(a, "01ABC", 1), "TASKD_KILL_MODE"));
  a.env.clear();
  std::map<std::string, std::string> daemon{{"TASKD_KILL_MODE", "group"}};
  EXPECT_FALSE(HasName(BuildChildEnv(a, "01ABC", 1, "", &daemon), "TASKD_KILL_MODE"));
}

// The kernel may report a pidfd readable before its child exited; waitid on
// it then says EAGAIN. That wake-up must be waited past, not taken as the exit.
TEST(ExecAttempt, AnEarlyExitWakeUpIsNotTakenAsTheExit) {
  asio::io_context io;
  Strand strand = asio::make_strand(io);
  ExecAction action;
  action.argv = {"sleep", "0.3"};
  ExecLaunch launch;
  launch.action = &action;
  launch.task_id = "early-wakeup";
  launch.stdout_path = "/dev/null";
  launch.stderr_path = "/dev/null";
  std::optional<ExecOutcome> outcome;
  launch.on_exit = [&](ExecOutcome o) { outcome = o; };
  auto attempt = ExecAttempt::Start(strand, std::move(launch));
  ASSERT_TRUE(attempt.ok()) << attempt.status().ToString();
  (*attempt)->TEST_WakeExitWatcher();
  (*attempt)->TEST_WakeExitWatcher();
  io.run_for(std::chrono::seconds(10));
  ASSERT_TRUE(outcome.has_value()) << "the attempt never reported its exit";
  ASSERT_TRUE(outcome->exit_code.has_value()) << "an early wake-up was taken as the exit";
  EXPECT_EQ(*outcome->exit_code, 0);
  EXPECT_FALSE(outcome->signal.has_value());
}

// The child's output is read and written to its log off the strand the
// attempt reports to: with that strand held by other work, a child that
// writes far more than a pipe holds still gets to finish its writes.
TEST(ExecAttempt, OutputIsTakenOffTheCallersStrand) {
  testing::TempDir dir;
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) threads.emplace_back([&io] { io.run(); });
  Strand strand = asio::make_strand(io);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> held;
  asio::post(strand, [&held, released] {
    held.set_value();
    released.wait_for(std::chrono::seconds(30));
  });
  held.get_future().wait();

  const auto marker = dir.path() / "wrote-it-all";
  ExecAction action;
  action.argv = {"sh", "-c", "head -c 1048576 /dev/zero && : > '" + marker.string() + "'"};
  ExecLaunch launch;
  launch.action = &action;
  launch.task_id = "big-output";
  launch.stdout_path = dir.path() / "out";
  launch.stderr_path = dir.path() / "err";
  std::promise<ExecOutcome> exited;
  launch.on_exit = [&exited, &strand](ExecOutcome o) {
    EXPECT_TRUE(strand.running_in_this_thread());  // reported on the caller's strand
    exited.set_value(o);
  };
  std::optional<StatusOr<std::shared_ptr<ExecAttempt>>> attempt;
  attempt.emplace(ExecAttempt::Start(strand, std::move(launch)));
  ASSERT_TRUE(attempt->ok()) << attempt->status().ToString();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!std::filesystem::exists(marker) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(std::filesystem::exists(marker))
      << "the child's writes waited for the caller's strand";
  release.set_value();
  auto f = exited.get_future();
  ExecOutcome outcome = testing::Await(f);
  EXPECT_EQ(outcome.stdout_bytes, 1048576);
  EXPECT_EQ(std::filesystem::file_size(dir.path() / "out"), 1048576u);
  attempt.reset();
  work.reset();
  for (auto& t : threads) t.join();
}

}  // namespace
}  // namespace taskd
