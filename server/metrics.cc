#include "server/metrics.h"

#include <spdlog/spdlog.h>

#include "common/status_codes.h"
#include "server/auth.h"

// core/asio.h first (GCC 12 needs <utility> before Asio), then the socket parts.
#include "core/model/asio.h"
// clang-format off
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
// clang-format on

#include <google/protobuf/descriptor.h>

#include <cctype>
#include <chrono>
#include <sstream>

namespace taskd::server {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "/taskd.v1.TaskService/SubmitTask" -> "taskd.v1.TaskService/SubmitTask".
// Only methods this binary defines get their own label (any caller can send
// any method name, which must not grow the label set); the rest are "other".
std::string MethodLabel(const std::string& method) {
  auto slash = method.rfind('/');
  if (method.size() < 3 || method[0] != '/' || slash == 0 || slash == std::string::npos) {
    return "other";
  }
  std::string full = method.substr(1, slash - 1) + "." + method.substr(slash + 1);
  if (google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(full) == nullptr) {
    return "other";
  }
  return method.substr(1);
}

void Header(std::ostringstream& o, const char* name, const char* type, const char* help) {
  o << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
}

void WriteHistogram(std::ostringstream& o, const std::string& name, const std::string& labels,
                    const Metrics::Histogram& h) {
  const std::string sep = labels.empty() ? "" : labels + ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    cumulative += h.counts[i];
    o << name << "_bucket{" << sep << "le=\"" << h.bounds[i] << "\"} " << cumulative << "\n";
  }
  cumulative += h.counts.back();
  o << name << "_bucket{" << sep << "le=\"+Inf\"} " << cumulative << "\n";
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  o << name << "_sum" << braces << " " << h.sum << "\n";
  o << name << "_count" << braces << " " << h.count << "\n";
}

const std::vector<double> kTaskBounds = {0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600};
const std::vector<double> kRpcBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,  5,     10};

class RpcTimer final : public grpc::experimental::Interceptor {
 public:
  RpcTimer(Metrics& metrics, const char* method)
      : metrics_(metrics),
        method_(method ? method : ""),
        start_(std::chrono::steady_clock::now()) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      auto elapsed = std::chrono::steady_clock::now() - start_;
      metrics_.ObserveRpc(method_, static_cast<int>(methods->GetSendStatus().error_code()),
                          std::chrono::duration<double>(elapsed).count());
    }
    methods->Proceed();
  }

 private:
  Metrics& metrics_;
  std::string method_;
  std::chrono::steady_clock::time_point start_;
};

class RpcTimerFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcTimerFactory(Metrics& m) : metrics_(m) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RpcTimer(metrics_, info->method());
  }

 private:
  Metrics& metrics_;
};

}  // namespace

void Metrics::Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds.size() && v > bounds[i]) ++i;
  ++counts[i];
  sum += v;
  ++count;
}

Metrics::Metrics(TaskManager& manager) : manager_(manager), task_seconds_(kTaskBounds) {
  // Only what OnEvent counts: so TTL expiry need not read each expiring
  // task from the store for a delete event nobody here uses.
  subscription_ = manager_.Subscribe({}, false, [this](const TaskEvent& e) { OnEvent(e); }, nullptr,
                                     {TaskEvent::Type::kCreated, TaskEvent::Type::kStateChanged});
}

Metrics::~Metrics() { manager_.Unsubscribe(subscription_); }

void Metrics::OnEvent(const TaskEvent& e) {
  if (e.type == TaskEvent::Type::kCreated) {
    std::lock_guard l(mu_);
    ++submitted_;
  } else if (e.type == TaskEvent::Type::kStateChanged && IsTerminal(e.task.state)) {
    std::lock_guard l(mu_);
    ++finished_[{Lower(StateName(e.task.state)), Lower(ReasonName(e.task.reason))}];
    if (e.task.start_time && e.task.end_time) {
      task_seconds_.Observe(
          std::chrono::duration<double>(*e.task.end_time - *e.task.start_time).count());
    }
  }
}

