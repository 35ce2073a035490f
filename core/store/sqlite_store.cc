#include "core/store/sqlite_store.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <unordered_map>

#include "core/model/check.h"
#include "core/model/files.h"
#include "core/model/task_json.h"

namespace taskd {

namespace {

Status SqlError(sqlite3* db, std::string_view what) {
  int code = sqlite3_errcode(db);
  std::string msg = std::string(what) + ": " + sqlite3_errmsg(db);
  // A full disk is the one storage failure a client can do something about.
  if (code == SQLITE_FULL) return ResourceExhausted("store: disk full: " + msg);
  return Internal("store: " + msg);
}

Status Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Internal(std::string("store: ") + sql + ": " + msg);
  }
  return OkStatus();
}

// Owns a prepared statement.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  sqlite3_stmt* get() const { return stmt_; }
  explicit operator bool() const { return stmt_ != nullptr; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

int64_t UserVersion(sqlite3* db) {
  Stmt st(db, "PRAGMA user_version");
  if (st && sqlite3_step(st.get()) == SQLITE_ROW) return sqlite3_column_int64(st.get(), 0);
  return -1;
}

// Version 2: the id's number is the rowid (id order, integer compares); the
// columns beside the JSON are what Load() and the reads select on.
// Version 3 adds `attempt` (the fence: see Commit), appended by the
// migration, so it comes last here too.
constexpr const char* kCreateV2 =
    "CREATE TABLE tasks ("
    "  key INTEGER PRIMARY KEY,"  // TaskIdNumber(id)
    "  id TEXT NOT NULL,"
    "  request_id TEXT,"
    "  state INTEGER NOT NULL,"
    "  expire_ns INTEGER,"  // expire_time, ns since the Unix epoch; NULL: none
    "  data TEXT NOT NULL);"
    "CREATE INDEX tasks_request_id ON tasks(request_id) WHERE request_id IS NOT NULL;";
// v2 -> v3. The attempt of a row written before is read from its JSON once,
// here: a million rows take a few seconds, once.
constexpr const char* kV2ToV3 =
    "ALTER TABLE tasks ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;"
    "UPDATE tasks SET attempt = coalesce(json_extract(data, '$.attempt'), 0)"
    "  WHERE json_extract(data, '$.attempt') > 0;"
    "PRAGMA user_version=3;";
// No index on state: Load() reads the columns of every row in one pass in
// key order (parsing JSON only for unfinished tasks), which costs a part of
// a second per million rows at start, while such an index cost every write
// two more b-tree updates and a sixth of the durable submit throughput.

// taskd_key(id): TaskIdNumber(id), or NULL; used by the v1 -> v2 migration.
void TaskKeyFn(sqlite3_context* ctx, int /*argc*/, sqlite3_value** argv) {
  const auto* text = sqlite3_value_text(argv[0]);
  auto key = text ? TaskIdNumber(reinterpret_cast<const char*>(text)) : std::nullopt;
  if (key && *key <= static_cast<uint64_t>(INT64_MAX)) {
    sqlite3_result_int64(ctx, static_cast<sqlite3_int64>(*key));
  } else {
    sqlite3_result_null(ctx);
  }
}

Status MigrateV1ToV2(sqlite3* db) {
  if (sqlite3_create_function_v2(db, "taskd_key", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr,
                                 TaskKeyFn, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return SqlError(db, "migrate: register taskd_key");
  }
  {
    Stmt bad(db, "SELECT id FROM tasks WHERE taskd_key(id) IS NULL LIMIT 1");
    if (!bad) return SqlError(db, "migrate");
    if (sqlite3_step(bad.get()) == SQLITE_ROW) {
      return Status(StatusCode::kDataLoss,
                    std::string("cannot migrate the schema to version 2: row '") +
                        reinterpret_cast<const char*>(sqlite3_column_text(bad.get(), 0)) +
                        "' is not a task id");
    }
  }
  std::string sql =
      "BEGIN IMMEDIATE;ALTER TABLE tasks RENAME TO tasks_v1;DROP INDEX IF EXISTS tasks_request_id;";
  sql += kCreateV2;
  sql +=
      "INSERT INTO tasks(key, id, request_id, state, expire_ns, data)"
      "  SELECT taskd_key(id), id, request_id, state, json_extract(data, '$.expire_time'), data"
      "  FROM tasks_v1;"
      "DROP TABLE tasks_v1;";
  sql += kV2ToV3;
  sql += "COMMIT;";
  Status s = Exec(db, sql.c_str());
  if (!s.ok()) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  return s;
}

std::string ColumnText(sqlite3_stmt* st, int col) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, col));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(st, col))) : std::string();
}

