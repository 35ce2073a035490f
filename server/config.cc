#include "server/config.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string_view>

#include "client/default_address.h"

namespace taskd::server {

namespace {

// Reads a whole-number or decimal queue setting; false when malformed.
bool ParseNumber(const std::vector<std::string>& inputs, double* out) {
  if (inputs.size() != 1) return false;
  const std::string& s = inputs[0];
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || errno != 0 || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

// CLI11's TOML reader takes a quoted string as it is, without escapes
// (config_fuzz: `"a\\b"` reads back as a\\b), so a value is printed raw
// between quotes it does not contain. One with both kinds of quotes, or a
// line break, cannot be printed so that it reads back.
std::string Quote(const std::string& s) {
  if (s.find('\'') == std::string::npos) return "'" + s + "'";
  return "\"" + s + "\"";
}

}  // namespace

std::string DefaultConfigFile() {
  if (::geteuid() == 0) return "/etc/taskd/taskd.toml";
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) {
    return std::string(x) + "/taskd/taskd.toml";
  }
  if (const char* h = std::getenv("HOME"); h && *h)
    return std::string(h) + "/.config/taskd/taskd.toml";
  return "";
}

std::optional<int> ParseConfig(int argc, const char* const* argv, DaemonConfig* out) {
  DaemonConfig& c = *out;
  ServerOptions& s = c.server;
  CLI::App app{
      "taskd: the task-orchestration daemon.\n\n"
      "Settings come from flags, then TASKD_* variables, then the config file "
      "(TOML; keys are the flag names without '--'; per-queue limits in [queue.NAME] "
      "sections with max-running, rate and burst), then defaults."};
  app.set_version_flag("--version", "taskd " + s.version);

  std::string config_file;
  std::string data_dir = DefaultDataDir().string();
  std::string socket = DefaultSocketPath();
  std::vector<std::string> listen;
  int max_running = 0;
  size_t max_pending = s.manager.max_pending;
  size_t max_watchers = s.max_watchers;
  std::string token_file, tls_cert, tls_key, tls_client_ca;

  app.add_option("--config", config_file,
                 "Config file (default: " + DefaultConfigFile() + ", read when it exists)")
      ->envname("TASKD_CONFIG");
  app.add_flag("--print-config", c.print_config,
               "Print the effective settings in the config file's format and exit");
  app.add_option("--data-dir", data_dir, "State directory: database, task logs, lock file")
      ->envname("TASKD_DATA_DIR")
      ->capture_default_str();
  app.add_option("--socket", socket,
                 "Unix socket to listen on ('none' to listen only on --listen addresses)")
      ->envname("TASKD_SOCKET")
      ->capture_default_str();
  app.add_option("--listen", listen,
                 "Also listen on unix:PATH or HOST:PORT (repeatable). TCP needs TLS or a token; "
                 "plain TCP is allowed only on loopback with --insecure")
      ->envname("TASKD_LISTEN");
  app.add_flag("--insecure", s.insecure, "Allow plain TCP without a token on a loopback address")
      ->envname("TASKD_INSECURE");
  app.add_option("--token-file", token_file,
                 "TCP callers must send 'authorization: Bearer <the file's content>'")
      ->envname("TASKD_TOKEN_FILE");
  app.add_option("--tls-cert", tls_cert, "TLS certificate chain (PEM) for TCP listeners")
      ->envname("TASKD_TLS_CERT");
  app.add_option("--tls-key", tls_key, "TLS private key (PEM)")->envname("TASKD_TLS_KEY");
  app.add_option("--tls-client-ca", tls_client_ca,
                 "Require client certificates signed by this CA (PEM): mTLS")
      ->envname("TASKD_TLS_CLIENT_CA");
  app.add_option("--store", s.store, "Task store: sqlite (durable) or memory")
      ->check(CLI::IsMember({"sqlite", "memory"}))
      ->envname("TASKD_STORE")
      ->capture_default_str();
  app.add_option("--max-running", max_running, "Tasks running at once (0 = number of cores)")
      ->check(CLI::Range(0, 1000000))
      ->envname("TASKD_MAX_RUNNING");
  app.add_option("--max-pending", max_pending, "Pending tasks accepted before submits are refused")
      ->check(CLI::Range(size_t{1}, size_t{100000000}))
      ->envname("TASKD_MAX_PENDING")
      ->capture_default_str();
  app.add_option("--max-connections", s.max_connections,
                 "Client connections open at once on the unix socket and plain TCP; more are "
                 "refused (0 = half the descriptors the limit leaves after 64)")
      ->check(CLI::Range(size_t{0}, size_t{100000000}))
      ->envname("TASKD_MAX_CONNECTIONS")
      ->capture_default_str();
  app.add_option("--max-watchers", max_watchers,
                 "WatchTasks streams open at once before watches are refused")
      ->check(CLI::Range(size_t{1}, size_t{1000000}))
      ->envname("TASKD_MAX_WATCHERS")
      ->capture_default_str();
  app.add_option("--log-level", c.log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->envname("TASKD_LOG_LEVEL")
      ->capture_default_str();
  app.add_option("--log-format", c.log_format,
                 "auto (text on a terminal, JSON lines otherwise), text or json")
      ->check(CLI::IsMember({"auto", "text", "json"}))
      ->envname("TASKD_LOG_FORMAT")
      ->capture_default_str();
  app.add_option(
         "--metrics-listen", c.metrics_listen,
         "Serve Prometheus metrics at http://ADDR/metrics (HOST:PORT, or PORT for "
         "loopback; any other host needs --token-file, and scrapes then send the token); off "
         "by default")
      ->envname("TASKD_METRICS_LISTEN");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  // The config file fills only what no flag or variable set.
  const bool named = !config_file.empty();
  if (!named) config_file = DefaultConfigFile();
  std::error_code ec;
  if (named || (!config_file.empty() && std::filesystem::exists(config_file, ec))) {
    auto fail = [&](const std::string& what) {
      std::cerr << "taskd: config file " << config_file << ": " << what << "\n";
      return 2;
    };
    std::vector<CLI::ConfigItem> items;
    try {
      items = CLI::ConfigTOML().from_file(config_file);
    } catch (const CLI::Error& e) {
      return fail(e.what());
    }
    for (const auto& item : items) {
      if (item.name == "++" || item.name == "--") continue;  // section markers
      const std::string key = item.fullname();
      if (item.parents.empty()) {
        CLI::Option* opt = nullptr;
        if (key != "config" && key != "print-config" && key != "help" && key != "version") {
          opt = app.get_option_no_throw("--" + key);
        }
        if (opt == nullptr) return fail("unknown key '" + key + "'");
        if (opt->count() > 0) continue;  // a flag or variable set it
        // `listen = []` (what --print-config prints by default): none.
        if (item.inputs.empty() && opt->get_items_expected_max() > 1) continue;
        try {
          opt->add_result(item.inputs);
          opt->run_callback();
        } catch (const CLI::Error& e) {
          return fail(key + ": " + e.what());
        }
      } else if (item.parents.size() == 2 && item.parents[0] == "queue") {
        const std::string& name = item.parents[1];
        for (char ch : name) {
          if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_')) {
            return fail("[queue." + name + "]: a queue name has only letters, digits, '-' and '_'");
          }
        }
        QueueOptions& q = s.manager.queues[name];
        double v = 0;
        if (!ParseNumber(item.inputs, &v)) return fail(key + ": must be a number");
        if (item.name == "max-running") {
          if (v < 0 || v != std::floor(v) || v > 1e6) {
            return fail(key + ": must be a whole number >= 0");
          }
          q.max_running = static_cast<int>(v);
        } else if (item.name == "rate") {
          if (v < 0 || (v > 0 && v < 0.001)) {
            return fail(key + ": must be 0 (unlimited) or at least 0.001 starts per second");
          }
          q.rate = v;
        } else if (item.name == "burst") {
          if (v < 1 || v != std::floor(v) || v > 1e6) {
            return fail(key + ": must be a whole number >= 1");
          }
          q.burst = static_cast<int>(v);
        } else {
          return fail("unknown key '" + key + "' (a queue has max-running, rate and burst)");
        }
      } else {
        return fail("unknown section '" + key.substr(0, key.rfind('.')) +
                    "' (queues are [queue.NAME])");
      }
    }
    c.config_file = config_file;
  }

  s.data_dir = data_dir;
  s.listen.clear();
  if (socket != "none" && !socket.empty()) s.listen.push_back("unix:" + socket);
  s.listen.insert(s.listen.end(), listen.begin(), listen.end());
  s.manager.max_running = max_running;
  s.manager.max_pending = max_pending;
  s.max_watchers = max_watchers;
  s.token_file = token_file;
  s.tls_cert = tls_cert;
  s.tls_key = tls_key;
  s.tls_client_ca = tls_client_ca;
  s.metrics_listen = c.metrics_listen;
  return std::nullopt;
}

std::string RenderConfig(const DaemonConfig& c) {
  const ServerOptions& s = c.server;
  std::ostringstream o;
  o << "# taskd effective configuration";
  if (!c.config_file.empty()) o << " (config file: " << c.config_file << ")";
  o << "\n";
  std::string socket = "none";
  std::vector<std::string> listen;
  for (const auto& a : s.listen) {
    if (socket == "none" && a.rfind("unix:", 0) == 0 && listen.empty()) {
      socket = a.substr(5);
    } else {
      listen.push_back(a);
    }
  }
  o << "data-dir = " << Quote(s.data_dir.string()) << "\n";
  o << "socket = " << Quote(socket) << "\n";
  o << "listen = [";
  for (size_t i = 0; i < listen.size(); ++i) o << (i ? ", " : "") << Quote(listen[i]);
  o << "]\n";
  o << "insecure = " << (s.insecure ? "true" : "false") << "\n";
  o << "token-file = " << Quote(s.token_file.string()) << "\n";
  o << "tls-cert = " << Quote(s.tls_cert.string()) << "\n";
  o << "tls-key = " << Quote(s.tls_key.string()) << "\n";
  o << "tls-client-ca = " << Quote(s.tls_client_ca.string()) << "\n";
  o << "store = " << Quote(s.store) << "\n";
  o << "max-running = " << s.manager.max_running << "  # 0: the number of cores\n";
  o << "max-pending = " << s.manager.max_pending << "\n";
  o << "max-connections = " << s.max_connections
    << "  # 0: half the descriptors the limit leaves after 64\n";
  o << "max-watchers = " << s.max_watchers << "\n";
  o << "log-level = " << Quote(c.log_level) << "\n";
  o << "log-format = " << Quote(c.log_format) << "\n";
  o << "metrics-listen = " << Quote(c.metrics_listen) << "\n";
  for (const auto& [name, q] : s.manager.queues) {
    o << "\n[queue." << name << "]\n";
    o << "max-running = " << q.max_running << "\n";
    // Shortest text that reads back as the same double (config_fuzz).
    std::array<char, 32> rate{};
    auto [end, ec] = std::to_chars(rate.data(), rate.data() + rate.size(), q.rate);
    const size_t n = ec == std::errc{} ? static_cast<size_t>(end - rate.data()) : 0;
    o << "rate = " << std::string_view(rate.data(), n) << "\n";
    o << "burst = " << q.burst << "\n";
  }
  return o.str();
}

}  // namespace taskd::server
