// The persistence interface. The TaskManager never touches a database
// directly: SQLite is the embedded default, MemoryStore serves tests and
// --store=memory, and a shared store (PostgreSQL) can be added without
// changing the scheduler.
//
// Thread-safety: Load() is called once before any Write(); Write() may be
// called from any thread, and writes are applied in call order.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/task.h"

namespace taskd {

struct StoreOp {
  enum class Kind { kPut, kDelete };
  Kind kind = Kind::kPut;
  Task task;       // for kPut: the whole task as it is now
  std::string id;  // for kDelete
};

class Store {
 public:
  virtual ~Store() = default;
  // Every stored task, in id order.
  virtual StatusOr<std::vector<Task>> Load() = 0;
  // Applies `ops` atomically. `done` runs once they are durable (or failed),
  // on a thread of the store's choosing; it must not block.
  virtual void Write(std::vector<StoreOp> ops, std::function<void(Status)> done) = 0;
  // Finishes pending writes; later Write() calls fail with UNAVAILABLE.
  virtual void Close() = 0;
  virtual const char* Name() const = 0;
  // False for a store that keeps nothing: the manager then skips building writes.
  virtual bool durable() const { return true; }
};

// Keeps nothing: every write succeeds at once (done runs inline).
class MemoryStore final : public Store {
 public:
  StatusOr<std::vector<Task>> Load() override { return std::vector<Task>{}; }
  void Write(std::vector<StoreOp>, std::function<void(Status)> done) override { done(OkStatus()); }
  void Close() override {}
  const char* Name() const override { return "memory"; }
  bool durable() const override { return false; }
};

}  // namespace taskd
