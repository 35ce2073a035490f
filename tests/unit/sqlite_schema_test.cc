// SqliteStore's schema: databases of older versions are migrated on open
// and load whole; a write about an older attempt than the stored one is
// refused (fencing).
#include <sqlite3.h>

#include <chrono>
#include <functional>
#include <future>
#include <string>

#include "core/model/task_json.h"
#include "core/store/sqlite_store.h"
#include "tests/fakes/manager_harness.h"

namespace taskd {
namespace {

using namespace std::chrono_literals;
using testing::Exec;
using testing::TempDir;

using testing::WriteSync;

int64_t UserVersion(const std::filesystem::path& path) {
  sqlite3* db;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr);
  EXPECT_EQ(sqlite3_step(st), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

// Writes a database as an older taskd did: `schema`, then `fill` on the
// same connection.
void WriteOldDatabase(const std::filesystem::path& path, const char* schema,
                      const std::function<void(sqlite3*)>& fill) {
  sqlite3* db;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, schema, nullptr, nullptr, nullptr), SQLITE_OK);
  fill(db);
  sqlite3_close(db);
}

// Runs the INSERT `sql` once, with its parameters bound by `bind`.
void InsertOnce(sqlite3* db, const char* sql, const std::function<void(sqlite3_stmt*)>& bind) {
  sqlite3_stmt* st;
  ASSERT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), SQLITE_OK) << sql;
  bind(st);
  EXPECT_EQ(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
}

// Opens the database at `path` (migrating it) and loads it into *loaded.
std::unique_ptr<SqliteStore> OpenLoaded(const std::filesystem::path& path, StoredTasks* loaded) {
  auto store = SqliteStore::Open(path);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return nullptr;
  auto got = (*store)->Load();
  EXPECT_TRUE(got.ok()) << got.status().ToString();
  if (!got.ok()) return nullptr;
  *loaded = std::move(got).value();
  return std::move(store).value();
}

TEST(SqliteStoreMigration, Version1DatabaseIsMigratedAndLoads) {
  TempDir dir;
  auto path = dir.path() / "taskd.db";
  Task done, pending;
  done.id = NewTaskId();
  done.request_id = "rid-1";
  done.spec = Exec({"true"});
  done.state = TaskState::kCompleted;
  done.end_time = std::chrono::system_clock::now();
  done.expire_time = *done.end_time + 1h;
  pending.id = NewTaskId();
  pending.spec = Exec({"true"});
  // The version 1 schema, as taskd wrote it.
  WriteOldDatabase(
      path,
      "PRAGMA journal_mode=WAL;"
      "CREATE TABLE tasks (id TEXT PRIMARY KEY, request_id TEXT,"
      "  state INTEGER NOT NULL, data TEXT NOT NULL) WITHOUT ROWID;"
      "CREATE INDEX tasks_request_id ON tasks(request_id)"
      "  WHERE request_id IS NOT NULL;"
      "PRAGMA user_version=1;",
      [&](sqlite3* db) {
        for (const Task* t : {&done, &pending}) {
          InsertOnce(db, "INSERT INTO tasks VALUES (?1, ?2, ?3, ?4)", [&](sqlite3_stmt* st) {
            sqlite3_bind_text(st, 1, t->id.c_str(), -1, SQLITE_TRANSIENT);
            if (t->request_id.empty()) {
              sqlite3_bind_null(st, 2);
            } else {
              sqlite3_bind_text(st, 2, t->request_id.c_str(), -1, SQLITE_TRANSIENT);
            }
            sqlite3_bind_int(st, 3, static_cast<int>(t->state));
            sqlite3_bind_text(st, 4, TaskToJson(*t).c_str(), -1, SQLITE_TRANSIENT);
          });
        }
      });
  StoredTasks loaded;
  auto store = OpenLoaded(path, &loaded);
  ASSERT_TRUE(store);
  ASSERT_EQ(loaded.tasks.size(), 1u);
  EXPECT_EQ(loaded.tasks[0].id, pending.id);
  ASSERT_EQ(loaded.ended.size(), 1u);
  const EndedTask& e = loaded.ended[0];
  EXPECT_EQ(e.key, *TaskIdNumber(done.id));
  EXPECT_EQ(e.state(), TaskState::kCompleted);
  EXPECT_EQ(e.rid_hash(), RequestIdHash("rid-1"));
  EXPECT_EQ(e.expire_ns, std::chrono::duration_cast<std::chrono::nanoseconds>(
                             done.expire_time->time_since_epoch())
                             .count());
  auto read = store->Read(e.key);
  ASSERT_TRUE(read.ok() && *read);
  EXPECT_EQ((*read)->request_id, "rid-1");
  auto by_rid = store->ReadByRequestId("rid-1");
  ASSERT_TRUE(by_rid.ok());
  ASSERT_EQ(by_rid->size(), 1u);
  EXPECT_EQ(by_rid->front().id, done.id);
  store->Close();
  store.reset();
  // The current version now; it opens as such again.
  EXPECT_EQ(UserVersion(path), SqliteStore::kSchemaVersion);
  StoredTasks reloaded;
  ASSERT_TRUE(OpenLoaded(path, &reloaded));
  EXPECT_EQ(reloaded.tasks.size(), 1u);
  EXPECT_EQ(reloaded.ended.size(), 1u);
}

