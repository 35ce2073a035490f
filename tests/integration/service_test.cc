// Server and client in one process over a unix socket in a temp directory.
#include <arpa/inet.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <thread>

#include "client/client.h"
#include "server/server.h"
#include "tests/integration/harness.h"

namespace taskd {
namespace {

using namespace std::chrono_literals;
namespace v1 = taskd::v1;

using ServiceTest = it::FourSlotServerTest;

TEST_F(ServiceTest, SubmitWaitGetExecTask) {
  v1::Task t;
  ASSERT_TRUE(client_->Submit(Exec({"true"}), &t).ok());
  EXPECT_EQ(t.state(), v1::TASK_STATE_PENDING);
  v1::Task done;
  ASSERT_TRUE(client_->Wait(t.id(), std::nullopt, &done).ok());
  EXPECT_EQ(done.state(), v1::TASK_STATE_COMPLETED);
  EXPECT_EQ(done.result().exit_code(), 0);
  v1::Task got;
  ASSERT_TRUE(client_->Get(t.id(), &got).ok());
  EXPECT_EQ(got.state(), v1::TASK_STATE_COMPLETED);
  EXPECT_TRUE(got.has_end_time());

  ASSERT_TRUE(client_->Submit(Exec({"sh", "-c", "exit 3"}), &t).ok());
  ASSERT_TRUE(client_->Wait(t.id(), std::nullopt, &done).ok());
  EXPECT_EQ(done.state(), v1::TASK_STATE_FAILED);
  EXPECT_EQ(done.reason(), v1::TASK_REASON_EXIT_CODE);
  EXPECT_EQ(done.result().exit_code(), 3);
}

TEST_F(ServiceTest, EmptyArgvIsInvalidArgumentAndServerKeepsServing) {
  v1::Task t;
  auto s = client_->Submit(Exec({}), &t);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("spec.exec.argv"), std::string::npos) << s.error_message();
  v1::TaskSpec none;
  s = client_->Submit(none, &t);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("spec.action"), std::string::npos) << s.error_message();
  ASSERT_TRUE(client_->Submit(Exec({"true"}), &t).ok());
}

TEST_F(ServiceTest, ErrorCodes) {
  v1::Task t;
  EXPECT_EQ(client_->Get("nope", &t).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(client_->Get("", &t).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::TaskSpec neg = Exec({"true"});
  neg.mutable_timeout()->set_seconds(-5);
  auto s = client_->Submit(neg, &t);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("spec.timeout"), std::string::npos);
  v1::TaskSpec h;
  h.mutable_handler()->set_name("nope");
  s = client_->Submit(h, &t);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("spec.handler.name"), std::string::npos);

  ASSERT_TRUE(client_->Submit(Exec({"true"}), &t).ok());
  ASSERT_TRUE(client_->Wait(t.id(), std::nullopt, &t).ok());
  s = client_->Cancel(t.id(), std::nullopt, &t);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  s = client_->ReportProgress(t.id(), 50, "", &t);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  s = client_->ReportProgress(t.id(), 150, "", &t);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("percent"), std::string::npos);

  v1::ListTasksRequest lr;
  v1::ListTasksResponse resp;
  lr.set_page_size(-1);
  s = client_->List(lr, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("page_size"), std::string::npos);
  lr.set_page_size(0);
  lr.set_page_token("garbage");
  s = client_->List(lr, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("page_token"), std::string::npos);
}

TEST_F(ServiceTest, RequestIdIsIdempotent) {
  v1::Task a, b;
  ASSERT_TRUE(client_->Submit(Exec({"true"}), &a, "same-id").ok());
  ASSERT_TRUE(client_->Submit(Exec({"true"}), &b, "same-id").ok());
  EXPECT_EQ(a.id(), b.id());
}

TEST_F(ServiceTest, WaitTimeoutReturnsRunningThenCancelReleasesWaiter) {
  v1::TaskSpec spec;
  spec.mutable_handler()->set_name("sleep");
  spec.mutable_handler()->set_payload(R"({"seconds": 30})");
  v1::Task t;
  ASSERT_TRUE(client_->Submit(spec, &t).ok());
  v1::Task w;
  ASSERT_TRUE(client_->Wait(t.id(), 300ms, &w).ok());
  EXPECT_FALSE(w.state() == v1::TASK_STATE_COMPLETED || w.state() == v1::TASK_STATE_FAILED);

  v1::Task waited;
  grpc::Status wait_status;
  std::thread waiter([&] { wait_status = client_->Wait(t.id(), std::nullopt, &waited); });
  v1::Task cancelled;
  ASSERT_TRUE(client_->Cancel(t.id(), std::nullopt, &cancelled).ok());
  EXPECT_EQ(cancelled.state(), v1::TASK_STATE_CANCELLED);
  waiter.join();
  ASSERT_TRUE(wait_status.ok());
  EXPECT_EQ(waited.state(), v1::TASK_STATE_CANCELLED);
}

