// Finished tasks that live only in the store (SqliteStore in a temp dir):
// every read, write and deadline that reaches a finished task still works
// once it has left RAM, and across a restart.
#include <atomic>
#include <deque>
#include <mutex>

#include "core/store/sqlite_store.h"
#include "tests/fakes/manager_harness.h"
#include "tests/fakes/stores.h"

namespace taskd {
namespace {

using namespace std::chrono_literals;
using testing::CountingStore;
using testing::Exec;
using testing::GatedStore;
using testing::Handler;
using testing::ManagerHarness;
using testing::TempDir;

class EvictionTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  ManagerOptions Options() {
    ManagerOptions o;
    o.clock = &clock_;
    o.log_dir = dir_.path() / "logs";  // shared by restarts
    return o;
  }
  // A new manager (and store connection) on the same database: a restart.
  ManagerHarness& Restart() {
    h_.reset();
    Reopen();
    h_ = std::make_unique<ManagerHarness>(Options(), store_.get());
    EXPECT_TRUE(h_->start_status().ok()) << h_->start_status().ToString();
    return *h_;
  }
  ManagerHarness& h() {
    if (!h_) Restart();
    return *h_;
  }
  // Starts the manager on `decorator`, which wraps store_.
  // `decorator` must outlive the manager: reset h_ before it goes.
  void StartOn(Store& decorator) {
    h_ = std::make_unique<ManagerHarness>(Options(), &decorator);
    ASSERT_TRUE(h_->start_status().ok()) << h_->start_status().ToString();
  }
  void TearDown() override {
    h_.reset();
    store_.reset();
  }

  ManagerStats Stats() { return h().Stats(); }
  void WaitInStore(size_t n) { h().WaitInStore(n); }
  Task Finished(TaskSpec spec, std::string request_id = "") {
    return h().Finished(std::move(spec), std::move(request_id));
  }
  StatusOr<ListResult> List(const ListRequest& req) {
    std::promise<StatusOr<ListResult>> p;
    h().m().List(req, [&](StatusOr<ListResult> r) { p.set_value(std::move(r)); });
    auto f = p.get_future();
    return testing::Await(f);
  }
  // Every page of `req`, in order.
  std::vector<std::string> ListAll(ListRequest req) {
    std::vector<std::string> ids;
    for (int pages = 0; pages < 1000; ++pages) {
      auto r = List(req);
      EXPECT_TRUE(r.ok());
      if (!r.ok()) break;
      EXPECT_LE(r->tasks.size(), req.page_size);
      for (const auto& t : r->tasks) ids.push_back(t.id);
      if (r->last_id.empty()) break;
      req.start_after = r->last_id;
    }
    return ids;
  }
  Status Delete(const std::string& id) {
    std::promise<Status> p;
    h().m().Delete(id, [&](Status s) { p.set_value(s); });
    auto f = p.get_future();
    return testing::Await(f);
  }

  TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<ManagerHarness> h_;

