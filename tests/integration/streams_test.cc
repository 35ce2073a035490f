// The two server streams end to end over a unix socket: ReadTaskLogs
// (offsets, tails, follow) and WatchTasks (ids, filters, errors).
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

using StreamTest = it::FourSlotServerTest;

std::vector<v1::LogChunk> ReadAll(client::Client& c, const v1::ReadTaskLogsRequest& req,
                                  grpc::Status* status) {
  std::vector<v1::LogChunk> chunks;
  *status = c.ReadLogs(req, [&](const v1::LogChunk& chunk) { chunks.push_back(chunk); });
  return chunks;
}

std::string Join(const std::vector<v1::LogChunk>& chunks, v1::LogStream stream) {
  std::string out;
  for (const auto& c : chunks) {
    if (c.stream() == stream) out += c.data();
  }
  return out;
}

TEST_F(StreamTest, ReadTaskLogsStreamsOffsetsAndTails) {
  v1::Task t;
  ASSERT_TRUE(
      client_->Submit(Exec({"sh", "-c", "printf 'hello world'; printf oops >&2"}), &t).ok());
  ASSERT_TRUE(client_->Wait(t.id(), std::nullopt, &t).ok());
  v1::ReadTaskLogsRequest req;
  req.set_id(t.id());
  grpc::Status s;
  auto both = ReadAll(*client_, req, &s);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(Join(both, v1::LOG_STREAM_STDOUT), "hello world");
  EXPECT_EQ(Join(both, v1::LOG_STREAM_STDERR), "oops");
  req.set_stream(v1::LOG_STREAM_STDOUT);
  req.set_offset(6);
  auto from = ReadAll(*client_, req, &s);
  ASSERT_EQ(from.size(), 1u);
  EXPECT_EQ(from[0].offset(), 6);
  EXPECT_EQ(from[0].data(), "world");
  req.set_offset(0);
  req.set_tail_bytes(3);
  EXPECT_EQ(Join(ReadAll(*client_, req, &s), v1::LOG_STREAM_STDOUT), "rld");

  req.set_tail_bytes(-1);
  ReadAll(*client_, req, &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("tail_bytes"), std::string::npos);
  req.set_tail_bytes(0);
  req.set_id("nope");
  ReadAll(*client_, req, &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(StreamTest, ReadTaskLogsFollowsUntilTheTaskEnds) {
  v1::Task t;
  ASSERT_TRUE(client_
                  ->Submit(Exec({"sh", "-c",
                                 "for i in 1 2 3 4 5 6 7 8 9 10; do echo line$i; sleep 0.2; done"}),
                           &t)
                  .ok());
  v1::ReadTaskLogsRequest req;
  req.set_id(t.id());
  req.set_follow(true);
  grpc::Status s;
  std::vector<std::string> arrivals;
  s = client_->ReadLogs(req, [&](const v1::LogChunk& c) { arrivals.push_back(c.data()); });
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::string all;
  for (const auto& a : arrivals) all += a;
  EXPECT_EQ(all, "line1\nline2\nline3\nline4\nline5\nline6\nline7\nline8\nline9\nline10\n");
  EXPECT_GE(arrivals.size(), 2u);  // it streamed as the task wrote, not all at the end
  v1::Task done;
  ASSERT_TRUE(client_->Get(t.id(), &done).ok());
  EXPECT_EQ(done.state(), v1::TASK_STATE_COMPLETED);  // the stream ended with the task
}

TEST_F(StreamTest, WatchTasksByIdsDeliversProgressAndEndsWhenTheyEnd) {
  v1::TaskSpec spec;
  spec.mutable_handler()->set_name("sleep");
  spec.mutable_handler()->set_payload(R"({"seconds": 0.5})");
  v1::Task a, b;
  ASSERT_TRUE(client_->Submit(spec, &a).ok());
  ASSERT_TRUE(client_->Submit(Exec({"true"}), &b).ok());
  ASSERT_TRUE(client_->Wait(b.id(), std::nullopt, &b).ok());  // already ended when watched
  v1::WatchTasksRequest req;
  req.add_ids(a.id());
  req.add_ids(b.id());
  req.set_initial_snapshot(true);
  std::vector<v1::TaskEvent> events;
  auto s = client_->Watch(req, [&](const v1::TaskEvent& e) {
    events.push_back(e);
    return true;
  });
  ASSERT_TRUE(s.ok()) << s.error_message();
  int snapshots = 0, progress = 0;
  for (const auto& e : events) {
    snapshots += e.type() == v1::TaskEvent::TYPE_SNAPSHOT;
    progress += e.type() == v1::TaskEvent::TYPE_PROGRESS;
  }
  EXPECT_EQ(snapshots, 2);
  EXPECT_GE(progress, 3);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type(), v1::TaskEvent::TYPE_STATE_CHANGED);
  EXPECT_EQ(events.back().task().id(), a.id());
  EXPECT_EQ(events.back().task().state(), v1::TASK_STATE_COMPLETED);
}

TEST_F(StreamTest, WatchTasksErrorsAndFilterStreams) {
  v1::WatchTasksRequest bad;
  bad.add_ids("nope");
  auto s = client_->Watch(bad, [](const v1::TaskEvent&) { return true; });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(s.error_message().find("ids[0]"), std::string::npos);

  v1::WatchTasksRequest by_label;
  (*by_label.mutable_labels())["team"] = "blue";
  std::promise<v1::TaskEvent> first;
  std::thread watcher([&] {
    bool got = false;
    s = client_->Watch(by_label, [&](const v1::TaskEvent& e) {
      if (!got) first.set_value(e);
      got = true;
      return false;  // one is enough
    });
  });
  // Submit until the watcher (subscribed asynchronously) has seen one.
  auto f = first.get_future();
  v1::TaskSpec other = Exec({"true"});
  v1::TaskSpec blue = Exec({"true"});
  (*blue.mutable_labels())["team"] = "blue";
  v1::Task t;
  for (int i = 0; i < 100 && f.wait_for(50ms) != std::future_status::ready; ++i) {
    ASSERT_TRUE(client_->Submit(other, &t).ok());
    ASSERT_TRUE(client_->Submit(blue, &t).ok());
  }
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(f.get().task().spec().labels().at("team"), "blue");
  watcher.join();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::CANCELLED);
}

// Calls the reflection service as a generic client does, with hand-encoded
// messages: the reflection protos are compiled into libgrpc++_reflection
// already, and registering them twice in one process is fatal.
}  // namespace
}  // namespace taskd