TEST_F(ServiceTest, RunTaskNoopAndBatchSubmit) {
  v1::RunTaskRequest req;
  req.mutable_spec()->mutable_handler()->set_name("noop");
  v1::Task t;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  ASSERT_TRUE(client_->stub().RunTask(&ctx, req, &t).ok());
  EXPECT_EQ(t.state(), v1::TASK_STATE_COMPLETED);

  v1::BatchSubmitTasksRequest batch;
  for (int i = 0; i < 3; ++i) *batch.add_requests()->mutable_spec() = Exec({"true"});
  batch.mutable_requests(1)->mutable_spec()->mutable_exec()->clear_argv();
  v1::BatchSubmitTasksResponse resp;
  grpc::ClientContext c2;
  auto s = client_->stub().BatchSubmitTasks(&c2, batch, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("requests[1].spec.exec.argv"), std::string::npos);
  v1::ListTasksRequest lr;
  v1::ListTasksResponse all;
  ASSERT_TRUE(client_->List(lr, &all).ok());
  EXPECT_EQ(all.tasks_size(), 1);  // the batch accepted nothing

  batch.mutable_requests(1)->mutable_spec()->mutable_exec()->add_argv("true");
  grpc::ClientContext c3;
  ASSERT_TRUE(client_->stub().BatchSubmitTasks(&c3, batch, &resp).ok());
  EXPECT_EQ(resp.tasks_size(), 3);
}

TEST_F(ServiceTest, ClientLibraryBatchSubmitRunListAllAndWatchIterator) {
  v1::TaskSpec noop;
  noop.mutable_handler()->set_name("noop");
  // BatchSubmit: request ids given or generated; a repeated id returns the first task.
  std::vector<v1::Task> batch;
  ASSERT_TRUE(client_->BatchSubmit({noop, noop, noop}, &batch, {"", "rid-batch", ""}).ok());
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_NE(batch[0].request_id(), batch[2].request_id());
  EXPECT_EQ(batch[1].request_id(), "rid-batch");
  std::vector<v1::Task> again;
  ASSERT_TRUE(client_->BatchSubmit({noop}, &again, {"rid-batch"}).ok());
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].id(), batch[1].id());
  v1::TaskSpec bad = Exec({});
  auto s = client_->BatchSubmit({noop, bad}, &again);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("requests[1]"), std::string::npos) << s.error_message();

  // Run: the ended task; with a timeout shorter than the task, its latest state.
  v1::Task ran;
  ASSERT_TRUE(client_->Run(noop, std::nullopt, &ran).ok());
  EXPECT_EQ(ran.state(), v1::TASK_STATE_COMPLETED);
  v1::TaskSpec slow;
  slow.mutable_handler()->set_name("sleep");
  slow.mutable_handler()->set_payload(R"({"seconds": 30})");
  ASSERT_TRUE(client_->Run(slow, 100ms, &ran).ok());
  EXPECT_EQ(ran.state(), v1::TASK_STATE_RUNNING);
  v1::Task cancelled;
  ASSERT_TRUE(client_->Cancel(ran.id(), std::nullopt, &cancelled).ok());

  // ListAll: every task over pages of 2, in id order; a limit stops early.
  v1::ListTasksRequest lr;
  lr.set_page_size(2);
  std::vector<v1::Task> all;
  ASSERT_TRUE(client_->ListAll(lr, &all).ok());
  ASSERT_EQ(all.size(), 5u);  // 3 batched, 2 run
  for (size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1].id(), all[i].id());
  std::vector<v1::Task> first3;
  ASSERT_TRUE(client_->ListAll(v1::ListTasksRequest{}, &first3, 3).ok());
  ASSERT_EQ(first3.size(), 3u);
  EXPECT_EQ(first3[2].id(), all[2].id());
  v1::ListTasksRequest by_state;
  by_state.add_states(v1::TASK_STATE_CANCELLED);
  std::vector<v1::Task> only;
  ASSERT_TRUE(client_->ListAll(by_state, &only).ok());
  ASSERT_EQ(only.size(), 1u);
  EXPECT_EQ(only[0].id(), ran.id());

  // Watch as an iterator: ends OK once the watched task ended.
  v1::TaskSpec short_sleep = slow;
  short_sleep.mutable_handler()->set_payload(R"({"seconds": 0.2})");
  v1::Task w;
  ASSERT_TRUE(client_->Submit(short_sleep, &w).ok());
  v1::WatchTasksRequest wr;
  wr.add_ids(w.id());
  wr.set_initial_snapshot(true);
  auto watch = client_->Watch(wr);
  v1::TaskEvent e, last;
  int events = 0;
  while (watch->Next(&e)) {
    if (events++ == 0) {
      EXPECT_EQ(e.type(), v1::TaskEvent::TYPE_SNAPSHOT);
    }
    last = e;
  }
  EXPECT_TRUE(watch->Finish().ok());
  EXPECT_EQ(last.task().state(), v1::TASK_STATE_COMPLETED);
  // A watch of everything never ends by itself: Cancel from another thread ends it.
  auto forever = client_->Watch(v1::WatchTasksRequest{});
  std::thread canceller([&] {
    std::this_thread::sleep_for(100ms);
    forever->Cancel();
  });
  while (forever->Next(&e)) {
  }
  canceller.join();
  EXPECT_EQ(forever->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // Destroying an unfinished watch cancels it instead of hanging.
  auto dropped = client_->Watch(v1::WatchTasksRequest{});
  dropped.reset();
}

