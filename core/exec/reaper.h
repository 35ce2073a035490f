// Reaping for a child subreaper.
//
// taskd waits for the children it spawns through their pidfds
// (ExecAttempt). Any other child — a task's grandchild re-parented to taskd
// after its parent exited — would stay a zombie; OrphanReaper reaps those on
// SIGCHLD. ChildRegistry records the pids taskd waits for itself, so the
// reaper never takes an exit status an ExecAttempt is about to read.
//
// Thread-safe.
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <vector>

#include "core/model/asio.h"

namespace taskd {

class ChildRegistry {
 public:
  // Held across posix_spawn and Add, so the reaper never sees a spawned
  // child that is not registered yet.
  static std::unique_lock<std::mutex> Lock();
  static void Add(pid_t pid);     // with Lock() held
  static void Remove(pid_t pid);  // after the pidfd waitid reaped it
  // Reaps every exited child of this process that is not registered.
  // Returns how many it reaped.
  static int ReapOrphans();
  // The children of this process that are not registered: orphaned
  // descendants of tasks, re-parented to this subreaper.
  static std::vector<pid_t> Orphans();
};

// Reaps orphans whenever SIGCHLD arrives, on `io`'s threads.
class OrphanReaper {
 public:
  explicit OrphanReaper(asio::io_context& io);
  ~OrphanReaper();
  void Stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace taskd
