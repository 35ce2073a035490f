// Listener: taskd's own accept loop for its plain (non-TLS) gRPC addresses
// — the unix socket, and TCP with a bearer token or --insecure. Each
// accepted connection is handed to the gRPC server
// (grpc::AddInsecureChannelFromFd).
//
// Why not gRPC's listener: in gRPC 1.51, one accept4() failure with EMFILE
// stops that listener for good — taskd would stay up and never answer
// again. This loop pauses on a transient error (out of descriptors or
// memory) and resumes; refuses connections past a cap so the descriptors
// left stay for tasks and the store; and says so in the log, once a second
// at most. TLS addresses stay with gRPC's listener (a TLS handshake cannot
// be handed over by fd in gRPC 1.51).
//
// Thread-safety: Bind and Stop from the controlling thread; the accept loop
// runs on the io_context's threads. ConnectionTable is thread-safe.
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/model/asio.h"
#include "core/model/status.h"

namespace grpc {
class Server;
}

namespace taskd::server {

// The connections the listeners handed to gRPC, by descriptor: how many are
// still open (a closed one is noticed by its descriptor no longer naming the
// same socket), and whether one came through a unix socket (gRPC names such
// a peer "fd:N", with no address).
class ConnectionTable {
 public:
  explicit ConnectionTable(size_t max_connections) : max_(max_connections) {}
  // Records `fd`; false, recording nothing, when `max_connections` are open.
  bool Admit(int fd, bool via_unix);
  // Whether the gRPC peer "fd:N" is a connection that came over a unix socket.
  bool ViaUnixSocket(std::string_view peer) const;
  size_t max() const { return max_; }
  size_t open();

 private:
  struct Entry {
    ino_t inode;
    dev_t dev;
    bool via_unix;
  };
  void PruneClosed();  // with mu_ held

  const size_t max_;
  mutable std::mutex mu_;
  std::unordered_map<int, Entry> entries_;  // guarded by mu_
};

// The connection cap when none is configured: half of the descriptors the
// limit leaves after 64 for the daemon itself, at least 16.
size_t DefaultMaxConnections(size_t fd_limit);

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the limit in force.
size_t RaiseFdLimit();

class Listener {
 public:
  // Binds and listens on `address` ("unix:/abs/path", or "HOST:PORT" with
  // PORT 0 for any): every address HOST resolves to. Nothing is accepted
  // before Serve().
  static StatusOr<std::unique_ptr<Listener>> Bind(asio::io_context& io, const std::string& address,
                                                  ConnectionTable& table);
  ~Listener();
  // The address as bound: "unix:/path" or "HOST:PORT" with the real port.
  const std::string& address() const { return address_; }
  // Starts accepting into `server`, which must outlive Stop().
  void Serve(grpc::Server* server);
  // Stops accepting and closes the listening sockets; returns once no
  // accept handler runs any more. Not from an io thread.
  void Stop();

  struct Impl;

 private:
  explicit Listener(std::shared_ptr<Impl> impl, std::string address)
      : impl_(std::move(impl)), address_(std::move(address)) {}
  std::shared_ptr<Impl> impl_;
  std::string address_;
};

}  // namespace taskd::server