TEST_F(ServiceTest, ListPagesThroughEveryTaskOnce) {
  std::set<std::string> ids;
  for (int i = 0; i < 7; ++i) {
    v1::Task t;
    v1::TaskSpec spec;
    spec.mutable_handler()->set_name("noop");
    ASSERT_TRUE(client_->Submit(spec, &t).ok());
    ids.insert(t.id());
  }
  v1::ListTasksRequest req;
  req.set_page_size(3);
  std::vector<std::string> seen;
  int pages = 0;
  do {
    v1::ListTasksResponse resp;
    ASSERT_TRUE(client_->List(req, &resp).ok());
    for (const auto& t : resp.tasks()) seen.push_back(t.id());
    req.set_page_token(resp.next_page_token());
    ++pages;
  } while (!req.page_token().empty());
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), ids);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
}

TEST_F(ServiceTest, HealthServing) {
  auto channel = grpc::CreateChannel(server_->addresses()[0], grpc::InsecureChannelCredentials());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  grpc::ByteBuffer req, resp;
  // grpc.health.v1.HealthCheckRequest{service: ""} is the empty message.
  grpc::GenericStub stub(channel);
  grpc::Status status;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Slice empty("", 0);
  req = grpc::ByteBuffer(&empty, 1);
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &req, &resp,
                 [&](grpc::Status s) {
                   std::lock_guard l(mu);
                   status = s;
                   done = true;
                   cv.notify_one();
                 });
  std::unique_lock l(mu);
  ASSERT_TRUE(cv.wait_for(l, 10s, [&] { return done; }));
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(resp.Dump(&slices).ok());
  std::string bytes;
  for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  // HealthCheckResponse{status: SERVING (1)} = field 1, varint 1.
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));
}

TEST_F(ServiceTest, SecondServerOnTheSameDataDirIsRefused) {
  server::ServerOptions o;
  o.data_dir = dir_ / "data";
  o.listen = {"unix:" + (dir_ / "run2" / "taskd.sock").string()};
  auto second = server::Server::Start(o);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("another taskd"), std::string::npos);
}

TEST_F(ServiceTest, SocketDirectoryOthersCanEnterIsRefusedAndLeftAlone) {
  auto open_dir = dir_ / "open";
  std::filesystem::create_directories(open_dir);
  std::filesystem::permissions(open_dir, std::filesystem::perms(0755));
  server::ServerOptions o;
  o.data_dir = dir_ / "data2";
  o.listen = {"unix:" + (open_dir / "taskd.sock").string()};
  auto s = server::Server::Start(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.status().message().find("can be entered by other users"), std::string::npos)
      << s.status().message();
  EXPECT_EQ(std::filesystem::status(open_dir).permissions(), std::filesystem::perms(0755));
}

TEST_F(ServiceTest, NotBeforePastInt64NanosIsInvalid) {
  v1::TaskSpec spec = Exec({"true"});
  spec.mutable_not_before()->set_seconds(253402300799);  // 9999-12-31
  v1::Task t;
  auto s = client_->Submit(spec, &t);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("spec.not_before"), std::string::npos);
}

TEST_F(ServiceTest, ClientCancellingAWaitEndsTheCall) {
  v1::TaskSpec spec;
  spec.mutable_handler()->set_name("sleep");
  spec.mutable_handler()->set_payload(R"({"seconds": 30})");
  v1::Task t;
  ASSERT_TRUE(client_->Submit(spec, &t).ok());
  grpc::ClientContext ctx;
  v1::WaitTaskRequest req;
  req.set_id(t.id());
  v1::Task out;
  std::promise<grpc::Status> done;
  client_->stub().async()->WaitTask(&ctx, &req, &out,
                                    [&](grpc::Status s) { done.set_value(std::move(s)); });
  std::this_thread::sleep_for(100ms);
  ctx.TryCancel();
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(f.get().error_code(), grpc::StatusCode::CANCELLED);
  // The server still answers, and the task still runs.
  v1::Task got;
  ASSERT_TRUE(client_->Get(t.id(), &got).ok());
  EXPECT_EQ(got.state(), v1::TASK_STATE_RUNNING);
}

