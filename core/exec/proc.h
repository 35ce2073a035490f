// What a previous daemon left running: finding and killing the processes of
// task attempts after a crash, without ever killing an unrelated process
// that reuses a pid (Linux /proc).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "core/model/task.h"  // ProcessRef

namespace taskd {

// The process's start time in clock ticks since boot (/proc/PID/stat
// field 22); nullopt when there is no such process.
std::optional<uint64_t> ProcessStartTicks(pid_t pid);
// This boot's id (/proc/sys/kernel/random/boot_id); empty when unknown.
const std::string& BootId();
// A ProcessRef for a live process; nullopt when it is already gone.
std::optional<ProcessRef> RefOf(pid_t pid);

// SIGKILLs what is left of the process group an earlier daemon recorded:
// only in the same boot, and only while its leader is that very process
// (same start time) and still leads the group; once the leader is gone,
// only members that started after it and carry TASKD_INSTANCE=<instance>
// in their environment. Returns how many processes were signalled.
int KillLeftoverGroup(const ProcessRef& ref, const std::string& instance);

// SIGKILLs every process (of any group, e.g. one that called setsid) whose
// environment says TASKD_INSTANCE=<instance> and TASKD_TASK_ID=<one of
// ids>. For recovery, before this daemon starts any task: a task's
// process may have been spawned just before a crash, before its ProcessRef
// was committed. Returns the count.
int KillByTaskIds(const std::string& instance, const std::set<std::string>& ids);

// The variable that marks the processes of a KillMode::kGroup attempt
// (TASKD_KILL_MODE=group): KillEscaped leaves them alone.
inline constexpr std::string_view kKillModeVar = "TASKD_KILL_MODE";

// SIGKILLs the descendants of ended attempts that left their task's process
// group (setsid, say) and were re-parented to this daemon, a child
// subreaper: this daemon's unregistered children whose environment says
// TASKD_INSTANCE=<instance> and, when `task_id` is given, TASKD_TASK_ID=
// <task_id>, but not TASKD_KILL_MODE=group; with the process group each of
// them leads. Reads only /proc/self and those children's environments.
// Returns the count.
int KillEscaped(const std::string& instance, const std::string* task_id);

}  // namespace taskd
