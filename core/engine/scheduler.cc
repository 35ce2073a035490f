#include "core/engine/scheduler.h"

#include <algorithm>
#include <chrono>

namespace taskd {

Scheduler::Scheduler(int max_running, std::map<std::string, QueueOptions> queues, IsLive is_live)
    : max_running_(max_running), options_(std::move(queues)), is_live_(std::move(is_live)) {}

Scheduler::~Scheduler() = default;

Scheduler::QueueRef Scheduler::Queue(std::string_view name_view) {
  std::string name(name_view);
  auto [it, fresh] = queues_.try_emplace(name);
  if (fresh) {
    if (auto o = options_.find(name); o != options_.end()) {
      it->second.limit = o->second.max_running;
      it->second.rate = o->second.rate;
      it->second.burst = std::max(1, o->second.burst);
    }
  }
  return &it->second;
}

void Scheduler::Ready(QueueRef q, uint64_t key, int64_t priority, uint64_t sequence, void* ref) {
  q->ready.push_back({-priority, sequence, key, ref});
  std::push_heap(q->ready.begin(), q->ready.end());
  if (!q->active) {
    q->active = true;
    active_.push_back(q);
  }
}

void Scheduler::Unready(QueueRef q) {
  // Rebuild the heap once it is mostly dead items, so that cancelling many
  // pending tasks does not keep their items around.
  if (++q->stale > 64 && q->stale > q->ready.size() / 2) {
    std::erase_if(q->ready, [&](const Item& item) { return !is_live_(item.key, item.sequence); });
    std::make_heap(q->ready.begin(), q->ready.end());
    q->stale = 0;
  }
}

const Scheduler::Item* Scheduler::Top(QueueState& q) {
  while (!q.ready.empty()) {
    const Item& top = q.ready.front();
    if (q.stale == 0 || is_live_(top.key, top.sequence)) return &top;
    std::pop_heap(q.ready.begin(), q.ready.end());
    q.ready.pop_back();
    --q.stale;
  }
  return nullptr;
}

std::optional<Scheduler::Pick> Scheduler::Next(SteadyTime now, SteadyTime* wake) {
  if (running_ >= max_running_) return std::nullopt;
  // The best head among the queues that may start a task now. Queues with
  // ready tasks are few; each keeps its own heap.
  QueueState* best = nullptr;
  for (size_t i = 0; i < active_.size();) {
    QueueState& q = *active_[i];
    const Item* head = Top(q);
    if (head == nullptr) {
      q.active = false;
      active_[i] = active_.back();
      active_.pop_back();
      continue;
    }
    ++i;
    if (q.limit > 0 && q.running >= q.limit) continue;
    SteadyTime next;
    if (!HasToken(q, now, &next)) {
      *wake = std::min(*wake, next);
      continue;
    }
    if (best == nullptr || best->ready.front() < *head) best = &q;
  }
  if (best == nullptr) return std::nullopt;
  Pick pick{best->ready.front().key, best->ready.front().ref};
  std::pop_heap(best->ready.begin(), best->ready.end());
  best->ready.pop_back();
  if (best->rate > 0) best->tokens -= 1;
  ++best->running;
  ++running_;
  return pick;
}

void Scheduler::Stopped(QueueRef q) {
  --q->running;
  --running_;
}

void Scheduler::ClearReady() {
  for (QueueState* q : active_) {
    q->ready.clear();
    q->stale = 0;
    q->active = false;
  }
  active_.clear();
}

void Scheduler::ForEachQueue(const std::function<void(const std::string&, int running)>& fn) const {
  for (const auto& [name, q] : queues_) fn(name, q.running);
}

bool Scheduler::HasToken(QueueState& q, SteadyTime now, SteadyTime* next) {
  if (q.rate <= 0) return true;
  if (!q.bucket_started) {
    q.tokens = q.burst;
    q.bucket_started = true;
  } else {
    double elapsed = std::chrono::duration<double>(now - q.refilled).count();
    q.tokens = std::min(q.burst, q.tokens + elapsed * q.rate);
  }
  q.refilled = now;
  if (q.tokens >= 1) return true;
  *next = now + std::chrono::duration_cast<SteadyTime::duration>(
                    std::chrono::duration<double>((1 - q.tokens) / q.rate));
  return false;
}

}  // namespace taskd
