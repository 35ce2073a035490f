// WatchTasks under load: a snapshot larger than any queue streams whole, the
// daemon-wide watcher limit, and the byte bound on a watcher that does not
// read. Server and client in one process over a unix socket in a temp dir.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "client/client.h"
#include "server/server.h"
#include "server/watcher.h"
#include "tests/integration/harness.h"

namespace taskd {
namespace {

using namespace std::chrono_literals;
namespace v1 = taskd::v1;

class WatchTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("taskd-watch-" + std::to_string(::getpid()) +
                                                     "-" + std::to_string(std::random_device{}()));
  }
  void TearDown() override { it::StopServer(client_, server_, dir_); }

  void Start(const std::string& store, size_t max_watchers = 0) {
    server::ServerOptions o;
    o.data_dir = dir_ / "data";
    o.listen = {"unix:" + (dir_ / "run" / "taskd.sock").string()};
    o.store = store;
    o.manager.max_running = 2;
    if (max_watchers > 0) o.max_watchers = max_watchers;
    auto s = server::Server::Start(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    client_ = std::make_unique<client::Client>(client::ClientOptions{server_->addresses()[0], 30s});
  }

  // A task that stays PENDING for the test's whole run.
  static v1::TaskSpec Pending() {
    v1::TaskSpec spec;
    spec.mutable_handler()->set_name("noop");
    auto later = std::chrono::system_clock::now() + 1h;
    spec.mutable_not_before()->set_seconds(
        std::chrono::duration_cast<std::chrono::seconds>(later.time_since_epoch()).count());
    return spec;
  }

  // Submits `n` pending tasks, 1,000 per call; returns their ids.
  std::vector<std::string> SubmitPending(int n) {
    std::vector<std::string> ids;
    while (static_cast<int>(ids.size()) < n) {
      std::vector<v1::TaskSpec> specs(std::min<size_t>(1000, n - ids.size()), Pending());
      std::vector<v1::Task> out;
      auto s = client_->BatchSubmit(specs, &out);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      for (const auto& t : out) ids.push_back(t.id());
    }
    return ids;
  }

  struct Stream {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<v1::TaskEvent>> reader;
  };
  std::unique_ptr<Stream> Watch(const v1::WatchTasksRequest& req,
                                std::chrono::seconds deadline = 120s) {
    auto st = std::make_unique<Stream>();
    st->ctx.set_deadline(std::chrono::system_clock::now() + deadline);
    st->reader = client_->stub().WatchTasks(&st->ctx, req);
    return st;
  }
  static grpc::Status Close(Stream& st) {
    st.ctx.TryCancel();
    v1::TaskEvent drain;
    while (st.reader->Read(&drain)) {
    }
    return st.reader->Finish();
  }

  std::filesystem::path dir_;
  std::unique_ptr<server::Server> server_;
  std::unique_ptr<client::Client> client_;
};

// 20,000 pending tasks, twice the per-watcher event limit: the snapshot
// arrives whole, in id order, each task once, followed by live events. A
// task cancelled while the snapshot streams (one already sent, one likely
// not yet) is never seen in an older state after a newer one.
TEST_P(WatchTest, SnapshotOfTwentyThousandPendingTasksStreamsWholeThenLiveEvents) {
  const bool memory = GetParam() == "memory";
  Start(GetParam());
  constexpr int kTasks = 20000;
  // A finished task: in the snapshot with the memory store, which keeps it
  // in RAM; not with SQLite, whose snapshot without ids is of unfinished tasks.
  v1::TaskSpec noop;
  noop.mutable_handler()->set_name("noop");
  v1::Task done;
  ASSERT_TRUE(client_->Run(noop, std::nullopt, &done).ok());
  ASSERT_EQ(done.state(), v1::TASK_STATE_COMPLETED);
  std::vector<std::string> ids = SubmitPending(kTasks);
  ASSERT_EQ(ids.size(), static_cast<size_t>(kTasks));

  v1::WatchTasksRequest req;
  req.set_initial_snapshot(true);
  auto w = Watch(req);
  std::map<std::string, int> snapshots;            // id -> SNAPSHOT events seen
  std::map<std::string, v1::TaskState> last_seen;  // id -> its latest state seen
  std::string last_snapshot_id;
  int out_of_order = 0, older_after_newer = 0;
  std::optional<grpc::Status> ended;  // set when the stream ended early
  auto read_one = [&](v1::TaskEvent* e) {
    if (ended) return false;
    if (!w->reader->Read(e)) {
      ended = w->reader->Finish();
      return false;
    }
    const std::string& id = e->task().id();
    if (e->type() == v1::TaskEvent::TYPE_SNAPSHOT) {
      if (!last_snapshot_id.empty() && id <= last_snapshot_id) ++out_of_order;
      last_snapshot_id = id;
      ++snapshots[id];
    }
    auto it = last_seen.find(id);
    if (it != last_seen.end() && it->second == v1::TASK_STATE_CANCELLED &&
        e->task().state() != v1::TASK_STATE_CANCELLED) {
      ++older_after_newer;
    }
    last_seen[id] = e->task().state();
    return true;
  };
  v1::TaskEvent e;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(read_one(&e)) << "after " << i << " events: " << ended->error_message();
  }
  v1::Task cancelled;
  ASSERT_TRUE(client_->Cancel(ids.front(), std::nullopt, &cancelled).ok());
  ASSERT_TRUE(client_->Cancel(ids.back(), std::nullopt, &cancelled).ok());
  // Snapshots come in id order: up to the last task never cancelled ...
  const std::string& last_pending = ids[kTasks - 2];
  for (int reads = 0; !snapshots.count(last_pending) && reads < kTasks + 10; ++reads) {
    if (!read_one(&e)) break;
  }
  ASSERT_EQ(snapshots.count(last_pending), 1u) << (ended ? ended->error_message() : "");
  // ... then a new task: in the last page, or CREATED once the snapshot is
  // done. Either way the snapshot is over once it is seen ...
  v1::Task fresh;
  ASSERT_TRUE(client_->Submit(Pending(), &fresh).ok());
  for (int reads = 0; !last_seen.count(fresh.id()) && reads < 100; ++reads) {
    if (!read_one(&e)) break;
  }
  ASSERT_EQ(last_seen.count(fresh.id()), 1u) << (ended ? ended->error_message() : "");
  // ... and a task submitted now is a live event.
  v1::Task live;
  ASSERT_TRUE(client_->Submit(Pending(), &live).ok());
  bool created = false;
  for (int reads = 0; !created && reads < 100 && read_one(&e); ++reads) {
    created = e.type() == v1::TaskEvent::TYPE_CREATED && e.task().id() == live.id();
  }
  EXPECT_TRUE(created);
  EXPECT_EQ(snapshots.count(live.id()), 0u);

