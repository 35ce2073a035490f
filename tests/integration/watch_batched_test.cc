// WatchTasksBatched: the events of WatchTasks, several per message. A client
// that keeps reading keeps up with a burst far past the per-watcher event
// limit; by ids it streams the same events as WatchTasks and ends the same
// way; the client library falls back to WatchTasks on a server without it.
// Server and client in one process over unix sockets in a temp dir.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>
#include <tuple>
#include <vector>

#include "client/client.h"
#include "server/server.h"
#include "server/watcher.h"
#include "tests/integration/harness.h"

namespace taskd {
namespace {

using namespace std::chrono_literals;
namespace v1 = taskd::v1;

class WatchBatchedTest : public it::ServerTest {
 protected:
  void Configure(server::ServerOptions& o) override {
    o.store = "memory";
    o.manager.max_pending = 1'000'000;
  }
};

v1::TaskSpec Noop(const std::string& run) {
  v1::TaskSpec spec;
  spec.mutable_handler()->set_name("noop");
  (*spec.mutable_labels())["run"] = run;
  return spec;
}

// 12,000 tasks, each with three events (created, running, completed): 3.6
// times the events one watcher may hold queued (kMaxQueuedEvents),
// submitted as fast as the daemon takes them while one client reads. The
// stream is never cut off, every task's events arrive in order, and they
// came several per message.
TEST_F(WatchBatchedTest, AReadingWatcherKeepsUpWithABurstPastTheQueueLimit) {
  constexpr int kTasks = 12000;
  static_assert(kTasks * 3 > 3 * static_cast<int>(server::kMaxQueuedEvents));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 300s);
  v1::WatchTasksRequest req;
  (*req.mutable_labels())["run"] = "burst";
  auto reader = client_->stub().WatchTasksBatched(&ctx, req);

