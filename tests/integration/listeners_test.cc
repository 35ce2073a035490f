// The daemon's listeners and files, started in-process: restarts on the same
// metrics port, the metrics endpoint's authentication rule, and the modes of
// what taskd creates whatever the umask.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "server/server.h"
#include "tests/integration/harness.h"

namespace taskd {
namespace {

using taskd::it::HttpExchange;

std::string Scrape(const std::string& hostport, const std::string& auth = "") {
  std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
  if (!auth.empty()) req += "Authorization: " + auth + "\r\n";
  return HttpExchange(hostport, req + "\r\n");
}

class ListenersTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = taskd::it::NewTempDir("taskd-listen"); }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  server::ServerOptions Options() {
    server::ServerOptions o;
    o.data_dir = dir_ / "data";
    o.listen = {"unix:" + (dir_ / "run" / "taskd.sock").string()};
    return o;
  }
  std::filesystem::path WriteToken(const std::string& token) {
    auto path = dir_ / "token";
    std::ofstream(path) << token << "\n";
    ::chmod(path.c_str(), 0600);
    return path;
  }
  std::filesystem::path dir_;
};

// A scrape leaves the server's side of the connection in TIME-WAIT; the next
// taskd on the same port must still be able to listen (SO_REUSEADDR).
TEST_F(ListenersTest, MetricsPortCanBeReusedRightAfterAScrape) {
  auto o = Options();
  o.metrics_listen = "127.0.0.1:0";
  auto first = server::Server::Start(o);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  std::string address = (*first)->metrics_address();
  EXPECT_NE(Scrape(address).find("200 OK"), std::string::npos);
  (*first)->Shutdown();
  first->reset();

  o.metrics_listen = address;
  auto second = server::Server::Start(o);
  ASSERT_TRUE(second.ok()) << "restart on " << address << ": " << second.status().ToString();
  EXPECT_NE(Scrape(address).find("200 OK"), std::string::npos);
  (*second)->Shutdown();
}

// The metrics listener follows the gRPC listener's rule: off loopback it
// needs the bearer token, and with a token configured every scrape shows it.
TEST_F(ListenersTest, MetricsOffLoopbackNeedTheBearerToken) {
  auto o = Options();
  o.metrics_listen = "0.0.0.0:0";
  auto refused = server::Server::Start(o);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("metrics_listen"), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("--token-file"), std::string::npos)
      << refused.status().message();

  const std::string token = "0123456789abcdef-metrics";
  o.token_file = WriteToken(token);
  auto s = server::Server::Start(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  std::string address = (*s)->metrics_address();
  EXPECT_NE(Scrape(address).find("401 Unauthorized"), std::string::npos) << Scrape(address);
  EXPECT_NE(Scrape(address, "Bearer wrong-token-0123456").find("401"), std::string::npos);
  std::string page = Scrape(address, "Bearer " + token);
  EXPECT_NE(page.find("200 OK"), std::string::npos) << page;
  EXPECT_NE(page.find("taskd_tasks_submitted_total"), std::string::npos) << page;
  (*s)->Shutdown();
}

mode_t ModeOf(const std::filesystem::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

// Every directory and file taskd creates has its own explicit mode: a umask
// of 000 must not leave any of them open to other users.
TEST_F(ListenersTest, UmaskZeroLeavesNothingOpenToOthers) {
  server::ServerOptions o;
  o.data_dir = dir_ / "a" / "b" / "data";
  o.listen = {"unix:" + (dir_ / "x" / "y" / "run" / "taskd.sock").string()};
  mode_t old = ::umask(0);
  auto s = server::Server::Start(o);
  ::umask(old);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  (*s)->Shutdown();
  for (const auto& p : {dir_ / "a", dir_ / "a" / "b", o.data_dir, o.data_dir / "logs", dir_ / "x",
                        dir_ / "x" / "y", dir_ / "x" / "y" / "run"}) {
    EXPECT_EQ(ModeOf(p) & 022, 0u) << p << " is mode " << std::oct << ModeOf(p);
  }
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_)) {
    EXPECT_EQ(ModeOf(entry.path()) & 007, 0u)
        << entry.path() << " is mode " << std::oct << ModeOf(entry.path());
  }
}

}  // namespace
}  // namespace taskd
