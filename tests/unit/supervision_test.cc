// Process supervision with real subprocesses: process groups, grandchildren,
// the orphan reaper, and spawn faults injected through the Spawner.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "core/exec/proc.h"
#include "core/exec/reaper.h"
#include "tests/fakes/manager_harness.h"
#include "tests/fakes/spawners.h"

namespace taskd {
namespace {

using namespace std::chrono_literals;
using testing::Exec;
using testing::ManagerHarness;

bool Alive(pid_t pid) { return std::filesystem::exists("/proc/" + std::to_string(pid)); }

pid_t ReadPid(const std::filesystem::path& p, std::chrono::seconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(p);
    pid_t pid = 0;
    if (in >> pid && pid > 0) return pid;
    std::this_thread::sleep_for(10ms);
  }
  ADD_FAILURE() << "no pid in " << p;
  return 0;
}

// A task whose shell ignores SIGTERM and has double-forked a grandchild
// (re-parented to us, the subreaper) that ignores SIGTERM too.
TaskSpec StubbornTree(const std::filesystem::path& pid_file) {
  return Exec({"sh", "-c",
               "( ( trap '' TERM; exec sleep 1000 ) & echo $! > " + pid_file.string() +
                   " ); trap '' TERM; while :; do sleep 0.05; done"});
}

class SupervisionTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0); }
};

// Waits until `pid` is gone, or `limit` has passed since `from`; whether it is gone.
bool GoneWithin(pid_t pid, std::chrono::steady_clock::time_point from, Duration limit) {
  while (Alive(pid) && std::chrono::steady_clock::now() - from < limit) {
    std::this_thread::sleep_for(10ms);
  }
  return !Alive(pid);
}

// A StubbornTree task with a 300 ms kill grace (and `timeout`, if any) is
// running: its grandchild's pid.
pid_t StartStubborn(ManagerHarness& h, Duration timeout, Task* t) {
  auto pid_file = h.dir() / "gc.pid";
  TaskSpec spec = StubbornTree(pid_file);
  spec.timeout = timeout;
  spec.kill_grace = 300ms;
  *t = h.MustSubmit(spec);
  return ReadPid(pid_file);
}

TEST_F(SupervisionTest, CancelKillsStubbornChildAndGrandchildWithinGrace) {
  ManagerHarness h;
  OrphanReaper reaper(h.io());
  Task t;
  pid_t grandchild = StartStubborn(h, Duration::zero(), &t);
  ASSERT_TRUE(Alive(grandchild));
  auto start = std::chrono::steady_clock::now();
  auto c = h.Cancel(t.id);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->state, TaskState::kCancelled);
  EXPECT_TRUE(GoneWithin(grandchild, start, 300ms + 1s))
      << "grandchild " << grandchild << " survived (or was not reaped)";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 300ms + 1s);
}

TEST_F(SupervisionTest, TimeoutKillsStubbornChildAndGrandchildWithinGrace) {
  ManagerHarness h;
  OrphanReaper reaper(h.io());
  Task t;
  pid_t grandchild = StartStubborn(h, 300ms, &t);
  auto done = h.Wait(t.id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->reason, TaskReason::kTimedOut);
  EXPECT_TRUE(GoneWithin(grandchild, std::chrono::steady_clock::now(), 1s));
}

TEST_F(SupervisionTest, LeftoverGroupMembersDieWithTheTask) {
  ManagerHarness h;
  OrphanReaper reaper(h.io());
  auto pid_file = h.dir() / "bg.pid";
  // The task exits at once, leaving a background process in its group.
  Task t = h.MustSubmit(Exec({"sh", "-c", "sleep 1000 & echo $! > " + pid_file.string()}));
  auto done = h.Wait(t.id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, TaskState::kCompleted);
  pid_t bg = ReadPid(pid_file);
  auto start = std::chrono::steady_clock::now();
  while (Alive(bg) && std::chrono::steady_clock::now() - start < 5s) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_FALSE(Alive(bg));
}