StatusOr<Task> ParseRow(sqlite3_stmt* st, int data_col, uint64_t key) {
  auto task = TaskFromJson(ColumnText(st, data_col));
  if (!task.ok()) {
    return Status(StatusCode::kDataLoss,
                  "task " + std::to_string(key) + ": " + task.status().message());
  }
  return task;
}

}  // namespace

StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::filesystem::path& path) {
  // Created private first: SQLite gives its -wal and -shm files the
  // database's mode, which would otherwise come from the umask.
  if (auto s = CreateFileIfMissing(path, 0600); !s.ok()) return s;
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Internal("cannot open database " + path.string() + ": " + msg);
  }
  auto fail = [&](Status s) -> StatusOr<std::unique_ptr<SqliteStore>> {
    sqlite3_close(db);
    return Status(s.code(), path.string() + ": " + s.message());
  };
  sqlite3_busy_timeout(db, 5000);
  // A file that is not a database fails here ("file is not a database").
  if (auto s = Exec(db, "PRAGMA journal_mode=WAL"); !s.ok()) return fail(s);
  if (auto s = Exec(db, "PRAGMA synchronous=FULL"); !s.ok()) return fail(s);
  {
    Stmt check(db, "PRAGMA quick_check");
    if (!check || sqlite3_step(check.get()) != SQLITE_ROW) {
      return fail(Status(StatusCode::kDataLoss,
                         std::string("integrity check failed: ") + sqlite3_errmsg(db)));
    }
    std::string result = reinterpret_cast<const char*>(sqlite3_column_text(check.get(), 0));
    if (result != "ok") {
      return fail(Status(StatusCode::kDataLoss, "database is corrupt (" + result +
                                                    "); refusing to start. "
                                                    "Restore it from a backup or move it aside."));
    }
  }
  int64_t version = UserVersion(db);
  if (version > kSchemaVersion) {
    return fail(Status(StatusCode::kFailedPrecondition,
                       "database schema version " + std::to_string(version) +
                           " is newer than this taskd supports (" + std::to_string(kSchemaVersion) +
                           "); refusing to start"));
  }
  if (version < 1) {
    // A new database: the current schema at once.
    std::string sql = "BEGIN;";
    sql += kCreateV2;
    sql += kV2ToV3;
    sql += "COMMIT;";
    if (auto s = Exec(db, sql.c_str()); !s.ok()) return fail(s);
  } else if (version == 1) {
    spdlog::info("store: migrating {} from schema version 1 to {}", path.string(), kSchemaVersion);
    if (auto s = MigrateV1ToV2(db); !s.ok()) return fail(s);
  } else if (version == 2) {
    spdlog::info("store: migrating {} from schema version 2 to 3", path.string());
    std::string sql = "BEGIN IMMEDIATE;";
    sql += kV2ToV3;
    sql += "COMMIT;";
    if (auto s = Exec(db, sql.c_str()); !s.ok()) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      return fail(s);
    }
  }
  sqlite3* reader = nullptr;
  rc = sqlite3_open_v2(path.c_str(), &reader, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = reader ? sqlite3_errmsg(reader) : sqlite3_errstr(rc);
    sqlite3_close(reader);
    return fail(Internal("cannot open a read connection: " + msg));
  }
  sqlite3_busy_timeout(reader, 5000);
  return std::unique_ptr<SqliteStore>(new SqliteStore(db, reader));
}

