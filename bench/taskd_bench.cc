// taskd-bench: what a client sees through taskd, next to the floor the
// transport allows, measured in the same run. The floor is a bare echo
// server on gRPC's callback API, built from the same toolchain and served on
// the same transport (a unix socket in a temp dir); the same client code
// (generated stubs) calls both. What taskd adds on that transport is part of
// what it costs: its own accept loop (connections handed to gRPC by fd),
// the metrics interceptor, auth, parsing, the engine. Each scenario runs
// against the echo server (where it has one), taskd with the memory store
// and taskd with the SQLite store, alternating, for --rounds rounds, the
// order rotated each round; the table shows medians. Failed calls are
// counted apart, never as results. taskd runs in this process
// (taskd::server::Server, as the daemon's main does), so both servers share
// the machine with their clients alike.
//
// Scenarios (bench/README.md; the others of issue #13 are to come):
//   submit_x1     unary SubmitTask, one caller: calls/s, p50 and p99
//   submit_x16    unary SubmitTask, 16 callers on 4 channels: calls/s
//   batch_x100    BatchSubmitTasks of 100 noop tasks, one caller: tasks/s
//   batch_x1000   the same with 1,000 per call
//   run_x1        RunTask(noop), one caller: calls/s, p50 and p99
//   e2e_watch_batched  --tasks noop tasks submitted 1,000 per call, all
//                 COMPLETED as seen by one WatchTasksBatched stream: tasks/s
//   e2e_watch     the same seen through WatchTasks (one event per message)
//   e2e_wait      the same seen through a WaitTask per task, 16 callers
//   fdatasync     4 KiB write + fdatasync in the data directory's file
//                 system: p50 (the durable floor)
//
// usage: taskd_bench [--rounds N] [--calls N] [--tasks N] [--only S,S...]
//                    [--targets echo,memory,sqlite] [--json FILE]
// Prints figures and the targets they meet or miss; asserts nothing.
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_scenarios.h"
#include "server/heap.h"
#include "server/server.h"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using namespace taskd::bench;

fs::path TempDir(const std::string& name) {
  fs::path d =
      fs::temp_directory_path() / ("taskd-bench-" + name + "-" + std::to_string(::getpid()) + "-" +
                                   std::to_string(std::random_device{}()));
  fs::create_directories(d / "run");
  fs::permissions(d, fs::perms::owner_all, fs::perm_options::replace);
  fs::permissions(d / "run", fs::perms::owner_all, fs::perm_options::replace);
  return d;
}

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

struct Figures {
  std::vector<double> rate, p50, p99, tasks_per_s;
  int failed = 0;
  void Add(const Run& r) {
    if (r.failed == 0 || r.rate > 0) {
      rate.push_back(r.rate);
      p50.push_back(r.p50_us);
      p99.push_back(r.p99_us);
      tasks_per_s.push_back(r.tasks_per_s);
    }
    failed += r.failed;
  }
};

struct Scenario {
  std::string name;
  const char* unit;  // of the rate
  bool has_floor;    // run against the echo server too
  // Runs once against a server at `address`.
  std::function<Run(const std::string& address)> run;
  bool fresh;  // on a server of its own (else shares one with the others)
  // A floor of its own instead of the echo server (shown as target "floor").
  std::function<Run()> floor = nullptr;
};

