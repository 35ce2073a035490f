#include "core/model/clock.h"

namespace taskd {

namespace {

class AsioTimer final : public Clock::Timer {
 public:
  AsioTimer(Strand ex, SteadyTime at, std::function<void()> fn)
      : timer_(ex), live_(std::make_shared<std::atomic<bool>>(true)) {
    timer_.expires_at(at);
    // `live` guards against a completion already queued when Cancel() runs.
    timer_.async_wait([live = live_, fn = std::move(fn)](const boost::system::error_code& ec) {
      if (!ec && *live) fn();
    });
  }
  ~AsioTimer() override { Cancel(); }
  void Cancel() override {
    *live_ = false;
    timer_.cancel();
  }

 private:
  asio::steady_timer timer_;
  std::shared_ptr<std::atomic<bool>> live_;
};

}  // namespace

class ManualTimer final : public Clock::Timer {
 public:
  ManualTimer(ManualClock* clock, SteadyTime at, uint64_t id,
              std::shared_ptr<std::atomic<bool>> live)
      : clock_(clock), at_(at), id_(id), live_(std::move(live)) {}
  ~ManualTimer() override { Cancel(); }
  void Cancel() override {
    if (!live_->exchange(false)) return;
    clock_->Forget(at_, id_);
  }

 private:
  ManualClock* clock_;
  SteadyTime at_;
  uint64_t id_;
  std::shared_ptr<std::atomic<bool>> live_;
};

std::unique_ptr<Clock::Timer> SystemClock::RunAt(SteadyTime at, Strand ex,
                                                 std::function<void()> fn) {
  return std::make_unique<AsioTimer>(ex, at, std::move(fn));
}

SystemClock& SystemClock::Get() {
  // Never destroyed: a manager torn down during static destruction (a
  // program's own statics, the fuzzers') may still read the time.
  static SystemClock* clock = new SystemClock;
  return *clock;
}

ManualClock::ManualClock()
    : steady_(SteadyTime(std::chrono::hours(1000))), wall_(std::chrono::system_clock::now()) {}

SteadyTime ManualClock::SteadyNow() const {
  std::lock_guard lock(mu_);
  return steady_;
}

WallTime ManualClock::WallNow() const {
  std::lock_guard lock(mu_);
  return wall_;
}

std::unique_ptr<Clock::Timer> ManualClock::RunAt(SteadyTime at, Strand ex,
                                                 std::function<void()> fn) {
  auto live = std::make_shared<std::atomic<bool>>(true);
  std::lock_guard lock(mu_);
  uint64_t id = next_id_++;
  if (at <= steady_) {
    asio::post(ex, [live, fn = std::move(fn)] {
      if (*live) fn();
    });
  } else {
    timers_.emplace(at, Entry{id, ex, std::move(fn), live});
  }
  return std::make_unique<ManualTimer>(this, at, id, live);
}

void ManualClock::Forget(SteadyTime at, uint64_t id) {
  std::lock_guard lock(mu_);
  auto [first, last] = timers_.equal_range(at);
  for (auto it = first; it != last; ++it) {
    if (it->second.id == id) {
      timers_.erase(it);
      return;
    }
  }
}

void ManualClock::Advance(Duration d) {
  std::lock_guard lock(mu_);
  steady_ += std::chrono::duration_cast<SteadyTime::duration>(d);
  wall_ += std::chrono::duration_cast<WallTime::duration>(d);
  while (!timers_.empty() && timers_.begin()->first <= steady_) {
    Entry e = std::move(timers_.begin()->second);
    timers_.erase(timers_.begin());
    asio::post(e.ex, [live = e.live, fn = std::move(e.fn)] {
      if (*live) fn();
    });
  }
}

}  // namespace taskd
