// Helpers for core tests: a TaskManager on a real io_context with a temp
// log directory, and blocking wrappers over its callback API (tests may
// block; the daemon never does).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <thread>

#include "core/engine/task_manager.h"
#include "tests/fakes/io_pool.h"

namespace taskd::testing {

// A fresh directory under the system temp dir, removed at scope exit.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("taskd-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

template <typename T>
T Await(std::future<T>& f, std::chrono::seconds limit = std::chrono::seconds(30)) {
  if (f.wait_for(limit) != std::future_status::ready) {
    ADD_FAILURE() << "timed out after " << limit.count() << "s";
    std::abort();  // a hung future would hang the suite: fail loudly instead
  }
  return f.get();
}

// Writes `ops` to `store` and waits for their commit.
inline Status WriteSync(Store& store, std::vector<StoreOp> ops) {
  std::promise<Status> p;
  store.Write(std::move(ops), [&](Status s) { p.set_value(s); });
  auto f = p.get_future();
  return Await(f);
}
inline StoreOp PutOp(const Task& t) { return StoreOp{StoreOp::Kind::kPut, t, {}}; }

// Whether `p` is gone within `limit`: a deletion at the end of retention
// unlinks a task's logs off the strand, a moment after reads stop finding
// the task.
inline bool GoneSoon(const std::filesystem::path& p,
                     std::chrono::seconds limit = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::filesystem::exists(p) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return !std::filesystem::exists(p);
}

inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline TaskSpec Exec(std::vector<std::string> argv) {
  TaskSpec s;
  s.action = ExecAction{std::move(argv), {}, {}, false};
  return s;
}
inline TaskSpec Handler(std::string name, std::string payload = "") {
  TaskSpec s;
  s.action = HandlerAction{std::move(name), std::move(payload)};
  return s;
}

class ManagerHarness {
 public:
  explicit ManagerHarness(ManagerOptions options = {}, Store* store = nullptr,
                          HandlerRegistry* handlers = nullptr) {
    if (!handlers) {
      own_handlers_.RegisterBuiltins();
      handlers = &own_handlers_;
    }
    if (!store) store = &memory_;
    store_ = store;
    if (options.log_dir.empty()) options.log_dir = dir_.path() / "logs";
    manager_ = std::make_unique<TaskManager>(pool_.io(), std::move(options), *store, *handlers);
    start_status_ = manager_->Start();
    pool_.Run(2);
  }
  ~ManagerHarness() { pool_.Stop(*manager_, store_); }

  TaskManager& m() { return *manager_; }
  const Status& start_status() const { return start_status_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  asio::io_context& io() { return pool_.io(); }

  StatusOr<Task> Submit(TaskSpec spec, std::string request_id = "") {
    std::promise<StatusOr<Task>> p;
    manager_->Submit({std::move(spec), std::move(request_id)},
                     [&](StatusOr<Task> t) { p.set_value(std::move(t)); });
    auto f = p.get_future();
    return Await(f);
  }
  Task MustSubmit(TaskSpec spec) {
    auto t = Submit(std::move(spec));
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? *t : Task{};
  }
  StatusOr<Task> Get(const std::string& id) {
    std::promise<StatusOr<Task>> p;
    manager_->Get(id, [&](StatusOr<Task> t) { p.set_value(std::move(t)); });
    auto f = p.get_future();
    return Await(f);
  }
  StatusOr<Task> Wait(const std::string& id, std::optional<Duration> timeout = std::nullopt) {
    std::promise<StatusOr<Task>> p;
    manager_->Wait(id, timeout, [&](StatusOr<Task> t) { p.set_value(std::move(t)); });
    auto f = p.get_future();
    return Await(f, std::chrono::seconds(60));
  }
  StatusOr<Task> Cancel(const std::string& id, std::optional<Duration> grace = std::nullopt) {
    std::promise<StatusOr<Task>> p;
    manager_->Cancel(id, grace, [&](StatusOr<Task> t) { p.set_value(std::move(t)); });
    auto f = p.get_future();
    return Await(f, std::chrono::seconds(60));
  }
  ManagerStats Stats() {
    std::promise<ManagerStats> p;
    manager_->GetStats([&](ManagerStats st) { p.set_value(std::move(st)); });
    auto f = p.get_future();
    return Await(f);
  }
  // Waits until `n` finished tasks are held only in the store (bounded: the
  // eviction follows the commit of the final state).
  void WaitInStore(size_t n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (Stats().finished_in_store != n) {
      if (std::chrono::steady_clock::now() > deadline) {
        FAIL() << "finished_in_store stays " << Stats().finished_in_store << ", want " << n;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  // Runs `spec` to its end and waits until it has left RAM (a store that
  // serves reads).
  Task Finished(TaskSpec spec, std::string request_id = "") {
    const size_t before = Stats().finished_in_store;
    auto t = Submit(std::move(spec), std::move(request_id));
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    if (!t.ok()) return Task{};
    auto done = Wait(t->id);
    EXPECT_TRUE(done.ok() && IsTerminal(done->state));
    WaitInStore(before + 1);
    return done.ok() ? *done : Task{};
  }
  // Polls until `pred(task)` holds (bounded: fails after `limit`).
  template <typename Pred>
  Task WaitFor(const std::string& id, Pred pred,
               std::chrono::seconds limit = std::chrono::seconds(20)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      auto t = Get(id);
      if (t.ok() && pred(*t)) return *t;
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "condition not reached for task " << id;
        return t.ok() ? *t : Task{};
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

 private:
  TempDir dir_;
  IoPool pool_;
  MemoryStore memory_;
  Store* store_ = nullptr;
  HandlerRegistry own_handlers_;
  std::unique_ptr<TaskManager> manager_;
  Status start_status_;
};

}  // namespace taskd::testing
