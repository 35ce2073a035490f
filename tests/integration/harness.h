// What the integration tests share: a private temp directory, a server and
// client over a unix socket in it, and a plain HTTP exchange for /metrics.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "client/client.h"
#include "server/server.h"

namespace taskd::it {

// A new directory only this user can enter, under the system temp dir.
inline std::filesystem::path NewTempDir(const std::string& prefix) {
  std::random_device rd;
  auto dir = std::filesystem::temp_directory_path() /
             (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(dir);
  ::chmod(dir.c_str(), 0700);
  return dir;
}

// Sends `request` to 127.0.0.1 at the port of `hostport` over a plain
// socket; returns the whole response (empty when the connection failed).
inline std::string HttpExchange(const std::string& hostport, const std::string& request) {
  auto colon = hostport.rfind(':');
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::stoi(hostport.substr(colon + 1))));
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
    (void)!::write(fd, request.data(), request.size());
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

inline std::string HttpGet(const std::string& hostport, const std::string& path) {
  return HttpExchange(hostport, "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
}

// A server on dir_/run/taskd.sock with its data in dir_/data, and a client
// of it; Configure() adjusts the options first.
// Ends a test's server: the client first, then the server, then its files.
inline void StopServer(std::unique_ptr<client::Client>& client,
                       std::unique_ptr<server::Server>& server, const std::filesystem::path& dir) {
  client.reset();
  if (server) server->Shutdown();
  server.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

class ServerTest : public ::testing::Test {
 protected:
  virtual void Configure(server::ServerOptions& /*options*/) {}

  void SetUp() override {
    dir_ = NewTempDir("taskd-it");
    server::ServerOptions o;
    o.data_dir = dir_ / "data";
    o.listen = {"unix:" + (dir_ / "run" / "taskd.sock").string()};
    Configure(o);
    auto s = server::Server::Start(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    client_ = std::make_unique<client::Client>(
        client::ClientOptions{server_->addresses()[0], std::chrono::seconds(10)});
  }
  void TearDown() override { StopServer(client_, server_, dir_); }

  static v1::TaskSpec Exec(std::vector<std::string> argv) {
    v1::TaskSpec spec;
    auto* exec = spec.mutable_exec();  // set even when argv is empty
    for (auto& a : argv) exec->add_argv(a);
    return spec;
  }

  std::filesystem::path dir_;
  std::unique_ptr<server::Server> server_;
  std::unique_ptr<client::Client> client_;
};

// A server with four task slots (the number most service tests assume).
class FourSlotServerTest : public ServerTest {
 protected:
  void Configure(server::ServerOptions& o) override { o.manager.max_running = 4; }
};

}  // namespace taskd::it
