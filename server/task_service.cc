#include "server/task_service.h"

#include <atomic>
#include <cctype>

#include "server/auth.h"
#include "server/convert.h"
#include "server/failed_stream.h"
#include "server/log_reader.h"
#include "server/page_token.h"
#include "server/watcher.h"

namespace taskd::server {

namespace {

constexpr int32_t kDefaultPageSize = 50;
constexpr int32_t kMaxPageSize = 1000;

// Finishes a default unary reactor with a core Status.
void FinishWith(grpc::ServerUnaryReactor* r, const Status& s) { r->Finish(ToGrpc(s)); }

grpc::ServerUnaryReactor* Reject(grpc::CallbackServerContext* ctx, const Status& s) {
  auto* r = ctx->DefaultReactor();
  FinishWith(r, s);
  return r;
}

// Time left before the call's deadline (none when the client set none).
std::optional<Duration> UntilDeadline(grpc::CallbackServerContext* ctx) {
  auto deadline = ctx->deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return std::nullopt;
  auto left = deadline - std::chrono::system_clock::now();
  // Answer a little before the deadline so the caller gets the task, not DEADLINE_EXCEEDED.
  left -= std::chrono::milliseconds(50);
  return std::max(Duration::zero(), std::chrono::duration_cast<Duration>(left));
}

std::optional<Duration> Earliest(std::optional<Duration> a, std::optional<Duration> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

// A unary call answered by the manager that may take long (Wait, Cancel,
// RunTask) and must end when the client cancels it.
//
// Everything but OnCancel runs on the manager strand. The wait is registered
// under a handle taken up front, so OnCancel can always end it: it sets
// `cancelled_` first and then posts CancelWait(handle). Whichever comes first
// on the strand — the start seeing the flag, or CancelWait finding the
// registered wait — finishes the call, exactly once. Finish is the last
// touch of this object.
class ManagerCallReactor final : public grpc::ServerUnaryReactor {
 public:
  // Runs on the strand: registers the wait under `handle`, or answers `done`.
  using Starter =
      std::function<void(uint64_t handle, const std::atomic<bool>& cancelled, Callback<Task> done)>;

  ManagerCallReactor(TaskManager& manager, v1::Task* resp)
      : manager_(manager), resp_(resp), handle_(manager.NewHandle()) {}

  void Start(Starter start) {
    asio::post(manager_.strand(), [this, start = std::move(start)] {
      if (cancelled_.load()) {
        Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
        return;
      }
      start(handle_, cancelled_, [this](StatusOr<Task> t) {
        if (t.ok()) {
          TaskToProto(*t, resp_);
          Finish(grpc::Status::OK);
        } else {
          Finish(ToGrpc(t.status()));
        }
      });
    });
  }
  void OnCancel() override {
    cancelled_.store(true);
    manager_.CancelWait(handle_);
  }
  void OnDone() override { delete this; }

 private:
  TaskManager& manager_;
  v1::Task* resp_;
  const uint64_t handle_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

Status TaskServiceImpl::Authenticate(grpc::CallbackServerContext* ctx) const {
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

grpc::ServerUnaryReactor* TaskServiceImpl::SubmitTask(grpc::CallbackServerContext* ctx,
                                                      const v1::SubmitTaskRequest* req,
                                                      v1::Task* resp) {
  if (auto s = Authenticate(ctx); !s.ok()) return Reject(ctx, s);
  if (!req->has_spec()) return Reject(ctx, InvalidArgument("spec", "is required"));
  auto spec = SpecFromProto(req->spec(), "spec");
  if (!spec.ok()) return Reject(ctx, spec.status());
  auto* r = ctx->DefaultReactor();
  manager_.Submit(SubmitRequest{std::move(spec).value(), req->request_id()},
                  [r, resp](StatusOr<Task> t) {
                    if (t.ok()) TaskToProto(*t, resp);
                    FinishWith(r, t.status());
                  });
  return r;
}

grpc::ServerUnaryReactor* TaskServiceImpl::BatchSubmitTasks(grpc::CallbackServerContext* ctx,
                                                            const v1::BatchSubmitTasksRequest* req,
                                                            v1::BatchSubmitTasksResponse* resp) {
  if (auto s = Authenticate(ctx); !s.ok()) return Reject(ctx, s);
  std::vector<SubmitRequest> requests;
  requests.reserve(static_cast<size_t>(req->requests_size()));
  if (req->requests_size() > 1000) {
    return Reject(ctx, InvalidArgument("requests", "must hold at most 1000 entries"));
  }
  for (int i = 0; i < req->requests_size(); ++i) {
    std::string field = "requests[" + std::to_string(i) + "].spec";
    const auto& one = req->requests(i);
    if (!one.has_spec()) return Reject(ctx, InvalidArgument(field, "is required"));
    auto spec = SpecFromProto(one.spec(), field);
    if (!spec.ok()) return Reject(ctx, spec.status());
    requests.push_back(SubmitRequest{std::move(spec).value(), one.request_id()});
  }
  auto* r = ctx->DefaultReactor();
  manager_.BatchSubmit(std::move(requests), [r, resp](StatusOr<std::vector<Task>> tasks) {
    if (tasks.ok()) {
      for (const auto& t : *tasks) TaskToProto(t, resp->add_tasks());
    }
    FinishWith(r, tasks.status());
  });
  return r;
}

grpc::ServerUnaryReactor* TaskServiceImpl::StartWait(grpc::CallbackServerContext* ctx,
                                                     const std::string& id,
                                                     std::optional<Duration> timeout,
                                                     v1::Task* resp) {
  auto* r = new ManagerCallReactor(manager_, resp);
  timeout = Earliest(timeout, UntilDeadline(ctx));
  r->Start([this, id, timeout](uint64_t handle, const std::atomic<bool>&, Callback<Task> done) {
    manager_.WaitOnStrand(handle, id, timeout, std::move(done));
  });
  return r;
}

grpc::ServerUnaryReactor* TaskServiceImpl::RunTask(grpc::CallbackServerContext* ctx,
                                                   const v1::RunTaskRequest* req, v1::Task* resp) {
  if (auto s = Authenticate(ctx); !s.ok()) return Reject(ctx, s);
  if (!req->has_spec()) return Reject(ctx, InvalidArgument("spec", "is required"));
  auto spec = SpecFromProto(req->spec(), "spec");
  if (!spec.ok()) return Reject(ctx, spec.status());
  std::optional<Duration> timeout;
  if (req->has_timeout()) {
    auto t = DurationFromProto(req->timeout(), "timeout");
    if (!t.ok()) return Reject(ctx, t.status());
    timeout = *t;
  }
  timeout = Earliest(timeout, UntilDeadline(ctx));
  auto* r = new ManagerCallReactor(manager_, resp);
  r->Start([this, request = SubmitRequest{std::move(spec).value(), req->request_id()}, timeout](
               uint64_t handle, const std::atomic<bool>& cancelled, Callback<Task> done) mutable {
    manager_.Submit(std::move(request),
                    [this, handle, &cancelled, timeout, done = std::move(done)](StatusOr<Task> t) {
                      // On the strand. `cancelled` lives until `done` runs.
                      if (!t.ok()) {
                        done(t.status());
                      } else if (cancelled.load()) {
                        done(Status(StatusCode::kCancelled, "cancelled by the client"));
                      } else {
                        manager_.WaitOnStrand(handle, t->id, timeout, done);
                      }
                    });
  });
  return r;
}

grpc::ServerUnaryReactor* TaskServiceImpl::GetTask(grpc::CallbackServerContext* ctx,
                                                   const v1::GetTaskRequest* req, v1::Task* resp) {
  if (auto s = Authenticate(ctx); !s.ok()) return Reject(ctx, s);
  if (req->id().empty()) return Reject(ctx, InvalidArgument("id", "must not be empty"));
  auto* r = ctx->DefaultReactor();
  manager_.Get(req->id(), [r, resp](StatusOr<Task> t) {
    if (t.ok()) TaskToProto(*t, resp);
    FinishWith(r, t.status());
  });
  return r;
}

grpc::ServerUnaryReactor* TaskServiceImpl::ListTasks(grpc::CallbackServerContext* ctx,
                                                     const v1::ListTasksRequest* req,
                                                     v1::ListTasksResponse* resp) {
  if (auto s = Authenticate(ctx); !s.ok()) return Reject(ctx, s);
  if (req->page_size() < 0) {
    return Reject(ctx, InvalidArgument("page_size", "must not be negative"));
  }
  ListRequest list;
  list.page_size = static_cast<size_t>(
      req->page_size() == 0 ? kDefaultPageSize : std::min(req->page_size(), kMaxPageSize));
  if (!req->page_token().empty()) {
    auto cursor = DecodePageToken(req->page_token());
    if (!cursor.ok()) return Reject(ctx, cursor.status());
    list.start_after = *cursor;
  }
  for (int i = 0; i < req->states_size(); ++i) {
    auto s = StateFromProto(req->states(i), "states[" + std::to_string(i) + "]");
    if (!s.ok()) return Reject(ctx, s.status());
    list.filter.states.push_back(*s);
  }
  list.filter.labels.insert(req->labels().begin(), req->labels().end());
  list.filter.queue = req->queue();
  list.filter.name_prefix = req->name_prefix();
  auto* r = ctx->DefaultReactor();
  manager_.List(std::move(list), [r, resp](StatusOr<ListResult> result) {
    if (result.ok()) {
      for (const auto& t : result->tasks) TaskToProto(t, resp->add_tasks());
      if (!result->last_id.empty()) resp->set_next_page_token(EncodePageToken(result->last_id));
    }
    FinishWith(r, result.status());
  });
  return r;
}

grpc::ServerUnaryReactor* TaskServiceImpl::CancelTask(grpc::CallbackServerContext* ctx,
                                                      const v1::CancelTaskRequest* req,
                                                      v1::Task* resp) {
  if (auto s = Authenticate(ctx); !s.ok()) return Reject(ctx, s);
  if (req->id().empty()) return Reject(ctx, InvalidArgument("id", "must not be empty"));
  std::optional<Duration> grace;
  if (req->has_grace()) {
    auto g = DurationFromProto(req->grace(), "grace");
    if (!g.ok()) return Reject(ctx, g.status());
    grace = *g;
  }
  // Answers once the task has stopped; a client that gives up ends the call
  // (the task is still stopped).
  auto* r = new ManagerCallReactor(manager_, resp);
  r->Start([this, id = req->id(), grace](uint64_t handle, const std::atomic<bool>&,
                                         Callback<Task> done) {
    manager_.CancelOnStrand(handle, id, grace, std::move(done));
  });
  return r;
}

grpc::ServerUnaryReactor* TaskServiceImpl::WaitTask(grpc::CallbackServerContext* ctx,
                                                    const v1::WaitTaskRequest* req,
                                                    v1::Task* resp) {
  if (auto s = Authenticate(ctx); !s.ok()) return Reject(ctx, s);
  if (req->id().empty()) return Reject(ctx, InvalidArgument("id", "must not be empty"));
  std::optional<Duration> timeout;
  if (req->has_timeout()) {
    auto t = DurationFromProto(req->timeout(), "timeout");
    if (!t.ok()) return Reject(ctx, t.status());
    timeout = *t;
  }
  return StartWait(ctx, req->id(), timeout, resp);
}

grpc::ServerWriteReactor<v1::TaskEvent>* TaskServiceImpl::WatchTasks(
    grpc::CallbackServerContext* ctx, const v1::WatchTasksRequest* req) {
  if (auto s = Authenticate(ctx); !s.ok()) return new FailedStream<v1::TaskEvent>(s);
  return NewWatcher(watch_hub_, *req);
}

grpc::ServerUnaryReactor* TaskServiceImpl::ReportProgress(grpc::CallbackServerContext* ctx,
                                                          const v1::ReportProgressRequest* req,
                                                          v1::Task* resp) {
  if (auto s = Authenticate(ctx); !s.ok()) return Reject(ctx, s);
  if (req->id().empty()) return Reject(ctx, InvalidArgument("id", "must not be empty"));
  auto* r = ctx->DefaultReactor();
  manager_.ReportProgress(req->id(), req->percent(), req->message(), [r, resp](StatusOr<Task> t) {
    if (t.ok()) TaskToProto(*t, resp);
    FinishWith(r, t.status());
  });
  return r;
}

grpc::ServerWriteReactor<v1::LogChunk>* TaskServiceImpl::ReadTaskLogs(
    grpc::CallbackServerContext* ctx, const v1::ReadTaskLogsRequest* req) {
  if (auto s = Authenticate(ctx); !s.ok()) return new FailedStream<v1::LogChunk>(s);
  return NewLogReader(manager_, *req);
}

grpc::ServerUnaryReactor* TaskServiceImpl::DeleteTask(grpc::CallbackServerContext* ctx,
                                                      const v1::DeleteTaskRequest* req,
                                                      google::protobuf::Empty* /*resp*/) {
  if (auto s = Authenticate(ctx); !s.ok()) return Reject(ctx, s);
  if (req->id().empty()) return Reject(ctx, InvalidArgument("id", "must not be empty"));
  auto* r = ctx->DefaultReactor();
  manager_.Delete(req->id(), [r](Status s) { FinishWith(r, s); });
  return r;
}

grpc::ServerUnaryReactor* TaskServiceImpl::GetServerInfo(grpc::CallbackServerContext* ctx,
                                                         const v1::GetServerInfoRequest* /*req*/,
                                                         v1::ServerInfo* resp) {
  if (auto s = Authenticate(ctx); !s.ok()) return Reject(ctx, s);
  resp->set_version(info_.version);
  TimeToProto(info_.start_time, resp->mutable_start_time());
  resp->set_max_running(manager_.options().max_running);
  resp->set_max_pending(static_cast<int32_t>(manager_.options().max_pending));
  for (const auto& name : manager_.handlers().Names()) resp->add_handlers(name);
  resp->set_store(manager_.store_name());
  auto* r = ctx->DefaultReactor();
  r->Finish(grpc::Status::OK);
  return r;
}

}  // namespace taskd::server
