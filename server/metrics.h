// Prometheus metrics: counters and histograms fed by task events and by a
// gRPC interceptor, gauges read from the TaskManager at scrape time, served
// as the text exposition format (0.0.4) at http://ADDR/metrics.
//
// prometheus-cpp is not packaged in Debian 12, so the exposition is written
// here; it is small and the format is stable.
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/engine/task_manager.h"
#include "core/model/asio.h"

namespace taskd::server {

class Metrics {
 public:
  // Subscribes to `manager`'s events until destroyed (destroy before the manager).
  explicit Metrics(TaskManager& manager);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // One finished RPC (any thread). `method` is the full gRPC method name.
  void ObserveRpc(const std::string& method, int code, double seconds);
  // The exposition text, passed to `done` on the manager strand.
  void Render(std::function<void(std::string)> done);
  // A factory for ServerBuilder::experimental().SetInterceptorCreators.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> InterceptorFactory();

  struct Histogram {
    explicit Histogram(std::vector<double> bounds)
        : bounds(std::move(bounds)), counts(this->bounds.size() + 1) {}
    void Observe(double v);
    std::vector<double> bounds;
    std::vector<uint64_t> counts;  // per bucket (not cumulative); the last is +Inf
    double sum = 0;
    uint64_t count = 0;
  };

 private:
  void OnEvent(const TaskEvent& e);

  TaskManager& manager_;
  uint64_t subscription_ = 0;
  std::mutex mu_;  // guards everything below
  uint64_t submitted_ = 0;
  std::map<std::pair<std::string, std::string>, uint64_t> finished_;  // (state, reason)
  Histogram task_seconds_;
  std::map<std::string, Histogram, std::less<>> rpc_seconds_;  // by method label
  std::map<std::pair<std::string, int>, uint64_t> rpc_total_;  // (method, code)
};

// A minimal HTTP/1.1 server answering GET /metrics (and 404 otherwise),
// one request per connection, on the given io_context.
class MetricsHttpServer {
 public:
  // `address`: HOST:PORT, or PORT alone for 127.0.0.1. PORT 0 picks one.
  // As for gRPC over TCP, a non-loopback address needs a bearer `token`;
  // with a token, every request must carry "Authorization: Bearer TOKEN"
  // (401 otherwise).
  static StatusOr<std::unique_ptr<MetricsHttpServer>> Start(asio::io_context& io,
                                                            const std::string& address,
                                                            const std::string& token,
                                                            Metrics& metrics);
  ~MetricsHttpServer();
  // Closes the listener; call before the io_context stops.
  void Stop();
  std::string address() const;  // the bound HOST:PORT

  struct Impl;

 private:
  explicit MetricsHttpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace taskd::server
