// Fake stores for engine tests: a recording store, and decorators over a
// real store that count reads or hold writes back.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/store/sqlite_store.h"
#include "core/store/store.h"
#include "tests/fakes/manager_harness.h"

namespace taskd::testing {

// A durable store that keeps nothing but counts what it is asked to write.
class RecordingStore final : public Store {
 public:
  StatusOr<StoredTasks> Load() override { return StoredTasks{}; }
  void Write(std::vector<StoreOp> ops, std::function<void(Status)> done) override {
    {
      std::lock_guard l(mu_);
      for (const auto& op : ops) {
        if (op.kind == StoreOp::Kind::kPut) {
          ++puts_;
          last_percent_ = op.task.progress.percent;
        }
      }
    }
    done(OkStatus());
  }
  void Close() override {}
  const char* Name() const override { return "recording"; }
  size_t puts() {
    std::lock_guard l(mu_);
    return puts_;
  }
  double last_percent() {
    std::lock_guard l(mu_);
    return last_percent_;
  }

 private:
  std::mutex mu_;
  size_t puts_ = 0;
  double last_percent_ = 0;
};

// Opens a SqliteStore at `path`: nullptr, with a test failure, when it cannot.
inline std::unique_ptr<SqliteStore> OpenSqlite(const std::filesystem::path& path) {
  auto opened = SqliteStore::Open(path);
  EXPECT_TRUE(opened.ok()) << opened.status().ToString();
  return opened.ok() ? std::move(opened).value() : nullptr;
}

// Forwards every call to another store: the base of the decorators below.
class ForwardingStore : public Store {
 public:
  explicit ForwardingStore(Store& inner) : inner_(inner) {}
  StatusOr<StoredTasks> Load() override { return inner_.Load(); }
  void Write(std::vector<StoreOp> ops, std::function<void(Status)> done) override {
    inner_.Write(std::move(ops), std::move(done));
  }
  void Close() override { inner_.Close(); }
  const char* Name() const override { return "forwarding"; }
  bool serves_reads() const override { return inner_.serves_reads(); }
  StatusOr<std::optional<Task>> Read(uint64_t key) override { return inner_.Read(key); }
  StatusOr<std::vector<Task>> ReadByRequestId(std::string_view rid) override {
    return inner_.ReadByRequestId(rid);
  }
  StatusOr<EndedPage> ReadEnded(uint64_t after, size_t rows, unsigned mask,
                                const std::function<bool(uint64_t)>& skip) override {
    return inner_.ReadEnded(after, rows, mask, skip);
  }

 protected:
  Store& inner_;
};

// Counts the reads of single tasks (Read), from any thread.
class CountingStore final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  StatusOr<std::optional<Task>> Read(uint64_t key) override {
    ++reads_;
    return inner_.Read(key);
  }
  int reads() const { return reads_.load(); }

 private:
  std::atomic<int> reads_{0};
};

// Counts the reads (Read, ReadByRequestId, ReadEnded) made on a given
// strand and off it: to show which reads a call keeps off the manager strand.
// HoldReads() makes reads wait (bounded) until ReleaseReads().
class StrandWatchingStore final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  // `on_strand()` tells whether the caller runs on the watched strand. Set
  // before the reads it watches; it must not hold the strand itself (a
  // strand outliving its io_context is a use after free).
  void Watch(std::function<bool()> on_strand) { on_strand_fn_ = std::move(on_strand); }
  StatusOr<std::optional<Task>> Read(uint64_t key) override {
    Count();
    return inner_.Read(key);
  }
  StatusOr<std::vector<Task>> ReadByRequestId(std::string_view rid) override {
    Count();
    return inner_.ReadByRequestId(rid);
  }
  StatusOr<EndedPage> ReadEnded(uint64_t after_key, size_t max_rows, unsigned state_mask,
                                const std::function<bool(uint64_t)>& skip) override {
    Count();
    return inner_.ReadEnded(after_key, max_rows, state_mask, skip);
  }
  int on_strand() const { return on_strand_.load(); }
  int off_strand() const { return off_strand_.load(); }
  void HoldReads() {
    std::lock_guard lock(mu_);
    hold_ = true;
  }
  void ReleaseReads() {
    {
      std::lock_guard lock(mu_);
      hold_ = false;
    }
    cv_.notify_all();
  }
  // Waits (bounded) until a read is held; false when none came.
  bool AwaitHeldRead() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return held_ > 0; });
  }

 private:
  void Count() {
    {
      std::unique_lock lock(mu_);
      if (hold_) {
        ++held_;
        cv_.notify_all();
        cv_.wait_for(lock, std::chrono::seconds(30), [&] { return !hold_; });
        --held_;
      }
    }
    if (on_strand_fn_ && on_strand_fn_()) {
      ++on_strand_;
    } else {
      ++off_strand_;
    }
  }
  std::function<bool()> on_strand_fn_;
  std::atomic<int> on_strand_{0}, off_strand_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool hold_ = false;
  int held_ = 0;
};