 private:
  void Reopen() {
    store_.reset();
    auto s = SqliteStore::Open(dir_.path() / "taskd.db");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
};

TEST_F(EvictionTest, AFinalStateCommittingAfterTheDeleteWasQueuedDoesNotRevealTheTask) {
  GatedStore gated(*store_);
  auto h = std::make_unique<ManagerHarness>(Options(), &gated);
  ASSERT_TRUE(h->start_status().ok());
  auto t = h->Submit(Exec({"sh", "-c", "sleep 0.3"}));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  gated.Hold();  // the start record and the final state stay uncommitted
  auto done = h->Wait(t->id);
  ASSERT_TRUE(done.ok() && done->state == TaskState::kCompleted);
  std::promise<Status> deleted;
  h->m().Delete(t->id, [&](Status s) { deleted.set_value(s); });
  auto df = deleted.get_future();
  ASSERT_TRUE(testing::Await(df).ok());
  ASSERT_GE(gated.held(), 2u);
  ASSERT_TRUE(gated.HeldIsDelete(gated.held() - 1));
  // Commit everything but the deletion: the final state lands in the store.
  while (gated.held() > 1) gated.Release();
  // Its commit callback has run on the strand before this Get (posted first).
  auto got = h->Get(t->id);
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound)
      << "a deleted task came back from the store: " << got.status().ToString();
  gated.Release();  // the deletion
  EXPECT_EQ(h->Get(t->id).status().code(), StatusCode::kNotFound);
  h.reset();
  EXPECT_EQ(Restart().Get(t->id).status().code(), StatusCode::kNotFound);
}

TEST_F(EvictionTest, AFinishedTaskIsReadFromTheStore) {
  TaskSpec spec = Exec({"sh", "-c", "echo out; echo err >&2; exit 3"});
  spec.name = "job";
  spec.labels["team"] = "a";
  Task t = Finished(spec);
  auto got = h().Get(t.id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->state, TaskState::kFailed);
  EXPECT_EQ(got->reason, TaskReason::kExitCode);
  EXPECT_EQ(got->result->exit_code, 3);
  EXPECT_EQ(got->spec.labels.at("team"), "a");
  EXPECT_EQ(got->spec.name, "job");
  EXPECT_TRUE(got->expire_time);
  // Wait answers at once, with the stored state.
  auto waited = h().Wait(t.id);
  ASSERT_TRUE(waited.ok());
  EXPECT_EQ(waited->state, TaskState::kFailed);
  // Cancel and progress: it has ended.
  EXPECT_EQ(h().Cancel(t.id).status().code(), StatusCode::kFailedPrecondition);
  std::promise<StatusOr<Task>> p;
  h().m().ReportProgress(t.id, 5, "", [&](StatusOr<Task> r) { p.set_value(std::move(r)); });
  auto f = p.get_future();
  EXPECT_EQ(testing::Await(f).status().code(), StatusCode::kFailedPrecondition);
  // Its logs stay until it is deleted.
  EXPECT_EQ(testing::ReadFile(h().m().StdoutPath(t.id)), "out\n");
  EXPECT_EQ(h().Get("0000000000000").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(h().Wait("nonsense").status().code(), StatusCode::kNotFound);
  ManagerStats st = Stats();
  EXPECT_EQ(st.by_state[static_cast<size_t>(TaskState::kFailed)], 1u);
  EXPECT_EQ(st.finished_in_store, 1u);
}

TEST_F(EvictionTest, ListPagesAcrossLiveAndFinishedTasksInIdOrder) {
  // Finished (in the store) and pending (in RAM) tasks, interleaved by id.
  std::vector<std::string> all, finished, pending, team_a, queue_q, named;
  for (int i = 0; i < 12; ++i) {
    TaskSpec spec = Handler("noop");
    spec.labels["team"] = i % 3 == 0 ? "a" : "b";
    if (i % 4 == 0) spec.queue = "q";
    spec.name = i % 2 == 0 ? "build-" + std::to_string(i) : "test-" + std::to_string(i);
    std::string id;
    if (i % 3 == 1) {
      spec.not_before = clock_.WallNow() + 1h;  // stays PENDING
      id = h().MustSubmit(spec).id;
      pending.push_back(id);
    } else {
      id = Finished(spec).id;
      finished.push_back(id);
    }
    all.push_back(id);
    if (i % 3 == 0) team_a.push_back(id);
    if (i % 4 == 0) queue_q.push_back(id);
    if (i % 2 == 0) named.push_back(id);
  }
  ASSERT_EQ(Stats().finished_in_store, finished.size());
  for (size_t page : {1u, 2u, 5u, 50u}) {
    ListRequest req;
    req.page_size = page;
    EXPECT_EQ(ListAll(req), all) << "page size " << page;
  }
  ListRequest req;
  req.page_size = 2;
  req.filter.states = {TaskState::kCompleted};
  EXPECT_EQ(ListAll(req), finished);
  req.filter.states = {TaskState::kPending};
  EXPECT_EQ(ListAll(req), pending);
  req.filter.states = {TaskState::kPending, TaskState::kCompleted};
  EXPECT_EQ(ListAll(req), all);
  req.filter.states = {TaskState::kFailed};
  EXPECT_TRUE(ListAll(req).empty());
  req.filter.states.clear();
  req.filter.labels["team"] = "a";
  EXPECT_EQ(ListAll(req), team_a);
  req.filter.labels.clear();
  req.filter.queue = "q";
  EXPECT_EQ(ListAll(req), queue_q);
  req.filter.queue.clear();
  req.filter.name_prefix = "build-";
  EXPECT_EQ(ListAll(req), named);
  req.filter.name_prefix.clear();
  req.filter.ids = {all[5], all[0], "0000000000000", all[1], all[0]};
  EXPECT_EQ(ListAll(req), (std::vector<std::string>{all[0], all[1], all[5]}));
  req.filter.ids.clear();
  // A page token in the middle of the finished tasks.
  req.start_after = all[3];
  req.page_size = 100;
  EXPECT_EQ(ListAll(req), std::vector<std::string>(all.begin() + 4, all.end()));

  // After a restart the same.
  Restart();
  ListRequest again;
  again.page_size = 3;
  EXPECT_EQ(ListAll(again), all);
  again.filter.labels["team"] = "a";
  EXPECT_EQ(ListAll(again), team_a);
}

TEST_F(EvictionTest, ListOverManyFinishedTasksBoundsTheRowsScannedPerPage) {
  const size_t n = kListScanRows + 300;
  std::vector<std::string> ids;
  // Written straight to the store: the manager loads them as finished.
  {
    std::vector<StoreOp> ops;
    for (size_t i = 0; i < n; ++i) {
      StoreOp op;
      op.task.id = NewTaskId();
      op.task.spec = Handler("noop");
      op.task.spec.labels["k"] = i == n - 1 ? "last" : "other";
      op.task.state = TaskState::kCompleted;
      op.task.expire_time = clock_.WallNow() + 1h;
      ids.push_back(op.task.id);
      ops.push_back(std::move(op));
    }
    ASSERT_TRUE(store_->Load().ok());
    std::promise<Status> p;
    store_->Write(std::move(ops), [&](Status s) { p.set_value(s); });
    auto f = p.get_future();
    ASSERT_TRUE(testing::Await(f).ok());
  }
  Restart();
  EXPECT_EQ(Stats().finished_in_store, n);
  ListRequest req;
  req.page_size = 10;
  req.filter.labels["k"] = "last";
  auto first = List(req);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->tasks.empty());  // the scan budget ran out first
  EXPECT_FALSE(first->last_id.empty());
  EXPECT_EQ(ListAll(req), std::vector<std::string>{ids.back()});
  req.filter.labels.clear();
  req.page_size = 1000;
  EXPECT_EQ(ListAll(req), ids);
}

TEST_F(EvictionTest, DeleteRemovesAFinishedTaskAndItsLogs) {
  Task t = Finished(Exec({"echo", "hi"}));
  ASSERT_TRUE(std::filesystem::exists(h().m().StdoutPath(t.id)));
  EXPECT_TRUE(Delete(t.id).ok());
  EXPECT_EQ(h().Get(t.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Delete(t.id).code(), StatusCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(h().m().StdoutPath(t.id)));
  ListRequest req;
  EXPECT_TRUE(ListAll(req).empty());
  EXPECT_EQ(Stats().finished_in_store, 0u);
  EXPECT_EQ(Stats().by_state[static_cast<size_t>(TaskState::kCompleted)], 0u);
  // The deletion is committed: gone after a restart too.
  Restart();
  EXPECT_EQ(h().Get(t.id).status().code(), StatusCode::kNotFound);
  // Deleting it before its TTL does not disturb the expiry of others.
  Task u = Finished(Handler("noop"));
  clock_.Advance(2h);
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (h().Get(u.id).ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(h().Get(u.id).status().code(), StatusCode::kNotFound);
}

TEST_F(EvictionTest, RequestIdReturnsTheFirstTaskAfterItLeftRamAndAcrossRestarts) {
  Task first = Finished(Handler("noop"), "req-1");
  auto again = h().Submit(Handler("noop"), "req-1");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id, first.id);
  EXPECT_EQ(again->state, TaskState::kCompleted);
  // In a batch too.
  std::promise<StatusOr<std::vector<Task>>> p;
  std::vector<SubmitRequest> batch;
  batch.push_back({Handler("noop"), "req-1"});
  batch.push_back({Handler("noop"), "req-2"});
  h().m().BatchSubmit(std::move(batch),
                      [&](StatusOr<std::vector<Task>> r) { p.set_value(std::move(r)); });
  auto f = p.get_future();
  auto r = testing::Await(f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].id, first.id);
  EXPECT_NE((*r)[1].id, first.id);
  Restart();
  auto after = h().Submit(Handler("noop"), "req-1");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->id, first.id);
  // Once deleted, the request_id makes a new task.
  ASSERT_TRUE(Delete(first.id).ok());
  auto fresh = h().Submit(Handler("noop"), "req-1");
  ASSERT_TRUE(fresh.ok());
  EXPECT_NE(fresh->id, first.id);
}

