// taskd-bench: what a client sees through taskd, next to the floor the
// transport allows, measured in the same run. The floor is a bare echo
// server on gRPC's callback API, built from the same toolchain and served on
// the same transport (a unix socket in a temp dir); the same client code
// (generated stubs) calls both. What taskd adds on that transport is part of
// what it costs: its own accept loop (connections handed to gRPC by fd),
// the metrics interceptor, auth, parsing, the engine. Each scenario runs against the echo server,
// taskd with the memory store and taskd with the SQLite store, alternating,
// for --rounds rounds, the order rotated each round; the table shows
// medians. Failed calls are counted apart, never as results. taskd runs in this process
// (taskd::server::Server, as the daemon's main does), so both servers share
// the machine with their clients alike.
//
// Scenarios so far (bench/README.md: the others of issue #13 are to come):
//   submit_x1     unary SubmitTask, one caller: calls/s, p50 and p99
//   submit_x16    unary SubmitTask, 16 callers on 4 channels: calls/s
//   fdatasync     4 KiB write + fdatasync in the data directory's file
//                 system: p50 (the durable floor)
//
// usage: taskd_bench [--rounds N] [--calls N] [--json FILE]
// Prints figures and the targets they meet or miss; asserts nothing.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "server/server.h"
#include "taskd/v1/taskd.grpc.pb.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;
namespace v1 = taskd::v1;

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

fs::path TempDir(const std::string& name) {
  fs::path d =
      fs::temp_directory_path() / ("taskd-bench-" + name + "-" + std::to_string(::getpid()) + "-" +
                                   std::to_string(std::random_device{}()));
  fs::create_directories(d / "run");
  fs::permissions(d, fs::perms::owner_all, fs::perm_options::replace);
  fs::permissions(d / "run", fs::perms::owner_all, fs::perm_options::replace);
  return d;
}

// Nearest rank: the smallest value with at least p of them at or below it.
double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}
double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The floor: answers SubmitTask with a task at once, as cheaply as the
// callback API allows.
class EchoService final : public v1::TaskService::CallbackService {
 public:
  grpc::ServerUnaryReactor* SubmitTask(grpc::CallbackServerContext* ctx,
                                       const v1::SubmitTaskRequest* req, v1::Task* resp) override {
    resp->set_id("0000000000000");
    resp->set_state(v1::TASK_STATE_PENDING);
    *resp->mutable_spec() = req->spec();
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// One server under test: the echo floor or taskd with a store.
class Target {
 public:
  explicit Target(const std::string& kind) : kind_(kind), dir_(TempDir(kind)) {
    const std::string socket = (dir_ / "run" / "taskd.sock").string();
    if (kind == "echo") {
      grpc::ServerBuilder b;
      b.AddListeningPort("unix:" + socket, grpc::InsecureServerCredentials());
      b.RegisterService(&echo_);
      echo_server_ = b.BuildAndStart();
      address_ = "unix:" + socket;
      return;
    }
    taskd::server::ServerOptions o;
    o.data_dir = dir_ / "data";
    o.listen = {"unix:" + socket};
    o.store = kind;
    o.manager.max_pending = 10'000'000;
    auto s = taskd::server::Server::Start(o);
    if (!s.ok()) {
      std::fprintf(stderr, "cannot start taskd (%s): %s\n", kind.c_str(),
                   s.status().ToString().c_str());
      std::exit(1);
    }
    taskd_ = std::move(s).value();
    address_ = taskd_->addresses()[0];
  }
  ~Target() {
    if (echo_server_) echo_server_->Shutdown();
    if (taskd_) taskd_->Shutdown();
    echo_server_.reset();
    taskd_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  const std::string& address() const { return address_; }

 private:
  std::string kind_;
  fs::path dir_;
  EchoService echo_;
  std::unique_ptr<grpc::Server> echo_server_;
  std::unique_ptr<taskd::server::Server> taskd_;
  std::string address_;
};

// A channel of its own (a distinct argument keeps gRPC from sharing one
// connection between channels).
std::unique_ptr<v1::TaskService::Stub> Stub(const std::string& address, int n) {
  grpc::ChannelArguments args;
  args.SetInt("taskd.bench.channel", n);
  auto ch = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  ch->WaitForConnected(std::chrono::system_clock::now() + 10s);
  return v1::TaskService::NewStub(ch);
}

struct Run {
  double calls_per_s = 0;
  double p50_us = 0, p99_us = 0;
  int failed = 0;
};

// `callers` threads over `channels` channels, `calls` unary SubmitTasks each
// (a noop handler task).
Run SubmitLoad(const std::string& address, int callers, int channels, int calls) {
  std::vector<std::unique_ptr<v1::TaskService::Stub>> stubs;
  for (int c = 0; c < channels; ++c) stubs.push_back(Stub(address, c));
  v1::SubmitTaskRequest req;
  req.mutable_spec()->mutable_handler()->set_name("noop");
  std::vector<std::vector<double>> lat(static_cast<size_t>(callers));
  std::atomic<int> failed{0};
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < callers; ++i) {
    threads.emplace_back([&, i] {
      auto& stub = *stubs[static_cast<size_t>(i % channels)];
      auto& mine = lat[static_cast<size_t>(i)];
      mine.reserve(static_cast<size_t>(calls));
      for (int k = 0; k < calls; ++k) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + 30s);
        v1::Task resp;
        auto t0 = Clock::now();
        if (!stub.SubmitTask(&ctx, req, &resp).ok()) {
          ++failed;  // not a result: neither a latency nor a call counted
          continue;
        }
        mine.push_back(Micros(Clock::now() - t0));
      }
    });
  }
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  Run r;
  r.calls_per_s = static_cast<double>(all.size()) / secs;
  r.p50_us = Percentile(all, 0.5);
  r.p99_us = Percentile(all, 0.99);
  r.failed = failed.load();
  return r;
}

