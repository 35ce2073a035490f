// taskctl's subcommands, one group per file: cmd_submit.cc (submit),
// cmd_tasks.cc (get, list, cancel, wait, progress, delete), cmd_logs.cc
// (logs) and cmd_server.cc (version, health, top). Each Add* function
// registers its subcommands' options on the app and returns the Commands
// that run them; main() (taskctl.cpp) parses, then runs the one chosen.
// Internal to taskctl.
#pragma once

#include <google/protobuf/duration.pb.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "client/client.h"
#include "taskctl/taskctl.h"

namespace taskd::taskctl {

// Thrown for a usage error found after parsing (a bad duration or label).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What a command runs with.
struct Context {
  client::Client& client;
  std::string addr;                 // where taskd is, for messages
  std::string output;               // -o: table, wide, json, jsonl or yaml
  std::vector<std::string> extras;  // what followed the options (submit's command)
};

class Command {
 public:
  explicit Command(CLI::App* sub) : sub_(sub) {}
  virtual ~Command() = default;
  // The exit code (see taskctl.cpp's header). May throw UsageError.
  virtual int Run(Context& ctx) = 0;
  bool chosen() const { return static_cast<bool>(*sub_); }
  // Whether what follows the options is this command's own (submit's command).
  virtual bool takes_extras() const { return false; }

 private:
  CLI::App* sub_;
};
using Commands = std::vector<std::unique_ptr<Command>>;

void AddSubmitCommands(CLI::App& app, Commands& out);
void AddTaskCommands(CLI::App& app, Commands& out);
void AddLogsCommands(CLI::App& app, Commands& out);
void AddServerCommands(CLI::App& app, Commands& out);

// Shared by the commands (commands.cc).
//
// Reports a failed call on stderr; returns the exit code for it.
int Fail(const grpc::Status& s, const std::string& addr);
// A wait or follow that taskd ended before the task did (it is stopping).
int StoppedEarly(const v1::Task& t);
// The exit code for a waited task (see taskctl.cpp's header).
int WaitExitCode(const v1::Task& t);
// The duration in a flag's value; nullopt when empty; UsageError when bad.
std::optional<std::chrono::milliseconds> DurationFlag(const std::string& text, const char* flag);
void SetDuration(google::protobuf::Duration* out, std::chrono::milliseconds d);
// KEY=VALUE split at the first '='; UsageError naming the flag otherwise.
std::pair<std::string, std::string> SplitPair(const std::string& kv, const char* flag);
// The whole file a flag names; UsageError naming the flag when unreadable.
std::string ReadFileFlag(const std::string& path, const char* flag);

}  // namespace taskd::taskctl
