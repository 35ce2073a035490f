// taskd: flags -> ServerOptions -> Server. Wiring only; the logic lives in
// libtaskd_server and libtaskd_core, where it is tested.
#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>

#include "server/config.h"
#include "server/logging.h"
#include "server/server.h"

#ifndef TASKD_VERSION
#define TASKD_VERSION "dev"
#endif

namespace {

// Descriptors 0-2 must be open: a child's stdio is set up by dup2 onto
// them, and a closed one would be taken by the next file we open.
void EnsureStdFds() {
  for (int fd = 0; fd < 3; ++fd) {
    if (::fcntl(fd, F_GETFD) < 0) ::open("/dev/null", O_RDWR);
  }
}

// SIGHUP: read the configuration again. The log level changes at once;
// any other change is reported and waits for the next restart. A file that
// no longer parses changes nothing.
void Reload(int argc, char** argv, taskd::server::DaemonConfig* current) {
  spdlog::info("received SIGHUP; reading the configuration again{}",
               current->config_file.empty() ? "" : " from " + current->config_file);
  taskd::server::DaemonConfig fresh;
  fresh.server.version = current->server.version;
  if (auto code = taskd::server::ParseConfig(argc, argv, &fresh); code) {
    spdlog::error("the configuration does not parse (see above); nothing changed");
    return;
  }
  if (fresh.log_level != current->log_level) {
    spdlog::set_level(spdlog::level::from_str(fresh.log_level));
    spdlog::info("log level is now {} (was {})", fresh.log_level, current->log_level);
    current->log_level = fresh.log_level;
  }
  if (taskd::server::RenderConfig(fresh) != taskd::server::RenderConfig(*current)) {
    spdlog::warn("settings other than log-level changed; they take effect when taskd restarts");
  } else {
    spdlog::info("configuration reloaded");
  }
}

}  // namespace

int main(int argc, char** argv) {
  EnsureStdFds();
  taskd::server::DaemonConfig config;
  config.server.version = TASKD_VERSION;
  if (auto code = taskd::server::ParseConfig(argc, argv, &config)) return *code;
  if (config.print_config) {
    std::cout << taskd::server::RenderConfig(config);
    return 0;
  }
  taskd::server::SetupLogging(config.log_level, config.log_format);
  const taskd::server::ServerOptions& opts = config.server;

  // Orphaned grandchildren of tasks are re-parented to taskd (and reaped),
  // not to init, so a task's whole tree stays under supervision.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) spdlog::warn("cannot become a child subreaper");
  // Writes to a closed pipe must fail with EPIPE, not kill the daemon.
  std::signal(SIGPIPE, SIG_IGN);
  // SIGTERM, SIGINT and SIGHUP are taken synchronously by sigwait below, so
  // block them before any thread starts: every thread inherits the mask.
  // (SIGHUP's default action would kill taskd on the spot: closing the
  // terminal of a foreground taskd must not leave its tasks behind.)
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = taskd::server::Server::Start(opts);
  if (!server.ok()) {
    spdlog::error("cannot start: {}", server.status().message());
    return 1;
  }
  for (const auto& a : (*server)->addresses())
    spdlog::info("taskd {} listening on {}", TASKD_VERSION, a);
  if (auto m = (*server)->metrics_address(); !m.empty()) {
    spdlog::info("metrics at http://{}/metrics", m);
  }
  spdlog::info("data directory {} ({} store), up to {} tasks at once", opts.data_dir.string(),
               opts.store, (*server)->manager().options().max_running);

  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) Reload(argc, argv, &config);
  spdlog::info("received {}; shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*server)->Shutdown();
  spdlog::info("stopped");
  return 0;
}
