// TaskEntry: what the engine keeps for a task in RAM besides the Task
// itself. Kept small: every pending and retained task has one (see
// bench/core_bench.cc); what only some tasks need, or need only for a
// while, is in one TaskAux allocation.
//
// Owned by the TaskTable; changed by the TaskDriver, on the manager strand only.
#pragma once

#include <memory>
#include <optional>

#include "core/exec/exec_runner.h"
#include "core/exec/handlers.h"
#include "core/model/clock.h"
#include "core/model/task.h"
#include "core/store/task_queue.h"

namespace taskd {

// What a RUNNING task needs.
struct RunningAttempt {
  std::shared_ptr<Process> exec;
  std::shared_ptr<HandlerContext> handler;
  std::unique_ptr<Clock::Timer> kill_timer;  // SIGKILL after the grace
  SteadyTime kill_at = SteadyTime::max();
  std::optional<TaskReason> stopping;            // why the attempt is being stopped
  std::unique_ptr<Clock::Timer> progress_flush;  // persists the latest progress
};

struct TaskAux {
  SteadyTime start_at{};                // PENDING: not before this (delay, backoff)
  std::unique_ptr<Clock::Timer> timer;  // start delay, or the attempt's timeout
  std::optional<RunningAttempt> run;    // set while RUNNING
};

struct TaskEntry {
  Task task;
  TaskQueue::Queue* queue = nullptr;  // as the TaskQueue named it
  uint64_t sequence = 0;              // FIFO order among equal priorities
  int32_t unmet_deps = 0;
  bool ready = false;            // has a live item in the scheduler
  std::unique_ptr<TaskAux> aux;  // only while there is something in it
};

}  // namespace taskd
