// TaskQueue: the seam between the engine and what decides which task runs
// next. The engine offers tasks that may start, and the queue claims them
// under its limits (global, per queue, rate) and hands each claim back
// through Hooks::claimed; every write about a claimed task's attempt (its
// start, progress, end) goes through Record, with the task's attempt number
// in it, so a store can refuse a write of an older attempt (fencing).
//
// Implementations:
// - LocalTaskQueue (core/engine): ready heaps and token buckets in RAM
//   (Scheduler), writes through the Persister to the Store (SQLite refuses
//   a row whose attempt is older than the stored one).
// - A shared store (PostgreSQL, planned) claims with FOR UPDATE SKIP LOCKED,
//   keeps queue limits and buckets in the database, learns of other nodes'
//   offers through LISTEN/NOTIFY and answers Dispatch asynchronously; the
//   attempt runner, waiters, events and RPCs do not change for it.
//
// Threading: every call, and every hook, on the manager strand. Nothing
// here blocks: an implementation that asks a database posts the answer back.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/model/task.h"

namespace taskd {

class TaskQueue {
 public:
  // What an implementation keeps per queue; QueueOf hands out a pointer to
  // it that stays valid for the TaskQueue's life.
  struct Queue {
   protected:
    ~Queue() = default;
  };
  struct Hooks {
    // The task (key, and the `ref` it was offered with) is claimed: start
    // its next attempt now. It counts against its queue's limits until
    // Release.
    std::function<void(uint64_t key, void* ref)> claimed;
  };
  // Whether a write about an attempt must be acknowledged (Hooks of the
  // implementation say how): a task's final state, once committed, lets
  // the engine drop it from RAM.
  enum class Ack { kNone, kOnCommit };

  virtual ~TaskQueue() = default;

  // The queue of this name (created with its configured limits on first use).
  virtual Queue* QueueOf(std::string_view name) = 0;
  // A PENDING task whose dependencies are met and whose start delay has
  // passed may be claimed. `sequence` orders it FIFO among equal
  // priorities; a task offered again gets a new one. `ref` comes back with
  // the claim.
  virtual void Offer(Queue* q, uint64_t key, int64_t priority, uint64_t sequence, void* ref) = 0;
  // A task offered in `q` may no longer be claimed (cancelled, failed).
  virtual void Withdraw(Queue* q) = 0;
  // Claims what may start now and calls Hooks::claimed for each; when a
  // limit is a rate, arranges to claim again once it allows.
  virtual void Dispatch() = 0;
  // A claimed task in `q` stopped running: its slot is free.
  virtual void Release(Queue* q) = 0;
  // Records the task as it is now (its attempt's start, progress or end).
  virtual void Record(const Task& task, Ack ack) = 0;
  // Stops claiming and forgets every offer (at shutdown).
  virtual void Close() = 0;

  // Claimed tasks still running, of this node.
  virtual int running() const = 0;
  // Running tasks per queue name, of every queue seen so far.
  virtual void ForEachQueue(const std::function<void(const std::string&, int)>& fn) const = 0;
};

}  // namespace taskd
