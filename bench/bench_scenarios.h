// taskd-bench's scenarios: what one client run against one server measures.
// Each returns a Run; none asserts anything. See taskd_bench.cc.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "taskd/v1/taskd.grpc.pb.h"

namespace taskd::bench {

using Clock = std::chrono::steady_clock;

double Micros(Clock::duration d);
// Nearest rank: the smallest value with at least p of them at or below it.
double Percentile(std::vector<double> v, double p);
double Median(std::vector<double> v);

// The floor: answers SubmitTask, BatchSubmitTasks and RunTask at once, as
// cheaply as the callback API allows.
class EchoService final : public v1::TaskService::CallbackService {
 public:
  grpc::ServerUnaryReactor* SubmitTask(grpc::CallbackServerContext* ctx,
                                       const v1::SubmitTaskRequest* req, v1::Task* resp) override;
  grpc::ServerUnaryReactor* BatchSubmitTasks(grpc::CallbackServerContext* ctx,
                                             const v1::BatchSubmitTasksRequest* req,
                                             v1::BatchSubmitTasksResponse* resp) override;
  grpc::ServerUnaryReactor* RunTask(grpc::CallbackServerContext* ctx, const v1::RunTaskRequest* req,
                                    v1::Task* resp) override;
};

// A channel of its own (a distinct argument keeps gRPC from sharing one
// connection between channels).
std::unique_ptr<v1::TaskService::Stub> Stub(const std::string& address, int n);

struct Run {
  double rate = 0;  // calls/s, or tasks/s where the scenario says so
  double p50_us = 0, p99_us = 0;
  int failed = 0;          // calls that failed, or runs that did not finish
  double tasks_per_s = 0;  // WatchFanOut: how fast the watched tasks ran
};

// `callers` threads over `channels` channels, `calls` unary SubmitTasks each
// (a noop handler task): calls/s and latencies.
Run SubmitLoad(const std::string& address, int callers, int channels, int calls);
// One caller, BatchSubmitTasks of `per_call` noop tasks until `tasks`:
// tasks/s, and each call's latency.
Run BatchLoad(const std::string& address, int per_call, int tasks);
// One caller, `calls` RunTask(noop) one after another: calls/s, latencies.
Run RunLoad(const std::string& address, int calls);
// `tasks` noop tasks submitted in batches of 1,000 while one client follows
// them: tasks/s from the first submit to the last COMPLETED seen.
//   how = "watch_batched": one WatchTasksBatched stream
//   how = "watch":         one WatchTasks stream (v1, an event per message)
//   how = "wait":          a WaitTask per task, from 16 callers on 4 channels
// A stream that ends before all completed (fell behind) is a failed run.
Run EndToEnd(const std::string& address, int tasks, const std::string& how);
// `callers` threads, `calls` RunTask(exec /bin/true) each, one channel
// each: calls/s, latencies.
Run ExecLoad(const std::string& address, int callers, int calls);
// The floor of ExecLoad: `callers` threads, `calls` posix_spawn(/bin/true)
// + waitpid each, in this process.
Run SpawnLoad(int callers, int calls);
// `watchers` WatchTasksBatched streams (read raw: events counted off the
// wire, not decoded) follow `tasks` noop tasks submitted `per_second`
// (0: back to back, 1,000 per call): events/s delivered over all streams,
// from the first submit to the last event; each stream that did not see
// all of its events (cut off: fell behind) is a failed one.
Run WatchFanOut(const std::string& address, int watchers, int tasks, int per_second);
// 4 KiB appended and fdatasync'd, `n` times, in a file under the temp dir
// (the file system taskd's data directory would be on): p50 in µs.
double FdatasyncP50(int n);

}  // namespace taskd::bench
