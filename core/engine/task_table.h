// TaskTable: where every task is, and the reads over them.
//
// Unfinished tasks, and finished ones until they may leave RAM, are
// TaskEntries in RAM in id order, with an index by request_id. With a store
// that serves reads (evicts()), a finished task whose final state has
// committed leaves RAM (Evict) for the EndedIndex (24 bytes: TTL deadline,
// request_id hash, state) and is read from the store when asked for. A
// deletion that has not committed yet hides its task from every read.
//
// Promises: Find/Lookup/List/Snapshot see a task once, from RAM or from the
// store, never one being deleted; List merges RAM and store in id order.
// Blocking: the reads of finished tasks (ReadStored, Lookup,
// StoredByRequestId, List over finished states) are store reads on the
// caller's thread — for SQLite short indexed lookups, and at most
// kListScanRows rows per List call — unless they were made ahead: by key
// or request_id (Using), as a submit, a List or a watch by ids does, or a
// List's scan (ReadEndedAhead). The manager makes every read ahead, but
// those of recovery in Start(), before it serves.
//
// Threading: not thread-safe; the manager calls it on its strand only.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/engine/task_entry.h"
#include "core/engine/task_filter.h"
#include "core/model/status.h"
#include "core/store/ended_index.h"
#include "core/store/store.h"

namespace taskd {

// A List page over finished tasks in the store scans at most
// kListScanRows store rows: with a filter that matches few of them, a page
// may hold fewer than page_size tasks (even none) and still carry a last_id
// to continue from.
inline constexpr size_t kListScanRows = 2048;

struct ListRequest {
  TaskFilter filter;
  size_t page_size = 50;
  std::string start_after;  // exclusive lower bound on the id (paging cursor)
};

struct ListResult {
  std::vector<Task> tasks;
  std::string last_id;  // set when more tasks may follow
};

class TaskTable {
 public:
  // By the id's number (TaskIdNumber): creation order, integer compares.
  using Map = std::map<uint64_t, TaskEntry>;

  explicit TaskTable(Store& store);
  TaskTable(const TaskTable&) = delete;
  TaskTable& operator=(const TaskTable&) = delete;

  // Finished tasks leave RAM once committed (the store is durable and
  // serves reads).
  bool evicts() const { return evict_; }

  // ---- in RAM
  // The entry with this id, or end() (also for a malformed id).
  Map::iterator Find(std::string_view id);
  Map::iterator end() { return tasks_.end(); }
  Map& entries() { return tasks_; }
  // Puts a task in RAM; nullptr when its id is malformed or already there.
  // The first task with a request_id keeps it in the index.
  TaskEntry* Insert(Task task);
  // The task in RAM with this request_id, if any.
  const Task* ByRequestId(std::string_view request_id) const;
  // Deletes a task from RAM and gives it back; with evicts(), hidden from
  // reads until Deleted(key) (the store still has its row).
  Task Remove(Map::iterator it);
  // Moves a finished task from RAM to the ended index, with its TTL deadline
  // (ns on the steady clock; INT64_MAX: none).
  // False when it must wait, for a read made ahead (BeginOutsideRead);
  // `released`: EndOutsideRead gave its key, it waits no more.
  [[nodiscard]] bool Evict(Map::iterator it, int64_t expire_ns, bool released = false);

  // ---- finished tasks only in the store (evicts())
  EndedIndex& ended() { return ended_; }
  // Deletes a task that is only in the store from the index, hidden from
  // reads until Deleted(key).
  void RemoveStored(const Task& task);
  // Hides the task with this key from reads until Deleted(key).
  void Deleting(uint64_t key) { MarkDeleting(key); }
  // Its deletion committed: the store no longer has it.
  void Deleted(uint64_t key);
  // Being deleted, or deleted while a read made ahead was out (hidden either way).
  bool IsDeleting(uint64_t key) const {
    return deleting_.count(key) > 0 || deleted_keys_.count(key) > 0;
  }
  // ---- store reads made ahead, off the strand
  // What a reader fetched from the store (ReadAhead, admission.h) for a
  // call that would otherwise read on the strand: tasks by key (nullopt: no
  // row) and by request_id; `status`: the first read that failed.
  struct Prefetched {
    std::unordered_map<uint64_t, std::optional<Task>> by_key;
    std::unordered_map<std::string, std::vector<Task>> by_request_id;
    Status status;
    uint64_t ticket = 0;  // the read's (BeginOutsideRead); 0: none
  };
  // While in scope, ReadStored and StoredByRequestId answer from `p` for
  // what it holds (the table's own checks, RAM and deletions, still apply:
  // a read made ahead holds while BeginOutsideRead's ticket is out). A
  // null `p` is not used.
  class Using {
   public:
    Using(TaskTable& table, const Prefetched* p) : table_(table) { table_.prefetched_ = p; }
    ~Using() { table_.prefetched_ = nullptr; }
    Using(const Using&) = delete;
    Using& operator=(const Using&) = delete;