std::set<std::string> SplitNames(const std::string& list) {
  std::set<std::string> out;
  std::stringstream in(list);
  std::string name;
  while (std::getline(in, name, ',')) {
    if (!name.empty()) out.insert(name);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 3, calls = 2000, tasks = 100000;
  std::string json_path;
  std::set<std::string> only, targets;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--rounds") == 0) {
      rounds = std::max(1, std::stoi(argv[i + 1]));
    } else if (std::strcmp(argv[i], "--calls") == 0) {
      calls = std::max(16, std::stoi(argv[i + 1]));
    } else if (std::strcmp(argv[i], "--tasks") == 0) {
      tasks = std::max(1000, std::stoi(argv[i + 1]));
    } else if (std::strcmp(argv[i], "--only") == 0) {
      only = SplitNames(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--targets") == 0) {
      targets = SplitNames(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--json") == 0) {
      json_path = argv[i + 1];
    } else {
      std::fprintf(stderr,
                   "usage: taskd_bench [--rounds N] [--calls N] [--tasks N] [--only S,S...] "
                   "[--targets echo,memory,sqlite] [--json FILE]\n");
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  const std::vector<Scenario> all = {
      {"submit_x1", "calls/s", true,
       [&](const std::string& a) { return SubmitLoad(a, 1, 1, calls); }, false},
      {"submit_x16", "calls/s", true,
       [&](const std::string& a) { return SubmitLoad(a, 16, 4, calls / 4); }, false},
      {"batch_x100", "tasks/s", true,
       [&](const std::string& a) { return BatchLoad(a, 100, calls * 10); }, false},
      {"batch_x1000", "tasks/s", true,
       [&](const std::string& a) { return BatchLoad(a, 1000, calls * 10); }, false},
      {"run_x1", "calls/s", true, [&](const std::string& a) { return RunLoad(a, calls); }, false},
      {"e2e_watch_batched", "tasks/s", false,
       [&](const std::string& a) { return EndToEnd(a, tasks, "watch_batched"); }, true},
      {"e2e_watch", "tasks/s", false,
       [&](const std::string& a) { return EndToEnd(a, tasks, "watch"); }, true},
      {"e2e_wait", "tasks/s", false,
       [&](const std::string& a) { return EndToEnd(a, tasks, "wait"); }, true},
      {"exec_x8", "calls/s", false, [&](const std::string& a) { return ExecLoad(a, 8, calls / 8); },
       false, [&] { return SpawnLoad(8, calls / 8); }},
      {"watch_x1", "events/s", false,
       [&](const std::string& a) { return WatchFanOut(a, 1, tasks, 0); }, true},
      {"watch_x100", "events/s", false,
       [&](const std::string& a) { return WatchFanOut(a, 100, 60000, 20000); }, true},
  };
  std::vector<Scenario> scenarios;
  for (const auto& sc : all) {
    if (only.empty() || only.count(sc.name)) scenarios.push_back(sc);
  }
  std::vector<std::string> kinds;
  for (const char* k : {"echo", "memory", "sqlite"}) {
    if (targets.empty() || targets.count(k)) kinds.push_back(k);
  }
  if (kinds.empty()) {
    std::fprintf(stderr, "--targets: none of echo, memory, sqlite\n");
    return 2;
  }
  // The durable floor first, before any server has written to the disk.
  std::vector<double> fsync;
  for (int round = 0; round < rounds; ++round) fsync.push_back(FdatasyncP50(200));
  // scenario -> target -> figures. Each round runs every target, in an order
  // rotated by one each round, so no target always follows the same one.
  std::map<std::string, std::map<std::string, Figures>> got;
  for (int round = 0; round < rounds; ++round) {
    for (size_t k = 0; k < kinds.size(); ++k) {
      const std::string& kind = kinds[(k + static_cast<size_t>(round)) % kinds.size()];
      std::unique_ptr<Target> shared;
      for (const auto& sc : scenarios) {
        if (kind == "echo" && sc.floor) {
          got[sc.name]["floor"].Add(sc.floor());
          continue;
        }
        if (kind == "echo" && !sc.has_floor) continue;
        std::unique_ptr<Target> own;
        if (sc.fresh) {
          own = std::make_unique<Target>(kind);
        } else if (!shared) {
          shared = std::make_unique<Target>(kind);
        }
        Target& target = sc.fresh ? *own : *shared;
        got[sc.name][kind].Add(sc.run(target.address()));
      }
    }
  }

  nlohmann::json out;
  out["rounds"] = rounds;
  out["heap"] = taskd::server::HeapAllocator();
  out["tasks"] = tasks;
  out["fdatasync_p50_us"] = Median(fsync);
  std::printf("taskd-bench: medians of %d rounds, unix socket, same client code, heap: %s\n\n",
              rounds, taskd::server::HeapAllocator());
  std::printf("%-18s %-8s %12s %-8s %10s %10s %8s\n", "scenario", "target", "rate", "", "p50 us",
              "p99 us", "failed");
  for (const auto& sc : scenarios) {
    for (const char* kind : {"echo", "floor", "memory", "sqlite"}) {
      if (!got[sc.name].count(kind)) continue;
      Figures& f = got[sc.name][kind];
      std::printf("%-18s %-8s %12.0f %-8s %10.0f %10.0f %8d\n", sc.name.c_str(), kind,
                  Median(f.rate), sc.unit, Median(f.p50), Median(f.p99), f.failed);
      out["scenarios"][sc.name][kind] = {{"rate", Median(f.rate)},  {"unit", sc.unit},
                                         {"p50_us", Median(f.p50)}, {"p99_us", Median(f.p99)},
                                         {"failed", f.failed},      {"rounds_rate", f.rate},
                                         {"rounds_p50_us", f.p50}};
      if (Median(f.tasks_per_s) > 0) {
        out["scenarios"][sc.name][kind]["tasks_per_s"] = Median(f.tasks_per_s);
        std::printf("%-18s %-8s %12.0f %-8s (the watched tasks ran)\n", "", "",
                    Median(f.tasks_per_s), "tasks/s");
      }
    }
  }
  std::printf("%-18s %-8s %12s %-8s %10.0f\n\n", "fdatasync", "disk", "", "", Median(fsync));

  // The targets of issue #13 these scenarios measure.
  auto have = [&](const char* s, const char* k) {
    return got.count(s) && got[s].count(k) && !got[s][k].rate.empty();
  };
  auto rate = [&](const char* s, const char* k) { return Median(got[s][k].rate); };
  auto p50 = [&](const char* s, const char* k) { return Median(got[s][k].p50); };
  auto p99 = [&](const char* s, const char* k) { return Median(got[s][k].p99); };
  struct Check {
    std::string what;
    std::vector<std::pair<const char*, const char*>> needs;  // scenario, target
    std::function<double()> value, limit;
    bool at_least;
    // The value is the runs that failed (watchers cut off), not a rate.
    bool counts_failures = false;
  };
  const double fs50 = Median(fsync);
  const std::vector<Check> checks = {
      {"submit_x16 memory / echo calls/s",
       {{"submit_x16", "memory"}, {"submit_x16", "echo"}},
       [&] { return rate("submit_x16", "memory") / rate("submit_x16", "echo"); },
       [] { return 0.85; },
       true},
      {"submit_x16 sqlite / echo calls/s",
       {{"submit_x16", "sqlite"}, {"submit_x16", "echo"}},
       [&] { return rate("submit_x16", "sqlite") / rate("submit_x16", "echo"); },
       [] { return 0.60; },
       true},
      {"submit_x1 sqlite p50 us (<= echo p50 + 1.5 x fdatasync p50)",
       {{"submit_x1", "sqlite"}, {"submit_x1", "echo"}},
       [&] { return p50("submit_x1", "sqlite"); },
       [&] { return p50("submit_x1", "echo") + 1.5 * fs50; },
       false},
      {"run_x1 memory p50 us (<= 1.6 x echo p50)",
       {{"run_x1", "memory"}, {"run_x1", "echo"}},
       [&] { return p50("run_x1", "memory"); },
       [&] { return 1.6 * p50("run_x1", "echo"); },
       false},
      {"run_x1 memory p99 us (<= 2 x echo p99)",
       {{"run_x1", "memory"}, {"run_x1", "echo"}},
       [&] { return p99("run_x1", "memory"); },
       [&] { return 2 * p99("run_x1", "echo"); },
       false},
      {"run_x1 sqlite p50 us (<= echo p50 + 2 x fdatasync p50)",
       {{"run_x1", "sqlite"}, {"run_x1", "echo"}},
       [&] { return p50("run_x1", "sqlite"); },
       [&] { return p50("run_x1", "echo") + 2 * fs50; },
       false},
      {"batch_x1000 sqlite tasks/s",
       {{"batch_x1000", "sqlite"}},
       [&] { return rate("batch_x1000", "sqlite"); },
       [] { return 150000.0; },
       true},
      {"e2e_watch_batched sqlite tasks/s",
       {{"e2e_watch_batched", "sqlite"}},
       [&] { return rate("e2e_watch_batched", "sqlite"); },
       [] { return 50000.0; },
       true},
      {"e2e_watch_batched memory tasks/s",
       {{"e2e_watch_batched", "memory"}},
       [&] { return rate("e2e_watch_batched", "memory"); },
       [] { return 120000.0; },
       true},
      {"watch_x1 memory events/s",
       {{"watch_x1", "memory"}},
       [&] { return rate("watch_x1", "memory"); },
       [] { return 200000.0; },
       true},
      {"watch_x100 memory: watchers that fell behind (20k tasks/s)",
       {{"watch_x100", "memory"}},
       [&] { return static_cast<double>(got["watch_x100"]["memory"].failed); },
       [] { return 0.0; },
       false,
       true},
      {"watch_x100 sqlite: watchers that fell behind (20k tasks/s)",
       {{"watch_x100", "sqlite"}},
       [&] { return static_cast<double>(got["watch_x100"]["sqlite"].failed); },
       [] { return 0.0; },
       false,
       true},
      {"watch_x100 memory: tasks/s run while watched",
       {{"watch_x100", "memory"}},
       [&] { return Median(got["watch_x100"]["memory"].tasks_per_s); },
       [] { return 20000.0; },
       true},
      {"exec_x8 memory / floor calls/s",
       {{"exec_x8", "memory"}, {"exec_x8", "floor"}},
       [&] { return rate("exec_x8", "memory") / rate("exec_x8", "floor"); },
       [] { return 0.75; },
       true},
      {"exec_x8 sqlite / floor calls/s",
       {{"exec_x8", "sqlite"}, {"exec_x8", "floor"}},
       [&] { return rate("exec_x8", "sqlite") / rate("exec_x8", "floor"); },
       [] { return 0.75; },
       true},
  };
  for (const auto& c : checks) {
    int failed = 0;
    bool measured = true;
    for (const auto& [s, k] : c.needs) {
      const bool ran = c.counts_failures ? got.count(s) && got[s].count(k) : have(s, k);
      measured = measured && ran;
      if (ran && !c.counts_failures) failed += got[s][k].failed;
    }
    if (!measured && failed == 0) continue;  // not among --only
    const double value = measured ? c.value() : 0, limit = measured ? c.limit() : 0;
    const bool met = measured && failed == 0 && (c.at_least ? value >= limit : value <= limit);
    std::printf("%-62s %10.2f  target %s %10.2f  %s\n", c.what.c_str(), value,
                c.at_least ? ">=" : "<=", limit,
                failed > 0 ? "NOT MEASURED (calls or runs failed)"
                : met      ? "met"
                           : "MISSED");
    out["targets"].push_back(
        {{"what", c.what}, {"value", value}, {"limit", limit}, {"met", met}, {"failed", failed}});
  }
  if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << "\n";
  return 0;
}
