// WatchTasks: streams state and progress events. With ids, the stream ends
// once every listed task is terminal; with a filter it runs until the client
// cancels or taskd shuts down (UNAVAILABLE).
#pragma once

#include <grpcpp/grpcpp.h>

#include "core/task_manager.h"
#include "taskd/v1/taskd.grpc.pb.h"

namespace taskd::server {

// Validates `req` and returns the reactor serving the call (it deletes
// itself when done). Events are queued per watcher, up to kMaxQueuedEvents:
// a client that falls further behind gets RESOURCE_EXHAUSTED.
grpc::ServerWriteReactor<v1::TaskEvent>* NewWatcher(TaskManager& manager,
                                                    const v1::WatchTasksRequest& req);

inline constexpr size_t kMaxQueuedEvents = 10000;

}  // namespace taskd::server