  std::map<std::string, std::vector<v1::TaskState>> states;  // id -> states seen, in order
  std::atomic<bool> seen_any{false};
  int completed = 0;
  size_t messages = 0, events = 0;
  std::thread read([&] {
    v1::TaskEventBatch batch;
    while (completed < kTasks && reader->Read(&batch)) {
      ++messages;
      for (const auto& e : batch.events()) {
        seen_any = true;
        if (e.task().spec().labels().count("probe")) continue;
        ++events;
        states[e.task().id()].push_back(e.task().state());
        if (e.task().state() == v1::TASK_STATE_COMPLETED) ++completed;
      }
    }
    // Ended here once all completed; else the server ended it.
    if (completed == kTasks) ctx.TryCancel();
    while (reader->Read(&batch)) {
    }
  });
  // The stream registers with the manager after the call started: probe
  // tasks are run until the watcher has seen one, so no task of the burst
  // comes before it.
  v1::TaskSpec probe = Noop("burst");
  (*probe.mutable_labels())["probe"] = "1";
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (!seen_any && std::chrono::steady_clock::now() < until) {
    v1::Task t;
    ASSERT_TRUE(client_->Run(probe, std::nullopt, &t).ok());
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(seen_any) << "the watcher saw no probe task in 60 s";
  std::vector<v1::TaskSpec> specs(1000, Noop("burst"));
  int submitted = 0;
  while (submitted < kTasks) {
    std::vector<v1::Task> out;
    auto s = client_->BatchSubmit(specs, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
    submitted += static_cast<int>(out.size());
  }
  read.join();
  grpc::Status s = reader->Finish();
  // Ended by the client, never by the server for falling behind.
  EXPECT_EQ(s.error_code(), grpc::StatusCode::CANCELLED) << s.error_message();
  EXPECT_EQ(completed, kTasks);
  EXPECT_EQ(states.size(), static_cast<size_t>(kTasks));
  for (const auto& [id, seen] : states) {
    ASSERT_EQ(seen, (std::vector<v1::TaskState>{v1::TASK_STATE_PENDING, v1::TASK_STATE_RUNNING,
                                                v1::TASK_STATE_COMPLETED}))
        << id;
  }
  EXPECT_LT(messages, events / 2) << "the events did not come batched";
}

using Seen = std::vector<std::tuple<int, std::string, int>>;  // type, id, state

// By ids with the initial snapshot: the batched stream has the very events
// WatchTasks has for the same tasks, and ends OK with it once all ended.
TEST_F(WatchBatchedTest, ByIdsItStreamsWhatWatchTasksStreamsAndEndsOk) {
  std::vector<std::string> ids;
  v1::TaskSpec pending = Noop("ids");
  pending.mutable_not_before()->set_seconds(
      std::chrono::duration_cast<std::chrono::seconds>(
          (std::chrono::system_clock::now() + 1h).time_since_epoch())
          .count());
  for (int i = 0; i < 40; ++i) {
    v1::Task t;
    ASSERT_TRUE(client_->Submit(pending, &t).ok());
    ids.push_back(t.id());
  }
  v1::Task done;
  ASSERT_TRUE(client_->Run(Noop("ids"), std::nullopt, &done).ok());
  ids.push_back(done.id());

  v1::WatchTasksRequest req;
  req.set_initial_snapshot(true);
  for (const auto& id : ids) req.add_ids(id);
  grpc::ClientContext single_ctx, batched_ctx;
  auto single = client_->stub().WatchTasks(&single_ctx, req);
  auto batched = client_->stub().WatchTasksBatched(&batched_ctx, req);
  // Both have their snapshot before a task changes: the first event of each.
  v1::TaskEvent first;
  ASSERT_TRUE(single->Read(&first));
  v1::TaskEventBatch first_batch;
  ASSERT_TRUE(batched->Read(&first_batch));
  for (size_t i = 0; i + 1 < ids.size(); ++i) {
    v1::Task t;
    ASSERT_TRUE(client_->Cancel(ids[i], std::nullopt, &t).ok());
  }

  Seen from_single, from_batched;
  auto add = [](Seen& to, const v1::TaskEvent& e) {
    to.emplace_back(e.type(), e.task().id(), e.task().state());
  };
  add(from_single, first);
  v1::TaskEvent e;
  while (single->Read(&e)) add(from_single, e);
  for (const auto& b : first_batch.events()) add(from_batched, b);
  v1::TaskEventBatch batch;
  while (batched->Read(&batch)) {
    for (const auto& b : batch.events()) add(from_batched, b);
  }
  auto s1 = single->Finish();
  auto s2 = batched->Finish();
  EXPECT_TRUE(s1.ok()) << s1.error_message();
  EXPECT_TRUE(s2.ok()) << s2.error_message();
  // Snapshots of all 41, then 40 cancels.
  EXPECT_EQ(from_single.size(), ids.size() + ids.size() - 1);
  EXPECT_EQ(from_batched, from_single);
}

TEST_F(WatchBatchedTest, ABadRequestIsRefusedNamingTheField) {
  grpc::ClientContext ctx;
  v1::WatchTasksRequest req;
  req.add_ids("1");
  req.add_ids("");
  auto reader = client_->stub().WatchTasksBatched(&ctx, req);
  v1::TaskEventBatch batch;
  EXPECT_FALSE(reader->Read(&batch));
  auto s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("ids[1]"), std::string::npos) << s.error_message();
}

// A taskd from before WatchTasksBatched: WatchTasks only.
class OlderTaskd final : public v1::TaskService::Service {
 public:
  grpc::Status WatchTasks(grpc::ServerContext* ctx, const v1::WatchTasksRequest* req,
                          grpc::ServerWriter<v1::TaskEvent>* writer) override {
    for (int i = 0; i < events_ && !ctx->IsCancelled(); ++i) {
      v1::TaskEvent e;
      e.set_type(v1::TaskEvent::TYPE_STATE_CHANGED);
      e.mutable_task()->set_id(req->ids_size() > 0 ? req->ids(0) : "t");
      e.mutable_task()->mutable_progress()->set_percent(i);
      if (!writer->Write(e)) break;
    }
    return grpc::Status::OK;
  }
  int events_ = 5;
};

TEST(WatchFallbackTest, TheClientWatchesThroughWatchTasksOnAnOlderServer) {
  auto dir = it::NewTempDir("taskd-fallback");
  OlderTaskd older;
  grpc::ServerBuilder b;
  const std::string address = "unix:" + (dir / "old.sock").string();
  b.AddListeningPort(address, grpc::InsecureServerCredentials());
  b.RegisterService(&older);
  auto server = b.BuildAndStart();
  ASSERT_TRUE(server);
  {
    client::Client c(client::ClientOptions{address, 10s});
    v1::WatchTasksRequest req;
    req.add_ids("42");
    std::vector<double> got;
    auto s = c.Watch(req, [&](const v1::TaskEvent& e) {
      EXPECT_EQ(e.task().id(), "42");
      got.push_back(e.task().progress().percent());
      return true;
    });
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(got, (std::vector<double>{0, 1, 2, 3, 4}));

    // Stopped by the caller after two: CANCELLED, as on a newer server.
    older.events_ = 1000;
    int n = 0;
    s = c.Watch(req, [&](const v1::TaskEvent&) { return ++n < 2; });
    EXPECT_EQ(s.error_code(), grpc::StatusCode::CANCELLED);
    EXPECT_EQ(n, 2);

    // The iterator form, cancelled from another thread while it reads.
    auto watch = c.Watch(req);
    v1::TaskEvent e;
    ASSERT_TRUE(watch->Next(&e));
    std::thread cancel([&] { watch->Cancel(); });
    cancel.join();
    while (watch->Next(&e)) {
    }
    EXPECT_EQ(watch->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  server->Shutdown();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace taskd
