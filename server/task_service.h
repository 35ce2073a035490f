// TaskServiceImpl: taskd.v1.TaskService on the gRPC callback API, with raw
// (byte buffer) methods: each call is authenticated, its request parsed and
// checked by ParseCallRequest (wire.h: a request that does not parse, or
// names no task where it needs one, is INVALID_ARGUMENT naming the field),
// handled by TaskRpcs (unary) or a watcher / log reader
// (streams), and its reply serialized here.
//
// Each unary call finishes exactly once, also when the client cancels
// (OnCancel ends the manager-side wait, whose callback then finishes the
// call). Finish is the last touch of the call's request and response.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/engine/task_manager.h"
#include "server/listener.h"
#include "server/task_rpcs.h"
#include "server/watcher.h"
#include "taskd/v1/taskd.grpc.pb.h"

namespace taskd::server {

// Every method raw: taskd parses and serializes the messages itself.
using RawTaskService = v1::TaskService::WithRawCallbackMethod_SubmitTask<
    v1::TaskService::WithRawCallbackMethod_BatchSubmitTasks<
        v1::TaskService::WithRawCallbackMethod_RunTask<
            v1::TaskService::WithRawCallbackMethod_GetTask<
                v1::TaskService::WithRawCallbackMethod_ListTasks<
                    v1::TaskService::WithRawCallbackMethod_CancelTask<
                        v1::TaskService::WithRawCallbackMethod_WaitTask<
                            v1::TaskService::WithRawCallbackMethod_WatchTasks<
                                v1::TaskService::WithRawCallbackMethod_WatchTasksBatched<
                                    v1::TaskService::WithRawCallbackMethod_ReportProgress<
                                        v1::TaskService::WithRawCallbackMethod_ReadTaskLogs<
                                            v1::TaskService::WithRawCallbackMethod_DeleteTask<
                                                v1::TaskService::
                                                    WithRawCallbackMethod_GetServerInfo<
                                                        v1::TaskService::Service>>>>>>>>>>>>>;

class TaskServiceImpl final : public RawTaskService {
 public:
  // `token`: callers over TCP must send "authorization: Bearer TOKEN";
  // empty: no token. Unix socket callers never need one: `connections`
  // tells which connections came through one (see listener.h).
  // `max_watchers`: WatchTasks and WatchTasksBatched streams open at once (one more is
  // RESOURCE_EXHAUSTED).
  TaskServiceImpl(TaskManager& manager, ServiceInfo info, std::string token = "",
                  const ConnectionTable* connections = nullptr,
                  size_t max_watchers = kDefaultMaxWatchers)
      : rpcs_(manager, std::move(info)),
        token_(std::move(token)),
        connections_(connections),
        watch_hub_(std::make_shared<WatchHub>(manager, max_watchers)) {}

  using Unary = grpc::ServerUnaryReactor*;
  using Ctx = grpc::CallbackServerContext;
  using Bytes = grpc::ByteBuffer;

  Unary SubmitTask(Ctx* ctx, const Bytes* req, Bytes* resp) override;
  Unary BatchSubmitTasks(Ctx* ctx, const Bytes* req, Bytes* resp) override;
  Unary RunTask(Ctx* ctx, const Bytes* req, Bytes* resp) override;
  Unary GetTask(Ctx* ctx, const Bytes* req, Bytes* resp) override;
  Unary ListTasks(Ctx* ctx, const Bytes* req, Bytes* resp) override;
  Unary CancelTask(Ctx* ctx, const Bytes* req, Bytes* resp) override;
  Unary WaitTask(Ctx* ctx, const Bytes* req, Bytes* resp) override;
  Unary ReportProgress(Ctx* ctx, const Bytes* req, Bytes* resp) override;
  Unary DeleteTask(Ctx* ctx, const Bytes* req, Bytes* resp) override;
  Unary GetServerInfo(Ctx* ctx, const Bytes* req, Bytes* resp) override;
  grpc::ServerWriteReactor<Bytes>* WatchTasks(Ctx* ctx, const Bytes* req) override;
  grpc::ServerWriteReactor<Bytes>* WatchTasksBatched(Ctx* ctx, const Bytes* req) override;
  grpc::ServerWriteReactor<Bytes>* ReadTaskLogs(Ctx* ctx, const Bytes* req) override;

  size_t open_watchers() const { return watch_hub_->open(); }

 private:
  // UNAUTHENTICATED unless the call may proceed (see the constructor).
  Status Authenticate(Ctx* ctx) const;
  // Authenticates, parses `req` as Req and hands it to `handle` (a TaskRpcs
  // method); `waits`: the call registers a wait the client's cancel ends.
  template <typename Req, typename Resp, typename Handler>
  Unary Serve(Ctx* ctx, const Bytes* req, Bytes* resp, Handler handle, bool waits = false);
  grpc::ServerWriteReactor<Bytes>* Watch(Ctx* ctx, const Bytes* req, bool batched);

  TaskRpcs rpcs_;
  std::string token_;
  const ConnectionTable* connections_;
  std::shared_ptr<WatchHub> watch_hub_;  // shared with the open watchers
};

}  // namespace taskd::server
