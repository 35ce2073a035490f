// Internal to taskctl: output formats, terminal helpers, `top` and shell
// completion. Not installed.
#pragma once

#include <google/protobuf/message.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"

namespace CLI {
class App;
}

namespace taskd::taskctl {

namespace v1 = taskd::v1;

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 69;
constexpr int kExitTimeout = 124;

std::string StateName(v1::TaskState s);
std::string ReasonName(v1::TaskReason r);
bool IsTerminal(v1::TaskState s);
// The current time (to the nanosecond).
google::protobuf::Timestamp Now();
std::string TimeText(const google::protobuf::Timestamp& t);
std::chrono::milliseconds Since(const google::protobuf::Timestamp& t);
// The name, else "handler:NAME", else the command line.
std::string Describe(const v1::Task& t);
// Columns `text` takes: its UTF-8 code points.
size_t Columns(const std::string& text);
// How long the task ran (start to end, or to now while running); "" before it started.
std::string RunTime(const v1::Task& t);
// Its labels as "k=v,k2=v2", sorted by key.
std::string LabelsText(const v1::Task& t);
// `text` cut to at most `width` characters (UTF-8 aware), ending in "…" when cut.
std::string Fit(const std::string& text, size_t width);

// Whether to colour output to `f`: a terminal, NO_COLOR unset or empty, TERM not "dumb".
bool UseColor(FILE* f);
// `text` in the colour of `state` (ANSI), or as is without colour.
std::string Colored(const std::string& text, v1::TaskState state, bool color);
// "[######----]" of `width` cells (brackets included) for `percent`.
std::string Bar(double percent, size_t width, bool color);
// Terminal width of `fd`, or 80.
size_t TerminalWidth(int fd);

std::string ToJson(const google::protobuf::Message& m, bool pretty);
// The proto's JSON mapping as YAML (block style; strings double-quoted).
std::string ToYaml(const google::protobuf::Message& m);

// Prints tasks in `format` (table, wide, json, jsonl, yaml). `detail`: the
// `get` view (key: value blocks) for table; one document per task for json
// and yaml when there is exactly one.
void PrintTasks(const std::vector<v1::Task>& tasks, const std::string& format, bool detail);
// The table (or wide) header line.
void PrintHeader(const std::string& format);
// One table row (table or wide), after the header when asked.
void PrintRow(const v1::Task& t, const std::string& format, bool header);

// The progress line of `wait`, `submit --wait` and `logs -f`: the task's
// state, a percent bar, its message and the elapsed time, redrawn on stderr
// as WatchTasks events arrive and every second. Inactive (draws nothing)
// unless stdout and stderr are both terminals, so piped output is only data.
class ProgressLine {
 public:
  ProgressLine(client::Client& client, std::vector<std::string> ids);
  ~ProgressLine();  // stops and erases the line
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  bool active() const { return active_; }
  // The task the line shows.
  void Show(const std::string& id);
  // Erases the line and draws no more until Resume(), for other output.
  void Suspend();
  void Resume();
  // Writes task output to `f` without mixing it with the line.
  void Write(FILE* f, const char* data, size_t size);

 private:
  void Run();
  void Draw();   // mu_ held
  void Erase();  // mu_ held

  client::Client& client_;
  std::vector<std::string> ids_;
  bool active_ = false;
  bool color_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool drawn_ = false;
  bool suspended_ = false;
  bool at_line_start_ = true;  // the last output byte was '\n'
  std::string shown_;
  std::map<std::string, v1::Task> tasks_;
  std::unique_ptr<client::Client::TaskWatch> watch_;
  std::thread watcher_, ticker_;
};

// `taskctl top`: a full-screen view of running, pending and recently ended
// tasks fed by WatchTasks; q quits. Needs a terminal.
int RunTop(client::Client& client, const std::string& addr);

// A completion script for `shell` (bash or zsh) generated from `app`.
std::string CompletionScript(const CLI::App& app, const std::string& shell);

}  // namespace taskd::taskctl
