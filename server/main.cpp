// taskd: flags -> ServerOptions -> Server. Wiring only; the logic lives in
// libtaskd_server and libtaskd_core, where it is tested.
#include <fcntl.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "client/default_address.h"
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

}  // namespace

int main(int argc, char** argv) {
  EnsureStdFds();
  CLI::App app{"taskd: the task-orchestration daemon"};
  app.set_version_flag("--version", std::string("taskd ") + TASKD_VERSION);

  taskd::server::ServerOptions opts;
  opts.version = TASKD_VERSION;
  std::string data_dir = taskd::server::DefaultDataDir().string();
  std::string socket = taskd::DefaultSocketPath();
  std::vector<std::string> listen;
  std::string log_level = "info";
  int max_running = 0;
  size_t max_pending = opts.manager.max_pending;
  app.add_option("--data-dir", data_dir, "State directory: database, task logs, lock file")
      ->envname("TASKD_DATA_DIR")
      ->capture_default_str();
  app.add_option("--socket", socket,
                 "Unix socket to listen on ('none' to listen only on --listen addresses)")
      ->envname("TASKD_SOCKET")
      ->capture_default_str();
  app.add_option("--listen", listen,
                 "Also listen on unix:PATH or HOST:PORT (repeatable; TCP needs --insecure and "
                 "a loopback host)");
  app.add_flag("--insecure", opts.insecure, "Allow plain TCP on a loopback address");
  app.add_option("--store", opts.store, "Task store: sqlite (durable) or memory")
      ->check(CLI::IsMember({"sqlite", "memory"}))
      ->envname("TASKD_STORE")
      ->capture_default_str();
  app.add_option("--max-running", max_running, "Tasks running at once (0 = number of cores)")
      ->check(CLI::NonNegativeNumber)
      ->envname("TASKD_MAX_RUNNING");
  app.add_option("--max-pending", max_pending, "Pending tasks accepted before submits are refused")
      ->check(CLI::PositiveNumber)
      ->envname("TASKD_MAX_PENDING")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->envname("TASKD_LOG_LEVEL")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  // Logs go to stderr (journald and containers collect it), one flushed line per event.
  spdlog::set_default_logger(spdlog::stderr_color_mt("taskd"));
  spdlog::flush_on(spdlog::level::trace);
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");

  opts.data_dir = data_dir;
  if (socket != "none" && !socket.empty()) opts.listen.push_back("unix:" + socket);
  opts.listen.insert(opts.listen.end(), listen.begin(), listen.end());
  opts.manager.max_running = max_running;
  opts.manager.max_pending = max_pending;

  // Orphaned grandchildren of tasks are re-parented to taskd (and reaped),
  // not to init, so a task's whole tree stays under supervision.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) spdlog::warn("cannot become a child subreaper");
  // Writes to a closed pipe must fail with EPIPE, not kill the daemon.
  std::signal(SIGPIPE, SIG_IGN);
  // SIGTERM and SIGINT are taken synchronously by sigwait below, so block
  // them before any thread starts: every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto server = taskd::server::Server::Start(opts);
  if (!server.ok()) {
    spdlog::error("cannot start: {}", server.status().message());
    return 1;
  }
  for (const auto& a : (*server)->addresses())
    spdlog::info("taskd {} listening on {}", TASKD_VERSION, a);
  spdlog::info("data directory {} ({} store), up to {} tasks at once", opts.data_dir.string(),
               opts.store, (*server)->manager().options().max_running);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("received {}; shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*server)->Shutdown();
  spdlog::info("stopped");
  return 0;
}
