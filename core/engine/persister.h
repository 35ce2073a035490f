// Persister: every write of task changes to the Store, and the retry of
// those that failed (a full disk, say) until they commit.
//
// Promises: a change whose write failed is written again, as the task is
// then (Hooks::current) or as its deletion when it is gone, every
// kRetryEvery until it commits; Unpersisted() tells which ids still wait
// for that. A write made with OnCommit::kNotify calls Hooks::committed on
// the strand once it committed. Store callbacks that arrive after the
// Persister is gone are ignored.
//
// Threading: Put, Delete, Unpersisted and the hooks run on the strand
// given at construction; store callbacks may run on any thread and post to
// it.
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/model/asio.h"
#include "core/model/clock.h"
#include "core/store/store.h"

namespace taskd {

class Persister {
 public:
  static constexpr Duration kRetryEvery = std::chrono::seconds(1);
  // What a write holds: each commit says which it was.
  enum class WriteOf { kPuts, kDeletes };
  enum class OnCommit { kNothing, kNotify };
  static OnCommit NotifyIf(bool b) { return b ? OnCommit::kNotify : OnCommit::kNothing; }

  struct Hooks {
    // The task with this id as it is now, or nullptr when it is gone.
    std::function<const Task*(const std::string& id)> current;
    // For a task that is gone: true while its deletion still has to be
    // written (false: it left RAM once its final state was committed, and
    // there is nothing to redo).
    std::function<bool(const std::string& id)> deletion_pending;
    // A write made with OnCommit::kNotify committed.
    std::function<void(const std::vector<std::string>& ids, WriteOf of)> committed;
    // How rewrites of failed changes are committed.
    OnCommit retries = OnCommit::kNothing;
  };

  Persister(Store& store, Strand strand, Clock& clock, Hooks hooks);
  ~Persister();
  Persister(const Persister&) = delete;
  Persister& operator=(const Persister&) = delete;

  // Writes the task as it is now (nothing with a store that is not durable).
  void Put(const Task& task, OnCommit on_commit);
  // Deletes these tasks' rows.
  void Delete(std::vector<std::string> ids, OnCommit on_commit);
  // A change of this task failed to be written and is still to be retried.
  bool Unpersisted(const std::string& id) const { return unpersisted_.count(id) > 0; }

 private:
  enum class WriteTry { kFirst, kRetry };  // kRetry: of changes that failed (success is logged)
  // The store callback of a write: on failure it queues `ids` to be
  // written again.
  std::function<void(Status)> OnWritten(std::vector<std::string> ids, WriteOf of, WriteTry attempt,
                                        OnCommit on_commit);
  void Retry();

  Store& store_;
  Strand strand_;
  Clock& clock_;
  Hooks hooks_;
  std::set<std::string> unpersisted_;
  std::unique_ptr<Clock::Timer> retry_timer_;
  // Store callbacks hold a weak_ptr to this: they may outlive the Persister.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace taskd
