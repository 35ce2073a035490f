// durable_bench: the whole daemon in-process (server + clients over a unix
// socket), measuring what durability costs. Prints figures; asserts nothing.
//
//   durable_submits_per_s   SubmitTask with 16 concurrent clients, SQLite store
//   memory_submits_per_s    the same run against the in-memory store
//   durable_vs_memory       their ratio (target >= 50%)
//   start_to_serving_s      Server::Start with N retained finished tasks in the
//                           store (target: within 3 s for 1,000,000)
//   rss_bytes/task          RSS growth of that start per retained task (target <= 64)
//
// usage: durable_bench [--retained N] (default 1,000,000; it writes N tasks
// to a temporary SQLite database first, which takes a while)
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <thread>

#include "client/client.h"
#include "core/store/sqlite_store.h"
#include "server/server.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

long RssBytes() {
  std::ifstream in("/proc/self/statm");
  long size = 0, resident = 0;
  in >> size >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

fs::path TempDir(const std::string& name) {
  fs::path d =
      fs::temp_directory_path() / ("taskd-bench-" + name + "-" + std::to_string(::getpid()) + "-" +
                                   std::to_string(std::random_device{}()));
  fs::create_directories(d);
  fs::permissions(d, fs::perms::owner_all, fs::perm_options::replace);
  return d;
}

taskd::server::ServerOptions Options(const fs::path& dir, const std::string& store) {
  taskd::server::ServerOptions o;
  o.data_dir = dir / "data";
  o.listen = {"unix:" + (dir / "run" / "taskd.sock").string()};
  o.store = store;
  o.manager.max_pending = 10'000'000;
  return o;
}

// SubmitTask of noop handler tasks from `clients` threads, each with its own
// channel, `per_client` each. Returns submits per second.
double SubmitRate(const std::string& store, int clients, int per_client) {
  fs::path dir = TempDir(store);
  auto server = taskd::server::Server::Start(Options(dir, store));
  if (!server.ok()) {
    std::fprintf(stderr, "cannot start: %s\n", server.status().ToString().c_str());
    std::exit(1);
  }
  taskd::v1::TaskSpec spec;
  spec.mutable_handler()->set_name("noop");
  std::vector<std::unique_ptr<taskd::client::Client>> cs;
  for (int i = 0; i < clients; ++i) {
    cs.push_back(std::make_unique<taskd::client::Client>(
        taskd::client::ClientOptions{(*server)->addresses()[0], 30s}));
    taskd::v1::ServerInfo info;  // connect before the clock starts
    (void)cs.back()->ServerInfo(&info);
  }
  std::atomic<int> failed{0};
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      taskd::v1::Task t;
      for (int k = 0; k < per_client; ++k) {
        if (!cs[static_cast<size_t>(i)]->Submit(spec, &t).ok()) ++failed;
      }
    });
  }
  for (auto& t : threads) t.join();
  double rate = clients * per_client / Seconds(Clock::now() - start);
  if (failed > 0) std::fprintf(stderr, "%d submits failed\n", failed.load());
  cs.clear();
  (*server)->Shutdown();
  server->reset();
  fs::remove_all(dir);
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  size_t retained = 1'000'000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--retained") == 0) retained = std::stoul(argv[i + 1]);
  }
  spdlog::set_level(spdlog::level::warn);
  constexpr int kClients = 16, kPerClient = 500;

  // Alternate the two stores, twice, so that a noisy moment hurts both.
  double durable = 0, memory = 0;
  for (int round = 0; round < 2; ++round) {
    durable = std::max(durable, SubmitRate("sqlite", kClients, kPerClient));
    memory = std::max(memory, SubmitRate("memory", kClients, kPerClient));
  }
  std::printf("durable_submits_per_s  %.0f  (16 clients, SQLite, synchronous=FULL)\n", durable);
  std::printf("memory_submits_per_s   %.0f  (same run, in-memory store)\n", memory);
  std::printf("durable_vs_memory      %.0f%%  (target >= 50%%)\n", 100 * durable / memory);
  std::fflush(stdout);

  // A store with `retained` finished tasks, written directly.
  fs::path dir = TempDir("retained");
  {
    auto store = taskd::SqliteStore::Open(dir / "data" / "taskd.db");
    if (!store.ok()) {
      fs::create_directories(dir / "data");
      fs::permissions(dir / "data", fs::perms::owner_all, fs::perm_options::replace);
      store = taskd::SqliteStore::Open(dir / "data" / "taskd.db");
    }
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
      return 1;
    }
    (void)(*store)->Load();  // starts the writer
    auto t0 = Clock::now();
    const auto now = std::chrono::system_clock::now();
    std::vector<std::future<taskd::Status>> pending;
    for (size_t done = 0; done < retained;) {
      std::vector<taskd::StoreOp> ops;
      for (size_t k = 0; k < 10000 && done < retained; ++k, ++done) {
        taskd::StoreOp op;
        op.task.id = taskd::NewTaskId();
        op.task.spec.action = taskd::HandlerAction{"noop", ""};
        op.task.state = taskd::TaskState::kCompleted;
        op.task.reason = taskd::TaskReason::kSucceeded;
        op.task.attempt = 1;
        op.task.create_time = now;
        op.task.start_time = now;
        op.task.end_time = now;
        op.task.expire_time = now + std::chrono::hours(24);
        op.task.result = taskd::TaskResult{};
        ops.push_back(std::move(op));
      }
      auto p = std::make_shared<std::promise<taskd::Status>>();
      pending.push_back(p->get_future());
      (*store)->Write(std::move(ops), [p](taskd::Status s) { p->set_value(std::move(s)); });
    }
    for (auto& f : pending) {
      if (auto s = f.get(); !s.ok()) {
        std::fprintf(stderr, "populate: %s\n", s.ToString().c_str());
        return 1;
      }
    }
    (*store)->Close();
    std::printf("(wrote %zu finished tasks in %.1f s)\n", retained, Seconds(Clock::now() - t0));
  }
  // Hand what the populating freed back to the OS first: otherwise the start
  // reuses it and its RSS growth understates what it keeps.
  ::malloc_trim(0);
  long rss_before = RssBytes();
  auto t0 = Clock::now();
  auto server = taskd::server::Server::Start(Options(dir, "sqlite"));
  if (!server.ok()) {
    std::fprintf(stderr, "cannot start: %s\n", server.status().ToString().c_str());
    return 1;
  }
  taskd::client::Client c(taskd::client::ClientOptions{(*server)->addresses()[0], 60s});
  taskd::v1::ServerInfo info;
  auto answered = c.ServerInfo(&info);
  double start_s = Seconds(Clock::now() - t0);
  long rss_after = RssBytes();
  std::printf(
      "start_to_serving_s     %.2f  (%zu retained tasks; target <= 3 s for 1,000,000; %s)\n",
      start_s, retained, answered.ok() ? "answered" : answered.error_message().c_str());
  std::printf("rss_bytes/task         %.0f  (target <= 64)\n",
              static_cast<double>(rss_after - rss_before) / static_cast<double>(retained));
  (*server)->Shutdown();
  server->reset();
  fs::remove_all(dir);
  return 0;
}