// Forwards to another store, but can hold writes back and release them one
// at a time: to commit a task's final state after its deletion was queued.
class GatedStore final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  void Write(std::vector<StoreOp> ops, std::function<void(Status)> done) override {
    std::lock_guard lock(mu_);
    if (hold_) {
      held_.push_back({std::move(ops), std::move(done)});
      return;
    }
    inner_.Write(std::move(ops), std::move(done));
  }
  void Close() override {
    while (held() > 0) Release(false);
    inner_.Close();
  }
  const char* Name() const override { return "gated"; }

  void Hold() {
    std::lock_guard lock(mu_);
    hold_ = true;
  }
  size_t held() {
    std::lock_guard lock(mu_);
    return held_.size();
  }
  bool HeldIsDelete(size_t i) {
    std::lock_guard lock(mu_);
    return held_[i].first.front().kind == StoreOp::Kind::kDelete;
  }
  // Writes the oldest held batch; returns once its `done` ran (when `wait`).
  void Release(bool wait = true) {
    std::pair<std::vector<StoreOp>, std::function<void(Status)>> w;
    {
      std::lock_guard lock(mu_);
      w = std::move(held_.front());
      held_.pop_front();
      if (held_.empty()) hold_ = false;
    }
    auto committed = std::make_shared<std::promise<void>>();
    auto f = committed->get_future();
    inner_.Write(std::move(w.first), [done = std::move(w.second), committed](Status s) {
      done(s);
      committed->set_value();
    });
    if (wait) Await(f);
  }

 private:
  std::mutex mu_;
  bool hold_ = false;
  std::deque<std::pair<std::vector<StoreOp>, std::function<void(Status)>>> held_;
};

// A durable store that keeps nothing but records each write (its ops'
// kinds and ids); it fails writes while failing(true), and holds their
// callbacks while holding(true), for the test to run later. One thread only.
class FlakyStore final : public Store {
 public:
  struct Op {
    StoreOp::Kind kind;
    std::string id;
    double percent = 0;  // a put's task progress
    bool operator==(const Op&) const = default;
  };
  StatusOr<StoredTasks> Load() override { return StoredTasks{}; }
  void Write(std::vector<StoreOp> ops, std::function<void(Status)> done) override {
    std::vector<Op> batch;
    for (const auto& op : ops) {
      if (op.kind == StoreOp::Kind::kPut) {
        batch.push_back({op.kind, op.task.id, op.task.progress.percent});
      } else {
        batch.push_back({op.kind, op.id});
      }
    }
    Status s = failing_ ? Status(StatusCode::kUnavailable, "disk full") : OkStatus();
    if (!failing_) written_.push_back(std::move(batch));
    if (holding_) {
      held_.push_back([done = std::move(done), s] { done(s); });
    } else {
      done(s);
    }
  }
  void Close() override {}
  const char* Name() const override { return "flaky"; }
  void failing(bool f) { failing_ = f; }
  void holding(bool h) { holding_ = h; }
  // The batches written successfully, in order.
  const std::vector<std::vector<Op>>& written() const { return written_; }
  std::vector<std::function<void()>> TakeHeld() { return std::exchange(held_, {}); }

 private:
  bool failing_ = false, holding_ = false;
  std::vector<std::vector<Op>> written_;
  std::vector<std::function<void()>> held_;
};

}  // namespace taskd::testing
