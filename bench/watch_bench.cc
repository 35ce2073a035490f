// watch_bench: the daemon in-process, with many WatchTasks streams from a
// child process (so that the RSS sampled is the daemon's alone, not its
// clients'), measuring what slow watchers cost in memory. Prints figures;
// asserts nothing.
//
//   rss_baseline_mb       the daemon with N pending tasks, no watcher
//   rss_peak_mb           highest RSS while W watchers with initial_snapshot
//                         (each on its own connection) read one event and
//                         then stop reading
//   rss_after_mb          once they are closed (taskd trims the heap itself
//                         at the end of a burst)
//   live_*                W2 non-reading watchers without snapshot while E
//                         events of ~4 KiB each are emitted: each must end
//                         RESOURCE_EXHAUSTED at its byte limit
//   snapshot_*            one client reading a snapshot of S pending tasks
//
// usage: watch_bench [--store sqlite|memory] [--tasks N] [--watchers W]
//                    [--live-watchers W2] [--live-events E] [--snapshot S]
// (defaults: sqlite, 10,000, 1,000, 200, 2,000, 100,000)
#include <malloc.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include "client/client.h"
#include "server/server.h"
#include "server/watcher.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;
namespace v1 = taskd::v1;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// VmRSS of this process, in MiB.
double RssMb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

// Samples RSS every 10 ms until stopped; keeps the highest.
class PeakSampler {
 public:
  PeakSampler()
      : thread_([this] {
          while (!stop_) {
            double r = RssMb();
            double p = peak_.load();
            while (r > p && !peak_.compare_exchange_weak(p, r)) {
            }
            std::this_thread::sleep_for(10ms);
          }
        }) {}
  ~PeakSampler() { Stop(); }
  double Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return peak_.load();
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<double> peak_{0};
  std::thread thread_;
};

// Waits (bounded) until RSS changes by less than 1 MiB over 300 ms.
double SettledRssMb() {
  double last = RssMb();
  for (int i = 0; i < 30; ++i) {
    std::this_thread::sleep_for(300ms);
    double now = RssMb();
    if (std::abs(now - last) < 1.0) return now;
    last = now;
  }
  return last;
}

// Waits (bounded) until the daemon has no watcher left, then for RSS to settle.
// Waits (bounded) until the daemon has no watcher left, and past the heap
// trim it schedules then (kTrimDelay), then for RSS to settle.
double RssAfterWatchersMb(const taskd::server::Server& server) {
  for (int i = 0; i < 3000 && server.open_watchers() > 0; ++i) std::this_thread::sleep_for(10ms);
  if (server.open_watchers() > 0) {
    std::fprintf(stderr, "%zu watchers still open\n", server.open_watchers());
  }
  std::this_thread::sleep_for(taskd::server::kTrimDelay + 200ms);
  return SettledRssMb();
}

v1::TaskSpec Pending(size_t payload_bytes = 0) {
  v1::TaskSpec spec;
  spec.mutable_handler()->set_name("noop");
  if (payload_bytes > 0)
    spec.mutable_handler()->set_payload('"' + std::string(payload_bytes, 'x') + '"');
  auto later = std::chrono::system_clock::now() + 24h;
  spec.mutable_not_before()->set_seconds(
      std::chrono::duration_cast<std::chrono::seconds>(later.time_since_epoch()).count());
  return spec;
}

bool SubmitPending(taskd::client::Client& c, size_t n, size_t payload_bytes = 0) {
  for (size_t done = 0; done < n;) {
    std::vector<v1::TaskSpec> specs(std::min<size_t>(1000, n - done), Pending(payload_bytes));
    std::vector<v1::Task> out;
    auto s = c.BatchSubmit(specs, &out);
    if (!s.ok()) {
      std::fprintf(stderr, "submit: %s\n", s.error_message().c_str());
      return false;
    }
    done += out.size();
  }
  return true;
}

// One watcher on its own connection, as a separate client process would be.
struct Watch {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::TaskService::Stub> stub;
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReader<v1::TaskEvent>> reader;
  bool open = false;

  Watch(const std::string& address, const v1::WatchTasksRequest& req,
        std::chrono::seconds deadline) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
    channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
    stub = v1::TaskService::NewStub(channel);
    ctx.set_deadline(std::chrono::system_clock::now() + deadline);
    reader = stub->WatchTasks(&ctx, req);
    open = true;
  }
  grpc::Status Close(bool cancel) {
    if (!open) return grpc::Status::OK;
    open = false;
    if (cancel) ctx.TryCancel();
    v1::TaskEvent drain;
    while (reader->Read(&drain)) {
    }
    return reader->Finish();
  }
};

