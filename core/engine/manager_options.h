// ManagerOptions: how the engine runs tasks (limits, defaults, paths), as
// the server's config or an embedding program sets them; ManagerStats: the
// gauges it reports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "core/engine/scheduler.h"
#include "core/exec/exec_runner.h"
#include "core/model/clock.h"
#include "core/model/validate.h"

namespace taskd {

struct ManagerOptions {
  int max_running = 0;  // 0: the number of cores
  size_t max_pending = 100000;
  Duration default_ttl = std::chrono::hours(1);
  Duration default_kill_grace = std::chrono::seconds(10);
  // At daemon shutdown a running task gets min(its kill_grace, this).
  Duration shutdown_grace = std::chrono::seconds(5);
  Duration default_initial_backoff = std::chrono::seconds(1);
  Duration default_max_backoff = std::chrono::minutes(5);
  double default_backoff_multiplier = 2.0;
  std::filesystem::path log_dir;     // where <id>.out and <id>.err live; required
  int64_t log_cap_bytes = 64 << 20;  // per stream and attempt
  std::map<std::string, QueueOptions> queues;
  // Set in every exec task's environment, under the task's own env (the
  // server puts its socket in TASKD_ADDR, so `taskctl progress` works inside).
  std::map<std::string, std::string> task_env;
  SpecLimits limits;
  Clock* clock = nullptr;      // nullptr: SystemClock::Get()
  Spawner* spawner = nullptr;  // nullptr: PosixSpawner()
};

// Gauges for monitoring, taken in one pass on the strand.
struct ManagerStats {
  size_t by_state[6] = {};  // indexed by TaskState
  struct Queue {
    size_t pending = 0;
    int running = 0;
  };
  std::map<std::string, Queue> queues;  // every queue seen since start
  // Of the finished tasks in by_state, those held only in the store.
  size_t finished_in_store = 0;
  std::optional<WallTime> oldest_pending_create_time;
};

}  // namespace taskd