TEST(SqliteStoreFencing, AWriteOfAnOlderAttemptLeavesTheNewerRow) {
  TempDir dir;
  auto store = SqliteStore::Open(dir.path() / "taskd.db");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE((*store)->Load().ok());
  Task t;
  t.id = NewTaskId();
  t.spec = Exec({"true"});
  t.state = TaskState::kRunning;
  t.attempt = 2;
  ASSERT_TRUE(WriteSync(**store, {testing::PutOp(t)}).ok());
  // A writer that still thinks attempt 1 runs (a node that lost its claim).
  Task stale = t;
  stale.attempt = 1;
  stale.state = TaskState::kFailed;
  EXPECT_TRUE(
      WriteSync(**store, {testing::PutOp(stale)}).ok());  // the batch commits; the row is kept
  EXPECT_EQ((*store)->fenced_writes(), 1u);
  auto read = (*store)->Read(TaskKey(t.id));
  ASSERT_TRUE(read.ok() && *read);
  EXPECT_EQ((*read)->attempt, 2);
  EXPECT_EQ((*read)->state, TaskState::kRunning);
  // The same attempt, and a newer one, are written.
  t.state = TaskState::kPending;
  ASSERT_TRUE(WriteSync(**store, {testing::PutOp(t)}).ok());
  t.attempt = 3;
  t.state = TaskState::kCompleted;
  ASSERT_TRUE(WriteSync(**store, {testing::PutOp(t)}).ok());
  EXPECT_EQ((*store)->fenced_writes(), 1u);
  read = (*store)->Read(TaskKey(t.id));
  ASSERT_TRUE(read.ok() && *read);
  EXPECT_EQ((*read)->attempt, 3);
  EXPECT_EQ((*read)->state, TaskState::kCompleted);
}

TEST(SqliteStoreFencing, OneStaleOpDoesNotHoldBackTheOthersInItsBatch) {
  TempDir dir;
  auto store = SqliteStore::Open(dir.path() / "taskd.db");
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Load().ok());
  Task a, b;
  a.id = NewTaskId();
  a.spec = Exec({"true"});
  a.attempt = 5;
  b.id = NewTaskId();
  b.spec = Exec({"true"});
  ASSERT_TRUE(WriteSync(**store, {testing::PutOp(a), testing::PutOp(b)}).ok());
  Task old_a = a;
  old_a.attempt = 4;
  b.attempt = 1;
  b.state = TaskState::kRunning;
  ASSERT_TRUE(WriteSync(**store, {testing::PutOp(old_a), testing::PutOp(b)}).ok());
  auto loaded = (*store)->Load();
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->tasks.size(), 2u);
  EXPECT_EQ(loaded->tasks[0].attempt, 5);
  EXPECT_EQ(loaded->tasks[1].attempt, 1);
  EXPECT_EQ(loaded->tasks[1].state, TaskState::kRunning);
}

TEST(SqliteStoreMigration, Version2DatabaseGetsTheAttemptColumnAndIsFencedFromThen) {
  TempDir dir;
  auto path = dir.path() / "taskd.db";
  Task t;
  t.id = NewTaskId();
  t.spec = Exec({"true"});
  t.attempt = 2;
  // The version 2 schema, as taskd wrote it.
  WriteOldDatabase(path,
                   "PRAGMA journal_mode=WAL;"
                   "CREATE TABLE tasks (key INTEGER PRIMARY KEY, id TEXT NOT NULL,"
                   "  request_id TEXT, state INTEGER NOT NULL, expire_ns INTEGER,"
                   "  data TEXT NOT NULL);"
                   "CREATE INDEX tasks_request_id ON tasks(request_id)"
                   "  WHERE request_id IS NOT NULL;"
                   "PRAGMA user_version=2;",
                   [&](sqlite3* db) {
                     InsertOnce(
                         db, "INSERT INTO tasks VALUES (?1, ?2, NULL, 0, NULL, ?3)",
                         [&](sqlite3_stmt* st) {
                           sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(TaskKey(t.id)));
                           sqlite3_bind_text(st, 2, t.id.c_str(), -1, SQLITE_TRANSIENT);
                           sqlite3_bind_text(st, 3, TaskToJson(t).c_str(), -1, SQLITE_TRANSIENT);
                         });
                   });
  {
    StoredTasks loaded;
    auto store = OpenLoaded(path, &loaded);
    ASSERT_TRUE(store);
    ASSERT_EQ(loaded.tasks.size(), 1u);
    EXPECT_EQ(loaded.tasks[0].attempt, 2);
    // The migrated row holds its attempt: an older one is refused.
    Task stale = t;
    stale.attempt = 1;
    stale.state = TaskState::kFailed;
    ASSERT_TRUE(WriteSync(*store, {testing::PutOp(stale)}).ok());
    EXPECT_EQ(store->fenced_writes(), 1u);
    store->Close();
  }
  EXPECT_EQ(UserVersion(path), SqliteStore::kSchemaVersion);
  StoredTasks reloaded;
  ASSERT_TRUE(OpenLoaded(path, &reloaded));
  ASSERT_EQ(reloaded.tasks.size(), 1u);
  EXPECT_EQ(reloaded.tasks[0].state, TaskState::kPending);
}

}  // namespace
}  // namespace taskd