// The client side, in a child process: opens `n` watchers, each reading its
// first event (a snapshot event: the stream is up and the snapshot done or
// paging), then stops reading. Says "opened N SECONDS" on stdout, waits for
// a line on stdin, then closes them: "snapshot" mode cancels; "live" mode
// reads each to its end (RESOURCE_EXHAUSTED, or the deadline) and says
// "closed EXHAUSTED".
int ClientRole(const std::string& address, const std::string& mode, size_t n) {
  v1::WatchTasksRequest req;
  req.set_initial_snapshot(true);
  const bool live = mode == "live";
  if (live) (*req.mutable_labels())["bench"] = "live";
  if (mode.rfind("ids=", 0) == 0) req.add_ids(mode.substr(4));  // one event, then idle
  std::vector<std::unique_ptr<Watch>> ws;
  size_t opened = 0;
  auto t0 = Clock::now();
  for (size_t i = 0; i < n; ++i) {
    ws.push_back(std::make_unique<Watch>(address, req, live ? 120s : 600s));
    v1::TaskEvent first;
    if (ws.back()->reader->Read(&first)) ++opened;
    if (std::getenv("WATCH_BENCH_TRACE") && (i + 1) % 100 == 0) {
      std::fprintf(stderr, "%zu opened at %.1f s\n", i + 1, Seconds(Clock::now() - t0));
    }
  }
  std::printf("opened %zu %.1f\n", opened, Seconds(Clock::now() - t0));
  std::fflush(stdout);
  char line[64];
  if (!std::fgets(line, sizeof line, stdin)) return 1;
  size_t exhausted = 0;
  for (auto& w : ws) {
    if (w->Close(!live).error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) ++exhausted;
  }
  ws.clear();
  std::printf("closed %zu\n", exhausted);
  std::fflush(stdout);
  return 0;
}

// A child process running ClientRole, with pipes to its stdin and stdout.
struct Child {
  pid_t pid = -1;
  FILE* out = nullptr;  // its stdout
  int in = -1;          // its stdin

