// The config-file parser (ParseConfig on `--config FILE`) on any file
// content. Properties: it never throws or crashes; a file it refuses gets
// exit code 2 and a message naming the file; a file it accepts renders
// (--print-config) to a file that parses again to the same settings, so
// `taskd --print-config > taskd.toml` always gives back what it showed.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "server/config.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using taskd::server::DaemonConfig;

const std::string& ConfigPath() {
  static const std::string path = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string p = std::string(tmp && *tmp ? tmp : "/tmp") + "/taskd_config_fuzz." +
                    std::to_string(::getpid()) + ".toml";
    // Only the file's content may set anything: no TASKD_* variable.
    for (char** e = environ; e && *e;) {
      std::string kv(*e);
      if (kv.rfind("TASKD_", 0) == 0) {
        ::unsetenv(kv.substr(0, kv.find('=')).c_str());
      } else {
        ++e;
      }
    }
    return p;
  }();
  return path;
}

struct Parsed {
  std::optional<int> exit;
  DaemonConfig config;
  std::string err;
};

Parsed ParseFile(const std::string& content) {
  {
    std::ofstream f(ConfigPath(), std::ios::binary | std::ios::trunc);
    f.write(content.data(), static_cast<std::streamsize>(content.size()));
  }
  const char* argv[] = {"taskd", "--config", ConfigPath().c_str()};
  Parsed p;
  std::ostringstream err, out;
  auto* old_err = std::cerr.rdbuf(err.rdbuf());
  auto* old_out = std::cout.rdbuf(out.rdbuf());
  p.exit = taskd::server::ParseConfig(3, argv, &p.config);
  std::cerr.rdbuf(old_err);
  std::cout.rdbuf(old_out);
  p.err = err.str();
  return p;
}

bool SameSettings(const DaemonConfig& a, const DaemonConfig& b) {
  const auto &x = a.server, &y = b.server;
  if (x.data_dir != y.data_dir || x.store != y.store || x.listen != y.listen ||
      x.insecure != y.insecure || x.token_file != y.token_file || x.tls_cert != y.tls_cert ||
      x.tls_key != y.tls_key || x.tls_client_ca != y.tls_client_ca ||
      x.metrics_listen != y.metrics_listen || x.max_connections != y.max_connections ||
      x.max_watchers != y.max_watchers || x.manager.max_running != y.manager.max_running ||
      x.manager.max_pending != y.manager.max_pending || a.log_level != b.log_level ||
      a.log_format != b.log_format || x.manager.queues.size() != y.manager.queues.size()) {
    return false;
  }
  for (const auto& [name, q] : x.manager.queues) {
    auto it = y.manager.queues.find(name);
    if (it == y.manager.queues.end() || it->second.max_running != q.max_running ||
        it->second.rate != q.rate || it->second.burst != q.burst) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  Parsed first = ParseFile(std::string(reinterpret_cast<const char*>(data), size));
  if (first.exit) {
    FUZZ_CHECK(*first.exit == 2);
    FUZZ_CHECK(first.err.find("config file " + ConfigPath()) != std::string::npos);
    return 0;
  }
  const std::string rendered = taskd::server::RenderConfig(first.config);
  Parsed second = ParseFile(rendered);
  if (second.exit || !SameSettings(first.config, second.config)) {
    std::fprintf(stderr, "--print-config does not parse back to the same settings:\n%s\n%s\n",
                 rendered.c_str(), second.err.c_str());
    std::abort();
  }
  FUZZ_CHECK(taskd::server::RenderConfig(second.config) == rendered);
  return 0;
}
