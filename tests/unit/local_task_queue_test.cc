// LocalTaskQueue alone (the TaskQueue seam as one node implements it), on a
// ManualClock and a store that records writes: what Dispatch claims, when a
// rate-limited queue is dispatched again, what Record writes, and that
// nothing is claimed after Close.
#include "core/engine/local_task_queue.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "tests/fakes/stores.h"
#include "tests/fakes/strand_loop.h"

namespace taskd {
namespace {

using namespace std::chrono_literals;
using testing::FlakyStore;

class LocalTaskQueueTest : public ::testing::Test {
 protected:
  void Make(int max_running, std::map<std::string, QueueOptions> queues = {}) {
    persister_ = std::make_unique<Persister>(store_, loop_.strand, loop_.clock, Persister::Hooks{});
    q_ = std::make_unique<LocalTaskQueue>(
        loop_.strand, loop_.clock, max_running, std::move(queues),
        [this](uint64_t key, uint64_t) { return offered_.count(key) > 0; }, *persister_,
        TaskQueue::Hooks{.claimed = [this](uint64_t key, void* ref) {
          EXPECT_EQ(ref, reinterpret_cast<void*>(key));
          offered_.erase(key);
          claimed_.push_back(key);
        }});
  }
  void Offer(std::string_view queue, uint64_t key, int64_t priority = 0) {
    offered_.insert(key);
    q_->Offer(q_->QueueOf(queue), key, priority, ++sequence_, reinterpret_cast<void*>(key));
  }
  void Run() { loop_.Run(); }

  testing::StrandLoop loop_;
  FlakyStore store_;
  std::unique_ptr<Persister> persister_;
  std::unique_ptr<LocalTaskQueue> q_;
  std::set<uint64_t> offered_;
  std::vector<uint64_t> claimed_;
  uint64_t sequence_ = 0;
};

TEST_F(LocalTaskQueueTest, DispatchClaimsByPriorityUpToTheLimitAndReleaseFreesASlot) {
  Make(2);
  Offer("default", 1);
  Offer("default", 2, /*priority=*/5);
  Offer("default", 3);
  q_->Dispatch();
  EXPECT_EQ(claimed_, (std::vector<uint64_t>{2, 1}));
  EXPECT_EQ(q_->running(), 2);
  q_->Release(q_->QueueOf("default"));
  q_->Dispatch();
  EXPECT_EQ(claimed_, (std::vector<uint64_t>{2, 1, 3}));
}

TEST_F(LocalTaskQueueTest, AWithdrawnOfferIsNeverClaimed) {
  Make(4);
  Offer("default", 1);
  Offer("default", 2);
  offered_.erase(1);
  q_->Withdraw(q_->QueueOf("default"));
  q_->Dispatch();
  EXPECT_EQ(claimed_, (std::vector<uint64_t>{2}));
}

TEST_F(LocalTaskQueueTest, ARateLimitedQueueIsDispatchedAgainWhenItsTokenComes) {
  Make(8, {{"slow", QueueOptions{0, /*rate=*/2, /*burst=*/1}}});
  Offer("slow", 1);
  Offer("slow", 2);
  q_->Dispatch();
  EXPECT_EQ(claimed_, (std::vector<uint64_t>{1}));
  loop_.clock.Advance(499ms);
  Run();
  EXPECT_EQ(claimed_.size(), 1u);
  loop_.clock.Advance(1ms);
  Run();
  EXPECT_EQ(claimed_, (std::vector<uint64_t>{1, 2}));
}

TEST_F(LocalTaskQueueTest, NothingIsClaimedAfterClose) {
  Make(8, {{"slow", QueueOptions{0, 1, 1}}});
  Offer("slow", 1);
  Offer("slow", 2);
  q_->Dispatch();
  q_->Close();
  loop_.clock.Advance(10s);
  Run();
  Offer("default", 3);
  q_->Dispatch();
  EXPECT_EQ(claimed_, (std::vector<uint64_t>{1}));
}

TEST_F(LocalTaskQueueTest, RecordWritesTheTaskAsItIs) {
  Make(1);
  Task t;
  t.id = NewTaskId();
  t.attempt = 3;
  t.progress.percent = 40;
  q_->Record(t, TaskQueue::Ack::kNone);
  Run();
  ASSERT_EQ(store_.written().size(), 1u);
  EXPECT_EQ(store_.written()[0], (std::vector<FlakyStore::Op>{{StoreOp::Kind::kPut, t.id, 40}}));
}

TEST_F(LocalTaskQueueTest, RunningCountsPerQueue) {
  Make(8);
  Offer("a", 1);
  Offer("b", 2);
  Offer("b", 3);
  q_->Dispatch();
  std::map<std::string, int> running;
  q_->ForEachQueue([&](const std::string& name, int n) { running[name] = n; });
  EXPECT_EQ(running, (std::map<std::string, int>{{"a", 1}, {"b", 2}}));
}

}  // namespace
}  // namespace taskd