  for (const auto& [id, n] : snapshots) EXPECT_EQ(n, 1) << id;
  for (int i = 0; i < kTasks - 1; ++i) EXPECT_EQ(snapshots.count(ids[i]), 1u) << ids[i];
  EXPECT_EQ(snapshots.count(done.id()), memory ? 1u : 0u);
  EXPECT_EQ(out_of_order, 0);
  EXPECT_EQ(older_after_newer, 0);
  // The first cancel comes as an event after the task's snapshot. The last
  // task is in its page as CANCELLED, or was paged before the cancel and its
  // event follows; with SQLite, cancelled before its page, it is in no page
  // (finished) and its event, older than that page, was dropped.
  EXPECT_EQ(last_seen[ids.front()], v1::TASK_STATE_CANCELLED);
  if (memory || last_seen.count(ids.back())) {
    EXPECT_EQ(last_seen[ids.back()], v1::TASK_STATE_CANCELLED);
  }
  ASSERT_FALSE(ended) << ended->error_message();
  EXPECT_EQ(Close(*w).error_code(), grpc::StatusCode::CANCELLED);
}

INSTANTIATE_TEST_SUITE_P(Stores, WatchTest, ::testing::Values("memory", "sqlite"));

class WatchLimitTest : public WatchTest {
 protected:
  // Submits a pending task; a watch of it, whose snapshot is one event.
  v1::WatchTasksRequest WatchOnePending() {
    v1::Task pending;
    EXPECT_TRUE(client_->Submit(Pending(), &pending).ok());
    v1::WatchTasksRequest req;
    req.add_ids(pending.id());
    req.set_initial_snapshot(true);
    return req;
  }
};

