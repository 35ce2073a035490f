// IoPool: an io_context run by a few threads, as the daemon runs its
// engine, and the daemon's order of shutdown for a TaskManager on it. For
// tests, fuzzers and benchmarks that drive a real manager.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <thread>
#include <vector>

#include "core/engine/task_manager.h"
#include "core/model/asio.h"
#include "core/store/store.h"

namespace taskd::testing {

class IoPool {
 public:
  IoPool() : work_(asio::make_work_guard(io_)) {}
  ~IoPool() { Join(); }
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  asio::io_context& io() { return io_; }
  // Runs the io_context on `threads` more threads.
  void Run(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  // Shuts `manager` down and waits for it (aborting after a minute: a hang
  // must not hang the suite); then closes `store` while the threads still
  // run, so that no store callback reaches a manager being destroyed; then
  // stops the threads.
  void Stop(TaskManager& manager, Store* store) {
    std::promise<void> stopped;
    manager.Shutdown([&] { stopped.set_value(); });
    if (stopped.get_future().wait_for(std::chrono::minutes(1)) != std::future_status::ready) {
      std::fprintf(stderr, "IoPool: the manager did not shut down within a minute\n");
      std::abort();
    }
    if (store) store->Close();
    Join();
  }

 private:
  void Join() {
    work_.reset();
    io_.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

}  // namespace taskd::testing
