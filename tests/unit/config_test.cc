// Daemon configuration: flags > TASKD_* variables > config file > defaults,
// errors naming the key, --print-config; and the JSON log line encoder.
#include "server/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "server/logging.h"

namespace taskd::server {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("taskd-config-" + std::to_string(::getpid()) +
                                                     "-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
    for (const char* v : {"TASKD_MAX_RUNNING", "TASKD_CONFIG", "TASKD_LOG_FORMAT", "TASKD_STORE"}) {
      ::unsetenv(v);
    }
  }
  void TearDown() override {
    ::unsetenv("TASKD_MAX_RUNNING");
    std::filesystem::remove_all(dir_);
  }
  std::string File(const std::string& text) {
    auto p = dir_ / ("c" + std::to_string(n_++) + ".toml");
    std::ofstream(p) << text;
    return p.string();
  }
  // Parses; returns the exit code, or -1 when the daemon would run.
  int Parse(std::vector<std::string> args, DaemonConfig* c) {
    args.insert(args.begin(), "taskd");
    std::vector<const char*> argv;
    for (auto& a : args) argv.push_back(a.c_str());
    testing::internal::CaptureStderr();
    testing::internal::CaptureStdout();
    auto code = ParseConfig(static_cast<int>(argv.size()), argv.data(), c);
    err_ = testing::internal::GetCapturedStderr();
    testing::internal::GetCapturedStdout();
    return code ? *code : -1;
  }
  // These arguments make taskd exit 2 naming `what`.
  void ExpectArgsRefused(std::vector<std::string> args, const std::string& what) {
    DaemonConfig c;
    EXPECT_EQ(Parse(args, &c), 2) << args.back();
    EXPECT_NE(err_.find(what), std::string::npos) << err_;
  }
  // A config file holding `toml` makes taskd exit 2 naming `what`.
  void ExpectRefused(const std::string& toml, const std::string& what) {
    ExpectArgsRefused({"--config", File(toml)}, what);
  }
  std::filesystem::path dir_;
  std::string err_;
  int n_ = 0;
};

TEST_F(ConfigTest, FlagsBeatEnvironmentBeatsFileBeatsDefaults) {
  std::string f = File(
      "max-running = 3\nmax-pending = 77\nmax-watchers = 12\nlog-format = \"json\"\n"
      "store = \"memory\"\n[queue.io]\nmax-running = 2\nrate = 5.5\nburst = 10\n");
  DaemonConfig c;
  ASSERT_EQ(Parse({"--config", f}, &c), -1) << err_;
  EXPECT_EQ(c.server.manager.max_running, 3);
  EXPECT_EQ(c.server.manager.max_pending, 77u);
  EXPECT_EQ(c.server.max_watchers, 12u);
  EXPECT_EQ(c.log_format, "json");
  EXPECT_EQ(c.log_level, "info");  // the default
  ASSERT_EQ(c.server.manager.queues.count("io"), 1u);
  EXPECT_EQ(c.server.manager.queues["io"].max_running, 2);
  EXPECT_DOUBLE_EQ(c.server.manager.queues["io"].rate, 5.5);
  EXPECT_EQ(c.server.manager.queues["io"].burst, 10);

  ::setenv("TASKD_MAX_RUNNING", "5", 1);
  DaemonConfig env;
  ASSERT_EQ(Parse({"--config", f}, &env), -1) << err_;
  EXPECT_EQ(env.server.manager.max_running, 5);
  EXPECT_EQ(env.server.store, "memory");

  DaemonConfig flag;
  ASSERT_EQ(Parse({"--config", f, "--max-running", "7", "--store", "sqlite"}, &flag), -1) << err_;
  EXPECT_EQ(flag.server.manager.max_running, 7);
  EXPECT_EQ(flag.server.store, "sqlite");
}

