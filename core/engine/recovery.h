// Recovery: what a start does with what the store loaded, before any task
// runs. The manager's Start() calls these in order, then admits the tasks.
//
// Threading: any (Start() runs before the io threads); KillLeftovers reads
// /proc and signals processes, the rest is pure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/model/task.h"
#include "core/store/store.h"

namespace taskd {

// SIGKILLs what a previous daemon left running for the unfinished tasks:
// their recorded process groups, then any process carrying one of their
// ids (those that left the group, and attempts spawned just before a
// crash, whose process was not recorded yet) — except a KillMode::kGroup
// task's processes outside its recorded group, which are meant to live on.
// Returns how many were signalled.
int KillLeftovers(const std::vector<Task>& tasks, const std::string& instance);

// A task that was RUNNING when the daemon stopped did not finish: applies
// the lifecycle's AfterDaemonStopped (INTERRUPTED, or requeued when its
// retry policy allows), with its end and expire times when it finishes
// `now`. Leaves any other task as it is; true when it changed it.
bool EndInterrupted(Task& task, WallTime now, Duration default_ttl);

// Turns the ended index's wall-clock expire times (ns since the epoch) into
// deadlines on the steady clock, in place, once, as for tasks in RAM (one
// already past is due now). Returns the highest key (0 for none).
uint64_t ToSteadyDeadlines(std::vector<EndedTask>& ended, SteadyTime steady_now, WallTime wall_now);

}  // namespace taskd
