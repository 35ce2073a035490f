// TaskRpcs: what each unary TaskService RPC does with its request, apart
// from the gRPC call — validation (INVALID_ARGUMENT naming the field), the
// manager's answer, the response. TaskServiceImpl parses requests
// (ParseCallRequest: also the non-empty `id`) and finishes calls around it;
// the fuzz targets call it the same way.
//
// Contract of every method: `done` runs exactly once, on any thread, after
// `resp` is filled (when the status is ok). `req`, `resp` and `scope` must
// live until then; `req` is not read after the method returns.
#pragma once

#include <atomic>
#include <functional>
#include <optional>

#include "core/engine/task_manager.h"
#include "taskd/v1/taskd.pb.h"

namespace taskd::server {

inline constexpr int32_t kDefaultPageSize = 50;
inline constexpr int32_t kMaxPageSize = 1000;

struct ServiceInfo {
  std::string version;
  WallTime start_time{};
};

// What a handler knows of its call.
struct CallScope {
  // Time left before the call's deadline (none when the client set none).
  std::optional<Duration> until_deadline;
  // RunTask, CancelTask and WaitTask register their wait under this handle
  // (TaskManager::NewHandle), so the client's cancel can end it:
  // set `cancelled`, then TaskManager::CancelWait(handle).
  uint64_t handle = 0;
  std::atomic<bool> cancelled{false};
};

using Done = std::function<void(const Status&)>;

class TaskRpcs {
 public:
  TaskRpcs(TaskManager& manager, ServiceInfo info) : manager_(manager), info_(std::move(info)) {}

  void SubmitTask(const v1::SubmitTaskRequest& req, v1::Task* resp, CallScope& scope, Done done);
  void BatchSubmitTasks(const v1::BatchSubmitTasksRequest& req, v1::BatchSubmitTasksResponse* resp,
                        CallScope& scope, Done done);
  void RunTask(const v1::RunTaskRequest& req, v1::Task* resp, CallScope& scope, Done done);
  void GetTask(const v1::GetTaskRequest& req, v1::Task* resp, CallScope& scope, Done done);
  void ListTasks(const v1::ListTasksRequest& req, v1::ListTasksResponse* resp, CallScope& scope,
                 Done done);
  void CancelTask(const v1::CancelTaskRequest& req, v1::Task* resp, CallScope& scope, Done done);
  void WaitTask(const v1::WaitTaskRequest& req, v1::Task* resp, CallScope& scope, Done done);
  void ReportProgress(const v1::ReportProgressRequest& req, v1::Task* resp, CallScope& scope,
                      Done done);
  void DeleteTask(const v1::DeleteTaskRequest& req, google::protobuf::Empty* resp, CallScope& scope,
                  Done done);
  void GetServerInfo(const v1::GetServerInfoRequest& req, v1::ServerInfo* resp, CallScope& scope,
                     Done done);

  TaskManager& manager() { return manager_; }

 private:
  // Runs `start` on the manager strand unless the client has cancelled
  // already; `start` registers its wait under scope.handle and answers
  // through the Callback, which fills `resp`.
  using Starter = std::function<void(Callback<Task> answer)>;
  void OnStrand(CallScope& scope, v1::Task* resp, Done done, Starter start);

  TaskManager& manager_;
  const ServiceInfo info_;
};

}  // namespace taskd::server
