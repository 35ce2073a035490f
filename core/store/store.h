// The persistence interface. The TaskManager never touches a database
// directly: SQLite is the embedded default, MemoryStore serves tests and
// --store=memory, and a shared store (PostgreSQL) can be added without
// changing the scheduler.
//
// A store that serves reads (serves_reads()) is where finished tasks live:
// Load() gives them back only as EndedTask index entries, and the manager
// reads one whole (Read, ReadByRequestId, ReadEnded) when a client asks.
//
// Thread-safety: Load() is called once before any Write(); Write() and the
// reads may be called from any thread, and writes are applied in call order.
// A read sees every write whose `done` has run.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/model/status.h"
#include "core/model/task.h"

namespace taskd {

struct StoreOp {
  enum class Kind { kPut, kDelete };
  Kind kind = Kind::kPut;
  Task task;       // for kPut: the whole task as it is now
  std::string id;  // for kDelete
};

// A finished task as Load() indexes it: 24 bytes, what the manager keeps in
// RAM for a retained finished task (TTL, request_id dedup, counts by state).
struct EndedTask {
  // Load() sets the expire time, ns since the Unix epoch (INT64_MAX: never);
  // the manager turns it into its steady-clock deadline in place.
  int64_t expire_ns = INT64_MAX;
  uint64_t key = 0;  // TaskIdNumber(id)
  // RequestIdHash(request_id) (0: no request_id) in the upper 61 bits, the
  // TaskState in the lower 3.
  uint64_t rid_state = 0;

  TaskState state() const { return static_cast<TaskState>(rid_state & 7); }
  uint64_t rid_hash() const { return rid_state & ~uint64_t{7}; }
  static uint64_t Pack(uint64_t rid_hash, TaskState s) {
    return (rid_hash & ~uint64_t{7}) | static_cast<uint64_t>(s);
  }
};

// A 64-bit hash of a request_id with the lower 3 bits clear (see EndedTask)
// and never 0; 0 for an empty request_id. Stable across builds (FNV-1a).
inline uint64_t RequestIdHash(std::string_view request_id) {
  if (request_id.empty()) return 0;
  uint64_t h = 14695981039346656037ull;
  for (char c : request_id) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  h ^= h >> 29;  // FNV's low bits mix poorly; the low 3 are dropped
  h &= ~uint64_t{7};
  return h == 0 ? 8 : h;
}

struct StoredTasks {
  // Loaded whole: every unfinished task, in id order (and every finished one
  // from a store that does not serve reads).
  std::vector<Task> tasks;
  // The finished tasks not in `tasks`, in no particular order.
  std::vector<EndedTask> ended;
};

// A page of finished tasks read in id order.
struct EndedPage {
  std::vector<Task> tasks;
  size_t rows = 0;        // rows scanned
  uint64_t last_key = 0;  // the last key scanned (0: none)
  bool more = false;      // stopped at the row limit: more rows may follow
};

class Store {
 public:
  virtual ~Store() = default;
  // Every stored task: see StoredTasks.
  virtual StatusOr<StoredTasks> Load() = 0;
  // Applies `ops` atomically. `done` runs once they are durable (or failed),
  // on a thread of the store's choosing; it must not block.
  virtual void Write(std::vector<StoreOp> ops, std::function<void(Status)> done) = 0;
  // Finishes pending writes; later Write() calls fail with UNAVAILABLE.
  virtual void Close() = 0;
  virtual const char* Name() const = 0;
  // False for a store that keeps nothing: the manager then skips building writes.
  virtual bool durable() const { return true; }

  // True when the reads below work: the manager then keeps a finished task
  // in RAM only until the write holding its final state has committed.
  virtual bool serves_reads() const { return false; }
  // The task with this key, as last committed; nullopt when there is none.
  // A short indexed lookup.
  virtual StatusOr<std::optional<Task>> Read(uint64_t /*key*/) {
    return Status(StatusCode::kUnimplemented, "store serves no reads");
  }
  // Every task with this request_id, in id order (normally one).
  virtual StatusOr<std::vector<Task>> ReadByRequestId(std::string_view /*request_id*/) {
    return Status(StatusCode::kUnimplemented, "store serves no reads");
  }
  // Finished tasks with key > `after_key`, in id order, scanning at most
  // `max_rows` rows. Only states in `state_mask` (bit 1 << state) are
  // returned, and rows whose key `skip` accepts are scanned but not parsed.
  virtual StatusOr<EndedPage> ReadEnded(uint64_t /*after_key*/, size_t /*max_rows*/,
                                        unsigned /*state_mask*/,
                                        const std::function<bool(uint64_t)>& /*skip*/) {
    return Status(StatusCode::kUnimplemented, "store serves no reads");
  }
};

// Keeps nothing: every write succeeds at once (done runs inline).
class MemoryStore final : public Store {
 public:
  StatusOr<StoredTasks> Load() override { return StoredTasks{}; }
  void Write(std::vector<StoreOp>, std::function<void(Status)> done) override { done(OkStatus()); }
  void Close() override {}
  const char* Name() const override { return "memory"; }
  bool durable() const override { return false; }
};

}  // namespace taskd