TEST(SpawnFaults, SpawnFailureEndsTheTaskAndTheManagerGoesOn) {
  testing::FailingSpawner spawner(
      Status(StatusCode::kResourceExhausted, "posix_spawn: Resource temporarily unavailable"));
  ManagerOptions o;
  o.spawner = &spawner;
  ManagerHarness h(o);
  auto done = h.Wait(h.MustSubmit(Exec({"true"})).id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, TaskState::kFailed);
  EXPECT_EQ(done->reason, TaskReason::kSpawnFailed);
  EXPECT_NE(done->error->message.find("Resource temporarily unavailable"), std::string::npos);
  EXPECT_EQ(spawner.calls.load(), 1);
  // Handlers do not go through the spawner and still run.
  auto noop = h.Wait(h.MustSubmit(testing::Handler("noop")).id);
  ASSERT_TRUE(noop.ok());
  EXPECT_EQ(noop->state, TaskState::kCompleted);
}

TEST(Reaper, ReapsOrphansButNotRegisteredChildren) {
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  // A registered child of ours that has exited: the reaper must leave it.
  pid_t mine;
  {
    auto lock = ChildRegistry::Lock();
    mine = ::fork();
    if (mine == 0) ::_exit(0);
    ChildRegistry::Add(mine);
  }
  // An orphan: a grandchild re-parented to us, exited.
  pid_t mid = ::fork();
  if (mid == 0) {
    if (::fork() == 0) {
      ::usleep(100000);
      ::_exit(0);
    }
    ::_exit(0);
  }
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(mid), &info, WEXITED), 0);
  ::usleep(300000);  // the grandchild exits after 100 ms
  EXPECT_GE(ChildRegistry::ReapOrphans(), 1);
  // Ours is still there to be waited for.
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(mine), &info, WEXITED | WNOHANG), 0);
  EXPECT_EQ(info.si_pid, mine);
  ChildRegistry::Remove(mine);
}

// Starts `sleep 30` in its own process group with `env`; the caller reaps it.
pid_t SpawnSleeper(std::vector<std::string> env) {
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::execle("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr), envp.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  return pid;
}

bool KilledBySigkill(pid_t pid) {
  int st = 0;
  return ::waitpid(pid, &st, 0) == pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
}

TEST(LeftoverKill, OnlyTheRecordedProcessIsKilled) {
  pid_t pid = SpawnSleeper({});
  auto ref = RefOf(pid);
  ASSERT_TRUE(ref);
  EXPECT_FALSE(ref->boot_id.empty());
  ProcessRef reused = *ref;  // the same pid, started at another time: not ours
  reused.start_ticks += 1;
  EXPECT_EQ(KillLeftoverGroup(reused, ""), 0);
  ProcessRef other_boot = *ref;
  other_boot.boot_id = "another-boot";
  EXPECT_EQ(KillLeftoverGroup(other_boot, ""), 0);
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), 0);  // still running
  EXPECT_EQ(KillLeftoverGroup(*ref, ""), 1);
  EXPECT_TRUE(KilledBySigkill(pid));
}

TEST(LeftoverKill, ByTaskIdOnlyForThisInstance) {
  pid_t mine = SpawnSleeper({"TASKD_TASK_ID=038G000000000", "TASKD_INSTANCE=/data/a/logs"});
  pid_t other = SpawnSleeper({"TASKD_TASK_ID=038G000000000", "TASKD_INSTANCE=/data/b/logs"});
  pid_t unlisted = SpawnSleeper({"TASKD_TASK_ID=038G000000001", "TASKD_INSTANCE=/data/a/logs"});
  // /proc/PID/environ shows the new environment only after the exec.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in("/proc/" + std::to_string(unlisted) + "/environ");
    std::string env((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (env.find("TASKD_INSTANCE") != std::string::npos) break;
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(KillByTaskIds("/data/a/logs", {"038G000000000"}), 1);
  EXPECT_TRUE(KilledBySigkill(mine));
  EXPECT_EQ(::waitpid(other, nullptr, WNOHANG), 0);
  EXPECT_EQ(::waitpid(unlisted, nullptr, WNOHANG), 0);
  ::kill(other, SIGKILL);
  ::kill(unlisted, SIGKILL);
  EXPECT_TRUE(KilledBySigkill(other));
  EXPECT_TRUE(KilledBySigkill(unlisted));
}

}  // namespace
}  // namespace taskd
