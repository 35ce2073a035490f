// TaskServiceImpl: taskd.v1.TaskService on the gRPC callback API, adapting
// requests to the TaskManager.
//
// Reactions only convert and post to the manager; the manager's callback
// fills the response and calls Finish, exactly once per call, also when the
// client cancels (OnCancel ends the manager-side wait, whose callback then
// finishes the call). Finish is the last touch of request data.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/task_manager.h"
#include "server/listener.h"
#include "server/watcher.h"
#include "taskd/v1/taskd.grpc.pb.h"

namespace taskd::server {

struct ServiceInfo {
  std::string version;
  WallTime start_time{};
};

class TaskServiceImpl final : public v1::TaskService::CallbackService {
 public:
  // `token`: callers over TCP must send "authorization: Bearer TOKEN";
  // empty: no token. Unix socket callers never need one: `connections`
  // tells which connections came through one (see listener.h).
  // `max_watchers`: WatchTasks streams open at once (one more is
  // RESOURCE_EXHAUSTED).
  TaskServiceImpl(TaskManager& manager, ServiceInfo info, std::string token = "",
                  const ConnectionTable* connections = nullptr,
                  size_t max_watchers = kDefaultMaxWatchers)
      : manager_(manager),
        info_(std::move(info)),
        token_(std::move(token)),
        connections_(connections),
        watch_hub_(std::make_shared<WatchHub>(manager, max_watchers)) {}

  grpc::ServerUnaryReactor* SubmitTask(grpc::CallbackServerContext* ctx,
                                       const v1::SubmitTaskRequest* req, v1::Task* resp) override;
  grpc::ServerUnaryReactor* BatchSubmitTasks(grpc::CallbackServerContext* ctx,
                                             const v1::BatchSubmitTasksRequest* req,
                                             v1::BatchSubmitTasksResponse* resp) override;
  grpc::ServerUnaryReactor* RunTask(grpc::CallbackServerContext* ctx, const v1::RunTaskRequest* req,
                                    v1::Task* resp) override;
  grpc::ServerUnaryReactor* GetTask(grpc::CallbackServerContext* ctx, const v1::GetTaskRequest* req,
                                    v1::Task* resp) override;
  grpc::ServerUnaryReactor* ListTasks(grpc::CallbackServerContext* ctx,
                                      const v1::ListTasksRequest* req,
                                      v1::ListTasksResponse* resp) override;
  grpc::ServerUnaryReactor* CancelTask(grpc::CallbackServerContext* ctx,
                                       const v1::CancelTaskRequest* req, v1::Task* resp) override;
  grpc::ServerUnaryReactor* WaitTask(grpc::CallbackServerContext* ctx,
                                     const v1::WaitTaskRequest* req, v1::Task* resp) override;
  grpc::ServerWriteReactor<v1::TaskEvent>* WatchTasks(grpc::CallbackServerContext* ctx,
                                                      const v1::WatchTasksRequest* req) override;
  grpc::ServerUnaryReactor* ReportProgress(grpc::CallbackServerContext* ctx,
                                           const v1::ReportProgressRequest* req,
                                           v1::Task* resp) override;
  grpc::ServerWriteReactor<v1::LogChunk>* ReadTaskLogs(grpc::CallbackServerContext* ctx,
                                                       const v1::ReadTaskLogsRequest* req) override;
  grpc::ServerUnaryReactor* DeleteTask(grpc::CallbackServerContext* ctx,
                                       const v1::DeleteTaskRequest* req,
                                       google::protobuf::Empty* resp) override;
  size_t open_watchers() const { return watch_hub_->open(); }

  grpc::ServerUnaryReactor* GetServerInfo(grpc::CallbackServerContext* ctx,
                                          const v1::GetServerInfoRequest* req,
                                          v1::ServerInfo* resp) override;

 private:
  // UNAUTHENTICATED unless the call may proceed (see the constructor).
  Status Authenticate(grpc::CallbackServerContext* ctx) const;
  // Starts a wait on `id` that ends at `timeout`, the call's deadline, the
  // task's end, or the client's cancel, and finishes the call with the task.
  grpc::ServerUnaryReactor* StartWait(grpc::CallbackServerContext* ctx, const std::string& id,
                                      std::optional<Duration> timeout, v1::Task* resp);

  TaskManager& manager_;
  ServiceInfo info_;
  std::string token_;
  const ConnectionTable* connections_;
  std::shared_ptr<WatchHub> watch_hub_;  // shared with the open watchers
};

}  // namespace taskd::server
