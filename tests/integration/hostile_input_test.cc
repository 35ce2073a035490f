// Input a careless or hostile client may send, over the real gRPC stack:
// each gets the right status code with a message that names the field and
// quotes at most a short prefix of what was sent, and the daemon goes on.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <random>

#include "client/client.h"
#include "server/server.h"
#include "tests/integration/harness.h"

namespace taskd {
namespace {

using namespace std::chrono_literals;
namespace v1 = taskd::v1;

class HostileInputTest : public taskd::it::ServerTest {
 protected:
  void Configure(server::ServerOptions& o) override { o.max_receive_bytes = 8 << 20; }
  // The daemon still serves after whatever came before.
  void ExpectStillServing() {
    v1::Task t;
    ASSERT_TRUE(client_->Submit(Exec({"true"}), &t).ok());
    ASSERT_TRUE(client_->Wait(t.id(), std::nullopt, &t).ok());
    EXPECT_EQ(t.state(), v1::TASK_STATE_COMPLETED);
  }
};

// A 1 MiB id or key must not come back whole in the error: the reply would
// pass the metadata limit and the client would see RESOURCE_EXHAUSTED.
TEST_F(HostileInputTest, HugeInputIsQuotedShortInErrors) {
  const std::string huge(1 << 20, 'k');
  v1::Task t;
  auto expect_short = [](const grpc::Status& s, grpc::StatusCode code, const std::string& field) {
    EXPECT_EQ(s.error_code(), code) << s.error_message().substr(0, 200);
    EXPECT_NE(s.error_message().find(field), std::string::npos) << s.error_message().substr(0, 200);
    EXPECT_LT(s.error_message().size(), 1024u);
  };
  expect_short(client_->Get(huge, &t), grpc::StatusCode::NOT_FOUND, "kkkk");
  expect_short(client_->Cancel(huge, std::nullopt, &t), grpc::StatusCode::NOT_FOUND, "kkkk");
  expect_short(client_->Delete(huge), grpc::StatusCode::NOT_FOUND, "kkkk");

  auto spec = Exec({"true"});
  (*spec.mutable_labels())[huge] = "v";
  expect_short(client_->Submit(spec, &t), grpc::StatusCode::INVALID_ARGUMENT, "spec.labels");
  spec = Exec({"true"});
  spec.add_after(huge);
  expect_short(client_->Submit(spec, &t), grpc::StatusCode::INVALID_ARGUMENT, "spec.after");
  spec = Exec({"true"});
  (*spec.mutable_exec()->mutable_env())[huge + "=x"] = "v";
  expect_short(client_->Submit(spec, &t), grpc::StatusCode::INVALID_ARGUMENT, "spec.exec.env");
  spec = v1::TaskSpec();
  spec.mutable_handler()->set_name(huge);
  expect_short(client_->Submit(spec, &t), grpc::StatusCode::INVALID_ARGUMENT, "spec.handler.name");
  ExpectStillServing();
}

// A page token that was never issued, or was cut short, is refused rather
// than silently restarting the listing from the first page.
TEST_F(HostileInputTest, ForgedAndTruncatedPageTokensAreInvalidArgument) {
  v1::Task t;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client_->Submit(Exec({"true"}), &t).ok());
  v1::ListTasksRequest req;
  req.set_page_size(1);
  v1::ListTasksResponse page;
  ASSERT_TRUE(client_->List(req, &page).ok());
  const std::string token = page.next_page_token();
  ASSERT_FALSE(token.empty());

  req.set_page_token(token);
  ASSERT_TRUE(client_->List(req, &page).ok()) << "a token the server issued";