SqliteStore::~SqliteStore() {
  Close();
  sqlite3_finalize(put_);
  sqlite3_finalize(del_);
  sqlite3_close(reader_);
  sqlite3_close(db_);
}

StatusOr<StoredTasks> SqliteStore::Load() {
  StoredTasks out;
  {
    // `ended` becomes the manager's index as it is: reserved exactly, since
    // heap blocks left behind by growing it would stay resident.
    Stmt count(db_, "SELECT count(*) FROM tasks");
    if (!count || sqlite3_step(count.get()) != SQLITE_ROW) return SqlError(db_, "load");
    out.ended.reserve(static_cast<size_t>(sqlite3_column_int64(count.get(), 0)));
  }
  // One pass in key order. The JSON is read (and parsed) only for
  // unfinished tasks; a finished one becomes a 24-byte EndedTask.
  Stmt st(db_,
          "SELECT key, state, expire_ns, request_id,"
          " CASE WHEN state BETWEEN 3 AND 5 THEN NULL ELSE data END FROM tasks");
  if (!st) return SqlError(db_, "load");
  int rc;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
    const auto key = static_cast<uint64_t>(sqlite3_column_int64(st.get(), 0));
    const auto state = static_cast<TaskState>(sqlite3_column_int(st.get(), 1));
    if (!IsTerminal(state)) {
      auto task = ParseRow(st.get(), 4, key);
      if (!task.ok()) return task.status();
      out.tasks.push_back(std::move(task).value());
      continue;
    }
    EndedTask e;
    e.key = key;
    if (sqlite3_column_type(st.get(), 2) != SQLITE_NULL) {
      e.expire_ns = sqlite3_column_int64(st.get(), 2);
    }
    uint64_t rid = 0;
    if (sqlite3_column_type(st.get(), 3) != SQLITE_NULL) {
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st.get(), 3));
      rid = RequestIdHash(
          std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(st.get(), 3))));
    }
    e.rid_state = EndedTask::Pack(rid, state);
    out.ended.push_back(e);
  }
  if (rc != SQLITE_DONE) return SqlError(db_, "load");
  std::lock_guard lock(mu_);
  if (!writer_.joinable() && !closing_) writer_ = std::thread([this] { WriterLoop(); });
  return out;
}

StatusOr<std::optional<Task>> SqliteStore::Read(uint64_t key) {
  std::lock_guard lock(read_mu_);
  if (key > static_cast<uint64_t>(INT64_MAX)) return std::optional<Task>();
  Stmt st(reader_, "SELECT data FROM tasks WHERE key = ?1");
  if (!st) return SqlError(reader_, "read");
  sqlite3_bind_int64(st.get(), 1, static_cast<sqlite3_int64>(key));
  int rc = sqlite3_step(st.get());
  if (rc == SQLITE_DONE) return std::optional<Task>();
  if (rc != SQLITE_ROW) return SqlError(reader_, "read");
  auto task = ParseRow(st.get(), 0, key);
  if (!task.ok()) return task.status();
  return std::optional<Task>(std::move(task).value());
}

StatusOr<std::vector<Task>> SqliteStore::ReadByRequestId(std::string_view request_id) {
  std::lock_guard lock(read_mu_);
  std::vector<Task> out;
  Stmt st(reader_, "SELECT key, data FROM tasks WHERE request_id = ?1 ORDER BY key");
  if (!st) return SqlError(reader_, "read");
  sqlite3_bind_text(st.get(), 1, request_id.data(), static_cast<int>(request_id.size()),
                    SQLITE_STATIC);
  int rc;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
    auto task = ParseRow(st.get(), 1, static_cast<uint64_t>(sqlite3_column_int64(st.get(), 0)));
    if (!task.ok()) return task.status();
    out.push_back(std::move(task).value());
  }
  if (rc != SQLITE_DONE) return SqlError(reader_, "read");
  return out;
}

