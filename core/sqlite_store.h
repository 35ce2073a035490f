// SqliteStore: the embedded default store, one database file in the data
// directory (WAL, synchronous=FULL).
//
// One writer thread owns the connection after Open(). Write() queues ops;
// the writer takes everything queued, commits it in one transaction (group
// commit) and then runs each batch's `done`. A submit is acknowledged only
// from `done`, so an acknowledged task is a committed row.
//
// Thread-safe: Write() and Close() may be called from any thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "core/store.h"

struct sqlite3;

namespace taskd {

class SqliteStore final : public Store {
 public:
  static constexpr int kSchemaVersion = 1;

  // Opens (creating if needed) the database at `path`. Refuses a database
  // with a newer schema or one that fails its integrity check; never
  // overwrites it.
  static StatusOr<std::unique_ptr<SqliteStore>> Open(const std::filesystem::path& path);
  ~SqliteStore() override;

  StatusOr<std::vector<Task>> Load() override;
  void Write(std::vector<StoreOp> ops, std::function<void(Status)> done) override;
  void Close() override;
  const char* Name() const override { return "sqlite"; }

  // Called (on the writer thread) when a commit fails for a reason other
  // than a full disk: an I/O error that retrying will not fix. The daemon
  // logs and exits non-zero there; the next start recovers from the last
  // commit. Without a handler the failure only reaches the writes' callbacks.
  // A full disk never calls it: those writes fail with RESOURCE_EXHAUSTED
  // and later ones succeed once there is space again. Set before Load().
  void SetFatalHandler(std::function<void(const Status&)> handler) { fatal_ = std::move(handler); }

 private:
  struct Batch {
    std::vector<StoreOp> ops;
    std::function<void(Status)> done;
  };
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  void WriterLoop();
  Status Commit(std::deque<Batch>& batches);

  sqlite3* db_;  // used by Load() before the writer starts, then only by the writer
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> queue_;  // guarded by mu_
  bool closing_ = false;     // guarded by mu_
  std::thread writer_;
  std::function<void(const Status&)> fatal_;
};

}  // namespace taskd
