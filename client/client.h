// libtaskd_client: a typed C++ API over the taskd.v1 stub.
//
// Every unary call has a deadline (ClientOptions::deadline unless the call
// takes its own). Errors come back as grpc::Status with the server's code
// and message. Submit generates a request_id when none is given and
// retries UNAVAILABLE / DEADLINE_EXCEEDED with that same id, so a retry
// never creates a second task.
//
// Thread-safety: a Client may be used from several threads at once.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "taskd/v1/taskd.grpc.pb.h"

namespace taskd::client {

struct ClientOptions {
  // "unix:/path/to.sock", "unix:///abs/path" or "HOST:PORT".
  std::string address;
  std::chrono::milliseconds deadline{30000};
  int submit_attempts = 4;  // tries of a Submit on UNAVAILABLE / DEADLINE_EXCEEDED
  // Sent as "authorization: Bearer TOKEN" on every call; empty: none.
  std::string token;
  // TLS: the CA that signed the server's certificate (empty: the system's
  // roots), and a client certificate and key (PEM) for mTLS.
  bool tls = false;
  std::string tls_ca_pem;
  std::string tls_cert_pem;
  std::string tls_key_pem;
  std::string tls_server_name;  // overrides the name checked in the server's certificate
};

class Client {
 public:
  explicit Client(ClientOptions options);

  grpc::Status Submit(const v1::TaskSpec& spec, v1::Task* out, std::string request_id = "");
  grpc::Status Get(const std::string& id, v1::Task* out);
  grpc::Status List(const v1::ListTasksRequest& request, v1::ListTasksResponse* out);
  grpc::Status Cancel(const std::string& id, std::optional<std::chrono::milliseconds> grace,
                      v1::Task* out);
  // Waits up to `timeout` (none: until the task ends); the call deadline follows it.
  grpc::Status Wait(const std::string& id, std::optional<std::chrono::milliseconds> timeout,
                    v1::Task* out);
  grpc::Status ReportProgress(const std::string& id, double percent, const std::string& message,
                              v1::Task* out);
  grpc::Status Delete(const std::string& id);
  // Streams a task's logs, calling `on_chunk` for each chunk; with
  // request.follow() it returns once the task ended and all output arrived.
  // No deadline: a followed task may run for long.
  grpc::Status ReadLogs(const v1::ReadTaskLogsRequest& request,
                        const std::function<void(const v1::LogChunk&)>& on_chunk);
  // Streams events to `on_event` until the stream ends (with ids: once all
  // are terminal) or `on_event` returns false (then the call is cancelled
  // and CANCELLED returned).
  grpc::Status Watch(const v1::WatchTasksRequest& request,
                     const std::function<bool(const v1::TaskEvent&)>& on_event);
  grpc::Status ServerInfo(v1::ServerInfo* out);

  // For calls made on stub() directly: adds the token, if any.
  void Authorize(grpc::ClientContext& ctx) const;
  v1::TaskService::Stub& stub() { return *stub_; }
  // The channel, for other services on the same address (health, reflection).
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  const ClientOptions& options() const { return options_; }

 private:
  // Sets the default deadline (when asked) and the token.
  void Prepare(grpc::ClientContext& ctx, bool with_deadline = true) const;

  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TaskService::Stub> stub_;
};

// A random RFC 4122 version 4 UUID, for request ids.
std::string NewRequestId();

}  // namespace taskd::client
