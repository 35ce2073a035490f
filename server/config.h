// The daemon's configuration: flags > environment (TASKD_*) > config file >
// defaults. One table of settings (config.cc) drives all four, so a setting
// has the same name everywhere: `--max-running`, TASKD_MAX_RUNNING and
// `max-running = 8` in the file. Per-queue limits live only in the file:
//
//   [queue.io]
//   max-running = 2   # tasks of this queue running at once
//   rate = 5.0        # starts per second (token bucket)
//   burst = 10        # starts allowed at once after a quiet spell
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "server/server.h"

namespace taskd::server {

struct DaemonConfig {
  ServerOptions server;
  std::string config_file;  // the file that was read; empty: none
  std::string log_level = "info";
  std::string log_format = "auto";  // auto (text on a terminal, else json), text, json
  std::string metrics_listen;       // HOST:PORT or PORT (on loopback); empty: no metrics
  bool print_config = false;
};

// The config file read when neither --config nor TASKD_CONFIG names one:
// /etc/taskd/taskd.toml for root, else $XDG_CONFIG_HOME/taskd/taskd.toml
// (~/.config/taskd/taskd.toml). It may be missing; a named one may not.
std::string DefaultConfigFile();

// Parses argv, the environment and the config file into *out. Returns an
// exit code when the process should exit now: 0 after --help or --version
// (printed to stdout), 2 after a bad flag, variable, file or value (a
// message naming the flag or key printed to stderr).
std::optional<int> ParseConfig(int argc, const char* const* argv, DaemonConfig* out);

// The effective configuration, in the config file's format (--print-config).
std::string RenderConfig(const DaemonConfig& config);

}  // namespace taskd::server