   private:
    TaskTable& table_;
  };

  // The rows of finished tasks a List page scans, read ahead: those that
  // match, with keys in (start_after, scanned], in id order; `status`: the
  // read failed.
  struct EndedAhead {
    std::vector<Task> tasks;
    uint64_t scanned = 0;
    bool done = false;  // no row past `scanned`
    Status status;
  };
  // The keys of those `ids` a read would look up in the store: valid ids,
  // not being deleted, not in RAM or about to leave it (LeavingRam); none
  // when !evicts().
  std::vector<uint64_t> OnlyInStore(const std::vector<std::string>& ids) const;
  // Whether List(request) scans the store (else it reads RAM, and the
  // store only by key for listed ids).
  bool ScansStore(const ListRequest& request) const;
  // Any thread: reads what List(request) would scan, stopping at
  // page_size + 1 matches or kListScanRows rows.
  static EndedAhead ReadEndedAhead(Store& store, const ListRequest& request);
  // While a read made ahead is out, the finished tasks that would leave RAM
  // stay (Evict waits) and committed deletions are remembered, so the rows
  // it brings back merge with RAM as rows read here would. Begin gives the
  // read's ticket; End gives back the keys whose eviction no read still out
  // waits for (only reads begun before an eviction hold it back, so a
  // stream of overlapping reads does not hold evictions for long).
  uint64_t BeginOutsideRead();
  std::vector<uint64_t> EndOutsideRead(uint64_t ticket);
  // A finished task in RAM whose eviction waits for a read begun earlier:
  // it may leave RAM while a read begun now is out, so that read must not
  // count on finding it in RAM (it reads it ahead from the store).
  bool LeavingRam(uint64_t key) const { return waiting_keys_.count(key) > 0; }

  // ---- reads (RAM, else the store)
  // The task with this id as the store has it, when it is not in RAM:
  // nullopt when there is none (or it is being deleted).
  StatusOr<std::optional<Task>> ReadStored(std::string_view id);
  // ReadStored, with none being NOT_FOUND naming the id (TaskNotFound).
  StatusOr<Task> StoredOrNotFound(std::string_view id);
  // The NOT_FOUND of a task id that names no task.
  static Status TaskNotFound(std::string_view id);
  // The task with this id, from RAM or the store (a copy).
  StatusOr<std::optional<Task>> Lookup(std::string_view id);
  // A finished task only in the store that holds this request_id.
  StatusOr<std::optional<Task>> StoredByRequestId(const std::string& request_id);
  // A page of every matching task, RAM and store merged in id order; the
  // store's rows from `ahead` when given (taken from it).
  StatusOr<ListResult> List(const ListRequest& request, EndedAhead* ahead = nullptr);
  // A page of a subscription's snapshot (TaskManager::SnapshotPage): with
  // ids, each listed task; without, the matching tasks in RAM, and with
  // evicts() only unfinished ones.
  StatusOr<ListResult> Snapshot(ListRequest request);

 private:
  StatusOr<ListResult> ListMerged(const ListRequest& request, EndedAhead* ahead);
  // Drops the request-id index entry that points at this task (a later
  // task with the same request_id keeps its own).
  void Unindex(Map::iterator it);
  void MarkDeleting(uint64_t key) { deleting_.insert(key); }

  Store& store_;
  const bool evict_;
  Map tasks_;
  // request_id -> task key; each key views the task's own request_id.
  std::unordered_map<std::string_view, uint64_t> request_ids_;
  EndedIndex ended_;
  // Keys of deleted tasks whose deletion is not committed yet: the store
  // still has them, reads must not (evicts()).
  std::unordered_set<uint64_t> deleting_;
  const Prefetched* prefetched_ = nullptr;
  // Reads made ahead that are out, by ticket; the evictions that wait for
  // them and the deletions that committed while one was out, each in ticket
  // order (a ticket taken then), kept until no read begun before is out.
  uint64_t tickets_ = 0;
  std::set<uint64_t> outside_reads_;
  std::deque<std::pair<uint64_t, uint64_t>> waiting_evictions_, deleted_while_read_;
  std::unordered_set<uint64_t> deleted_keys_;  // the keys in deleted_while_read_
  // The keys in waiting_evictions_, each with how often it is there.
  std::unordered_map<uint64_t, int> waiting_keys_;
};

}  // namespace taskd
