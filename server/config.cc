#include "server/config.h"

#include <toml++/toml.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>
#include <string_view>

#include "common/default_address.h"

namespace taskd::server {

namespace {

// A TOML basic string: read back by any TOML parser as exactly `s`.
std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (ch < 0x20 || ch == 0x7f) {
          char esc[8];
          std::snprintf(esc, sizeof esc, "\\u%04x", ch);
          out += esc;
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
  return out + "\"";
}

// Every path and address reaches the OS as a C string: a NUL would cut it
// (config_fuzz found `listen = ['unix:/a\0b']` accepted), and no other
// control character belongs in one either.
const CLI::Validator& NoControlCharacters() {
  static const CLI::Validator v(
      [](std::string& value) -> std::string {
        for (unsigned char ch : value) {
          if (ch < 0x20 || ch == 0x7f) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "0x%02x", ch);
            return std::string("contains a control character (byte ") + hex + ")";
          }
        }
        return {};
      },
      "TEXT");
  return v;
}

// What a top-level key of the config file must hold. Every key RenderConfig
// prints must be here (ConfigTest.PrintConfigOfTheDefaultsReadsBack).
enum class Kind { kString, kStrings, kInteger, kBool };

std::optional<Kind> KindOf(const std::string& key) {
  static const std::map<std::string, Kind, std::less<>> kinds = {
      {"data-dir", Kind::kString},      {"socket", Kind::kString},
      {"listen", Kind::kStrings},       {"insecure", Kind::kBool},
      {"token-file", Kind::kString},    {"tls-cert", Kind::kString},
      {"tls-key", Kind::kString},       {"tls-client-ca", Kind::kString},
      {"store", Kind::kString},         {"max-running", Kind::kInteger},
      {"max-pending", Kind::kInteger},  {"max-connections", Kind::kInteger},
      {"max-watchers", Kind::kInteger}, {"log-level", Kind::kString},
      {"log-format", Kind::kString},    {"metrics-listen", Kind::kString},
  };
  auto it = kinds.find(key);
  if (it == kinds.end()) return std::nullopt;
  return it->second;
}

std::string TypeName(const toml::node& n) {
  using T = toml::node_type;
  static const std::map<T, const char*> kNames = {
      {T::string, "a string"},
      {T::integer, "a whole number"},
      {T::floating_point, "a decimal number"},
      {T::boolean, "true or false"},
      {T::array, "a list"},
      {T::table, "a table"},
  };
  auto it = kNames.find(n.type());
  return it != kNames.end() ? it->second : "a date or time";
}

// "line N: KEY" for an error about the value at `n`.
std::string Where(const toml::node& n, const std::string& key) {
  return "line " + std::to_string(n.source().begin.line) + ": " + key;
}

// A queue's limits from its [queue.NAME] table.
std::optional<std::string> ReadQueue(const std::string& name, const toml::table& t,
                                     QueueOptions* q) {
  for (char ch : name) {
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_')) {
      return Where(t, "[queue." + name + "]") +
             ": a queue name has only letters, digits, '-' and '_'";
    }
  }
  for (const auto& [k, v] : t) {
    const std::string item(k.str());
    const std::string key = "queue." + name + "." + item;
    std::optional<double> number;
    if (auto i = v.value_exact<int64_t>()) number = static_cast<double>(*i);
    if (auto d = v.as_floating_point()) number = d->get();
    const bool whole = v.is_integer();
    if (item == "max-running") {
      if (!whole || *number < 0 || *number > 1e6) {
        return Where(v, key) + ": must be a whole number from 0 to 1000000";
      }
      q->max_running = static_cast<int>(*number);
    } else if (item == "rate") {
      if (!number || !std::isfinite(*number) || *number < 0 || (*number > 0 && *number < 0.001)) {
        return Where(v, key) + ": must be 0 (unlimited) or at least 0.001 starts per second";
      }
      q->rate = *number == 0 ? 0.0 : *number;  // -0 prints as 0 (config_fuzz)
    } else if (item == "burst") {
      if (!whole || *number < 1 || *number > 1e6) {
        return Where(v, key) + ": must be a whole number from 1 to 1000000";
      }
      q->burst = static_cast<int>(*number);
    } else {
      return Where(v, key) + ": unknown key (a queue has max-running, rate and burst)";
    }
  }
  return std::nullopt;
}

// Reads the config file (TOML 1.0, by toml++) into the options no flag or
// variable set, and the queues. CLI11's own reader was too lenient: a list
// missing its `]` swallowed the next line (`token-file = ...` became a
// listen address and the token was gone), and a quoted value cut at a NUL.
std::optional<std::string> ReadConfigFile(const std::string& path, CLI::App& app,
                                          std::map<std::string, QueueOptions>* queues) {
  toml::table doc;
  try {
    doc = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    return "line " + std::to_string(at.line) + ", column " + std::to_string(at.column) + ": " +
           std::string(e.description());
  }
  for (const auto& [k, node] : doc) {
    const std::string key(k.str());
    if (key == "queue") {
      const toml::table* sections = node.as_table();
      if (sections == nullptr) return Where(node, key) + ": must be [queue.NAME] sections";
      for (const auto& [name, queue] : *sections) {
        const toml::table* t = queue.as_table();
        if (t == nullptr) {
          return Where(queue, "queue." + std::string(name.str())) +
                 ": must be a [queue.NAME] section";
        }
        if (auto error =
                ReadQueue(std::string(name.str()), *t, &(*queues)[std::string(name.str())])) {
          return error;
        }
      }
      continue;
    }
    const std::optional<Kind> kind = KindOf(key);
    if (!kind) {
      if (node.is_table()) return "unknown section '" + key + "' (queues are [queue.NAME])";
      return Where(node, "unknown key '" + key + "'");
    }
    std::vector<std::string> inputs;
    const char* want = nullptr;
    switch (*kind) {
      case Kind::kString:
        if (auto v = node.value_exact<std::string>()) inputs.push_back(*v);
        want = "a string";
        break;
      case Kind::kStrings:
        // A list of strings, or one string; `listen = []` (what
        // --print-config prints by default) means none.
        want = "a list of strings";
        if (auto v = node.value_exact<std::string>()) {
          inputs.push_back(*v);
        } else if (const toml::array* a = node.as_array()) {
          for (const auto& e : *a) {
            auto v = e.value_exact<std::string>();
            if (!v) return Where(e, key) + ": each address must be a string, not " + TypeName(e);
            inputs.push_back(*v);
          }
          if (inputs.empty()) continue;
        }
        break;
      case Kind::kInteger:
        if (auto v = node.value_exact<int64_t>()) inputs.push_back(std::to_string(*v));
        want = "a whole number";
        break;
      case Kind::kBool:
        if (auto v = node.value_exact<bool>()) inputs.push_back(*v ? "true" : "false");
        want = "true or false";
        break;
    }
    if (inputs.empty()) return Where(node, key) + ": must be " + want + ", not " + TypeName(node);
    CLI::Option* opt = app.get_option("--" + key);
    if (opt->count() > 0) continue;  // a flag or variable set it
    try {
      opt->add_result(inputs);
      opt->run_callback();
    } catch (const CLI::Error& e) {
      return Where(node, key) + ": " + e.what();
    }
  }
  return std::nullopt;
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

  for (const char* name : {"--config", "--data-dir", "--socket", "--listen", "--token-file",
                           "--tls-cert", "--tls-key", "--tls-client-ca", "--metrics-listen"}) {
    app.get_option(name)->check(NoControlCharacters());
  }

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
    if (auto error = ReadConfigFile(config_file, app, &s.manager.queues)) return fail(*error);
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
