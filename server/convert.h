// Conversions between the taskd.v1 protos and the core model, and from core
// Status to grpc::Status. Every conversion of client input reports a bad
// field as INVALID_ARGUMENT naming it by its request path.
#pragma once

#include <grpcpp/support/status.h>

#include <string>

#include "core/engine/task_manager.h"
#include "core/model/status.h"
#include "core/model/task.h"
#include "taskd/v1/taskd.pb.h"

namespace taskd::server {

grpc::Status ToGrpc(const Status& status);

// `field` is the request path of the spec ("spec", "requests[2].spec").
StatusOr<TaskSpec> SpecFromProto(const v1::TaskSpec& spec, const std::string& field);
void SpecToProto(const TaskSpec& spec, v1::TaskSpec* out);
void TaskToProto(const Task& task, v1::Task* out);

StatusOr<Duration> DurationFromProto(const google::protobuf::Duration& d, const std::string& field);
void DurationToProto(Duration d, google::protobuf::Duration* out);
void TimeToProto(WallTime t, google::protobuf::Timestamp* out);

v1::TaskState StateToProto(TaskState s);
StatusOr<TaskState> StateFromProto(int s, const std::string& field);

// The filter fields that ListTasksRequest and WatchTasksRequest share
// (states, labels, queue, name_prefix); a watch's ids are its own.
template <typename Req>
StatusOr<TaskFilter> FilterFromProto(const Req& req) {
  TaskFilter filter;
  for (int i = 0; i < req.states_size(); ++i) {
    auto s = StateFromProto(req.states(i), "states[" + std::to_string(i) + "]");
    if (!s.ok()) return s.status();
    filter.states.push_back(*s);
  }
  filter.labels.insert(req.labels().begin(), req.labels().end());
  filter.queue = req.queue();
  filter.name_prefix = req.name_prefix();
  return filter;
}

}  // namespace taskd::server
