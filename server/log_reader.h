// ReadTaskLogs: streams a task's captured stdout and/or stderr from its log
// files, from a byte offset or the last N bytes; with `follow`, keeps
// polling for new output until the task has ended and everything is sent.
#pragma once

#include <grpcpp/grpcpp.h>

#include "core/engine/task_manager.h"
#include "taskd/v1/taskd.grpc.pb.h"

namespace taskd::server {

// Validates `req` and returns the reactor serving the call (it deletes
// itself when done). Never blocks: file reads and polling run on a strand of
// the manager's io_context.
grpc::ServerWriteReactor<grpc::ByteBuffer>* NewLogReader(TaskManager& manager,
                                                         const v1::ReadTaskLogsRequest& req);

}  // namespace taskd::server