TEST_F(ConfigTest, BadValuesExitTwoNamingTheKey) {
  ExpectRefused("bogus = 1\n", "unknown key 'bogus'");
  ExpectRefused("max-running = \"lots\"\n", "max-running");
  ExpectRefused("[queue.io]\nrate = -1\n", "queue.io.rate");
  ExpectRefused("[queue.io]\nburst = 0\n", "queue.io.burst");
  ExpectRefused("[other]\nx = 1\n", "unknown section 'other'");
  ExpectArgsRefused({"--config", (dir_ / "missing.toml").string()}, "missing.toml");
  ExpectArgsRefused({"--log-format", "xml"}, "--log-format");
  ExpectArgsRefused({"--max-running", "x"}, "--max-running");
  ExpectArgsRefused({"--max-watchers", "0"}, "--max-watchers");
}

TEST_F(ConfigTest, PrintConfigReadsBackAsTheSameSettings) {
  std::string f = File("max-running = 3\nlisten = [\"127.0.0.1:7070\"]\n[queue.io]\nrate = 2\n");
  DaemonConfig c;
  ASSERT_EQ(Parse({"--config", f, "--socket", "/tmp/x.sock", "--print-config"}, &c), -1) << err_;
  EXPECT_TRUE(c.print_config);
  std::string text = RenderConfig(c);
  EXPECT_NE(text.find("max-running = 3"), std::string::npos) << text;
  EXPECT_NE(text.find("socket = \"/tmp/x.sock\""), std::string::npos) << text;
  EXPECT_NE(text.find("listen = [\"127.0.0.1:7070\"]"), std::string::npos) << text;
  EXPECT_NE(text.find("[queue.io]\nmax-running = 0\nrate = 2\nburst = 1"), std::string::npos)
      << text;
  // The printed file is itself a valid config with the same effect.
  DaemonConfig again;
  ASSERT_EQ(Parse({"--config", File(text)}, &again), -1) << err_;
  EXPECT_EQ(RenderConfig(again).substr(text.find('\n')), text.substr(text.find('\n')));
}

// Found by config_fuzz: the defaults print `listen = []`, which the parser
// refused ("At least 1 required"), so `taskd --print-config > taskd.toml`
// gave a file taskd would not start with.
TEST_F(ConfigTest, PrintConfigOfTheDefaultsReadsBack) {
  DaemonConfig c;
  ASSERT_EQ(Parse({"--config", File("")}, &c), -1) << err_;
  std::string text = RenderConfig(c);
  ASSERT_NE(text.find("listen = []"), std::string::npos) << text;
  DaemonConfig again;
  ASSERT_EQ(Parse({"--config", File(text)}, &again), -1) << err_;
  EXPECT_EQ(again.server.listen, c.server.listen);
  // Backslashes and quotes print so that they read back (CLI11 takes quoted
  // strings without escapes).
  ASSERT_EQ(Parse({"--config", File("data-dir = 'a\\\\b\"c'\ntoken-file = \"it's\"\n")}, &c), -1)
      << err_;
  ASSERT_EQ(Parse({"--config", File(RenderConfig(c))}, &again), -1) << err_;
  EXPECT_EQ(again.server.data_dir, "a\\\\b\"c");
  EXPECT_EQ(again.server.token_file, "it's");
  // An empty list in a file of one's own means none, too.
  ASSERT_EQ(Parse({"--config", File("socket = \"none\"\nlisten = []\n")}, &again), -1) << err_;
  EXPECT_TRUE(again.server.listen.empty());
}

