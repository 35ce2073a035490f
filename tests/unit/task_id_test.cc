// Task ids: creation order, strictly increasing in a process, a node number
// inside so that nodes sharing one store never make the same id.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "core/model/task.h"

namespace taskd {
namespace {

class TaskIdTest : public ::testing::Test {
 protected:
  void TearDown() override { SetTaskIdNode(0); }

  static uint64_t NowMillis() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  }
  static uint64_t Number(const std::string& id) {
    auto n = TaskIdNumber(id);
    EXPECT_TRUE(n.has_value()) << id;
    return n.value_or(0);
  }
};

TEST_F(TaskIdTest, IdsAreStrictlyIncreasingEvenBeyondASequenceAMillisecond) {
  // More ids than one millisecond's sequence holds, as fast as they come.
  std::vector<uint64_t> numbers;
  for (int i = 0; i < 3 * (1 << kTaskIdSequenceBits); ++i) numbers.push_back(Number(NewTaskId()));
  for (size_t i = 1; i < numbers.size(); ++i) ASSERT_LT(numbers[i - 1], numbers[i]) << i;
}

TEST_F(TaskIdTest, AnIdCarriesItsNodeAndItsMillisecond) {
  SetTaskIdNode(5);
  const uint64_t before = NowMillis();
  const uint64_t n = Number(NewTaskId());
  EXPECT_EQ(TaskIdNode(n), 5u);
  EXPECT_GE(n >> 16, before);  // (ahead of the clock only after ObserveTaskId of a later id)
}

TEST_F(TaskIdTest, TwoNodesInTheSameMillisecondMakeDifferentIds) {
  std::set<std::string> ids;
  std::set<uint64_t> millis;
  for (uint32_t node : {1u, 2u, 3u}) {
    SetTaskIdNode(node);
    for (int i = 0; i < 100; ++i) {
      const std::string id = NewTaskId();
      EXPECT_EQ(TaskIdNode(Number(id)), node);
      EXPECT_TRUE(ids.insert(id).second) << id;
    }
  }
  EXPECT_EQ(ids.size(), 300u);
}

TEST_F(TaskIdTest, AfterObservingAnIdOfAnyNodeNewIdsSortAfterIt) {
  SetTaskIdNode(4);
  const uint64_t future = (NowMillis() + 60'000) << 16;  // a minute ahead
  for (uint32_t their_node : {3u, 4u, 9u}) {
    const uint64_t seen = future | uint64_t{their_node} << kTaskIdSequenceBits | 7;
    ObserveTaskId(TaskIdFromNumber(seen));
    const uint64_t next = Number(NewTaskId());
    EXPECT_GT(next, seen) << "node " << their_node;
    EXPECT_EQ(TaskIdNode(next), 4u);
  }
}

TEST_F(TaskIdTest, AnIdFromBeforeNodeNumbersStillParsesAndIsPassed) {
  // Ids used to be (ms << 16 | a 16-bit sequence): 40,000 tasks in one
  // millisecond left bits in what is now the node field.
  const uint64_t old = ((NowMillis() + 120'000) << 16) | 40000;
  const std::string id = TaskIdFromNumber(old);
  EXPECT_EQ(TaskIdNumber(id), old);
  ObserveTaskId(id);
  EXPECT_GT(Number(NewTaskId()), old);
}

TEST_F(TaskIdTest, ANodeOutOfRangeIsABug) {
  EXPECT_DEATH(SetTaskIdNode(kTaskIdNodes), "out of range");
}

}  // namespace
}  // namespace taskd
