// SqliteStore: the embedded default store, one database file in the data
// directory (WAL, synchronous=FULL).
//
// One writer thread owns the connection after Open(). Write() queues ops;
// the writer takes everything queued, commits it in one transaction (group
// commit) and then runs each batch's `done`. A submit is acknowledged only
// from `done`, so an acknowledged task is a committed row.
//
// Reads (Read, ReadByRequestId, ReadEnded) use a second, read-only
// connection (WAL lets it read beside the writer), so they never queue
// behind a commit; a mutex serialises them.
//
// Schema (version 3): one row per task keyed by the id's number (so rows
// are in id order), with the state, expire time, request_id and attempt as
// columns beside the task's JSON. Load() reads those columns in one pass
// and parses JSON only for unfinished tasks. Versions 1 and 2 are migrated
// on open.
//
// Fencing: a put of a task whose attempt is older than the stored row's is
// refused (the row stays; fenced_writes() counts it; the batch commits).
//
// Thread-safe: Write(), Close() and the reads may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "core/store/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace taskd {

class SqliteStore final : public Store {
 public:
  static constexpr int kSchemaVersion = 3;

  // Opens (creating if needed) the database at `path`. Refuses a database
  // with a newer schema or one that fails its integrity check; never
  // overwrites it.
  static StatusOr<std::unique_ptr<SqliteStore>> Open(const std::filesystem::path& path);
  ~SqliteStore() override;

  // Unfinished tasks whole; finished ones as EndedTask (from the index).
  StatusOr<StoredTasks> Load() override;
  void Write(std::vector<StoreOp> ops, std::function<void(Status)> done) override;
  void Close() override;
  const char* Name() const override { return "sqlite"; }

  bool serves_reads() const override { return true; }
  StatusOr<std::optional<Task>> Read(uint64_t key) override;
  StatusOr<std::vector<Task>> ReadByRequestId(std::string_view request_id) override;
  StatusOr<EndedPage> ReadEnded(uint64_t after_key, size_t max_rows, unsigned state_mask,
                                const std::function<bool(uint64_t)>& skip) override;

  // Called (on the writer thread) when a commit fails for a reason other
  // than a full disk: an I/O error that retrying will not fix. The daemon
  // logs and exits non-zero there; the next start recovers from the last
  // commit. Without a handler the failure only reaches the writes' callbacks.
  // A full disk never calls it: those writes fail with RESOURCE_EXHAUSTED
  // and later ones succeed once there is space again. Set before Load().
  void SetFatalHandler(std::function<void(const Status&)> handler) { fatal_ = std::move(handler); }

  // Puts refused since Open because the stored attempt was newer (fencing).
  uint64_t fenced_writes() const { return fenced_.load(std::memory_order_relaxed); }
  // Puts left out since Open because a later op of the same commit
  // replaced them (see Superseded in the .cc).
  uint64_t coalesced_writes() const { return coalesced_.load(std::memory_order_relaxed); }

 private:
  struct Batch {
    std::vector<StoreOp> ops;
    std::function<void(Status)> done;
  };
  SqliteStore(sqlite3* db, sqlite3* reader) : db_(db), reader_(reader) {}
  void WriterLoop();
  Status Commit(std::deque<Batch>& batches);
  static std::vector<bool> Superseded(const std::deque<Batch>& batches);

  sqlite3* db_;  // used by Load() before the writer starts, then only by the writer
  std::mutex read_mu_;
  sqlite3* reader_;  // read-only; guarded by read_mu_
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> queue_;  // guarded by mu_
  bool closing_ = false;     // guarded by mu_
  std::thread writer_;
  std::function<void(const Status&)> fatal_;
  std::atomic<uint64_t> fenced_{0};
  std::atomic<uint64_t> coalesced_{0};
  // The writer's prepared statements (made at its first commit).
  sqlite3_stmt* put_ = nullptr;
  sqlite3_stmt* del_ = nullptr;
};

}  // namespace taskd