TEST_F(ServiceTest, ReflectionListsTheService) {
  auto channel = grpc::CreateChannel(server_->addresses()[0], grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  grpc::CompletionQueue cq;
  auto call =
      stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  auto step = [&](void* tag) {
    void* got = nullptr;
    bool ok = false;
    EXPECT_TRUE(cq.Next(&got, &ok));
    EXPECT_EQ(got, tag);
    return ok;
  };
  int tags[5];
  call->StartCall(&tags[0]);
  ASSERT_TRUE(step(&tags[0]));
  // ServerReflectionRequest{list_services: ""}: field 7, length-delimited, empty.
  grpc::Slice request("\x3a\x00", 2);
  grpc::ByteBuffer request_buffer(&request, 1);
  call->Write(request_buffer, &tags[1]);
  ASSERT_TRUE(step(&tags[1]));
  call->WritesDone(&tags[2]);
  ASSERT_TRUE(step(&tags[2]));
  grpc::ByteBuffer response;
  call->Read(&response, &tags[3]);
  ASSERT_TRUE(step(&tags[3]));
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (auto& sl : slices) bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  EXPECT_NE(bytes.find("taskd.v1.TaskService"), std::string::npos);
  EXPECT_NE(bytes.find("grpc.health.v1.Health"), std::string::npos);
  grpc::Status status;
  call->Finish(&status, &tags[4]);
  step(&tags[4]);
  EXPECT_TRUE(status.ok()) << status.error_message();
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
}

TEST_F(ServiceTest, ServerInfo) {
  v1::ServerInfo info;
  ASSERT_TRUE(client_->ServerInfo(&info).ok());
  EXPECT_EQ(info.store(), "sqlite");
  EXPECT_EQ(info.max_running(), 4);
  EXPECT_GE(info.handlers_size(), 2);
}

TEST_F(ServiceTest, ThousandConcurrentWaitsReleasedByOneCompletion) {
  auto gate = dir_ / "gate";
  v1::Task t;
  ASSERT_TRUE(
      client_
          ->Submit(
              Exec({"sh", "-c", "while [ ! -e '" + gate.string() + "' ]; do sleep 0.02; done"}), &t)
          .ok());
  constexpr int kWaits = 1000;
  struct Call {
    grpc::ClientContext ctx;
    v1::WaitTaskRequest req;
    v1::Task resp;
  };
  std::vector<std::unique_ptr<Call>> calls;
  std::mutex mu;
  std::condition_variable cv;
  int answered = 0, completed = 0;
  for (int i = 0; i < kWaits; ++i) {
    auto c = std::make_unique<Call>();
    c->ctx.set_deadline(std::chrono::system_clock::now() + 60s);
    c->req.set_id(t.id());
    client_->stub().async()->WaitTask(&c->ctx, &c->req, &c->resp, [&, c = c.get()](grpc::Status s) {
      std::lock_guard l(mu);
      ++answered;
      if (s.ok() && c->resp.state() == v1::TASK_STATE_COMPLETED) ++completed;
      cv.notify_all();
    });
    calls.push_back(std::move(c));
  }
  // A later wait with a short timeout answers RUNNING: the task is still
  // going, so none of the 1,000 may have been answered yet.
  v1::Task running;
  ASSERT_TRUE(client_->Wait(t.id(), 200ms, &running).ok());
  EXPECT_EQ(running.state(), v1::TASK_STATE_RUNNING);
  {
    std::lock_guard l(mu);
    EXPECT_EQ(answered, 0);
  }
  std::ofstream(gate).put('x');
  std::unique_lock l(mu);
  ASSERT_TRUE(cv.wait_for(l, 30s, [&] { return answered == kWaits; })) << answered;
  EXPECT_EQ(completed, kWaits);
}

TEST_F(ServiceTest, OversizedMessageIsResourceExhausted) {
  v1::TaskSpec spec;
  spec.mutable_handler()->set_name("noop");
  spec.mutable_handler()->set_payload("\"" + std::string(5 << 20, 'x') + "\"");
  v1::Task t;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  v1::SubmitTaskRequest req;
  *req.mutable_spec() = spec;
  auto s = client_->stub().SubmitTask(&ctx, req, &t);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  // ... and the server goes on.
  v1::ServerInfo info;
  EXPECT_TRUE(client_->ServerInfo(&info).ok());
}

}  // namespace
}  // namespace taskd