  std::vector<std::string> bad = {token.substr(0, token.size() - 2), token + "00",
                                  "p1" + std::string(26, '0'), "p1ffffffff", "p1" + token};
  std::string flipped = token;
  flipped[token.size() / 2] = flipped[token.size() / 2] == 'a' ? 'b' : 'a';
  bad.push_back(flipped);
  for (const auto& b : bad) {
    req.set_page_token(b);
    auto s = client_->List(req, &page);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << "token " << b;
    EXPECT_NE(s.error_message().find("page_token"), std::string::npos) << s.error_message();
  }
  ExpectStillServing();
}

// Cases that were already right when the daemon was probed, kept right:
// each is refused with INVALID_ARGUMENT naming the field.
TEST_F(HostileInputTest, OverLimitAndMalformedSpecsNameTheField) {
  struct Case {
    const char* what;
    std::function<void(v1::TaskSpec&)> edit;
    const char* field;
  };
  const std::vector<Case> cases = {
      {"argv over 256 KiB",
       [](v1::TaskSpec& s) { s.mutable_exec()->add_argv(std::string(300 * 1024, 'a')); },
       "spec.exec.argv"},
      {"5,000 argv entries",
       [](v1::TaskSpec& s) {
         for (int i = 0; i < 5000; ++i) s.mutable_exec()->add_argv("x");
       },
       "spec.exec.argv"},
      {"a NUL in argv", [](v1::TaskSpec& s) { s.mutable_exec()->add_argv(std::string("a\0b", 3)); },
       "spec.exec.argv"},
      {"a NUL in an env value",
       [](v1::TaskSpec& s) { (*s.mutable_exec()->mutable_env())["K"] = std::string("a\0b", 3); },
       "spec.exec.env"},
      {"env over 256 KiB",
       [](v1::TaskSpec& s) {
         (*s.mutable_exec()->mutable_env())["BIG"] = std::string(300 * 1024, 'v');
       },
       "spec.exec.env"},
      {"65 labels",
       [](v1::TaskSpec& s) {
         for (int i = 0; i < 65; ++i) (*s.mutable_labels())["k" + std::to_string(i)] = "v";
       },
       "spec.labels"},
      {"a label value over 256 bytes",
       [](v1::TaskSpec& s) { (*s.mutable_labels())["k"] = std::string(300, 'v'); }, "spec.labels"},
      {"a negative timeout", [](v1::TaskSpec& s) { s.mutable_timeout()->set_seconds(-1); },
       "spec.timeout"},
      {"a non-normalized duration",
       [](v1::TaskSpec& s) {
         s.mutable_timeout()->set_seconds(1);
         s.mutable_timeout()->set_nanos(-5);
       },
       "spec.timeout"},
      {"an overflowing duration",
       [](v1::TaskSpec& s) { s.mutable_ttl()->set_seconds(std::numeric_limits<int64_t>::max()); },
       "spec.ttl"},
      {"an unknown handler",
       [](v1::TaskSpec& s) {
         s.clear_exec();
         s.mutable_handler()->set_name("no-such-handler");
       },
       "spec.handler.name"},
      {"a payload over 1 MiB",
       [](v1::TaskSpec& s) {
         s.clear_exec();
         s.mutable_handler()->set_name("noop");
         s.mutable_handler()->set_payload("\"" + std::string(1100 * 1024, 'p') + "\"");
       },
       "spec.handler.payload"},
      {"an empty after id", [](v1::TaskSpec& s) { s.add_after(""); }, "spec.after"},
      {"an unknown kill mode",
       [](v1::TaskSpec& s) { s.mutable_exec()->set_kill_mode(static_cast<v1::KillMode>(7)); },
       "spec.exec.kill_mode"},
  };
  for (const auto& c : cases) {
    auto spec = Exec({"true"});
    c.edit(spec);
    v1::Task t;
    auto s = client_->Submit(spec, &t);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.what;
    EXPECT_NE(s.error_message().find(c.field), std::string::npos)
        << c.what << ": " << s.error_message().substr(0, 200);
  }
  ExpectStillServing();
}

TEST_F(HostileInputTest, BadProgressEnumsBatchesAndDeletedIds) {
  v1::Task t;
  ASSERT_TRUE(client_->Submit(Exec({"sleep", "30"}), &t).ok());
  for (double bad : {std::nan(""), -1.0, 101.0, std::numeric_limits<double>::infinity()}) {
    auto s = client_->ReportProgress(t.id(), bad, "x", &t);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_NE(s.error_message().find("percent"), std::string::npos) << s.error_message();
  }
  ASSERT_TRUE(client_->Cancel(t.id(), 0ms, &t).ok());

  v1::ListTasksRequest list;
  list.add_states(static_cast<v1::TaskState>(97));
  v1::ListTasksResponse resp;
  auto s = client_->List(list, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("states[0]"), std::string::npos) << s.error_message();

  std::vector<v1::TaskSpec> batch(1001, Exec({"true"}));
  std::vector<v1::Task> out;
  s = client_->BatchSubmit(batch, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("requests"), std::string::npos) << s.error_message();

  ASSERT_TRUE(client_->Delete(t.id()).ok());
  v1::Task gone;
  EXPECT_EQ(client_->Get(t.id(), &gone).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(client_->Delete(t.id()).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(client_->Wait(t.id(), 0ms, &gone).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(client_->ReportProgress(t.id(), 5, "", &gone).error_code(),
            grpc::StatusCode::NOT_FOUND);
  ExpectStillServing();
}

// Sends `bytes` as the one request message of `method` (unary or
// server-streaming alike, over the generic stub), reads every reply and
// returns the call's status.
grpc::Status RawCall(const std::string& address, const std::string& method,
                     const std::string& bytes) {
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  auto call = stub.PrepareCall(&ctx, "/taskd.v1.TaskService/" + method, &cq);
  void* tag;
  bool ok = false;
  auto next = [&] { return cq.Next(&tag, &ok) && ok; };
  call->StartCall(reinterpret_cast<void*>(1));
  if (next()) {
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1);
    call->Write(request, reinterpret_cast<void*>(2));
    if (next()) {
      call->WritesDone(reinterpret_cast<void*>(3));
      next();
      grpc::ByteBuffer reply;
      for (int i = 0; i < 1000; ++i) {
        call->Read(&reply, reinterpret_cast<void*>(4));
        if (!next()) break;
      }
    }
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  next();
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

// `message` serialized, with every "@BAD@" replaced by five bytes that are
// not UTF-8 (the same length, so every length prefix stays right).
std::string WithInvalidUtf8(const google::protobuf::Message& message) {
  std::string bytes = message.SerializeAsString();
  for (size_t at; (at = bytes.find("@BAD@")) != std::string::npos;) {
    bytes.replace(at, 5, "\xff\xfe\xc0\x80\xed");
  }
  return bytes;
}

// A request that names the task `id` (and nothing else).
template <typename Req>
Req WithId(const std::string& id) {
  Req r;
  r.set_id(id);
  return r;
}

// proto3 string fields must be UTF-8, and gRPC's own parse failure is
// UNIMPLEMENTED with no message; taskd answers INVALID_ARGUMENT naming the
// field, for every RPC and at any depth of the request.
TEST_F(HostileInputTest, InvalidUtf8IsInvalidArgumentNamingTheField) {
  const std::string address = server_->addresses()[0];
  auto expect = [&](const std::string& method, const google::protobuf::Message& m,
                    const std::string& field) {
    auto s = RawCall(address, method, WithInvalidUtf8(m));
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << method << " " << field;
    EXPECT_NE(s.error_message().find(field + ":"), std::string::npos)
        << method << ": " << s.error_message();
    EXPECT_NE(s.error_message().find("UTF-8"), std::string::npos) << s.error_message();
  };
  expect("GetTask", WithId<v1::GetTaskRequest>("@BAD@"), "id");
  v1::SubmitTaskRequest submit;
  *submit.mutable_spec() = Exec({"echo", "ok", "@BAD@"});
  expect("SubmitTask", submit, "spec.exec.argv[2]");
  submit.set_request_id("@BAD@");
  *submit.mutable_spec() = Exec({"true"});
  expect("SubmitTask", submit, "request_id");
  submit.clear_request_id();
  (*submit.mutable_spec()->mutable_labels())["team"] = "@BAD@";
  expect("SubmitTask", submit, "spec.labels['team']");
  submit.mutable_spec()->clear_labels();
  (*submit.mutable_spec()->mutable_exec()->mutable_env())["@BAD@"] = "x";
  expect("SubmitTask", submit, "spec.exec.env");
  v1::BatchSubmitTasksRequest batch;
  *batch.add_requests()->mutable_spec() = Exec({"true"});
  batch.add_requests()->mutable_spec()->mutable_handler()->set_payload("@BAD@");
  expect("BatchSubmitTasks", batch, "requests[1].spec.handler.payload");
  v1::RunTaskRequest run;
  *run.mutable_spec() = Exec({"true"});
  run.mutable_spec()->set_name("@BAD@");
  expect("RunTask", run, "spec.name");
  v1::ListTasksRequest list;
  list.set_page_token("@BAD@");
  expect("ListTasks", list, "page_token");
  expect("CancelTask", WithId<v1::CancelTaskRequest>("@BAD@"), "id");
  expect("WaitTask", WithId<v1::WaitTaskRequest>("@BAD@"), "id");
  v1::WatchTasksRequest watch;
  watch.add_ids("t-1");
  watch.add_ids("@BAD@");
  expect("WatchTasks", watch, "ids[1]");
  v1::ReportProgressRequest progress;
  progress.set_id("t-1");
  progress.set_message("@BAD@");
  expect("ReportProgress", progress, "message");
  expect("ReadTaskLogs", WithId<v1::ReadTaskLogsRequest>("@BAD@"), "id");
  expect("DeleteTask", WithId<v1::DeleteTaskRequest>("@BAD@"), "id");

  // Bytes that are no message at all: a length past the end.
  auto s = RawCall(address, "GetTask",
                   std::string("\x0a\x7f"
                               "abc",
                               5));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find("taskd.v1.GetTaskRequest"), std::string::npos)
      << s.error_message();
  s = RawCall(address, "WatchTasks",
              std::string("\x0a\x7f"
                          "abc",
                          5));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  // An RPC taskd does not serve is still UNIMPLEMENTED.
  s = RawCall(address, "NoSuchMethod", "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED) << s.error_message();
  ExpectStillServing();
}

}  // namespace
}  // namespace taskd
