// Server: a running taskd — store, task manager, io threads and the gRPC
// server — assembled from ServerOptions. main.cpp only parses flags and
// calls this; integration tests start it in-process on a temp unix socket.
//
// Thread-safety: Start() and Shutdown() from one controlling thread, which
// must not be an io thread (Shutdown waits for the io threads).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/engine/task_manager.h"
#include "core/exec/handlers.h"
#include "core/model/status.h"

namespace taskd::server {

struct ServerOptions {
  std::filesystem::path data_dir;
  std::string store = "sqlite";     // "sqlite" or "memory"
  std::vector<std::string> listen;  // "unix:PATH" or "HOST:PORT"; PORT 0 picks one
  bool insecure = false;            // allow plain TCP on loopback without TLS or token
  // TCP callers must send "authorization: Bearer <the file's content>".
  std::filesystem::path token_file;
  // TLS for TCP listeners: certificate chain and key (PEM); with client_ca,
  // clients must present a certificate it signed (mTLS).
  std::filesystem::path tls_cert;
  std::filesystem::path tls_key;
  std::filesystem::path tls_client_ca;
  // Prometheus metrics over HTTP: HOST:PORT, or PORT (loopback); empty: off.
  std::string metrics_listen;
  ManagerOptions manager;  // log_dir defaults to <data_dir>/logs
  // Connections open at once on the unix and plain TCP listeners; 0:
  // DefaultMaxConnections() of the descriptor limit (raised to the hard limit).
  size_t max_connections = 0;
  // WatchTasks streams open at once; one more is refused (RESOURCE_EXHAUSTED).
  size_t max_watchers = 1000;  // kDefaultMaxWatchers (server/watcher.h)
  int io_threads = 2;
  int max_receive_bytes = 4 << 20;
  std::string version = "dev";
};

// The default data directory: /var/lib/taskd for root, else
// $XDG_STATE_HOME/taskd or ~/.local/state/taskd. TASKD_DATA_DIR overrides.
std::filesystem::path DefaultDataDir();

class Server {
 public:
  // Locks the data directory, opens the store, recovers tasks, and starts
  // serving. Errors say what to fix (a locked data dir, a bad address).
  static StatusOr<std::unique_ptr<Server>> Start(
      ServerOptions options, std::unique_ptr<HandlerRegistry> handlers = nullptr);
  ~Server();

  // The bound addresses ("unix:/path", "127.0.0.1:40123").
  const std::vector<std::string>& addresses() const;
  // The metrics endpoint's HOST:PORT; empty when off.
  std::string metrics_address() const;
  TaskManager& manager();
  // WatchTasks streams open now (their reactors not done yet).
  size_t open_watchers() const;

  // The written shutdown sequence (see server.cc). Idempotent; blocks until done.
  void Shutdown();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace taskd::server