void Metrics::ObserveRpc(const std::string& method, int code, double seconds) {
  std::lock_guard l(mu_);
  // A method seen before is its own label: look it up without going back
  // to the descriptor pool on every call.
  auto it =
      method.empty() ? rpc_seconds_.end() : rpc_seconds_.find(std::string_view(method).substr(1));
  if (it == rpc_seconds_.end())
    it = rpc_seconds_.try_emplace(MethodLabel(method), kRpcBounds).first;
  it->second.Observe(seconds);
  ++rpc_total_[{it->first, code}];
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
Metrics::InterceptorFactory() {
  return std::make_unique<RpcTimerFactory>(*this);
}

void Metrics::Render(std::function<void(std::string)> done) {
  manager_.GetStats([this, done = std::move(done)](ManagerStats st) {
    std::ostringstream o;
    Header(o, "taskd_tasks", "gauge", "Tasks in taskd by state (finished ones until their TTL).");
    for (TaskState s : {TaskState::kPending, TaskState::kRunning, TaskState::kCompleted,
                        TaskState::kFailed, TaskState::kCancelled}) {
      o << "taskd_tasks{state=\"" << Lower(StateName(s)) << "\"} "
        << st.by_state[static_cast<size_t>(s)] << "\n";
    }
    Header(o, "taskd_queue_pending_tasks", "gauge", "Pending tasks per queue.");
    for (const auto& [name, q] : st.queues) {
      o << "taskd_queue_pending_tasks{queue=\"" << name << "\"} " << q.pending << "\n";
    }
    Header(o, "taskd_queue_running_tasks", "gauge", "Running tasks per queue.");
    for (const auto& [name, q] : st.queues) {
      o << "taskd_queue_running_tasks{queue=\"" << name << "\"} " << q.running << "\n";
    }
    Header(o, "taskd_oldest_pending_task_age_seconds", "gauge",
           "Age of the oldest pending task (0 when none is pending).");
    double age = 0;
    if (st.oldest_pending_create_time) {
      age = std::max(0.0, std::chrono::duration<double>(std::chrono::system_clock::now() -
                                                        *st.oldest_pending_create_time)
                              .count());
    }
    o << "taskd_oldest_pending_task_age_seconds " << age << "\n";
    {
      std::lock_guard l(mu_);
      Header(o, "taskd_tasks_submitted_total", "counter", "Tasks accepted since taskd started.");
      o << "taskd_tasks_submitted_total " << submitted_ << "\n";
      Header(o, "taskd_tasks_finished_total", "counter",
             "Tasks that ended since taskd started, by final state and reason.");
      for (const auto& [k, n] : finished_) {
        o << "taskd_tasks_finished_total{state=\"" << k.first << "\",reason=\"" << k.second
          << "\"} " << n << "\n";
      }
      Header(o, "taskd_task_duration_seconds", "histogram",
             "Run time of the last attempt of tasks that ended.");
      WriteHistogram(o, "taskd_task_duration_seconds", "", task_seconds_);
      Header(o, "taskd_rpc_duration_seconds", "histogram", "gRPC call latency by method.");
      for (const auto& [m, h] : rpc_seconds_) {
        WriteHistogram(o, "taskd_rpc_duration_seconds", "method=\"" + m + "\"", h);
      }
      Header(o, "taskd_rpcs_total", "counter", "gRPC calls by method and status code.");
      for (const auto& [k, n] : rpc_total_) {
        const std::string_view code = StatusCodeNameOf(k.second);
        o << "taskd_rpcs_total{method=\"" << k.first << "\",code=\"" << code << "\"} " << n << "\n";
      }
    }
    done(o.str());
  });
}

// ---------------------------------------------------------------- HTTP

// Everything of the HTTP server (acceptor, connections, timers) runs on one
// strand: the io_context has several threads.
struct MetricsHttpServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io, Metrics& m)
      : io(io), strand(asio::make_strand(io)), acceptor(strand), retry(strand), metrics(m) {}

  struct Conn {
    Conn(asio::ip::tcp::socket s, Strand strand) : socket(std::move(s)), timer(strand) {}
    asio::ip::tcp::socket socket;
    asio::steady_timer timer;
    std::string buf;
    std::string out;
  };

  void Accept() {
    acceptor.async_accept(strand, [self = shared_from_this()](boost::system::error_code ec,
                                                              asio::ip::tcp::socket socket) {
      if (!self->acceptor.is_open()) return;
      if (!ec) {
        self->Serve(std::move(socket));
        self->Accept();
        return;
      }
      // Out of descriptors, say: try again shortly rather than spin.
      self->retry.expires_after(std::chrono::milliseconds(100));
      self->retry.async_wait([self](boost::system::error_code) { self->Accept(); });
    });
  }

  void Serve(asio::ip::tcp::socket socket) {
    auto c = std::make_shared<Conn>(std::move(socket), strand);
    // A client that does not finish its request in 10 s is dropped.
    c->timer.expires_after(std::chrono::seconds(10));
    c->timer.async_wait([c](boost::system::error_code ec) {
      if (!ec) {
        boost::system::error_code ignored;
        c->socket.close(ignored);
      }
    });
    asio::async_read_until(
        c->socket, asio::dynamic_buffer(c->buf, 8192), "\r\n\r\n",
        [self = shared_from_this(), c](boost::system::error_code ec, size_t) {
          if (ec) {
            c->timer.cancel();
            return;
          }
          std::string line = c->buf.substr(0, c->buf.find("\r\n"));
          if (!self->token.empty() &&
              !BearerMatches(Header(c->buf, "authorization"), self->token)) {
            Reply(c, "401 Unauthorized", "text/plain; charset=utf-8",
                  "this endpoint needs Authorization: Bearer TOKEN (taskd's --token-file)\n",
                  "WWW-Authenticate: Bearer\r\n");
            return;
          }
          if (line.rfind("GET /metrics ", 0) == 0 || line.rfind("GET /metrics?", 0) == 0) {
            self->metrics.Render([self, c](std::string body) {
              // On the manager strand: hop back to ours to write.
              asio::post(self->strand, [c, body = std::move(body)]() mutable {
                Reply(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", std::move(body));
              });
            });
          } else {
            Reply(c, "404 Not Found", "text/plain; charset=utf-8", "only GET /metrics is here\n");
          }
        });
  }

  // The value of header `name` (lower case) in `request`; empty when absent.
  static std::string_view Header(std::string_view request, std::string_view name) {
    size_t pos = request.find("\r\n");
    while (pos != std::string_view::npos && pos + 2 < request.size()) {
      size_t start = pos + 2, end = request.find("\r\n", start);
      std::string_view line = request.substr(start, end - start);
      if (line.size() > name.size() && line[name.size()] == ':') {
        bool same = true;
        for (size_t i = 0; i < name.size() && same; ++i) {
          same = std::tolower(static_cast<unsigned char>(line[i])) == name[i];
        }
        if (same) {
          std::string_view value = line.substr(name.size() + 1);
          while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
          return value;
        }
      }
      pos = end;
    }
    return {};
  }

  static void Reply(const std::shared_ptr<Conn>& c, const char* status, const char* type,
                    std::string body, const char* extra_headers = "") {
    c->out = std::string("HTTP/1.1 ") + status + "\r\nContent-Type: " + type +
             "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra_headers +
             "Connection: close\r\n\r\n" + body;
    asio::async_write(c->socket, asio::buffer(c->out), [c](boost::system::error_code, size_t) {
      boost::system::error_code ignored;
      c->socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
      c->socket.close(ignored);
      c->timer.cancel();
    });
  }

  asio::io_context& io;
  Strand strand;
  asio::ip::tcp::acceptor acceptor;
  asio::steady_timer retry;  // re-accept after an accept error
  Metrics& metrics;
  std::string token;  // required of every request when set
  std::string bound;  // HOST:PORT, set before serving
};

StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(asio::io_context& io,
                                                                      const std::string& address,
                                                                      const std::string& token,
                                                                      Metrics& metrics) {
  std::string host = "127.0.0.1", port = address;
  if (auto colon = address.rfind(':'); colon != std::string::npos) {
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
  }
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  char* end = nullptr;
  long p = std::strtol(port.c_str(), &end, 10);
  if (ec || port.empty() || *end != '\0' || p < 0 || p > 65535) {
    return InvalidArgument("metrics_listen",
                           "'" + address + "' is not HOST:PORT or PORT (HOST: an IP address)");
  }
  if (token.empty() && !ip.is_loopback()) {
    return InvalidArgument("metrics_listen", "'" + address +
                                                 "': metrics off loopback need a bearer token "
                                                 "(--token-file); scrapes then send "
                                                 "Authorization: Bearer TOKEN");
  }
  auto impl = std::make_shared<Impl>(io, metrics);
  impl->token = token;
  asio::ip::tcp::endpoint ep(ip, static_cast<unsigned short>(p));
  impl->acceptor.open(ep.protocol(), ec);
  // Each scrape is answered with `Connection: close`, which leaves our side
  // in TIME-WAIT: without SO_REUSEADDR a restart within a minute could not bind.
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) ep = impl->acceptor.local_endpoint(ec);
  if (ec) return Unavailable("metrics_listen: cannot listen on " + address + ": " + ec.message());
  impl->bound =
      (ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string()) +
      ":" + std::to_string(ep.port());
  impl->Accept();
  return std::unique_ptr<MetricsHttpServer>(new MetricsHttpServer(std::move(impl)));
}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

void MetricsHttpServer::Stop() {
  if (!impl_) return;
  // The acceptor belongs to the strand: close it there.
  auto impl = std::move(impl_);
  asio::post(impl->strand, [impl] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
    impl->retry.cancel();
  });
}

std::string MetricsHttpServer::address() const { return impl_ ? impl_->bound : ""; }

}  // namespace taskd::server
