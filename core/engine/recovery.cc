#include "core/engine/recovery.h"

#include <algorithm>
#include <set>

#include "core/engine/lifecycle.h"
#include "core/exec/proc.h"
#include "core/model/clock.h"

namespace taskd {

int KillLeftovers(const std::vector<Task>& tasks, const std::string& instance) {
  std::set<std::string> unfinished;
  int killed = 0;
  for (const Task& task : tasks) {
    if (IsTerminal(task.state)) continue;
    if (task.process) killed += KillLeftoverGroup(*task.process, instance);
    const ExecAction* exec = task.spec.exec();
    if (!task.process || !exec || exec->kill_mode != KillMode::kGroup) unfinished.insert(task.id);
  }
  return killed + KillByTaskIds(instance, unfinished);
}

bool EndInterrupted(Task& task, WallTime now, Duration default_ttl) {
  if (task.state != TaskState::kRunning) return false;
  Transition next = AfterDaemonStopped(task);
  task.state = next.state;
  task.reason = next.reason;
  task.error = std::move(next.error);
  if (next.kind == Transition::Kind::kFinish) {
    task.end_time = now;
    task.expire_time = now + task.spec.ttl.value_or(default_ttl);
  }
  return true;
}

uint64_t ToSteadyDeadlines(std::vector<EndedTask>& ended, SteadyTime steady_now,
                           WallTime wall_now) {
  const int64_t steady = NanosSinceEpoch(steady_now);
  const int64_t wall = NanosSinceEpoch(wall_now);
  uint64_t max_key = 0;
  for (EndedTask& e : ended) {
    max_key = std::max(max_key, e.key);
    if (e.expire_ns != INT64_MAX) e.expire_ns = steady + std::max<int64_t>(0, e.expire_ns - wall);
  }
  return max_key;
}

}  // namespace taskd
