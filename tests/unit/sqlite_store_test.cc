#include "core/store/sqlite_store.h"

#include <sqlite3.h>

#include <fstream>

#include "tests/fakes/manager_harness.h"

namespace taskd {
namespace {

using testing::Exec;
using testing::ManagerHarness;
using testing::TempDir;

using testing::WriteSync;

TEST(SqliteStore, PersistsAndReloadsTasks) {
  TempDir dir;
  auto path = dir.path() / "taskd.db";
  Task t;
  t.id = NewTaskId();
  t.spec = Exec({"echo", "hi"});
  t.request_id = "r1";
  {
    auto store = SqliteStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_TRUE((*store)->Load().ok());
    ASSERT_TRUE(WriteSync(**store, {StoreOp{StoreOp::Kind::kPut, t, {}}}).ok());
  }
  auto store = SqliteStore::Open(path);
  ASSERT_TRUE(store.ok());
  auto tasks = (*store)->Load();
  ASSERT_TRUE(tasks.ok());
  ASSERT_EQ(tasks->tasks.size(), 1u);
  EXPECT_EQ(tasks->tasks.front().id, t.id);
  EXPECT_EQ(tasks->tasks.front().request_id, "r1");
  StoreOp del;
  del.kind = StoreOp::Kind::kDelete;
  del.id = t.id;
  ASSERT_TRUE(WriteSync(**store, {del}).ok());
  (*store)->Close();
  auto again = SqliteStore::Open(path);
  ASSERT_TRUE(again.ok());
  auto left = (*again)->Load();
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->tasks.empty());
  EXPECT_TRUE(left->ended.empty());
}

TEST(SqliteStore, RefusesANewerSchema) {
  TempDir dir;
  auto path = dir.path() / "taskd.db";
  sqlite3* db;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto store = SqliteStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("newer"), std::string::npos);
}

TEST(SqliteStore, RefusesAFileThatIsNotADatabaseAndLeavesItAlone) {
  TempDir dir;
  auto path = dir.path() / "taskd.db";
  std::string junk(8192, 'x');
  std::ofstream(path) << junk;
  auto store = SqliteStore::Open(path);
  ASSERT_FALSE(store.ok());
  std::ifstream in(path);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), junk);
}

TEST(SqliteStore, RestartRecoversPendingAndInterruptsRunning) {
  TempDir dir;
  auto path = dir.path() / "taskd.db";
  Task pending, running, done;
  for (Task* t : {&pending, &running, &done}) {
    t->id = NewTaskId();
    t->spec = Exec({"true"});
    t->create_time = std::chrono::system_clock::now();
  }
  running.state = TaskState::kRunning;
  running.attempt = 1;
  done.state = TaskState::kCompleted;
  done.end_time = std::chrono::system_clock::now();
  done.expire_time = *done.end_time + std::chrono::hours(1);
  {
    auto store = SqliteStore::Open(path);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Load().ok());
    ASSERT_TRUE(WriteSync(**store, {StoreOp{StoreOp::Kind::kPut, pending, {}},
                                    StoreOp{StoreOp::Kind::kPut, running, {}},
                                    StoreOp{StoreOp::Kind::kPut, done, {}}})
                    .ok());
  }
  auto store = SqliteStore::Open(path);
  ASSERT_TRUE(store.ok());
  {
    ManagerHarness h({}, store->get());
    ASSERT_TRUE(h.start_status().ok()) << h.start_status().ToString();
    auto p = h.Wait(pending.id);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->state, TaskState::kCompleted);
    auto r = h.Get(running.id);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->state, TaskState::kFailed);
    EXPECT_EQ(r->reason, TaskReason::kInterrupted);
    EXPECT_EQ(h.Get(done.id)->state, TaskState::kCompleted);
  }
  (*store)->Close();
  // The outcome of recovery was itself persisted.
  auto reopened = SqliteStore::Open(path);
  ASSERT_TRUE(reopened.ok());
  auto tasks = (*reopened)->Load();
  ASSERT_TRUE(tasks.ok());
  EXPECT_TRUE(tasks->tasks.empty());  // only unfinished tasks are loaded whole
  EXPECT_EQ(tasks->ended.size(), 3u);
  for (const auto& e : tasks->ended) EXPECT_TRUE(IsTerminal(e.state())) << e.key;
}

// Group commit coalesces: a task written several times in one commit (a
// noop started and finished within one commit window) gets one row write,
// its last state. A write the fence would refuse is never dropped in
// favour of an older attempt, and a deletion is always written.
TEST(SqliteStore, ACommitWritesEachTaskOnceInItsLastState) {
  TempDir dir;
  auto store = SqliteStore::Open(dir.path() / "taskd.db");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE((*store)->Load().ok());
  Task a, b, gone;
  for (Task* t : {&a, &b, &gone}) {
    t->id = NewTaskId();
    t->spec = Exec({"true"});
  }
  Task a_running = a, a_done = a;
  a_running.state = TaskState::kRunning;
  a_running.attempt = 1;
  a_done.state = TaskState::kCompleted;
  a_done.attempt = 1;
  Task b_stale = b;
  b.attempt = 2;
  b_stale.attempt = 1;
  b_stale.state = TaskState::kFailed;
  StoreOp del_gone;
  del_gone.kind = StoreOp::Kind::kDelete;
  del_gone.id = gone.id;
  ASSERT_TRUE(WriteSync(**store, {testing::PutOp(a), testing::PutOp(b), testing::PutOp(a_running),
                                  testing::PutOp(gone), testing::PutOp(b_stale),
                                  testing::PutOp(a_done), del_gone})
                  .ok());
  // a: 3 puts -> 1; gone: put + delete -> the delete; b: both (the stale one is fenced).
  EXPECT_EQ((*store)->coalesced_writes(), 3u);
  EXPECT_EQ((*store)->fenced_writes(), 1u);
  auto ra = (*store)->Read(TaskKey(a.id));
  ASSERT_TRUE(ra.ok() && *ra);
  EXPECT_EQ((*ra)->state, TaskState::kCompleted);
  EXPECT_EQ((*ra)->attempt, 1);
  auto rb = (*store)->Read(TaskKey(b.id));
  ASSERT_TRUE(rb.ok() && *rb);
  EXPECT_EQ((*rb)->attempt, 2);
  EXPECT_EQ((*rb)->state, TaskState::kPending);
  auto rg = (*store)->Read(TaskKey(gone.id));
  ASSERT_TRUE(rg.ok());
  EXPECT_FALSE(*rg);
  // Commits apart are not coalesced.
  a_done.state = TaskState::kFailed;
  ASSERT_TRUE(WriteSync(**store, {testing::PutOp(a_done)}).ok());
  EXPECT_EQ((*store)->coalesced_writes(), 3u);
  EXPECT_EQ((*(*store)->Read(TaskKey(a.id)))->state, TaskState::kFailed);
}

}  // namespace
}  // namespace taskd
