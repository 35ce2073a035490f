#include "core/exec/proc.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "core/exec/reaper.h"

namespace taskd {

namespace {

struct Stat {
  pid_t ppid = 0;
  pid_t pgrp = 0;
  uint64_t start_ticks = 0;
};

// Fields of /proc/PID/stat. The command name may hold spaces and ')', so
// the fields are counted from the last ')'.
std::optional<Stat> ReadStat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> f;  // f[0] is field 3 (state)
  std::string tok;
  while (f.size() < 20 && rest >> tok) f.push_back(tok);
  if (f.size() < 20) return std::nullopt;
  Stat s;
  s.ppid = static_cast<pid_t>(std::strtol(f[1].c_str(), nullptr, 10));
  s.pgrp = static_cast<pid_t>(std::strtol(f[2].c_str(), nullptr, 10));
  s.start_ticks = std::strtoull(f[19].c_str(), nullptr, 10);
  return s;
}

// Every pid in /proc.
std::vector<pid_t> AllPids() {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long v = std::strtol(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0' && v > 0) out.push_back(static_cast<pid_t>(v));
  }
  ::closedir(d);
  return out;
}

// The TASKD_* variables of a process's environment (empty for another
// user's process, or one that is gone).
std::map<std::string, std::string> Environ(pid_t pid) {
  std::map<std::string, std::string> out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  std::string var;
  while (std::getline(in, var, '\0')) {
    auto eq = var.find('=');
    if (var.rfind("TASKD_", 0) == 0 && eq != std::string::npos) {
      out.emplace(var.substr(0, eq), var.substr(eq + 1));
    }
  }
  return out;
}

}  // namespace

std::optional<uint64_t> ProcessStartTicks(pid_t pid) {
  auto s = ReadStat(pid);
  if (!s) return std::nullopt;
  return s->start_ticks;
}

const std::string& BootId() {
  static const std::string id = [] {
    std::ifstream in("/proc/sys/kernel/random/boot_id");
    std::string s;
    std::getline(in, s);
    return s;
  }();
  return id;
}

std::optional<ProcessRef> RefOf(pid_t pid) {
  auto ticks = ProcessStartTicks(pid);
  if (!ticks) return std::nullopt;
  return ProcessRef{pid, *ticks, BootId()};
}

int KillLeftoverGroup(const ProcessRef& ref, const std::string& instance) {
  if (ref.pid <= 1 || ref.boot_id.empty() || ref.boot_id != BootId()) return 0;
  if (auto leader = ReadStat(ref.pid)) {
    // The pid is alive: ours only with the same start time, still leading its group.
    if (leader->start_ticks != ref.start_ticks || leader->pgrp != ref.pid) return 0;
    return ::kill(-ref.pid, SIGKILL) == 0 ? 1 : 0;
  }
  // The leader is gone; the group lives on while members remain. A member
  // must have started after the leader and carry this instance's marker,
  // so a group that merely reuses the number is left alone.
  int n = 0;
  for (pid_t p : AllPids()) {
    auto s = ReadStat(p);
    if (!s || s->pgrp != ref.pid || s->start_ticks < ref.start_ticks) continue;
    auto env = Environ(p);
    if (env.count("TASKD_INSTANCE") && env["TASKD_INSTANCE"] == instance &&
        ::kill(p, SIGKILL) == 0) {
      ++n;
    }
  }
  return n;
}

int KillByTaskIds(const std::string& instance, const std::set<std::string>& ids) {
  if (ids.empty() || instance.empty()) return 0;
  const pid_t self = ::getpid();
  int n = 0;
  for (pid_t p : AllPids()) {
    if (p == self) continue;
    auto env = Environ(p);
    auto inst = env.find("TASKD_INSTANCE"), id = env.find("TASKD_TASK_ID");
    if (inst != env.end() && inst->second == instance && id != env.end() && ids.count(id->second) &&
        ::kill(p, SIGKILL) == 0) {
      ++n;
    }
  }
  return n;
}

int KillEscaped(const std::string& instance, const std::string* task_id) {
  if (instance.empty()) return 0;
  int n = 0;
  for (pid_t p : ChildRegistry::Orphans()) {
    auto env = Environ(p);
    auto inst = env.find("TASKD_INSTANCE"), id = env.find("TASKD_TASK_ID");
    if (inst == env.end() || inst->second != instance || id == env.end()) continue;
    if (task_id && id->second != *task_id) continue;
    if (auto mode = env.find(std::string(kKillModeVar));
        mode != env.end() && mode->second == "group") {
      continue;  // the task means to leave it running
    }
    // It may lead a group (and session) of its own, with members of its own.
    if (auto s = ReadStat(p); s && s->pgrp == p) ::kill(-p, SIGKILL);
    if (::kill(p, SIGKILL) == 0) ++n;
  }
  return n;
}

}  // namespace taskd
