// Persister alone, on a store that fails or holds writes on demand and a
// ManualClock: what is written, what is written again, and when the
// manager hears of a commit.
#include "core/engine/persister.h"

#include <gtest/gtest.h>

#include <map>

#include "tests/fakes/stores.h"
#include "tests/fakes/strand_loop.h"

namespace taskd {
namespace {

using testing::FlakyStore;
using Op = FlakyStore::Op;
using Kind = StoreOp::Kind;

class PersisterTest : public ::testing::Test {
 protected:
  void SetUp() override { Make(); }
  void Make() {
    Persister::Hooks hooks;
    hooks.current = [this](const std::string& id) -> const Task* {
      auto it = tasks_.find(id);
      return it == tasks_.end() ? nullptr : &it->second;
    };
    hooks.deletion_pending = [this](const std::string& id) { return deleting_.count(id) > 0; };
    hooks.committed = [this](const std::vector<std::string>& ids, Persister::WriteOf of) {
      EXPECT_TRUE(loop_.strand.running_in_this_thread());
      for (const auto& id : ids) committed_.emplace_back(id, of);
    };
    hooks.retries = Persister::OnCommit::kNotify;
    p_ = std::make_unique<Persister>(store_, loop_.strand, loop_.clock, std::move(hooks));
  }
  Task& Put(std::string id, double percent) {
    Task& t = tasks_[id];
    t.id = id;
    t.progress.percent = percent;
    return t;
  }
  void Run() { loop_.Run(); }

  testing::StrandLoop loop_;
  FlakyStore store_;
  std::map<std::string, Task> tasks_;
  std::set<std::string> deleting_;
  std::vector<std::pair<std::string, Persister::WriteOf>> committed_;
  std::unique_ptr<Persister> p_;
};

TEST_F(PersisterTest, AFailedPutIsWrittenAgainAsTheTaskIsThen) {
  store_.failing(true);
  p_->Put(Put("t", 10), Persister::OnCommit::kNothing);
  Run();
  EXPECT_TRUE(p_->Unpersisted("t"));
  Put("t", 60);  // changed meanwhile
  store_.failing(false);
  loop_.clock.Advance(Persister::kRetryEvery);
  Run();
  EXPECT_FALSE(p_->Unpersisted("t"));
  ASSERT_EQ(store_.written().size(), 1u);
  EXPECT_EQ(store_.written()[0], (std::vector<Op>{{Kind::kPut, "t", 60}}));
}

TEST_F(PersisterTest, RetriesUntilTheWriteCommits) {
  store_.failing(true);
  p_->Put(Put("t", 1), Persister::OnCommit::kNothing);
  Run();
  for (int i = 0; i < 3; ++i) {
    loop_.clock.Advance(Persister::kRetryEvery);
    Run();
    EXPECT_TRUE(p_->Unpersisted("t"));
  }
  store_.failing(false);
  loop_.clock.Advance(Persister::kRetryEvery);
  Run();
  EXPECT_FALSE(p_->Unpersisted("t"));
  EXPECT_EQ(store_.written().size(), 1u);
}

TEST_F(PersisterTest, AGoneTaskIsRewrittenAsItsDeletionOnlyWhileThatIsPending) {
  store_.failing(true);
  p_->Put(Put("deleted", 0), Persister::OnCommit::kNothing);
  p_->Put(Put("evicted", 0), Persister::OnCommit::kNothing);
  Run();
  tasks_.clear();
  deleting_.insert("deleted");  // "evicted" left RAM with its final state committed
  store_.failing(false);
  loop_.clock.Advance(Persister::kRetryEvery);
  Run();
  ASSERT_EQ(store_.written().size(), 1u);
  EXPECT_EQ(store_.written()[0], (std::vector<Op>{{Kind::kDelete, "deleted"}}));
  EXPECT_EQ(committed_, (std::vector<std::pair<std::string, Persister::WriteOf>>{
                            {"deleted", Persister::WriteOf::kDeletes}}));
}

TEST_F(PersisterTest, NotifiesOnTheStrandOnlyWhenAsked) {
  p_->Put(Put("quiet", 0), Persister::OnCommit::kNothing);
  p_->Put(Put("told", 0), Persister::OnCommit::kNotify);
  p_->Delete({"a", "b"}, Persister::OnCommit::kNotify);
  EXPECT_TRUE(committed_.empty());  // posted, not called inline
  Run();
  EXPECT_EQ(committed_, (std::vector<std::pair<std::string, Persister::WriteOf>>{
                            {"told", Persister::WriteOf::kPuts},
                            {"a", Persister::WriteOf::kDeletes},
                            {"b", Persister::WriteOf::kDeletes}}));
  EXPECT_EQ(store_.written()[2], (std::vector<Op>{{Kind::kDelete, "a"}, {Kind::kDelete, "b"}}));
}

TEST_F(PersisterTest, AStoreCallbackAfterThePersisterIsGoneDoesNothing) {
  store_.holding(true);
  p_->Put(Put("t", 0), Persister::OnCommit::kNotify);
  store_.failing(true);
  p_->Put(Put("u", 0), Persister::OnCommit::kNotify);
  p_.reset();
  for (auto& done : store_.TakeHeld()) done();
  Run();
  EXPECT_TRUE(committed_.empty());
}

}  // namespace
}  // namespace taskd
