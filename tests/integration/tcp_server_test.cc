// The daemon on TCP (port 0) beside its unix socket: tokens, TLS and mTLS,
// the listen rules for TCP, and the metrics endpoint.
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

// A second server on TCP (port 0), for the auth tests.
class TcpServerTest : public it::FourSlotServerTest {
 protected:
  StatusOr<std::unique_ptr<server::Server>> StartTcp(server::ServerOptions o) {
    o.data_dir = dir_ / "tcp-data";
    o.listen.insert(o.listen.begin(), "unix:" + (dir_ / "tcp-run" / "taskd.sock").string());
    return server::Server::Start(o);
  }
  std::filesystem::path WriteFile(const std::string& name, const std::string& data, int mode) {
    auto p = dir_ / name;
    std::ofstream(p) << data;
    std::filesystem::permissions(p, static_cast<std::filesystem::perms>(mode));
    return p;
  }
  static std::string Read(const std::filesystem::path& p) {
    std::ifstream in(p);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  static grpc::StatusCode Info(client::ClientOptions o) {
    o.deadline = 5s;
    client::Client c(std::move(o));
    v1::ServerInfo info;
    return c.ServerInfo(&info).error_code();
  }
};

TEST_F(TcpServerTest, TokenIsRequiredOverTcpAndCheckedExactly) {
  const std::string token = "s3cret-token-0123456789";
  server::ServerOptions o;
  o.listen = {"127.0.0.1:0"};
  o.token_file = WriteFile("token", token + "\n", 0600);
  auto s = StartTcp(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const std::string tcp = (*s)->addresses()[1];
  EXPECT_EQ(Info({tcp}), grpc::StatusCode::UNAUTHENTICATED);
  client::ClientOptions wrong{tcp};
  wrong.token = token + "x";
  EXPECT_EQ(Info(wrong), grpc::StatusCode::UNAUTHENTICATED);
  wrong.token = token.substr(0, token.size() - 1);
  EXPECT_EQ(Info(wrong), grpc::StatusCode::UNAUTHENTICATED);
  client::ClientOptions right{tcp};
  right.token = token;
  EXPECT_EQ(Info(right), grpc::StatusCode::OK);
  // Streams are guarded too.
  client::Client anon(client::ClientOptions{tcp, 5s});
  v1::WatchTasksRequest watch;
  EXPECT_EQ(anon.Watch(watch, [](const v1::TaskEvent&) { return false; }).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // The unix socket needs no token: its directory's permissions guard it.
  EXPECT_EQ(Info({(*s)->addresses()[0]}), grpc::StatusCode::OK);
  (*s)->Shutdown();
}

TEST_F(TcpServerTest, PendingLimitAndDeleteOfARunningTask) {
  server::ServerOptions o;
  o.manager.max_running = 1;
  o.manager.max_pending = 1;
  auto s = StartTcp(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  client::Client c(client::ClientOptions{(*s)->addresses()[0], 10s});
  v1::TaskSpec sleep;
  sleep.mutable_handler()->set_name("sleep");
  sleep.mutable_handler()->set_payload(R"({"seconds": 60})");
  v1::Task running, pending, refused;
  ASSERT_TRUE(c.Submit(sleep, &running).ok());
  ASSERT_TRUE(c.Wait(running.id(), 100ms, &running).ok());
  ASSERT_TRUE(c.Submit(sleep, &pending).ok());
  auto st = c.Submit(sleep, &refused);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(st.error_message().find("pending task limit"), std::string::npos) << st.error_message();
  st = c.Delete(running.id());
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
  (*s)->Shutdown();
}

TEST_F(TcpServerTest, ListenRulesForTcp) {
  server::ServerOptions o;
  o.listen = {"0.0.0.0:0"};
  auto s = StartTcp(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("needs TLS"), std::string::npos) << s.status().message();
  o.listen = {"127.0.0.1:0"};
  s = StartTcp(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("--insecure"), std::string::npos) << s.status().message();
  o.token_file = WriteFile("short-token", "abc", 0600);
  s = StartTcp(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("token_file"), std::string::npos) << s.status().message();
  o.token_file.clear();
  o.insecure = true;
  s = StartTcp(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(Info({(*s)->addresses()[1]}), grpc::StatusCode::OK);
  (*s)->Shutdown();
}

TEST_F(TcpServerTest, TlsAndMutualTls) {
  // A CA, and a server and a client certificate it signed (EC keys: fast).
  auto script = WriteFile("mkcerts.sh", R"(set -e
k="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $k -days 2 -subj /CN=taskd-test-ca -keyout ca.key -out ca.crt
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' > ext
for n in server client; do
  openssl req $k -subj /CN=localhost -keyout $n.key -out $n.csr
  openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile ext -out $n.crt
done
)",
                          0700);
  const std::string cmd = "cd '" + dir_.string() + "' && command -v openssl >/dev/null && bash '" +
                          script.string() + "' >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "openssl could not make test certificates";
  server::ServerOptions o;
  o.listen = {"127.0.0.1:0"};
  o.tls_cert = dir_ / "server.crt";
  o.tls_key = dir_ / "server.key";
  auto s = StartTcp(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const std::string tcp = (*s)->addresses()[1];
  client::ClientOptions tls{tcp};
  tls.tls = true;
  tls.tls_ca_pem = Read(dir_ / "ca.crt");
  EXPECT_EQ(Info(tls), grpc::StatusCode::OK);
  EXPECT_NE(Info({tcp}), grpc::StatusCode::OK);  // plaintext to a TLS port
  (*s)->Shutdown();
  s = {};

  o.tls_client_ca = dir_ / "ca.crt";
  std::filesystem::remove_all(dir_ / "tcp-run");
  s = StartTcp(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  tls.address = (*s)->addresses()[1];
  EXPECT_NE(Info(tls), grpc::StatusCode::OK);  // no client certificate
  tls.tls_cert_pem = Read(dir_ / "client.crt");
  tls.tls_key_pem = Read(dir_ / "client.key");
  EXPECT_EQ(Info(tls), grpc::StatusCode::OK);
  (*s)->Shutdown();
}

using taskd::it::HttpGet;

TEST_F(TcpServerTest, MetricsEndpoint) {
  server::ServerOptions o;
  o.metrics_listen = "127.0.0.1:0";
  auto s = StartTcp(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  client::Client c(client::ClientOptions{(*s)->addresses()[0], 10s});
  v1::Task t, done;
  ASSERT_TRUE(c.Submit(Exec({"sh", "-c", "exit 2"}), &t).ok());
  ASSERT_TRUE(c.Wait(t.id(), std::nullopt, &done).ok());
  std::string page = HttpGet((*s)->metrics_address(), "/metrics");
  EXPECT_NE(page.find("HTTP/1.1 200 OK"), std::string::npos) << page;
  EXPECT_NE(page.find("\ntaskd_tasks_submitted_total 1\n"), std::string::npos) << page;
  EXPECT_NE(page.find("taskd_tasks_finished_total{state=\"failed\",reason=\"exit_code\"} 1"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("taskd_tasks{state=\"failed\"} 1"), std::string::npos) << page;
  EXPECT_NE(page.find("taskd_task_duration_seconds_count 1"), std::string::npos) << page;
  EXPECT_NE(
      page.find("taskd_rpc_duration_seconds_count{method=\"taskd.v1.TaskService/SubmitTask\"} 1"),
      std::string::npos)
      << page;
  EXPECT_NE(page.find("taskd_rpcs_total{method=\"taskd.v1.TaskService/WaitTask\",code=\"OK\"} 1"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("taskd_oldest_pending_task_age_seconds 0"), std::string::npos) << page;
  EXPECT_NE(HttpGet((*s)->metrics_address(), "/other").find("404"), std::string::npos);
  (*s)->Shutdown();
}

}  // namespace
}  // namespace taskd