// Found by config_fuzz in CI: `listen = ['a\0b']` was accepted, and the
// daemon would have bound only the text before the NUL (every path and
// address reaches the OS as a C string); --print-config then printed a file
// cut at the NUL. A control character in any string setting is refused,
// from a file, a flag or a variable, naming the setting.
TEST_F(ConfigTest, ControlCharactersInAStringSettingAreRefusedNamingIt) {
  DaemonConfig c;
  using namespace std::string_literals;
  // Raw in the file, TOML itself forbids them: the line and column are named.
  ExpectRefused("data-dir = '/d'\nlisten = ['unix:/tmp/a\0b']\n"s, "line 2, column");
  EXPECT_NE(err_.find("control characters"), std::string::npos) << err_;
  // Written as escapes they are valid TOML, and refused by the setting.
  ExpectRefused("listen = [\"unix:/tmp/a\\u0000b\"]\n", "line 1: listen");
  EXPECT_NE(err_.find("control character (byte 0x00)"), std::string::npos) << err_;
  ExpectRefused("data-dir = \"/var/lib/a\\nb\"\n", "data-dir");
  ExpectArgsRefused({"--token-file", "/etc/tok\nen"}, "--token-file");
  ::setenv("TASKD_SOCKET", "/run/a\tb.sock", 1);
  EXPECT_EQ(Parse({}, &c), 2);
  ::unsetenv("TASKD_SOCKET");
  EXPECT_NE(err_.find("socket"), std::string::npos) << err_;
  // A plain value still parses.
  EXPECT_EQ(Parse({"--config", File("data-dir = '/var/lib/a b'\n")}, &c), -1) << err_;
  EXPECT_EQ(c.server.data_dir, "/var/lib/a b");
}

// Found by config_fuzz: CLI11's TOML reader took a list missing its `]` as
// running on into the next line, so `token-file = ...` became a listen
// address and the token was silently gone. The file is read as TOML 1.0:
// a syntax error names the line and column, a value of the wrong type the
// line and the key.
TEST_F(ConfigTest, MalformedTomlIsRefusedNamingTheLine) {
  DaemonConfig c;
  ExpectRefused("listen = [\"127.0.0.1:7443\"\ntoken-file = \"/t\"\n", "line 2, column");
  ExpectRefused("max-running = 3\nmax-running = 4\n", "line 2");
  ExpectRefused("\ninsecure = \"yes\"\n", "line 2: insecure: must be true or false, not a string");
  ExpectRefused("listen = [\"a:1\", 2]\n", "line 1: listen: each address must be a string");
  ExpectRefused("max-pending = 2.5\n", "max-pending: must be a whole number, not a decimal number");
  ExpectRefused("max-watchers = 0\n", "line 1: max-watchers");
  ExpectRefused("[queue.io]\nrate = inf\n", "line 2: queue.io.rate");
  ExpectRefused("[queue.io]\nmax-running = 1.5\n", "queue.io.max-running: must be a whole number");
  ExpectRefused("[queue.io]\nspeed = 1\n", "queue.io.speed: unknown key");
  ExpectRefused("[queue.'a b']\nrate = 1\n", "a queue name has only");
  ExpectRefused("queue = 3\n", "queue: must be [queue.NAME] sections");
  // One address may be given as a string; escapes are read as TOML.
  ASSERT_EQ(
      Parse({"--config", File("listen = \"127.0.0.1:7070\"\ndata-dir = \"a\\\\b\\\"c\"\n")}, &c),
      -1)
      << err_;
  EXPECT_EQ(c.server.listen.back(), "127.0.0.1:7070");
  EXPECT_EQ(c.server.data_dir, "a\\b\"c");
}

TEST(JsonLog, LinesAreValidJsonWithTheTaskId) {
  std::string line = JsonLogLine("2026-01-01T00:00:00.000Z", "info",
                                 "task 038G13BVJA000: FAILED: said \"no\"\nand left \xff");
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["task_id"], "038G13BVJA000");
  EXPECT_EQ(j["msg"], "task 038G13BVJA000: FAILED: said \"no\"\nand left \xEF\xBF\xBD");
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto other = nlohmann::json::parse(JsonLogLine("t", "warn", "task list is long: 3"));
  EXPECT_FALSE(other.contains("task_id"));
}

}  // namespace
}  // namespace taskd::server