// Past --max-watchers a watch is refused at once, naming the setting; a
// closed watch frees its place.
TEST_F(WatchLimitTest, WatcherLimitIsResourceExhaustedNamingTheSetting) {
  Start("memory", /*max_watchers=*/2);
  const v1::WatchTasksRequest req = WatchOnePending();
  v1::TaskEvent e;
  auto a = Watch(req);
  ASSERT_TRUE(a->reader->Read(&e));  // admitted: its snapshot came
  auto b = Watch(req);
  ASSERT_TRUE(b->reader->Read(&e));
  auto c = Watch(req, 10s);
  EXPECT_FALSE(c->reader->Read(&e));
  grpc::Status refused = c->reader->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  EXPECT_NE(refused.error_message().find("max-watchers"), std::string::npos)
      << refused.error_message();
  EXPECT_NE(refused.error_message().find('2'), std::string::npos) << refused.error_message();

  EXPECT_EQ(Close(*a).error_code(), grpc::StatusCode::CANCELLED);
  // The place is freed once the server has seen the cancel: try again a
  // bounded number of times.
  bool admitted = false;
  for (int attempt = 0; attempt < 500 && !admitted; ++attempt) {
    auto d = Watch(req, 10s);
    admitted = d->reader->Read(&e);
    (void)Close(*d);
    if (!admitted) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(admitted);
  (void)Close(*b);
}

// A client that cancels right after reading an event: the server may see the
// cancel while that event's write is still in flight, and the write then
// completes fine. The watcher must end either way, or its place under
// --max-watchers is held for good (found as the rare failure of the test
// above; with max-watchers = 1 one leak refuses every later watch).
TEST_F(WatchLimitTest, CancelWhileAWriteIsInFlightFreesThePlace) {
  Start("memory", /*max_watchers=*/1);
  const v1::WatchTasksRequest req = WatchOnePending();
  v1::TaskEvent e;
  constexpr int kRounds = 400;
  int rounds = 0;
  for (; rounds < kRounds; ++rounds) {
    bool admitted = false;
    // A refused watch fails at once; the place of the last one is freed
    // once the server has seen its cancel: a bounded wait (about 5 s).
    for (int attempt = 0; attempt < 500 && !admitted; ++attempt) {
      auto w = Watch(req, 10s);
      admitted = w->reader->Read(&e);
      if (admitted) {
        (void)Close(*w);  // at once: the write's completion may be pending
        continue;
      }
      grpc::Status s = w->reader->Finish();
      ASSERT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
      std::this_thread::sleep_for(10ms);
    }
    if (!admitted) break;
  }
  EXPECT_EQ(rounds, kRounds) << "a cancelled watch kept its place after round " << rounds;
}

// A watcher that does not read is ended with RESOURCE_EXHAUSTED once what is
// queued for it passes its byte limit, long before the 10,000-event limit:
// 1,000 events of 32 KiB each (32 MiB) never pile up in the server.
TEST_F(WatchLimitTest, NonReadingWatcherIsEndedByItsByteLimit) {
  Start("memory");
  v1::WatchTasksRequest req;
  (*req.mutable_labels())["size"] = "big";
  auto w = Watch(req, 60s);
  v1::TaskSpec big = Pending();
  (*big.mutable_labels())["size"] = "big";
  big.mutable_handler()->set_payload("\"" + std::string(32 << 10, 'x') + "\"");
  constexpr int kTasks = 1000;
  for (int i = 0; i < kTasks; ++i) {
    v1::Task t;
    ASSERT_TRUE(client_->Submit(big, &t).ok());
  }
  // Only now read: what the transport held, then the status.
  int events = 0;
  v1::TaskEvent e;
  while (events <= kTasks && w->reader->Read(&e)) ++events;
  grpc::Status s = w->reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_NE(s.error_message().find("bytes"), std::string::npos) << s.error_message();
  EXPECT_LT(events, kTasks);
}

// What a queued event counts against kMaxQueuedBytes covers the heap it
// holds while queued (the buffer, its shared_ptr block and the queue slot),
// so a watcher that does not read holds at most about that bound, whatever
// the size of its events: a 250-byte event used to count 250 and hold ~700.
TEST(WatchEventTest, WhatItCountsCoversTheHeapItHolds) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "mallinfo2 does not see the sanitizer's allocator";
#endif
  // A task like the soak's: a short exec task that has just started.
  v1::TaskEvent event;
  event.set_type(v1::TaskEvent::TYPE_STATE_CHANGED);
  v1::Task* t = event.mutable_task();
  t->set_id("0123456789ABC");
  for (const char* a : {"sh", "-c", "echo soak line $TASKD_TASK_ID; sleep 0.1"}) {
    t->mutable_spec()->mutable_exec()->add_argv(a);
  }
  t->mutable_spec()->mutable_ttl()->set_seconds(20);
  t->set_state(v1::TASK_STATE_RUNNING);
  t->set_attempt(1);
  t->set_request_id("6f1c2a4e-3b1d-4c55-9a2e-0c4f1d2b3a4c");
  for (auto* ts : {t->mutable_create_time(), t->mutable_start_time(), event.mutable_event_time()}) {
    ts->set_seconds(1'800'000'000);
    ts->set_nanos(123'456'789);
  }
  constexpr size_t kEvents = 4000;
  std::deque<std::pair<std::shared_ptr<const server::WatchEvent>, bool>> queue;
  const size_t before = ::mallinfo2().uordblks;
  size_t counted = 0;
  for (size_t i = 0; i < kEvents; ++i) {
    queue.emplace_back(server::Serialized(event), false);
    counted += queue.back().first->bytes;
  }
  const size_t held = ::mallinfo2().uordblks - before;
  RecordProperty("counted_per_event", std::to_string(counted / kEvents));
  RecordProperty("held_per_event", std::to_string(held / kEvents));
  EXPECT_GE(counted, held) << "counted " << counted / kEvents << " bytes an event, held "
                           << held / kEvents << " (serialized " << event.ByteSizeLong() << ")";
  // And not far more than it holds, or the bound would cut watchers early.
  EXPECT_LE(counted, 2 * held);
}

}  // namespace
}  // namespace taskd
