// Input a careless or hostile client may send, over the real gRPC stack:
// each gets the right status code with a message that names the field and
// quotes at most a short prefix of what was sent, and the daemon goes on.
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

}  // namespace
}  // namespace taskd
