#include "server/task_service.h"

#include <atomic>

#include "server/auth.h"
#include "server/convert.h"
#include "server/failed_stream.h"
#include "server/log_reader.h"
#include "server/watcher.h"
#include "server/wire.h"

namespace taskd::server {

namespace {

// Time left before the call's deadline (none when the client set none).
std::optional<Duration> UntilDeadline(grpc::CallbackServerContext* ctx) {
  auto deadline = ctx->deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return std::nullopt;
  auto left = deadline - std::chrono::system_clock::now();
  // Answer a little before the deadline so the caller gets the task, not DEADLINE_EXCEEDED.
  left -= std::chrono::milliseconds(50);
  return std::max(Duration::zero(), std::chrono::duration_cast<Duration>(left));
}

// One unary call: owns its request, response and scope, and deletes itself
// when done. Reply is called exactly once (by the handler's `done`); a
// client's cancel sets scope.cancelled and ends a registered wait, whose
// answer then replies.
template <typename Req, typename Resp>
class UnaryCall final : public grpc::ServerUnaryReactor {
 public:
  UnaryCall(TaskManager& manager, grpc::ByteBuffer* reply) : manager_(manager), reply_(reply) {}

  void Reply(const Status& s) { Finish(s.ok() ? Serialize(response, reply_) : ToGrpc(s)); }

  void OnCancel() override {
    scope.cancelled.store(true);
    if (scope.handle != 0) manager_.CancelWait(scope.handle);
  }
  void OnDone() override { delete this; }

  Req request;
  Resp response;
  CallScope scope;

 private:
  TaskManager& manager_;
  grpc::ByteBuffer* reply_;
};

}  // namespace

Status TaskServiceImpl::Authenticate(Ctx* ctx) const {
  if (token_.empty()) return OkStatus();
  // A unix socket is guarded by its directory's permissions.
  if (ctx->peer().rfind("unix:", 0) == 0) return OkStatus();
  if (connections_ && connections_->ViaUnixSocket(ctx->peer())) return OkStatus();
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) {
    return Status(StatusCode::kUnauthenticated,
                  "authorization: this address needs a bearer token (authorization: Bearer TOKEN)");
  }
  if (!BearerMatches(std::string_view(it->second.data(), it->second.size()), token_)) {
    return Status(StatusCode::kUnauthenticated, "authorization: the bearer token is not valid");
  }
  return OkStatus();
}

template <typename Req, typename Resp, typename Handler>
TaskServiceImpl::Unary TaskServiceImpl::Serve(Ctx* ctx, const Bytes* req, Bytes* resp,
                                              Handler handle, bool waits) {
  auto* call = new UnaryCall<Req, Resp>(rpcs_.manager(), resp);
  if (auto s = Authenticate(ctx); !s.ok()) {
    call->Reply(s);
    return call;
  }
  if (auto s = ParseCallRequest(*req, &call->request); !s.ok()) {
    call->Reply(s);
    return call;
  }
  call->scope.until_deadline = UntilDeadline(ctx);
  // Taken before the reactor is returned, so OnCancel always sees it.
  if (waits) call->scope.handle = rpcs_.manager().NewHandle();
  (rpcs_.*handle)(call->request, &call->response, call->scope,
                  [call](const Status& s) { call->Reply(s); });
  return call;
}

TaskServiceImpl::Unary TaskServiceImpl::SubmitTask(Ctx* ctx, const Bytes* req, Bytes* resp) {
  return Serve<v1::SubmitTaskRequest, v1::Task>(ctx, req, resp, &TaskRpcs::SubmitTask);
}
TaskServiceImpl::Unary TaskServiceImpl::BatchSubmitTasks(Ctx* ctx, const Bytes* req, Bytes* resp) {
  return Serve<v1::BatchSubmitTasksRequest, v1::BatchSubmitTasksResponse>(
      ctx, req, resp, &TaskRpcs::BatchSubmitTasks);
}
TaskServiceImpl::Unary TaskServiceImpl::RunTask(Ctx* ctx, const Bytes* req, Bytes* resp) {
  return Serve<v1::RunTaskRequest, v1::Task>(ctx, req, resp, &TaskRpcs::RunTask, /*waits=*/true);
}
TaskServiceImpl::Unary TaskServiceImpl::GetTask(Ctx* ctx, const Bytes* req, Bytes* resp) {
  return Serve<v1::GetTaskRequest, v1::Task>(ctx, req, resp, &TaskRpcs::GetTask);
}
TaskServiceImpl::Unary TaskServiceImpl::ListTasks(Ctx* ctx, const Bytes* req, Bytes* resp) {
  return Serve<v1::ListTasksRequest, v1::ListTasksResponse>(ctx, req, resp, &TaskRpcs::ListTasks);
}
TaskServiceImpl::Unary TaskServiceImpl::CancelTask(Ctx* ctx, const Bytes* req, Bytes* resp) {
  return Serve<v1::CancelTaskRequest, v1::Task>(ctx, req, resp, &TaskRpcs::CancelTask,
                                                /*waits=*/true);
}
TaskServiceImpl::Unary TaskServiceImpl::WaitTask(Ctx* ctx, const Bytes* req, Bytes* resp) {
  return Serve<v1::WaitTaskRequest, v1::Task>(ctx, req, resp, &TaskRpcs::WaitTask,
                                              /*waits=*/true);
}
TaskServiceImpl::Unary TaskServiceImpl::ReportProgress(Ctx* ctx, const Bytes* req, Bytes* resp) {
  return Serve<v1::ReportProgressRequest, v1::Task>(ctx, req, resp, &TaskRpcs::ReportProgress);
}
TaskServiceImpl::Unary TaskServiceImpl::DeleteTask(Ctx* ctx, const Bytes* req, Bytes* resp) {
  return Serve<v1::DeleteTaskRequest, google::protobuf::Empty>(ctx, req, resp,
                                                               &TaskRpcs::DeleteTask);
}
TaskServiceImpl::Unary TaskServiceImpl::GetServerInfo(Ctx* ctx, const Bytes* req, Bytes* resp) {
  return Serve<v1::GetServerInfoRequest, v1::ServerInfo>(ctx, req, resp, &TaskRpcs::GetServerInfo);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* TaskServiceImpl::WatchTasks(Ctx* ctx,
                                                                        const Bytes* req) {
  return Watch(ctx, req, /*batched=*/false);
}
grpc::ServerWriteReactor<grpc::ByteBuffer>* TaskServiceImpl::WatchTasksBatched(Ctx* ctx,
                                                                               const Bytes* req) {
  return Watch(ctx, req, /*batched=*/true);
}
grpc::ServerWriteReactor<grpc::ByteBuffer>* TaskServiceImpl::Watch(Ctx* ctx, const Bytes* req,
                                                                   bool batched) {
  if (auto s = Authenticate(ctx); !s.ok()) return new FailedStream(s);
  v1::WatchTasksRequest request;
  if (auto s = ParseCallRequest(*req, &request); !s.ok()) return new FailedStream(s);
  return NewWatcher(watch_hub_, request, batched);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* TaskServiceImpl::ReadTaskLogs(Ctx* ctx,
                                                                          const Bytes* req) {
  if (auto s = Authenticate(ctx); !s.ok()) return new FailedStream(s);
  v1::ReadTaskLogsRequest request;
  if (auto s = ParseCallRequest(*req, &request); !s.ok()) return new FailedStream(s);
  return NewLogReader(rpcs_.manager(), request);
}

}  // namespace taskd::server