TEST_F(EvictionTest, DependenciesOnFinishedTasksInTheStore) {
  Task ok = Finished(Handler("noop"));
  Task bad = Finished(Exec({"false"}));
  TaskSpec after_ok = Handler("noop");
  after_ok.after = {ok.id};
  auto a = h().Submit(after_ok);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(h().Wait(a->id)->state, TaskState::kCompleted);
  TaskSpec after_bad = Handler("noop");
  after_bad.after = {bad.id};
  auto b = h().Submit(after_bad);
  ASSERT_TRUE(b.ok());
  auto bd = h().Wait(b->id);
  EXPECT_EQ(bd->state, TaskState::kFailed);
  EXPECT_EQ(bd->reason, TaskReason::kDependencyFailed);
  TaskSpec unknown = Handler("noop");
  unknown.after = {"0000000000000"};
  EXPECT_EQ(h().Submit(unknown).status().code(), StatusCode::kInvalidArgument);
  // A pending task whose dependency left RAM, recovered after a restart.
  Task blocker = h().MustSubmit([&] {
    TaskSpec s = Handler("noop");
    s.not_before = clock_.WallNow() + 1h;
    return s;
  }());
  TaskSpec two = Handler("noop");
  two.after = {ok.id, blocker.id};
  TaskSpec on_bad = Handler("noop");
  on_bad.after = {bad.id, blocker.id};
  Task t2 = h().MustSubmit(two);
  Restart();
  auto stored_bad = h().Submit(on_bad);  // fails at once: bad is FAILED
  ASSERT_TRUE(stored_bad.ok());
  EXPECT_EQ(h().Wait(stored_bad->id)->reason, TaskReason::kDependencyFailed);
  EXPECT_EQ(h().Get(t2.id)->state, TaskState::kPending);
  clock_.Advance(1h);
  EXPECT_EQ(h().Wait(t2.id)->state, TaskState::kCompleted);
}

