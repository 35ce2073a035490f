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
// Scenarios (bench/README.md):
//   submit_x1     unary SubmitTask, one caller: calls/s, p50 and p99
//   submit_x16    unary SubmitTask, 16 callers on 4 channels: calls/s
//   batch_x100    BatchSubmitTasks of 100 noop tasks, one caller: tasks/s
//   batch_x1000   the same with 1,000 per call
//   run_x1        RunTask(noop), one caller: calls/s, p50 and p99
//   e2e_watch_batched  --tasks noop tasks submitted 1,000 per call, all
//                 COMPLETED as seen by one WatchTasksBatched stream: tasks/s
//   e2e_watch     the same seen through WatchTasks (one event per message)
//   e2e_wait      the same seen through a WaitTask per task, 16 callers
//   exec_x8       RunTask(exec /bin/true), 8 callers, next to 8 threads of
//                 posix_spawn + waitpid (the floor)
//   watch_x1      one WatchTasksBatched stream, read raw, follows --tasks
//                 noop tasks: events/s delivered
//   watch_x100    100 such streams, 60,000 tasks at 20,000/s: events/s,
//                 tasks/s run, streams cut off
//   rss_pending   (taskd binary) RSS per pending noop task
//   wait_10k      (taskd binary) 10,000 WaitTask at once: RSS per wait, ms
//                 to release all
//   cancel        (taskd binary) CancelTask -> the process gone, p50/p99
//   fdatasync     4 KiB write + fdatasync in the data directory's file
//                 system: p50 (the durable floor)
//
// usage: taskd_bench [--rounds N] [--calls N] [--tasks N] [--only S,S...]
//                    [--targets echo,memory,sqlite] [--taskd BINARY] [--json FILE]
// Prints figures and the targets they meet or miss; asserts nothing.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
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
#include <thread>
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

// One server under test: the echo floor, or taskd with a store, in this
// process or (with `binary`) the taskd binary in a process of its own.
class Target {
 public:
  explicit Target(const std::string& kind, const fs::path& binary = {},
                  const std::vector<std::string>& extra_args = {})
      : kind_(kind), dir_(TempDir(kind)) {
    const std::string socket = (dir_ / "run" / "taskd.sock").string();
    if (!binary.empty()) {
      StartProcess(binary, socket, extra_args);
      return;
    }
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
    if (pid_ > 0) StopProcess();
    if (echo_server_) echo_server_->Shutdown();
    if (taskd_) taskd_->Shutdown();
    echo_server_.reset();
    taskd_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }

 private:
  void StartProcess(const fs::path& binary, const std::string& socket,
                    const std::vector<std::string>& extra) {
    const std::string data = (dir_ / "data").string();
    std::vector<std::string> args = {binary.string(), "--data-dir",  data,  "--socket",
                                     socket,          "--store",     kind_, "--max-pending",
                                     "10000000",      "--log-level", "warn"};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    address_ = "unix:" + socket;
    // Up once it accepts a connection (bounded: 10 s).
    for (int i = 0; i < 1000 && !fs::exists(socket); ++i) std::this_thread::sleep_for(10ms);
    auto ch = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
    if (pid_ < 0 ||
        !ch->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
      std::fprintf(stderr, "cannot start %s (%s)\n", binary.c_str(), kind_.c_str());
      std::exit(1);
    }
  }
  void StopProcess() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 1000; ++i) {  // 10 s, then SIGKILL
      if (::waitpid(pid_, &status, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(10ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
  }

  pid_t pid_ = -1;
  std::string kind_;
  fs::path dir_;
  EchoService echo_;
  std::unique_ptr<grpc::Server> echo_server_;
  std::unique_ptr<taskd::server::Server> taskd_;
  std::string address_;
};

struct Figures {
  std::vector<double> rate, p50, p99, extra;
  int failed = 0;
  void Add(const Run& r) {
    if (r.failed == 0 || r.rate > 0) {
      rate.push_back(r.rate);
      p50.push_back(r.p50_us);
      p99.push_back(r.p99_us);
      extra.push_back(r.extra);
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
  // Instead of `run`: against the taskd binary in a process of its own
  // (always fresh), given its pid.
  std::function<Run(const std::string& address, pid_t pid)> run_daemon = nullptr;
  // What Run::extra is, when the scenario has it.
  const char* extra_what = nullptr;
  // More flags for the daemon of run_daemon.
  std::vector<std::string> daemon_args = {};
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
  // The daemon binary of the scenarios that run it in a process of its own:
  // the one built beside this bench (build/bench/server/taskd).
  fs::path taskd_binary = fs::absolute(argv[0]).parent_path().parent_path() / "server" / "taskd";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--rounds") == 0) {
      rounds = std::max(1, std::stoi(argv[i + 1]));
    } else if (std::strcmp(argv[i], "--calls") == 0) {
      calls = std::max(16, std::stoi(argv[i + 1]));
    } else if (std::strcmp(argv[i], "--tasks") == 0) {
      tasks = std::max(1000, std::stoi(argv[i + 1]));
    } else if (std::strcmp(argv[i], "--only") == 0) {
      only = SplitNames(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--taskd") == 0) {
      taskd_binary = argv[i + 1];
    } else if (std::strcmp(argv[i], "--targets") == 0) {
      targets = SplitNames(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--json") == 0) {
      json_path = argv[i + 1];
    } else {
      std::fprintf(stderr,
                   "usage: taskd_bench [--rounds N] [--calls N] [--tasks N] [--only S,S...] "
                   "[--targets echo,memory,sqlite] [--taskd BINARY] [--json FILE]\n");
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
       [&](const std::string& a) { return WatchFanOut(a, 1, tasks, 0); }, true, nullptr, nullptr,
       "tasks/s (the watched tasks ran)"},
      {"watch_x100", "events/s", false,
       [&](const std::string& a) { return WatchFanOut(a, 100, 60000, 20000); }, true, nullptr,
       nullptr, "tasks/s (the watched tasks ran)"},
      {"rss_pending",
       "B/task",
       false,
       nullptr,
       true,
       nullptr,
       [&](const std::string& a, pid_t p) { return PendingRss(a, p, tasks); },
       nullptr,
       {"--max-running", "1"}},
      {"wait_10k", "B/wait", false, nullptr, true, nullptr,
       [&](const std::string& a, pid_t p) { return ManyWaits(a, p, 10000); },
       "ms from the release to the last answer"},
      {"cancel", "calls/s", false, nullptr, true, nullptr,
       [&](const std::string& a, pid_t p) { return CancelLatency(a, p, 100); }},
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
        if (sc.run_daemon) {
          Target daemon(kind, taskd_binary, sc.daemon_args);
          got[sc.name][kind].Add(sc.run_daemon(daemon.address(), daemon.pid()));
          continue;
        }
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
      if (sc.extra_what) {
        out["scenarios"][sc.name][kind]["extra"] = Median(f.extra);
        out["scenarios"][sc.name][kind]["extra_what"] = sc.extra_what;
        std::printf("%-18s %-8s %12.0f %s\n", "", "", Median(f.extra), sc.extra_what);
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
       [&] { return Median(got["watch_x100"]["memory"].extra); },
       [] { return 20000.0; },
       true},
      {"rss_pending memory B per pending noop task",
       {{"rss_pending", "memory"}},
       [&] { return rate("rss_pending", "memory"); },
       [] { return 250.0; },
       false},
      {"rss_pending sqlite B per pending noop task",
       {{"rss_pending", "sqlite"}},
       [&] { return rate("rss_pending", "sqlite"); },
       [] { return 250.0; },
       false},
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
