// Reads of finished tasks held only in the store (SqliteStore in a temp
// dir) run on an io thread, not on the manager strand: a submit's (its
// `after` ids and request_id) and those of requests about one task.
#include <future>

#include "core/store/sqlite_store.h"
#include "tests/fakes/manager_harness.h"
#include "tests/fakes/stores.h"

namespace taskd {
namespace {

using namespace std::chrono_literals;
using testing::Exec;

class StoreReadsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sqlite_ = testing::OpenSqlite(dir_.path() / "taskd.db");
    ASSERT_TRUE(sqlite_);
    store_ = std::make_unique<testing::StrandWatchingStore>(*sqlite_);
    h_ = std::make_unique<testing::ManagerHarness>(ManagerOptions{}, store_.get());
    ASSERT_TRUE(h_->start_status().ok());
    store_->Watch([this] { return h_->m().strand().running_in_this_thread(); });
  }
  void TearDown() override {
    h_.reset();
    store_.reset();
    sqlite_.reset();
  }
  Status Delete(const std::string& id) {
    std::promise<Status> p;
    h_->m().Delete(id, [&](Status s) { p.set_value(s); });
    auto f = p.get_future();
    return testing::Await(f);
  }
  StatusOr<Task> Progress(const std::string& id) {
    std::promise<StatusOr<Task>> p;
    h_->m().ReportProgress(id, 50, "", [&](StatusOr<Task> t) { p.set_value(std::move(t)); });
    auto f = p.get_future();
    return testing::Await(f);
  }

  testing::TempDir dir_;
  std::unique_ptr<SqliteStore> sqlite_;
  std::unique_ptr<testing::StrandWatchingStore> store_;
  std::unique_ptr<testing::ManagerHarness> h_;
};

// A submit whose `after` ids and request_id belong to finished tasks held
// only in the store reads them on an io thread, not on the manager strand,
// and admits as it would with the reads made there.
TEST_F(StoreReadsTest, ASubmitReadsFinishedTasksOffTheStrand) {
  Task ok = h_->Finished(Exec({"true"}), "rid-ok");
  Task bad = h_->Finished(Exec({"false"}));
  const int on_strand = store_->on_strand();
  const int off_strand = store_->off_strand();

  TaskSpec spec = Exec({"true"});
  spec.after = {ok.id, bad.id};
  auto dependent = h_->Submit(spec);
  ASSERT_TRUE(dependent.ok()) << dependent.status().ToString();
  EXPECT_EQ(dependent->state, TaskState::kFailed);  // as admitted: `bad` failed
  EXPECT_EQ(dependent->reason, TaskReason::kDependencyFailed);
  auto again = h_->Submit(Exec({"true"}), "rid-ok");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->id, ok.id);

  EXPECT_EQ(store_->on_strand(), on_strand);
  EXPECT_GE(store_->off_strand(), off_strand + 3);  // two `after` ids, one request_id
}

TEST_F(StoreReadsTest, RequestsAboutAFinishedTaskReadItOffTheStrand) {
  Task done = h_->Finished(Exec({"sh", "-c", "exit 3"}));
  const int on_strand = store_->on_strand();
  const int off_strand = store_->off_strand();

  auto got = h_->Get(done.id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->state, TaskState::kFailed);
  EXPECT_EQ(got->result->exit_code, 3);
  auto waited = h_->Wait(done.id, 10s);
  ASSERT_TRUE(waited.ok());
  EXPECT_EQ(waited->id, done.id);
  auto cancel = h_->Cancel(done.id);
  EXPECT_EQ(cancel.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(cancel.status().message().find("already ended (FAILED)"), std::string::npos);
  auto progress = Progress(done.id);
  EXPECT_EQ(progress.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Delete(done.id).ok());
  // Deleted: gone for every read, and a second delete finds nothing.
  EXPECT_EQ(h_->Get(done.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Delete(done.id).code(), StatusCode::kNotFound);

  EXPECT_EQ(store_->on_strand(), on_strand);
  EXPECT_GE(store_->off_strand(), off_strand + 5);  // get, wait, cancel, progress, delete
}

// A List over finished states scans the store on an io thread, and so do a
// List and a snapshot page by ids for tasks only in the store; each page is
// what the reads made on the strand gave.
TEST_F(StoreReadsTest, ListingFinishedTasksReadsThemOffTheStrand) {
  Task first = h_->Finished(Exec({"true"}));
  Task second = h_->Finished(Exec({"false"}));
  const int on_strand = store_->on_strand();
  const int off_strand = store_->off_strand();

  auto page = [&](ListRequest request, bool snapshot) {
    std::promise<StatusOr<ListResult>> p;
    auto done = [&](StatusOr<ListResult> r) { p.set_value(std::move(r)); };
    if (snapshot) {
      h_->m().SnapshotPage(std::move(request), done);
    } else {
      h_->m().List(std::move(request), done);
    }
    auto f = p.get_future();
    return testing::Await(f);
  };
  auto ids = [](const StatusOr<ListResult>& r) {
    std::vector<std::string> out;
    if (r.ok()) {
      for (const auto& t : r->tasks) out.push_back(t.id);
    }
    return out;
  };
  const std::vector<std::string> both = {first.id, second.id};
  EXPECT_EQ(ids(page(ListRequest{}, false)), both);
  ListRequest failed;
  failed.filter.states = {TaskState::kFailed};
  EXPECT_EQ(ids(page(failed, false)), std::vector<std::string>{second.id});
  ListRequest by_ids;
  by_ids.filter.ids = {second.id, first.id};
  EXPECT_EQ(ids(page(by_ids, false)), both);
  EXPECT_EQ(ids(page(by_ids, true)), both);

  EXPECT_EQ(store_->on_strand(), on_strand);
  EXPECT_GE(store_->off_strand(), off_strand + 6);  // two scans, two ids twice
}

}  // namespace
}  // namespace taskd
