// EndedIndex alone: the 24-byte entries of finished tasks held only in the
// store (deadline order, request_id hashes, counts by state).
#include "core/store/ended_index.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace taskd {
namespace {

TEST(EndedIndex, RequestIdHashesSurviveCollisionsAndRemovals) {
  EndedIndex index;
  std::vector<EndedTask> tasks;
  for (uint64_t i = 1; i <= 2000; ++i) {
    EndedTask e;
    e.key = i;
    e.expire_ns = static_cast<int64_t>(5000 - i);
    // Every fourth has a request_id; hashes repeat (a multiset).
    uint64_t rid = i % 4 == 0 ? RequestIdHash("r" + std::to_string(i % 100)) : 0;
    e.rid_state = EndedTask::Pack(rid, i % 2 ? TaskState::kCompleted : TaskState::kFailed);
    tasks.push_back(e);
  }
  index.Reset(std::vector<EndedTask>(tasks.begin(), tasks.begin() + 1000));
  for (size_t i = 1000; i < tasks.size(); ++i) index.Add(tasks[i]);
  EXPECT_EQ(index.size(), 2000u);
  EXPECT_EQ(index.count(TaskState::kCompleted), 1000u);
  EXPECT_TRUE(index.MayHaveRequestId(RequestIdHash("r4")));
  EXPECT_FALSE(index.MayHaveRequestId(RequestIdHash("r1")));  // i % 4 == 0 only
  // Remove every task with "r4" but one: still there; then the last one.
  std::vector<EndedTask> r4;
  for (const auto& t : tasks) {
    if (t.rid_hash() == RequestIdHash("r4")) r4.push_back(t);
  }
  ASSERT_GT(r4.size(), 2u);
  for (size_t i = 0; i + 1 < r4.size(); ++i) index.Remove(r4[i]);
  EXPECT_TRUE(index.MayHaveRequestId(RequestIdHash("r4")));
  index.Remove(r4.back());
  EXPECT_FALSE(index.MayHaveRequestId(RequestIdHash("r4")));
  EXPECT_TRUE(index.MayHaveRequestId(RequestIdHash("r8")));
  // Expiry in deadline order, skipping the removed ones.
  int64_t last = INT64_MIN;
  size_t popped = 0;
  EndedTask e;
  while (index.PopDue(INT64_MAX - 1, &e)) {
    EXPECT_GE(e.expire_ns, last);
    EXPECT_NE(e.rid_hash(), RequestIdHash("r4"));
    last = e.expire_ns;
    ++popped;
  }
  EXPECT_EQ(popped, 2000u - r4.size());
  EXPECT_EQ(index.size(), 0u);
  EXPECT_FALSE(index.MayHaveRequestId(RequestIdHash("r8")));
}

}  // namespace
}  // namespace taskd
