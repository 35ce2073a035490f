// Reads of finished tasks held only in the store (SqliteStore in a temp
// dir) run on an io thread, not on the manager strand: a submit's (its
// `after` ids and request_id) and those of requests about one task.
#include <future>

#include "core/model/clock.h"
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
    ManagerOptions o;
    o.clock = &clock_;  // for TTLs; nothing else here waits on the clock
    h_ = std::make_unique<testing::ManagerHarness>(std::move(o), store_.get());
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

  ManualClock clock_;
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

// A watch by ids reads the listed tasks only in the store on an io thread:
// its snapshot holds them, a listed id that names nothing closes it
// NOT_FOUND, and one unsubscribed before the reads are back is never
// registered (the deletion below would reach it).
TEST_F(StoreReadsTest, AWatchByIdsReadsItsTasksOffTheStrand) {
  Task done = h_->Finished(Exec({"true"}));
  const int on_strand = store_->on_strand();
  const int off_strand = store_->off_strand();

  TaskFilter filter;
  filter.ids = {done.id};
  std::promise<TaskEvent::Type> first;
  std::atomic<bool> got_first{false};
  uint64_t handle = h_->m().Subscribe(filter, true, [&](const TaskEvent& e) {
    if (!got_first.exchange(true)) first.set_value(e.type);
  });
  auto f = first.get_future();
  EXPECT_EQ(testing::Await(f), TaskEvent::Type::kSnapshot);
  h_->m().Unsubscribe(handle);

  filter.ids = {done.id, "0000000000000"};
  std::promise<Status> closed;
  h_->m().Subscribe(
      filter, false, [](const TaskEvent&) {}, [&](Status s) { closed.set_value(s); });
  auto c = closed.get_future();
  EXPECT_EQ(testing::Await(c).code(), StatusCode::kNotFound);

  filter.ids = {done.id};
  std::atomic<int> late{0};
  h_->m().Unsubscribe(h_->m().Subscribe(filter, false, [&](const TaskEvent&) { ++late; }));
  EXPECT_TRUE(Delete(done.id).ok());
  EXPECT_EQ(late.load(), 0);

  EXPECT_EQ(store_->on_strand(), on_strand);
  EXPECT_GE(store_->off_strand(), off_strand + 3);
}

// The end of retention of a task only in the store reads its row for the
// delete event a subscriber wants on an io thread, and the event carries
// the task (its labels, what a filter matches on).
TEST_F(StoreReadsTest, ExpiryReadsTheRowForADeleteEventOffTheStrand) {
  TaskSpec spec = Exec({"true"});
  spec.ttl = 10min;
  spec.labels = {{"team", "a"}};
  Task done = h_->Finished(spec);
  const int on_strand = store_->on_strand();
  const int off_strand = store_->off_strand();

  TaskFilter filter;
  filter.labels = {{"team", "a"}};
  std::promise<Task> deleted;
  h_->m().Subscribe(filter, false, [&](const TaskEvent& e) { deleted.set_value(e.task); }, nullptr,
                    {TaskEvent::Type::kDeleted});
  // The subscription is registered once a call posted after it is answered.
  ASSERT_TRUE(h_->Get(done.id).ok());
  clock_.Advance(10min);
  auto f = deleted.get_future();
  Task gone = testing::Await(f);
  EXPECT_EQ(gone.id, done.id);
  EXPECT_EQ(gone.state, TaskState::kCompleted);
  h_->WaitInStore(0);
  EXPECT_EQ(h_->Get(done.id).status().code(), StatusCode::kNotFound);

  EXPECT_EQ(store_->on_strand(), on_strand);
  EXPECT_GE(store_->off_strand(), off_strand + 2);  // the get, the expiring row
}

// While a watch by ids waits for its reads, an event on a listed task in
// RAM is held for it, not lost: it arrives once the reads are back.
TEST_F(StoreReadsTest, AWatchByIdsMissesNoEventWhileItsTasksAreRead) {
  Task done = h_->Finished(Exec({"true"}));
  auto running = h_->Submit(Exec({"sleep", "30"}));
  ASSERT_TRUE(running.ok());
  h_->WaitFor(running->id, [](const Task& t) { return t.state == TaskState::kRunning; });

  TaskFilter filter;
  filter.ids = {done.id, running->id};
  // Shared with the callback: it may outlive an early return of the test.
  struct Seen {
    std::mutex mu;
    std::vector<TaskState> states;
    std::promise<void> cancelled;
  };
  auto seen = std::make_shared<Seen>();
  store_->HoldReads();
  uint64_t handle = h_->m().Subscribe(filter, false, [seen, id = running->id](const TaskEvent& e) {
    std::lock_guard lock(seen->mu);
    seen->states.push_back(e.task.state);
    if (e.task.id == id && e.task.state == TaskState::kCancelled) seen->cancelled.set_value();
  });
  const bool held = store_->AwaitHeldRead();
  auto c = h_->Cancel(running->id);  // its events come while the read is held
  {
    std::lock_guard lock(seen->mu);
    EXPECT_TRUE(seen->states.empty()) << "delivered before the check";
  }
  store_->ReleaseReads();
  ASSERT_TRUE(held);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto f = seen->cancelled.get_future();
  testing::Await(f);
  h_->m().Unsubscribe(handle);
}

}  // namespace
}  // namespace taskd