StatusOr<EndedPage> SqliteStore::ReadEnded(uint64_t after_key, size_t max_rows, unsigned state_mask,
                                           const std::function<bool(uint64_t)>& skip) {
  std::lock_guard lock(read_mu_);
  EndedPage page;
  if (after_key >= static_cast<uint64_t>(INT64_MAX) || max_rows == 0) return page;
  // "+state": a rowid range in id order, never the state index (whose order
  // would need a sort of every finished task).
  Stmt st(reader_,
          "SELECT key, state, data FROM tasks WHERE key > ?1 AND +state BETWEEN 3 AND 5"
          " ORDER BY key LIMIT ?2");
  if (!st) return SqlError(reader_, "read");
  sqlite3_bind_int64(st.get(), 1, static_cast<sqlite3_int64>(after_key));
  sqlite3_bind_int64(st.get(), 2, static_cast<sqlite3_int64>(max_rows));
  size_t rows = 0;
  int rc;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
    ++rows;
    const auto key = static_cast<uint64_t>(sqlite3_column_int64(st.get(), 0));
    page.last_key = key;
    const int state = sqlite3_column_int(st.get(), 1);
    if ((state_mask & (1u << state)) == 0 || (skip && skip(key))) continue;
    auto task = ParseRow(st.get(), 2, key);
    if (!task.ok()) return task.status();
    page.tasks.push_back(std::move(task).value());
  }
  if (rc != SQLITE_DONE) return SqlError(reader_, "read");
  page.rows = rows;
  page.more = rows == max_rows;
  return page;
}