// 4 KiB appended and fdatasync'd, `n` times, in a file under the temp dir
// (the file system taskd's data directory would be on): p50 in µs.
double FdatasyncP50(int n) {
  fs::path dir = TempDir("fsync");
  int fd = ::open((dir / "probe").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  std::vector<double> lat;
  std::string page(4096, 'x');
  for (int i = 0; fd >= 0 && i < n; ++i) {
    auto t0 = Clock::now();
    if (::write(fd, page.data(), page.size()) < 0 || ::fdatasync(fd) != 0) break;
    lat.push_back(Micros(Clock::now() - t0));
  }
  if (fd >= 0) ::close(fd);
  fs::remove_all(dir);
  return Median(lat);
}

struct Figures {
  std::vector<double> rate, p50, p99;
  int failed = 0;
  void Add(const Run& r) {
    rate.push_back(r.calls_per_s);
    p50.push_back(r.p50_us);
    p99.push_back(r.p99_us);
    failed += r.failed;
  }
};

}  // namespace

int main(int argc, char** argv) {
  int rounds = 3, calls = 2000;
  std::string json_path;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--rounds") == 0) {
      rounds = std::max(1, std::stoi(argv[i + 1]));
    } else if (std::strcmp(argv[i], "--calls") == 0) {
      calls = std::max(16, std::stoi(argv[i + 1]));
    } else if (std::strcmp(argv[i], "--json") == 0) {
      json_path = argv[i + 1];
    } else {
      std::fprintf(stderr, "usage: taskd_bench [--rounds N] [--calls N] [--json FILE]\n");
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  const std::vector<std::string> kinds = {"echo", "memory", "sqlite"};
  // The durable floor first, before any server has written to the disk.
  std::vector<double> fsync;
  for (int round = 0; round < rounds; ++round) fsync.push_back(FdatasyncP50(200));
  // scenario -> target -> figures. Each round runs every target, in an order
  // rotated by one each round, so no target always follows the same one.
  std::map<std::string, std::map<std::string, Figures>> got;
  for (int round = 0; round < rounds; ++round) {
    for (size_t k = 0; k < kinds.size(); ++k) {
      const std::string& kind = kinds[(k + static_cast<size_t>(round)) % kinds.size()];
      Target target(kind);
      got["submit_x1"][kind].Add(SubmitLoad(target.address(), 1, 1, calls));
      got["submit_x16"][kind].Add(SubmitLoad(target.address(), 16, 4, calls / 4));
    }
  }

  nlohmann::json out;
  out["rounds"] = rounds;
  out["fdatasync_p50_us"] = Median(fsync);
  std::printf("taskd-bench: medians of %d rounds, unix socket, same client code\n\n", rounds);
  std::printf("%-12s %-8s %12s %10s %10s %8s\n", "scenario", "target", "calls/s", "p50 us",
              "p99 us", "failed");
  for (auto& [scenario, by_kind] : got) {
    for (const auto& kind : kinds) {
      Figures& f = by_kind[kind];
      std::printf("%-12s %-8s %12.0f %10.0f %10.0f %8d\n", scenario.c_str(), kind.c_str(),
                  Median(f.rate), Median(f.p50), Median(f.p99), f.failed);
      out["scenarios"][scenario][kind] = {{"calls_per_s", Median(f.rate)},
                                          {"p50_us", Median(f.p50)},
                                          {"p99_us", Median(f.p99)},
                                          {"failed", f.failed},
                                          {"rounds_calls_per_s", f.rate}};
    }
  }
  std::printf("%-12s %-8s %12s %10.0f\n\n", "fdatasync", "disk", "", Median(fsync));

  // The targets of issue #13 these scenarios measure.
  auto rate = [&](const char* s, const char* k) { return Median(got[s][k].rate); };
  auto p50 = [&](const char* s, const char* k) { return Median(got[s][k].p50); };
  struct Check {
    std::string what;
    double value, limit;
    bool at_least;
  };
  int failed = 0;
  for (auto& [scenario, by_kind] : got) {
    for (auto& [kind, f] : by_kind) failed += f.failed;
  }
  const double fs50 = Median(fsync);
  std::vector<Check> checks = {
      {"submit_x16 memory / echo calls/s",
       rate("submit_x16", "memory") / rate("submit_x16", "echo"), 0.85, true},
      {"submit_x16 sqlite / echo calls/s",
       rate("submit_x16", "sqlite") / rate("submit_x16", "echo"), 0.60, true},
      {"submit_x1 sqlite p50 us (<= echo p50 + 1.5 x fdatasync p50)", p50("submit_x1", "sqlite"),
       p50("submit_x1", "echo") + 1.5 * fs50, false},
  };
  for (const auto& c : checks) {
    const bool met = failed == 0 && (c.at_least ? c.value >= c.limit : c.value <= c.limit);
    std::printf("%-62s %8.2f  target %s %.2f  %s\n", c.what.c_str(), c.value,
                c.at_least ? ">=" : "<=", c.limit,
                failed > 0 ? "NOT MEASURED (calls failed)"
                : met      ? "met"
                           : "MISSED");
    out["targets"].push_back(
        {{"what", c.what}, {"value", c.value}, {"limit", c.limit}, {"met", met}});
  }
  if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << "\n";
  return 0;
}
