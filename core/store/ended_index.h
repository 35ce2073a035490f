// EndedIndex: what the TaskManager keeps in RAM for the finished tasks that
// live only in the store — about 24 bytes each (see bench/durable_bench.cc):
//
//  - a min-heap of EndedTask by deadline, for TTL expiry;
//  - an open-addressing multiset of request_id hashes, so that a submit with
//    a new request_id needs no store lookup (a hit is confirmed by reading
//    the store: hashes may collide);
//  - counts by state, for stats.
//
// A task deleted before its deadline leaves its heap entry behind; the entry
// is dropped when it comes due.
//
// Not thread-safe: the manager strand owns it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_set>
#include <vector>

#include "core/store/store.h"

namespace taskd {

class EndedIndex {
 public:
  // Replaces the contents with `ended` (expire_ns already a deadline on the
  // manager's clock), kept as the heap in place: no copy.
  void Reset(std::vector<EndedTask> ended);
  void Add(const EndedTask& t);
  // Forgets a task deleted before its deadline.
  void Remove(const EndedTask& t);
  // The earliest deadline of an entry still present; INT64_MAX when none.
  int64_t NextDeadline();
  // Takes out the earliest entry whose deadline is <= now; false when none is due.
  bool PopDue(int64_t now, EndedTask* out);

  bool MayHaveRequestId(uint64_t rid_hash) const;
  size_t count(TaskState s) const { return by_state_[static_cast<size_t>(s) & 7]; }
  size_t size() const { return size_; }

 private:
  void DropRemovedTop();
  void InsertHash(uint64_t h);
  void EraseHash(uint64_t h);
  size_t Home(uint64_t h) const {
    return static_cast<size_t>((h * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  void Rehash(size_t capacity);

  std::vector<EndedTask> heap_;           // min-heap by expire_ns
  std::unordered_set<uint64_t> removed_;  // keys deleted while in heap_
  std::vector<uint64_t> rids_;            // linear probing; 0: empty slot; size a power of 2
  size_t rid_count_ = 0;
  int shift_ = 64;
  size_t by_state_[8] = {};
  size_t size_ = 0;  // tasks indexed (heap entries not removed)
};

}  // namespace taskd
