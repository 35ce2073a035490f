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
#include <mutex>
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
  // Submits 1 to 1,000 tasks in one call: all are accepted or none is. Each
  // spec gets request_ids[i] when given (non-empty), else a new UUID; retried
  // as Submit is. `out` gets the tasks in spec order.
  grpc::Status BatchSubmit(const std::vector<v1::TaskSpec>& specs, std::vector<v1::Task>* out,
                           std::vector<std::string> request_ids = {});
  // Submits and waits in one call (RunTask): `out` is the ended task, or its
  // latest state when `timeout` passed first. No timeout: until it ends.
  // Retried as Submit is, with the same request_id.
  grpc::Status Run(const v1::TaskSpec& spec, std::optional<std::chrono::milliseconds> timeout,
                   v1::Task* out, std::string request_id = "");
  grpc::Status Get(const std::string& id, v1::Task* out);
  // One page (request.page_size / page_token); see ListAll for every match.
  grpc::Status List(const v1::ListTasksRequest& request, v1::ListTasksResponse* out);
  // Every task matching `request`'s filter, in id order, fetching pages as
  // needed (request.page_size per call; 0: 1,000). `on_task` returns false
  // to stop early (then OK is returned).
  grpc::Status ListAll(v1::ListTasksRequest request,
                       const std::function<bool(const v1::Task&)>& on_task);
  // As above into a vector; `limit` > 0 stops after that many.
  grpc::Status ListAll(v1::ListTasksRequest request, std::vector<v1::Task>* out, size_t limit = 0);
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
  // and CANCELLED returned). Over WatchTasksBatched, several events per
  // message, so a watch keeps up with a busy daemon; against a taskd too old
  // to have it (UNIMPLEMENTED before any event), over WatchTasks.
  grpc::Status Watch(const v1::WatchTasksRequest& request,
                     const std::function<bool(const v1::TaskEvent&)>& on_event);
  // The same stream as an iterator:
  //   auto watch = client.Watch(request);
  //   v1::TaskEvent event;
  //   while (watch->Next(&event)) { ... }
  //   grpc::Status s = watch->Finish();
  // Cancel() (from any thread) makes Next return false; destroying an
  // unfinished watch cancels it. The Client must outlive its watches (one
  // that falls back to WatchTasks starts that call through it).
  class TaskWatch;
  std::unique_ptr<TaskWatch> Watch(const v1::WatchTasksRequest& request);
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
  template <typename Call>
  grpc::Status Retrying(
      Call&& call, std::chrono::milliseconds extra_deadline = std::chrono::milliseconds(0)) const;

  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TaskService::Stub> stub_;
};

class Client::TaskWatch {
 public:
  ~TaskWatch();
  TaskWatch(const TaskWatch&) = delete;
  TaskWatch& operator=(const TaskWatch&) = delete;
  // The next event; false once the stream ended (then call Finish).
  bool Next(v1::TaskEvent* event);
  // Ends the stream early; Next returns false and Finish CANCELLED.
  void Cancel();
  // How the stream ended: OK when every watched id became terminal.
  grpc::Status Finish();

 private:
  friend class Client;
  TaskWatch(const Client& client, const v1::WatchTasksRequest& request);
  // Opens a WatchTasks call (one event per message) in place of the batched
  // one, which the server does not have.
  void FallBack();

  const Client& client_;
  v1::WatchTasksRequest request_;  // kept for FallBack
  std::mutex mu_;                  // guards the contexts' creation against Cancel
  bool cancelled_ = false;         // guarded by mu_
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::TaskEventBatch>> batches_;
  v1::TaskEventBatch batch_;  // the last batch read, handed out from `next_`
  int next_ = 0;
  bool got_batch_ = false;
  std::unique_ptr<grpc::ClientContext> v1_ctx_;
  std::unique_ptr<grpc::ClientReader<v1::TaskEvent>> events_;  // after FallBack
  bool finished_ = false;
  grpc::Status status_;
};

// Options from the environment: TASKD_ADDR (else taskd's default socket:
// TASKD_SOCKET, /run/taskd/taskd.sock for root, else
// $XDG_RUNTIME_DIR/taskd/taskd.sock or /tmp/taskd-UID/taskd.sock) and
// TASKD_TOKEN_FILE. Throws std::runtime_error when the token file cannot be read.
ClientOptions OptionsFromEnvironment();
// The bearer token in the file at `path`: its content without the
// whitespace around it, 16 or more printable ASCII characters (the rule
// taskd applies to its own --token-file). Throws std::runtime_error
// ("cannot read PATH", or what is wrong with the token).
std::string ReadTokenFile(const std::string& path);

// A random RFC 4122 version 4 UUID, for request ids.
std::string NewRequestId();

}  // namespace taskd::client