TEST_F(EvictionTest, TtlDeletesFinishedTasksInTheStoreAlsoAfterARestart) {
  TaskSpec spec = Exec({"echo", "hi"});
  spec.ttl = 10min;
  Task a = Finished(spec);
  spec.ttl = 30min;
  Task b = Finished(spec);
  ASSERT_TRUE(std::filesystem::exists(h().m().StdoutPath(a.id)));
  clock_.Advance(9min);
  EXPECT_TRUE(h().Get(a.id).ok());
  clock_.Advance(1min);
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (h().Get(a.id).ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(h().Get(a.id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(testing::GoneSoon(h().m().StdoutPath(a.id)));
  EXPECT_TRUE(h().Get(b.id).ok());
  EXPECT_EQ(Stats().finished_in_store, 1u);
  // b's deadline survives a restart (from its stored expire time).
  Restart();
  EXPECT_EQ(h().Get(a.id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(h().Get(b.id).ok());
  EXPECT_EQ(Stats().finished_in_store, 1u);
  clock_.Advance(19min);
  EXPECT_TRUE(h().Get(b.id).ok());
  clock_.Advance(1min);
  deadline = std::chrono::steady_clock::now() + 20s;
  while (h().Get(b.id).ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(h().Get(b.id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(testing::GoneSoon(h().m().StdoutPath(b.id)));
  EXPECT_EQ(Stats().finished_in_store, 0u);
  Restart();
  auto loaded = store_->Read(*TaskIdNumber(b.id));
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(*loaded);
}

// Metrics subscribes to creations and state changes only: a finished task in
// the store reaching the end of its retention is then deleted without being
// read back. A subscriber of delete events still gets it whole (its labels
// are what its filter matches on).
TEST_F(EvictionTest, TtlExpiryReadsTheStoreOnlyForASubscriberOfDeleteEvents) {
  CountingStore counting(*store_);
  StartOn(counting);
  std::atomic<int> unwanted{0};
  h().m().Subscribe(
      {}, false,
      [&](const TaskEvent& e) {
        if (e.type != TaskEvent::Type::kCreated && e.type != TaskEvent::Type::kStateChanged) {
          ++unwanted;
        }
      },
      nullptr, {TaskEvent::Type::kCreated, TaskEvent::Type::kStateChanged});
  TaskSpec spec = Handler("noop");
  spec.ttl = 10min;
  Finished(spec);
  Finished(spec);
  const int reads_before = counting.reads();
  clock_.Advance(10min);
  WaitInStore(0);
  EXPECT_EQ(counting.reads(), reads_before) << "expiry read tasks nobody wanted an event for";
  EXPECT_EQ(unwanted.load(), 0);

  TaskFilter filter;
  filter.labels = {{"team", "a"}};
  std::promise<Task> deleted;
  h().m().Subscribe(filter, false,
                    [&](const TaskEvent& e) {
                      if (e.type == TaskEvent::Type::kDeleted) deleted.set_value(e.task);
                    },
                    nullptr, {TaskEvent::Type::kDeleted});
  spec.labels = {{"team", "a"}};
  Task c = Finished(spec);
  clock_.Advance(10min);
  auto f = deleted.get_future();
  Task gone = testing::Await(f);
  EXPECT_EQ(gone.id, c.id);
  EXPECT_EQ(gone.state, TaskState::kCompleted);
  EXPECT_GT(counting.reads(), reads_before);
  WaitInStore(0);
  EXPECT_EQ(unwanted.load(), 0);
  // Stopped here, not in TearDown: the manager uses `counting` and the
  // subscribers' locals until it has shut down.
  h_.reset();
}

TEST_F(EvictionTest, WatchByIdsSnapshotsFinishedTasksInTheStore) {
  Task done = Finished(Handler("noop"));
  std::mutex mu;
  std::vector<std::pair<TaskEvent::Type, TaskState>> events;
  TaskFilter filter;
  filter.ids = {done.id};
  std::promise<void> got;
  uint64_t handle = h().m().Subscribe(filter, true, [&](const TaskEvent& e) {
    std::lock_guard l(mu);
    events.emplace_back(e.type, e.task.state);
    got.set_value();
  });
  auto f = got.get_future();
  testing::Await(f);
  h().m().Unsubscribe(handle);
  {
    std::lock_guard l(mu);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].first, TaskEvent::Type::kSnapshot);
    EXPECT_EQ(events[0].second, TaskState::kCompleted);
  }
  filter.ids = {done.id, "0000000000000"};
  std::promise<Status> closed;
  h().m().Subscribe(
      filter, true, [](const TaskEvent&) {}, [&](Status s) { closed.set_value(s); });
  auto c = closed.get_future();
  EXPECT_EQ(testing::Await(c).code(), StatusCode::kNotFound);
}

// SnapshotPage without ids pages the unfinished tasks in id order (the
// finished one in the store is not part of it); with ids, each listed task,
// also one only in the store.
TEST_F(EvictionTest, SnapshotPagesUnfinishedTasksInIdOrder) {
  Task done = Finished(Handler("noop"));
  std::vector<std::string> pending;
  for (int i = 0; i < 5; ++i) {
    TaskSpec s = Handler("noop");
    s.not_before = clock_.WallNow() + 1h;
    pending.push_back(h().MustSubmit(s).id);
  }
  auto page = [&](ListRequest req) {
    std::promise<StatusOr<ListResult>> p;
    h().m().SnapshotPage(std::move(req),
                         [&](StatusOr<ListResult> r) { p.set_value(std::move(r)); });
    auto f = p.get_future();
    return testing::Await(f);
  };
  std::vector<std::string> seen;
  ListRequest req;
  req.page_size = 2;
  for (int pages = 0; pages < 10; ++pages) {
    auto got = page(req);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_LE(got->tasks.size(), 2u);
    for (const auto& t : got->tasks) seen.push_back(t.id);
    if (got->last_id.empty()) break;
    req.start_after = got->last_id;
  }
  EXPECT_EQ(seen, pending);
  req = {};
  req.filter.ids = {pending[2], done.id};
  auto both = page(req);
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  ASSERT_EQ(both->tasks.size(), 2u);
  EXPECT_EQ(both->tasks[0].id, done.id);  // id order
  EXPECT_EQ(both->tasks[0].state, TaskState::kCompleted);
  EXPECT_EQ(both->tasks[1].id, pending[2]);
  EXPECT_TRUE(both->last_id.empty());
}

TEST_F(EvictionTest, StatsCountFinishedTasksInTheStoreByState) {
  Finished(Handler("noop"));
  Finished(Handler("noop"));
  Finished(Exec({"false"}));
  Task pending = h().MustSubmit([&] {
    TaskSpec s = Handler("noop");
    s.not_before = clock_.WallNow() + 1h;
    return s;
  }());
  ASSERT_TRUE(h().Cancel(pending.id).ok());
  WaitInStore(4);
  for (int round = 0; round < 2; ++round) {
    ManagerStats st = Stats();
    EXPECT_EQ(st.by_state[static_cast<size_t>(TaskState::kCompleted)], 2u);
    EXPECT_EQ(st.by_state[static_cast<size_t>(TaskState::kFailed)], 1u);
    EXPECT_EQ(st.by_state[static_cast<size_t>(TaskState::kCancelled)], 1u);
    EXPECT_EQ(st.by_state[static_cast<size_t>(TaskState::kPending)], 0u);
    Restart();
  }
}

TEST_F(EvictionTest, RestartEndsRunningTasksAndTheirFinalStateLeavesRam) {
  Task running;
  running.id = NewTaskId();
  running.spec = Exec({"true"});
  running.state = TaskState::kRunning;
  running.attempt = 1;
  running.create_time = clock_.WallNow();
  ASSERT_TRUE(store_->Load().ok());
  std::promise<Status> p;
  store_->Write({StoreOp{StoreOp::Kind::kPut, running, {}}}, [&](Status s) { p.set_value(s); });
  auto f = p.get_future();
  ASSERT_TRUE(testing::Await(f).ok());
  Restart();
  WaitInStore(1);
  auto t = h().Get(running.id);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->state, TaskState::kFailed);
  EXPECT_EQ(t->reason, TaskReason::kInterrupted);
  Restart();
  EXPECT_EQ(h().Get(running.id)->reason, TaskReason::kInterrupted);
}

}  // namespace
}  // namespace taskd
