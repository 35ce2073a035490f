#include "core/store/ended_index.h"

#include <algorithm>
#include <bit>

namespace taskd {

namespace {
// std::push_heap builds a max-heap: "a after b" makes it a min-heap by deadline.
bool Later(const EndedTask& a, const EndedTask& b) { return a.expire_ns > b.expire_ns; }
}  // namespace

void EndedIndex::Reset(std::vector<EndedTask> ended) {
  heap_ = std::move(ended);
  std::make_heap(heap_.begin(), heap_.end(), Later);
  removed_.clear();
  std::fill(std::begin(by_state_), std::end(by_state_), 0);
  size_t with_rid = 0;
  for (const EndedTask& t : heap_) {
    ++by_state_[static_cast<size_t>(t.state())];
    with_rid += t.rid_hash() != 0;
  }
  size_ = heap_.size();
  rids_.clear();
  rid_count_ = 0;
  shift_ = 64;
  if (with_rid > 0) Rehash(std::bit_ceil(with_rid + with_rid / 3 + 1));
  for (const EndedTask& t : heap_) {
    if (t.rid_hash() != 0) InsertHash(t.rid_hash());
  }
}

void EndedIndex::Add(const EndedTask& t) {
  heap_.push_back(t);
  std::push_heap(heap_.begin(), heap_.end(), Later);
  ++by_state_[static_cast<size_t>(t.state())];
  ++size_;
  if (t.rid_hash() != 0) InsertHash(t.rid_hash());
}

void EndedIndex::Remove(const EndedTask& t) {
  if (!removed_.insert(t.key).second) return;
  --by_state_[static_cast<size_t>(t.state())];
  --size_;
  if (t.rid_hash() != 0) EraseHash(t.rid_hash());
}

void EndedIndex::DropRemovedTop() {
  while (!heap_.empty() && !removed_.empty()) {
    auto it = removed_.find(heap_.front().key);
    if (it == removed_.end()) return;
    removed_.erase(it);
    std::pop_heap(heap_.begin(), heap_.end(), Later);
    heap_.pop_back();
  }
}

int64_t EndedIndex::NextDeadline() {
  DropRemovedTop();
  return heap_.empty() ? INT64_MAX : heap_.front().expire_ns;
}

bool EndedIndex::PopDue(int64_t now, EndedTask* out) {
  DropRemovedTop();
  if (heap_.empty() || heap_.front().expire_ns > now) return false;
  std::pop_heap(heap_.begin(), heap_.end(), Later);
  *out = heap_.back();
  heap_.pop_back();
  --by_state_[static_cast<size_t>(out->state())];
  --size_;
  if (out->rid_hash() != 0) EraseHash(out->rid_hash());
  return true;
}

bool EndedIndex::MayHaveRequestId(uint64_t h) const {
  if (h == 0 || rids_.empty()) return false;
  const size_t mask = rids_.size() - 1;
  for (size_t i = Home(h);; i = (i + 1) & mask) {
    if (rids_[i] == h) return true;
    if (rids_[i] == 0) return false;
  }
}

void EndedIndex::Rehash(size_t capacity) {
  std::vector<uint64_t> old = std::move(rids_);
  rids_.assign(capacity, 0);
  shift_ = 64 - std::countr_zero(capacity);
  rid_count_ = 0;
  for (uint64_t h : old) {
    if (h != 0) InsertHash(h);
  }
}

void EndedIndex::InsertHash(uint64_t h) {
  // At most 3/4 full, so that probes stay short.
  if (rids_.empty() || (rid_count_ + 1) * 4 > rids_.size() * 3) {
    Rehash(std::max<size_t>(16, rids_.size() * 2));
  }
  const size_t mask = rids_.size() - 1;
  size_t i = Home(h);
  while (rids_[i] != 0) i = (i + 1) & mask;
  rids_[i] = h;
  ++rid_count_;
}

void EndedIndex::EraseHash(uint64_t h) {
  if (rids_.empty()) return;
  const size_t mask = rids_.size() - 1;
  size_t i = Home(h);
  while (rids_[i] != h) {
    if (rids_[i] == 0) return;
    i = (i + 1) & mask;
  }
  // Backward-shift deletion: move later entries of the probe run into the
  // hole when their home slot allows, so no tombstones are needed.
  for (size_t j = (i + 1) & mask; rids_[j] != 0; j = (j + 1) & mask) {
    const size_t home = Home(rids_[j]);
    // Entry j may move to i when i lies cyclically in [home, j).
    const bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
    if (movable) {
      rids_[i] = rids_[j];
      i = j;
    }
  }
  rids_[i] = 0;
  --rid_count_;
}

}  // namespace taskd