void SqliteStore::Write(std::vector<StoreOp> ops, std::function<void(Status)> done) {
  {
    std::lock_guard lock(mu_);
    if (!closing_ && writer_.joinable()) {
      queue_.push_back(Batch{std::move(ops), std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  done(Unavailable("store is closed"));
}

void SqliteStore::Close() {
  {
    std::lock_guard lock(mu_);
    if (closing_) return;
    closing_ = true;
    cv_.notify_one();
  }
  if (writer_.joinable()) writer_.join();
}

void SqliteStore::WriterLoop() {
  for (;;) {
    std::deque<Batch> batches;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closing and drained
      batches.swap(queue_);
    }
    Status s = Commit(batches);
    if (!s.ok()) {
      spdlog::error("store: commit of {} batches failed: {}", batches.size(), s.message());
      if (s.code() != StatusCode::kResourceExhausted && fatal_) fatal_(s);
    }
    for (auto& b : batches) b.done(s);
  }
}

// Which ops of one commit are written. A put is left out when a later op of
// the same commit on the same task is a deletion, or a put of the same
// attempt or a newer one: the row would be overwritten within the same
// transaction anyway (a task started and finished within one commit window
// is written once, in its final state). A put followed by one of an older
// attempt is kept, so the fence refuses the older one as it would apart;
// deletions are always written.
std::vector<bool> SqliteStore::Superseded(const std::deque<Batch>& batches) {
  size_t n = 0;
  for (const auto& b : batches) n += b.ops.size();
  std::vector<bool> skip(n, false);
  if (n < 2) return skip;
  struct Later {
    bool deleted = false;
    int max_attempt = -1;  // of the later puts; -1: none
  };
  std::unordered_map<uint64_t, Later> later;
  later.reserve(n);
  size_t i = n;
  for (auto b = batches.rbegin(); b != batches.rend(); ++b) {
    for (auto op = b->ops.rbegin(); op != b->ops.rend(); ++op) {
      --i;
      const bool put = op->kind == StoreOp::Kind::kPut;
      const auto key = TaskIdNumber(put ? op->task.id : op->id);
      if (!key) continue;  // Commit refuses it
      Later& l = later[*key];
      if (put) {
        if (l.deleted || l.max_attempt >= op->task.attempt) skip[i] = true;
        l.max_attempt = std::max(l.max_attempt, op->task.attempt);
      } else {
        l.deleted = true;
      }
    }
  }
  return skip;
}

Status SqliteStore::Commit(std::deque<Batch>& batches) {
  // Prepared once, on the writer thread, and kept: preparing them for each
  // commit cost a fifth of a small commit's time.
  if (!put_ &&
      sqlite3_prepare_v3(db_,
                         // Fencing: a row is replaced only by the same attempt or a newer
                         // one, so a writer that lost its claim on a task (a node whose
                         // lease ran out, in a shared store) cannot overwrite a newer
                         // attempt's record. One node writes in order and never meets
                         // this; a refused write leaves the row as it is and the rest of
                         // the batch commits.
                         "INSERT INTO tasks(key, id, request_id, state, expire_ns, data, attempt)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                         " ON CONFLICT(key) DO UPDATE SET id = excluded.id,"
                         "   request_id = excluded.request_id, state = excluded.state,"
                         "   expire_ns = excluded.expire_ns, data = excluded.data,"
                         "   attempt = excluded.attempt"
                         " WHERE excluded.attempt >= tasks.attempt",
                         -1, SQLITE_PREPARE_PERSISTENT, &put_, nullptr) != SQLITE_OK) {
    return SqlError(db_, "prepare");
  }
  if (!del_ && sqlite3_prepare_v3(db_, "DELETE FROM tasks WHERE key = ?1", -1,
                                  SQLITE_PREPARE_PERSISTENT, &del_, nullptr) != SQLITE_OK) {
    return SqlError(db_, "prepare");
  }
  const std::vector<bool> skip = Superseded(batches);
  if (auto s = Exec(db_, "BEGIN IMMEDIATE"); !s.ok()) return SqlError(db_, "begin");
  auto rollback = [&](std::string_view what) {
    Status s = SqlError(db_, what);
    sqlite3_clear_bindings(put_);
    sqlite3_clear_bindings(del_);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return s;
  };
  size_t i = 0;
  uint64_t skipped = 0;
  std::string data;
  for (const auto& b : batches) {
    for (const auto& op : b.ops) {
      if (skip[i++]) {
        ++skipped;
        continue;
      }
      sqlite3_stmt* st = nullptr;
      const std::string& id = op.kind == StoreOp::Kind::kPut ? op.task.id : op.id;
      // The manager only writes tasks it made: a bad id is a bug.
      const uint64_t key = TaskKey(id);
      TASKD_CHECK(key <= static_cast<uint64_t>(INT64_MAX), "store: '" + id + "' is out of range");
      // The bound text lives until the step below: SQLITE_STATIC, no copies.
      if (op.kind == StoreOp::Kind::kPut) {
        st = put_;
        data = TaskToJson(op.task);
        sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(key));
        sqlite3_bind_text(st, 2, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
        if (op.task.request_id.empty()) {
          sqlite3_bind_null(st, 3);
        } else {
          sqlite3_bind_text(st, 3, op.task.request_id.data(),
                            static_cast<int>(op.task.request_id.size()), SQLITE_STATIC);
        }
        sqlite3_bind_int(st, 4, static_cast<int>(op.task.state));
        if (op.task.expire_time) {
          sqlite3_bind_int64(st, 5,
                             std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 op.task.expire_time->time_since_epoch())
                                 .count());
        } else {
          sqlite3_bind_null(st, 5);
        }
        sqlite3_bind_text(st, 6, data.data(), static_cast<int>(data.size()), SQLITE_STATIC);
        sqlite3_bind_int(st, 7, op.task.attempt);
      } else {
        st = del_;
        sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(key));
      }
      int rc = sqlite3_step(st);
      sqlite3_reset(st);
      if (rc != SQLITE_DONE) return rollback("write");
      if (op.kind == StoreOp::Kind::kPut && sqlite3_changes(db_) == 0) {
        fenced_.fetch_add(1, std::memory_order_relaxed);
        spdlog::warn("store: task {}: write of attempt {} refused: the stored attempt is newer", id,
                     op.task.attempt);
      }
    }
  }
  // What was bound (SQLITE_STATIC) is freed after this: nothing may read it.
  sqlite3_clear_bindings(put_);
  sqlite3_clear_bindings(del_);
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
    return rollback("commit");
  coalesced_.fetch_add(skipped, std::memory_order_relaxed);
  return OkStatus();
}

}  // namespace taskd
