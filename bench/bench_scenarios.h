// taskd-bench's scenarios: what one client run against one server measures.
// Each returns a Run; none asserts anything. See taskd_bench.cc.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

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
std::shared_ptr<grpc::Channel> Channel(const std::string& address, int n);
// A stub on Channel(address, n), once it is connected (up to 10 s).
std::unique_ptr<v1::TaskService::Stub> Stub(const std::string& address, int n);

struct Run {
  double rate = 0;  // calls/s, or tasks/s where the scenario says so
  double p50_us = 0, p99_us = 0;
  int failed = 0;  // calls that failed, or runs that did not finish
  // A figure of the scenario's own (Scenario::extra_what in taskd_bench).
  double extra = 0;
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
// VmRSS of process `pid`, in bytes (-1 if unknown).
long RssBytes(pid_t pid);
// The scenarios below run against a taskd in a process of its own (`daemon`,
// the real binary), whose RSS they read.
//
// `tasks` noop tasks held PENDING behind a `sleep` (the daemon runs with
// --max-running 1), after a first 1,000: the daemon's RSS growth per task
// (rate, in bytes).
Run PendingRss(const std::string& address, pid_t daemon, int tasks);
// `waits` noop tasks that may start 4 s from now and a WaitTask on each, all
// at once (async, over 10 channels): the daemon's RSS growth per wait
// (rate, bytes) once all are in, and the ms from the release to the last
// answer (extra). A wait not answered COMPLETED is a failed one.
Run ManyWaits(const std::string& address, pid_t daemon, int waits);
// `cancels` times: an exec task `sleep 60`, its process found (by its
// TASKD_TASK_ID, among the daemon's children) and opened as a pidfd, then
// CancelTask: µs from the call to the process gone (p50, p99).
Run CancelLatency(const std::string& address, pid_t daemon, int cancels);
// 4 KiB appended and fdatasync'd, `n` times, in a file under the temp dir
// (the file system taskd's data directory would be on): p50 in µs.
double FdatasyncP50(int n);

}  // namespace taskd::bench
