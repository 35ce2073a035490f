// Retention alone, on a ManualClock: a finished task is deleted at the end
// of its retention and not before, through the one delete path (row, logs,
// event), and never once stopped.
#include "core/engine/retention.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/fakes/manager_harness.h"
#include "tests/fakes/stores.h"
#include "tests/fakes/strand_loop.h"

namespace taskd {
namespace {

using namespace std::chrono_literals;
using testing::FlakyStore;

class RetentionTest : public ::testing::Test {
 protected:
  RetentionTest()
      : table_(store_),
        persister_(store_, loop_.strand, loop_.clock,
                   Persister::Hooks{[](const std::string&) -> const Task* { return nullptr; },
                                    [](const std::string&) { return true; },
                                    [](const std::vector<std::string>&, Persister::WriteOf) {},
                                    Persister::OnCommit::kNothing}),
        retention_(loop_.strand, loop_.clock, store_, table_, persister_, events_,
                   [this](const std::string& id) {
                     return std::vector<std::filesystem::path>{dir_.path() / (id + ".out")};
                   }) {
    events_.Add(
        1, TaskFilter{},
        [this](const TaskEvent& e) {
          if (e.type == TaskEvent::Type::kDeleted) deleted_.push_back(e.task.id);
        },
        nullptr, EventTypes::All());
  }
  // A finished task in the table, with a log file, to be deleted in `ttl`.
  std::string Finished(Duration ttl) {
    Task t;
    t.id = NewTaskId();
    t.state = TaskState::kCompleted;
    std::string id = t.id;
    table_.Insert(std::move(t));
    std::ofstream(dir_.path() / (id + ".out")) << "output";
    retention_.Schedule(
        id, loop_.clock.SteadyNow() + std::chrono::duration_cast<SteadyTime::duration>(ttl));
    return id;
  }
  void Advance(Duration d) { loop_.Advance(d); }
  bool Gone(const std::string& id) {
    return table_.Find(id) == table_.end() && !std::filesystem::exists(dir_.path() / (id + ".out"));
  }
  size_t RowDeletes() const {
    size_t n = 0;
    for (const auto& batch : store_.written()) {
      for (const auto& op : batch) n += op.kind == StoreOp::Kind::kDelete;
    }
    return n;
  }

  testing::TempDir dir_;
  testing::StrandLoop loop_;
  FlakyStore store_;  // durable, serves no reads: finished tasks stay in RAM
  TaskTable table_;
  Persister persister_;
  EventBus events_;
  Retention retention_;
  std::vector<std::string> deleted_;
};

TEST_F(RetentionTest, AFinishedTaskIsDeletedAtItsDeadlineNotBefore) {
  std::string id = Finished(10s);
  Advance(9s);
  EXPECT_FALSE(Gone(id));
  EXPECT_TRUE(deleted_.empty());
  Advance(1s);
  EXPECT_TRUE(Gone(id));
  EXPECT_EQ(deleted_, std::vector<std::string>{id});
  EXPECT_EQ(RowDeletes(), 1u);
}

TEST_F(RetentionTest, DeadlinesOutOfOrderAreEachKept) {
  std::string late = Finished(30s);
  std::string early = Finished(5s);
  Advance(5s);
  EXPECT_TRUE(Gone(early));
  EXPECT_FALSE(Gone(late));
  Advance(25s);
  EXPECT_TRUE(Gone(late));
  EXPECT_EQ(deleted_, (std::vector<std::string>{early, late}));
}

TEST_F(RetentionTest, EraseDeletesAtOnceAndTheDeadlineFindsNothingLater) {
  std::string id = Finished(10s);
  bool logs_gone = false;
  retention_.Erase(id, [&] { logs_gone = true; });
  EXPECT_EQ(table_.Find(id), table_.end());  // at once; the logs go off the strand
  Advance(Duration::zero());
  EXPECT_TRUE(logs_gone);
  EXPECT_TRUE(Gone(id));
  Advance(10s);
  EXPECT_EQ(deleted_, std::vector<std::string>{id});  // once
  EXPECT_EQ(RowDeletes(), 1u);
}

TEST_F(RetentionTest, AnUnfinishedTaskIsNeverDeletedByItsDeadline) {
  std::string id = Finished(1s);
  table_.Find(id)->second.task.state = TaskState::kPending;  // retried meanwhile
  Advance(2s);
  EXPECT_FALSE(Gone(id));
  EXPECT_TRUE(deleted_.empty());
}

TEST_F(RetentionTest, NoSweepRunsOnceStopped) {
  std::string id = Finished(1s);
  retention_.Stop();
  Advance(2s);
  EXPECT_FALSE(Gone(id));
}

}  // namespace
}  // namespace taskd
