// Clock: the time source behind every deadline the TaskManager keeps —
// timeouts, kill grace, retry backoff, start delays, rate limits, wait
// timeouts and TTL. SystemClock runs them on Asio steady timers (the
// monotonic clock); ManualClock lets tests move time by hand, so they are
// fast and deterministic. Wall time is only for display and for converting
// stored wall-clock deadlines after a restart.
//
// Thread-safety: all methods may be called from any thread. A callback runs
// on the executor given to RunAt, never inline.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "core/model/asio.h"
#include "core/model/task.h"

namespace taskd {

// A duration on the steady clock's own tick.
inline SteadyTime::duration ToSteady(Duration d) {
  return std::chrono::duration_cast<SteadyTime::duration>(d);
}
// A time point as nanoseconds since its clock's epoch (how EndedTask keeps
// deadlines), and back for the steady clock.
template <typename TimePoint>
int64_t NanosSinceEpoch(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
inline SteadyTime SteadyFromNanos(int64_t ns) {
  return SteadyTime{ToSteady(std::chrono::nanoseconds(ns))};
}

class Clock {
 public:
  // Cancels the pending callback when destroyed or Cancel()ed. Cancel from
  // the callback's executor to be sure the callback does not run after it.
  class Timer {
   public:
    virtual ~Timer() = default;
    virtual void Cancel() = 0;
  };

  virtual ~Clock() = default;
  virtual SteadyTime SteadyNow() const = 0;
  virtual WallTime WallNow() const = 0;
  virtual std::unique_ptr<Timer> RunAt(SteadyTime at, Strand ex, std::function<void()> fn) = 0;
  std::unique_ptr<Timer> RunAfter(Duration d, Strand ex, std::function<void()> fn) {
    return RunAt(SteadyNow() + ToSteady(d), ex, std::move(fn));
  }
};

class SystemClock final : public Clock {
 public:
  SteadyTime SteadyNow() const override { return std::chrono::steady_clock::now(); }
  WallTime WallNow() const override { return std::chrono::system_clock::now(); }
  std::unique_ptr<Timer> RunAt(SteadyTime at, Strand ex, std::function<void()> fn) override;
  // The process-wide instance.
  static SystemClock& Get();
};

// Time stands still until Advance(). Starts at an arbitrary steady epoch and
// the current wall time.
class ManualClock final : public Clock {
 public:
  ManualClock();
  SteadyTime SteadyNow() const override;
  WallTime WallNow() const override;
  std::unique_ptr<Timer> RunAt(SteadyTime at, Strand ex, std::function<void()> fn) override;
  // Moves both clocks forward and posts every callback now due.
  void Advance(Duration d);
  // Timers set and not yet due or cancelled.
  size_t pending_timers() const {
    std::lock_guard lock(mu_);
    return timers_.size();
  }

 private:
  friend class ManualTimer;
  struct Entry {
    uint64_t id;
    Strand ex;
    std::function<void()> fn;
    std::shared_ptr<std::atomic<bool>> live;
  };
  // Drops a cancelled timer, so no entry (and its executor) outlives its owner.
  void Forget(SteadyTime at, uint64_t id);

  mutable std::mutex mu_;
  uint64_t next_id_ = 1;                     // guarded by mu_
  SteadyTime steady_;                        // guarded by mu_
  WallTime wall_;                            // guarded by mu_
  std::multimap<SteadyTime, Entry> timers_;  // guarded by mu_
};

}  // namespace taskd
