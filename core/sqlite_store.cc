#include "core/sqlite_store.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include "core/task_json.h"

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

}  // namespace

StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::filesystem::path& path) {
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
    // Migration 0 -> 1: the initial schema.
    if (auto s = Exec(db,
                      "BEGIN;"
                      "CREATE TABLE IF NOT EXISTS tasks ("
                      "  id TEXT PRIMARY KEY,"
                      "  request_id TEXT,"
                      "  state INTEGER NOT NULL,"
                      "  data TEXT NOT NULL) WITHOUT ROWID;"
                      "CREATE INDEX IF NOT EXISTS tasks_request_id ON tasks(request_id)"
                      "  WHERE request_id IS NOT NULL;"
                      "PRAGMA user_version=1;"
                      "COMMIT;");
        !s.ok()) {
      return fail(s);
    }
  }
  return std::unique_ptr<SqliteStore>(new SqliteStore(db));
}

SqliteStore::~SqliteStore() {
  Close();
  sqlite3_close(db_);
}

StatusOr<std::vector<Task>> SqliteStore::Load() {
  std::vector<Task> tasks;
  Stmt st(db_, "SELECT id, data FROM tasks ORDER BY id");
  if (!st) return SqlError(db_, "load");
  int rc;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
    std::string data(reinterpret_cast<const char*>(sqlite3_column_text(st.get(), 1)),
                     static_cast<size_t>(sqlite3_column_bytes(st.get(), 1)));
    auto task = TaskFromJson(data);
    if (!task.ok()) {
      return Status(StatusCode::kDataLoss,
                    std::string("task ") +
                        reinterpret_cast<const char*>(sqlite3_column_text(st.get(), 0)) + ": " +
                        task.status().message());
    }
    tasks.push_back(std::move(task).value());
  }
  if (rc != SQLITE_DONE) return SqlError(db_, "load");
  std::lock_guard lock(mu_);
  if (!writer_.joinable() && !closing_) writer_ = std::thread([this] { WriterLoop(); });
  return tasks;
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

Status SqliteStore::Commit(std::deque<Batch>& batches) {
  if (auto s = Exec(db_, "BEGIN IMMEDIATE"); !s.ok()) return SqlError(db_, "begin");
  Stmt put(db_,
           "INSERT OR REPLACE INTO tasks(id, request_id, state, data) VALUES (?1, ?2, ?3, ?4)");
  Stmt del(db_, "DELETE FROM tasks WHERE id = ?1");
  auto rollback = [&](std::string_view what) {
    Status s = SqlError(db_, what);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return s;
  };
  if (!put || !del) return rollback("prepare");
  for (const auto& b : batches) {
    for (const auto& op : b.ops) {
      sqlite3_stmt* st = nullptr;
      if (op.kind == StoreOp::Kind::kPut) {
        st = put.get();
        std::string data = TaskToJson(op.task);
        sqlite3_bind_text(st, 1, op.task.id.data(), static_cast<int>(op.task.id.size()),
                          SQLITE_TRANSIENT);
        if (op.task.request_id.empty()) {
          sqlite3_bind_null(st, 2);
        } else {
          sqlite3_bind_text(st, 2, op.task.request_id.data(),
                            static_cast<int>(op.task.request_id.size()), SQLITE_TRANSIENT);
        }
        sqlite3_bind_int(st, 3, static_cast<int>(op.task.state));
        sqlite3_bind_text(st, 4, data.data(), static_cast<int>(data.size()), SQLITE_TRANSIENT);
      } else {
        st = del.get();
        sqlite3_bind_text(st, 1, op.id.data(), static_cast<int>(op.id.size()), SQLITE_TRANSIENT);
      }
      int rc = sqlite3_step(st);
      sqlite3_reset(st);
      sqlite3_clear_bindings(st);
      if (rc != SQLITE_DONE) return rollback("write");
    }
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
    return rollback("commit");
  return OkStatus();
}

}  // namespace taskd