  Child(const std::string& address, const std::string& mode, size_t n) {
    int to[2], from[2];
    if (::pipe(to) != 0 || ::pipe(from) != 0) std::abort();
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, to[0], 0);
    posix_spawn_file_actions_adddup2(&fa, from[1], 1);
    for (int fd : {to[0], to[1], from[0], from[1]}) posix_spawn_file_actions_addclose(&fa, fd);
    std::string count = std::to_string(n);
    std::vector<std::string> args = {"watch_bench", "--client", address, mode, count};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, argv.data(), environ) != 0) std::abort();
    posix_spawn_file_actions_destroy(&fa);
    ::close(to[0]);
    ::close(from[1]);
    in = to[1];
    out = ::fdopen(from[0], "r");
  }
  std::string ReadLine() {
    char buf[128];
    return std::fgets(buf, sizeof buf, out) ? std::string(buf) : std::string();
  }
  void Say(const char* what) {
    if (::write(in, what, std::strlen(what)) < 0) std::perror("write");
  }
  void Wait() {
    ::close(in);
    std::fclose(out);
    int status = 0;
    ::waitpid(pid, &status, 0);
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::strcmp(argv[1], "--client") == 0) {
    return ClientRole(argv[2], argv[3], std::stoul(argv[4]));
  }
  std::string store = "sqlite";
  size_t tasks = 10'000, watchers = 1'000, live_watchers = 200, live_events = 2'000;
  size_t snapshot = 100'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--store") {
      store = argv[i + 1];
      continue;
    }
    size_t v = std::stoul(argv[i + 1]);
    if (flag == "--tasks") tasks = v;
    if (flag == "--watchers") watchers = v;
    if (flag == "--live-watchers") live_watchers = v;
    if (flag == "--live-events") live_events = v;
    if (flag == "--snapshot") snapshot = v;
  }
  spdlog::set_level(spdlog::level::warn);
  fs::path dir = fs::temp_directory_path() / ("taskd-bench-watch-" + std::to_string(::getpid()) +
                                              "-" + std::to_string(std::random_device{}()));
  taskd::server::ServerOptions o;
  o.data_dir = dir / "data";
  o.listen = {"unix:" + (dir / "run" / "taskd.sock").string()};
  o.store = store;
  o.manager.max_pending = 10'000'000;
  o.max_watchers = std::max(watchers, live_watchers) + 10;
  auto server = taskd::server::Server::Start(o);
  if (!server.ok()) {
    std::fprintf(stderr, "cannot start: %s\n", server.status().ToString().c_str());
    return 1;
  }
  const std::string address = (*server)->addresses()[0];
  taskd::client::Client c(taskd::client::ClientOptions{address, 60s});
  if (!SubmitPending(c, tasks)) return 1;

  // 0. As many idle watchers (one task by id: one event, then nothing): what
  // the streams and connections cost by themselves.
  ::malloc_trim(0);
  const double baseline = SettledRssMb();
  std::printf("rss_baseline_mb        %.1f  (%s store, %zu pending tasks, no watcher)\n", baseline,
              store.c_str(), tasks);
  {
    v1::Task one;
    if (!c.Submit(Pending(), &one).ok()) return 1;
    Child child(address, "ids=" + one.id(), watchers);
    child.ReadLine();
    const double idle = SettledRssMb();
    std::printf("rss_idle_mb            %.1f  (%zu idle watchers: %.1f KiB each)\n", idle, watchers,
                (idle - baseline) * 1024 / static_cast<double>(watchers));
    child.Say("close\n");
    child.ReadLine();
    child.Wait();
    std::printf("rss_idle_after_mb      %.1f\n", RssAfterWatchersMb(**server));
  }

  // 1. Non-reading watchers with a snapshot of `tasks` pending tasks.
  {
    PeakSampler sampler;
    Child child(address, "snapshot", watchers);
    std::string opened = child.ReadLine();
    const double held = SettledRssMb();
    const double peak = sampler.Stop();
    std::printf("rss_held_mb            %.1f  (%zu watchers, each read 1 event; child: %s)\n", held,
                watchers, opened.substr(0, opened.size() - 1).c_str());
    std::printf("rss_peak_mb            %.1f  (%.1f KiB per watcher over baseline)\n", peak,
                (peak - baseline) * 1024 / static_cast<double>(std::max<size_t>(1, watchers)));
    ::malloc_trim(0);  // what is live, without what was freed and not returned yet
    std::printf("rss_held_trimmed_mb    %.1f\n", RssMb());
    child.Say("close\n");
    child.ReadLine();
    child.Wait();
  }
  std::printf("rss_after_mb           %.1f  (all closed)\n", RssAfterWatchersMb(**server));
  auto t_trim = Clock::now();
  ::malloc_trim(0);
  std::printf("rss_after_trim_mb      %.1f  (malloc_trim(0) by the bench: %.1f ms)\n", RssMb(),
              1000 * Seconds(Clock::now() - t_trim));
  std::fflush(stdout);

  // 2. Non-reading watchers (their snapshot: one marker task) while events of ~4 KiB flow.
  if (live_watchers > 0 && live_events > 0) {
    v1::TaskSpec spec = Pending(4096);
    (*spec.mutable_labels())["bench"] = "live";
    v1::Task marker;
    if (!c.Submit(spec, &marker).ok()) return 1;
    const double before = SettledRssMb();
    PeakSampler sampler;
    Child child(address, "live", live_watchers);
    std::string opened = child.ReadLine();
    for (size_t done = 0; done < live_events;) {
      std::vector<v1::TaskSpec> specs(std::min<size_t>(500, live_events - done), spec);
      std::vector<v1::Task> out;
      if (!c.BatchSubmit(specs, &out).ok()) break;
      done += out.size();
    }
    const double held = SettledRssMb();
    child.Say("drain\n");
    std::string closed = child.ReadLine();
    child.Wait();
    const double peak = sampler.Stop();
    std::printf("live_rss_before_mb     %.1f\n", before);
    std::printf(
        "live_rss_peak_mb       %.1f  (%zu non-reading watchers, %zu events of ~4 KiB = %.1f MiB "
        "each if unbounded)\n",
        peak, live_watchers, live_events, static_cast<double>(live_events) * 4.2 / 1024);
    std::printf("live_rss_held_mb       %.1f  (after the events)\n", held);
    std::printf("live_exhausted         %s of %zu  (ended RESOURCE_EXHAUSTED)\n",
                closed.size() > 7 ? closed.substr(7, closed.size() - 8).c_str() : "?",
                live_watchers);
    std::printf("live_rss_after_mb      %.1f  (all closed)\n", RssAfterWatchersMb(**server));
    ::malloc_trim(0);
    std::printf("live_rss_after_trim_mb %.1f  (malloc_trim(0) by the bench)\n", RssMb());
    std::fflush(stdout);
  }

  // 3. A client reading a snapshot of `snapshot` pending tasks, whole.
  if (snapshot > 0) {
    const size_t have = tasks + 1 + (live_events > 0 ? live_events + 1 : 0);
    if (snapshot > have && !SubmitPending(c, snapshot - have)) return 1;
    const size_t expected = std::max(snapshot, have);
    v1::WatchTasksRequest r;
    r.set_initial_snapshot(true);
    Watch w(address, r, 600s);
    auto t1 = Clock::now();
    size_t got = 0;
    v1::TaskEvent e;
    while (got < expected && w.reader->Read(&e)) {
      if (e.type() == v1::TaskEvent::TYPE_SNAPSHOT) ++got;
    }
    const double secs = Seconds(Clock::now() - t1);
    grpc::Status st = w.Close(got == expected);
    std::printf("snapshot_events        %zu of %zu  (%.2f s, %.0f events/s; %s)\n", got, expected,
                secs, static_cast<double>(got) / secs,
                got == expected ? "whole" : st.error_message().c_str());
  }
  (*server)->Shutdown();
  server->reset();
  fs::remove_all(dir);
  return 0;
}
