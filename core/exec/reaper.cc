#include "core/exec/reaper.h"

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>

#include <boost/asio/signal_set.hpp>
#include <fstream>
#include <sstream>
#include <unordered_set>
#include <vector>

namespace taskd {

namespace {

std::mutex& RegistryMutex() {
  static std::mutex mu;
  return mu;
}
std::unordered_set<pid_t>& Registered() {  // guarded by RegistryMutex()
  static std::unordered_set<pid_t> pids;
  return pids;
}

// Children of every thread of this process (/proc/self/task/*/children).
std::vector<pid_t> ListChildren() {
  std::vector<pid_t> out;
  DIR* dir = ::opendir("/proc/self/task");
  if (!dir) return out;
  while (dirent* ent = ::readdir(dir)) {
    if (ent->d_name[0] == '.') continue;
    std::ifstream in(std::string("/proc/self/task/") + ent->d_name + "/children");
    pid_t pid;
    while (in >> pid) out.push_back(pid);
  }
  ::closedir(dir);
  return out;
}

}  // namespace

std::unique_lock<std::mutex> ChildRegistry::Lock() { return std::unique_lock(RegistryMutex()); }

void ChildRegistry::Add(pid_t pid) { Registered().insert(pid); }

void ChildRegistry::Remove(pid_t pid) {
  std::lock_guard lock(RegistryMutex());
  Registered().erase(pid);
}

int ChildRegistry::ReapOrphans() {
  int reaped = 0;
  std::lock_guard lock(RegistryMutex());
  for (pid_t pid : ListChildren()) {
    if (Registered().count(pid)) continue;
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG) == 0 &&
        info.si_pid == pid) {
      ++reaped;
    }
  }
  return reaped;
}

std::vector<pid_t> ChildRegistry::Orphans() {
  std::lock_guard lock(RegistryMutex());
  std::vector<pid_t> out;
  for (pid_t pid : ListChildren()) {
    if (!Registered().count(pid)) out.push_back(pid);
  }
  return out;
}

// Shared with the pending wait's handler through a weak_ptr: a SIGCHLD
// completion already queued when the reaper is destroyed must find it gone,
// not touch freed memory.
struct OrphanReaper::Impl : std::enable_shared_from_this<OrphanReaper::Impl> {
  explicit Impl(asio::io_context& io) : signals(io, SIGCHLD) {}
  void Arm() {
    signals.async_wait([weak = weak_from_this()](const boost::system::error_code& ec, int) {
      auto self = weak.lock();
      if (ec || !self) return;
      ChildRegistry::ReapOrphans();
      self->Arm();
    });
  }
  asio::signal_set signals;
};

OrphanReaper::OrphanReaper(asio::io_context& io) : impl_(std::make_shared<Impl>(io)) {
  impl_->Arm();
  // Orphans that exited before we listened.
  ChildRegistry::ReapOrphans();
}

OrphanReaper::~OrphanReaper() { Stop(); }

void OrphanReaper::Stop() {
  boost::system::error_code ec;
  impl_->signals.cancel(ec);
}

}  // namespace taskd
