// taskctl output: tables, JSON, YAML, colours and the progress line.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>

#include "client/duration.h"
#include "taskctl/taskctl.h"

namespace taskd::taskctl {

using google::protobuf::util::TimeUtil;

std::string StateName(v1::TaskState s) {
  std::string n = v1::TaskState_Name(s);
  return n.rfind("TASK_STATE_", 0) == 0 ? n.substr(11) : n;
}

std::string ReasonName(v1::TaskReason r) {
  std::string n = v1::TaskReason_Name(r);
  return n.rfind("TASK_REASON_", 0) == 0 ? n.substr(12) : n;
}

bool IsTerminal(v1::TaskState s) {
  return s == v1::TASK_STATE_COMPLETED || s == v1::TASK_STATE_FAILED ||
         s == v1::TASK_STATE_CANCELLED;
}

google::protobuf::Timestamp Now() {
  // Not TimeUtil::GetCurrentTime(): protobuf 3.21's has whole seconds only.
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  return TimeUtil::NanosecondsToTimestamp(ns.count());
}

std::string TimeText(const google::protobuf::Timestamp& t) { return TimeUtil::ToString(t); }

std::chrono::milliseconds Since(const google::protobuf::Timestamp& t) {
  auto now = Now();
  return std::chrono::milliseconds(TimeUtil::DurationToMilliseconds(now - t));
}

std::string Describe(const v1::Task& t) {
  if (!t.spec().name().empty()) return t.spec().name();
  if (t.spec().has_handler()) return "handler:" + t.spec().handler().name();
  std::string cmd;
  for (const auto& a : t.spec().exec().argv()) cmd += (cmd.empty() ? "" : " ") + a;
  return cmd;
}

size_t Columns(const std::string& text) {
  size_t chars = 0;  // code points: UTF-8 continuation bytes are 10xxxxxx
  for (unsigned char c : text) chars += (c & 0xC0) != 0x80;
  return chars;
}

std::string RunTime(const v1::Task& t) {
  if (!t.has_start_time()) return "";
  auto end = t.has_end_time() ? t.end_time() : Now();
  return client::FormatDuration(
      std::chrono::milliseconds(TimeUtil::DurationToMilliseconds(end - t.start_time())));
}

std::string LabelsText(const v1::Task& t) {
  std::map<std::string, std::string> sorted(t.spec().labels().begin(), t.spec().labels().end());
  std::string labels;
  for (const auto& [k, v] : sorted) labels += (labels.empty() ? "" : ",") + k + "=" + v;
  return labels;
}

std::string Fit(const std::string& text, size_t width) {
  // Control characters become spaces so a name cannot move the cursor.
  size_t chars = Columns(text);
  std::string out;
  size_t keep = chars <= width ? chars : (width == 0 ? 0 : width - 1);
  size_t n = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) != 0x80 && n++ == keep) break;
    out += c < 0x20 || c == 0x7f ? ' ' : static_cast<char>(c);
  }
  if (chars > width && width > 0) out += "…";
  return out;
}

bool UseColor(FILE* f) {
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color && *no_color) return false;
  const char* term = std::getenv("TERM");
  if (term && std::strcmp(term, "dumb") == 0) return false;
  return ::isatty(::fileno(f)) == 1;
}

std::string Colored(const std::string& text, v1::TaskState state, bool color) {
  // By state number: running blue, completed green, failed red, cancelled
  // yellow; the others as they are.
  static constexpr const char* kCodes[] = {nullptr,    nullptr,    "\033[34m",
                                           "\033[32m", "\033[31m", "\033[33m"};
  const auto i = static_cast<size_t>(state);
  if (!color || i >= std::size(kCodes) || !kCodes[i]) return text;
  return kCodes[i] + text + "\033[0m";
}

std::string Bar(double percent, size_t width, bool color) {
  if (width < 3) return "";
  size_t cells = width - 2;
  double p = std::clamp(percent, 0.0, 100.0);
  size_t full = static_cast<size_t>(p / 100.0 * static_cast<double>(cells) + 0.5);
  std::string done(full, '#'), rest(cells - full, '-');
  if (color) done = "\033[32m" + done + "\033[0m";
  return "[" + done + rest + "]";
}

size_t TerminalWidth(int fd) {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

std::string ToJson(const google::protobuf::Message& m, bool pretty) {
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = pretty;
  o.preserve_proto_field_names = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

namespace {

using ordered_json = nlohmann::ordered_json;

std::string YamlKey(const std::string& key) {
  static const std::regex plain("^[A-Za-z_][A-Za-z0-9_./-]*$");
  if (std::regex_match(key, plain) && key != "true" && key != "false" && key != "null" &&
      key != "yes" && key != "no" && key != "on" && key != "off") {
    return key;
  }
  return ordered_json(key).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string YamlScalar(const ordered_json& v) {
  // JSON strings are valid YAML double-quoted scalars; numbers, booleans
  // and null read back the same in YAML 1.2.
  return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool IsEmptyContainer(const ordered_json& v) {
  return (v.is_object() || v.is_array()) && v.empty();
}

void EmitYaml(const ordered_json& v, size_t indent, std::string& out) {
  std::string pad(indent, ' ');
  if (v.is_object()) {
    for (const auto& [key, value] : v.items()) {
      out += pad + YamlKey(key) + ":";
      if (IsEmptyContainer(value)) {
        out += value.is_object() ? " {}\n" : " []\n";
      } else if (value.is_object() || value.is_array()) {
        out += "\n";
        EmitYaml(value, indent + 2, out);
      } else {
        out += " " + YamlScalar(value) + "\n";
      }
    }
  } else if (v.is_array()) {
    for (const auto& item : v) {
      if (IsEmptyContainer(item)) {
        out += pad + (item.is_object() ? "- {}\n" : "- []\n");
      } else if (item.is_object() || item.is_array()) {
        // The item's block at indent+2, its first line's indent replaced by "- ".
        std::string block;
        EmitYaml(item, indent + 2, block);
        out += pad + "- " + block.substr(indent + 2);
      } else {
        out += pad + "- " + YamlScalar(item) + "\n";
      }
    }
  } else {
    out += pad + YamlScalar(v) + "\n";
  }
}

}  // namespace

std::string ToYaml(const google::protobuf::Message& m) {
  ordered_json doc = ordered_json::parse(ToJson(m, false), nullptr, false);
  if (doc.is_discarded()) return "";
  if (IsEmptyContainer(doc)) return "{}\n";
  std::string out;
  EmitYaml(doc, 0, out);
  return out;
}

namespace {

void PrintTaskDetail(const v1::Task& t) {
  bool color = UseColor(stdout);
  // Values are shown as text: control characters (a name with an escape
  // sequence or a newline) become spaces, and long ones are cut.
  auto row = [](const char* k, const std::string& v) {
    std::printf("%-12s %s\n", k, Fit(v, 2000).c_str());
  };
  row("id:", t.id());
  if (!t.spec().name().empty()) row("name:", t.spec().name());
  if (t.spec().has_exec()) {
    std::string argv;
    for (const auto& a : t.spec().exec().argv()) argv += (argv.empty() ? "" : " ") + a;
    row("command:", argv);
    if (!t.spec().exec().cwd().empty()) row("cwd:", t.spec().exec().cwd());
    if (t.spec().exec().kill_mode() == v1::KILL_MODE_GROUP) row("kill mode:", "group");
  } else {
    row("handler:", t.spec().handler().name());
    if (!t.spec().handler().payload().empty()) row("payload:", t.spec().handler().payload());
  }
  std::string state = StateName(t.state());
  if (t.reason() != v1::TASK_REASON_UNSPECIFIED) state += " (" + ReasonName(t.reason()) + ")";
  row("state:", Colored(state, t.state(), color));
  if (t.has_result() && t.result().has_exit_code())
    row("exit code:", std::to_string(t.result().exit_code()));
  if (t.has_result() && t.result().has_signal())
    row("signal:", std::to_string(t.result().signal()));
  if (t.has_result() && !t.result().output().empty()) row("output:", t.result().output());
  if (t.has_error() && !t.error().message().empty()) row("error:", t.error().message());
  if (t.has_progress()) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.0f%%", t.progress().percent());
    row("progress:",
        std::string(buf) + (t.progress().message().empty() ? "" : " " + t.progress().message()));
  }
  row("attempt:", std::to_string(t.attempt()));
  if (!t.spec().queue().empty()) row("queue:", t.spec().queue());
  if (t.spec().priority() != 0) row("priority:", std::to_string(t.spec().priority()));
  if (!t.spec().labels().empty()) row("labels:", LabelsText(t));
  row("created:", TimeText(t.create_time()));
  if (t.has_start_time()) row("started:", TimeText(t.start_time()));
  if (t.has_end_time()) {
    row("ended:", TimeText(t.end_time()));
    if (t.has_start_time()) {
      row("duration:", RunTime(t));
    }
  }
  if (t.has_expire_time()) row("expires:", TimeText(t.expire_time()));
  if (t.has_next_attempt_time()) row("next start:", TimeText(t.next_attempt_time()));
}

std::string ProgressText(const v1::Task& t) {
  if (!t.has_progress() && t.state() != v1::TASK_STATE_COMPLETED) return "-";
  char buf[16];
  double p = t.state() == v1::TASK_STATE_COMPLETED ? 100.0 : t.progress().percent();
  std::snprintf(buf, sizeof(buf), "%.0f%%", p);
  return buf;
}

// "%-Ns" for text that may carry colour codes: pads by the visible width.
std::string PadRight(const std::string& visible, const std::string& shown, size_t width) {
  return shown + std::string(visible.size() < width ? width - visible.size() : 0, ' ');
}

}  // namespace

void PrintHeader(const std::string& format) {
  if (format == "wide") {
    std::printf("%-13s %-10s %-14s %5s %7s %-10s %4s %3s %4s %8s %s\n", "ID", "STATE", "REASON",
                "PROG", "AGE", "QUEUE", "PRIO", "TRY", "EXIT", "DURATION", "NAME");
  } else {
    std::printf("%-13s %-10s %5s %7s %s\n", "ID", "STATE", "PROG", "AGE", "NAME");
  }
}

void PrintRow(const v1::Task& t, const std::string& format, bool header) {
  if (header) PrintHeader(format);
  bool color = UseColor(stdout);
  std::string state = StateName(t.state());
  std::string state_col = PadRight(state, Colored(state, t.state(), color), 10);
  std::string age = client::FormatDuration(Since(t.create_time()));
  if (format == "wide") {
    std::string exit = "-";
    if (t.has_result() && t.result().has_exit_code()) {
      exit = std::to_string(t.result().exit_code());
    } else if (t.has_result() && t.result().has_signal()) {
      exit = "s" + std::to_string(t.result().signal());
    }
    std::string duration = t.has_start_time() ? RunTime(t) : "-";
    std::string reason =
        t.reason() == v1::TASK_REASON_UNSPECIFIED ? "-" : Fit(ReasonName(t.reason()), 14);
    std::string queue = t.spec().queue().empty() ? "default" : Fit(t.spec().queue(), 10);
    std::string name = Describe(t);
    if (!t.spec().labels().empty()) name += " [" + LabelsText(t) + "]";
    std::printf("%-13s %s %-14s %5s %7s %-10s %4d %3d %4s %8s %s\n", t.id().c_str(),
                state_col.c_str(), reason.c_str(), ProgressText(t).c_str(), age.c_str(),
                queue.c_str(), t.spec().priority(), t.attempt(), exit.c_str(), duration.c_str(),
                Fit(name, 1000).c_str());
    return;
  }
  // 13 + 1 + 10 + 1 + 5 + 1 + 7 + 1 = 39 columns before the name; names are
  // cut at 40 so a row fits 80 columns.
  std::printf("%-13s %s %5s %7s %s\n", t.id().c_str(), state_col.c_str(), ProgressText(t).c_str(),
              age.c_str(), Fit(Describe(t), 40).c_str());
}

void PrintTasks(const std::vector<v1::Task>& tasks, const std::string& format, bool detail) {
  if (format == "json" || format == "yaml") {
    std::string out;
    if (tasks.size() == 1 && detail) {
      out = format == "json" ? ToJson(tasks[0], true) + "\n" : ToYaml(tasks[0]);
    } else {
      v1::ListTasksResponse doc;
      for (const auto& t : tasks) *doc.add_tasks() = t;
      out = format == "json" ? ToJson(doc, true) + "\n" : ToYaml(doc);
      // The JSON mapping leaves out an empty list; `.tasks[]` must still work.
      if (tasks.empty()) out = format == "json" ? "{\n \"tasks\": []\n}\n" : "tasks: []\n";
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
  } else if (format == "jsonl") {
    for (const auto& t : tasks) std::printf("%s\n", ToJson(t, false).c_str());
  } else if (detail && format == "table") {
    for (size_t i = 0; i < tasks.size(); ++i) {
      if (i) std::printf("\n");
      PrintTaskDetail(tasks[i]);
    }
  } else {
    if (tasks.empty()) PrintHeader(format);
    for (size_t i = 0; i < tasks.size(); ++i) PrintRow(tasks[i], format, i == 0);
  }
}

// ---- the progress line ----

ProgressLine::ProgressLine(client::Client& client, std::vector<std::string> ids)
    : client_(client), ids_(std::move(ids)) {
  active_ = ::isatty(STDOUT_FILENO) == 1 && ::isatty(STDERR_FILENO) == 1 && !ids_.empty();
  if (!active_) return;
  color_ = UseColor(stderr);
  shown_ = ids_.front();
  v1::WatchTasksRequest req;
  for (const auto& id : ids_) req.add_ids(id);
  req.set_initial_snapshot(true);
  watch_ = client_.Watch(req);
  watcher_ = std::thread([this] { Run(); });
  ticker_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stop_) {
      Draw();
      cv_.wait_for(lock, std::chrono::seconds(1));
    }
  });
}

ProgressLine::~ProgressLine() {
  if (!active_) return;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    Erase();
  }
  cv_.notify_all();
  watch_->Cancel();
  watcher_.join();
  ticker_.join();
}

void ProgressLine::Run() {
  v1::TaskEvent event;
  while (watch_->Next(&event)) {
    std::lock_guard lock(mu_);
    if (stop_) break;
    tasks_[event.task().id()] = event.task();
    Draw();
  }
}

void ProgressLine::Show(const std::string& id) {
  if (!active_) return;
  std::lock_guard lock(mu_);
  shown_ = id;
  Draw();
}

void ProgressLine::Suspend() {
  if (!active_) return;
  std::lock_guard lock(mu_);
  Erase();
  suspended_ = true;
}

void ProgressLine::Resume() {
  if (!active_) return;
  std::lock_guard lock(mu_);
  suspended_ = false;
  Draw();
}

void ProgressLine::Write(FILE* f, const char* data, size_t size) {
  if (!active_) {
    std::fwrite(data, 1, size, f);
    std::fflush(f);
    return;
  }
  std::lock_guard lock(mu_);
  Erase();
  std::fwrite(data, 1, size, f);
  std::fflush(f);
  if (size > 0) at_line_start_ = data[size - 1] == '\n';
  Draw();
}

void ProgressLine::Erase() {
  if (!drawn_) return;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
  drawn_ = false;
}

void ProgressLine::Draw() {
  // Only at the start of a line: never on top of a partial line of output.
  if (stop_ || suspended_ || !at_line_start_) return;
  // `plain` is what takes columns; `shown` the same with colour codes.
  std::string plain = shown_ + " ", shown = plain, message;
  auto it = tasks_.find(shown_);
  if (it != tasks_.end()) {
    const v1::Task& t = it->second;
    std::string name = StateName(t.state());
    name += std::string(name.size() < 9 ? 9 - name.size() : 0, ' ');
    double pct = t.state() == v1::TASK_STATE_COMPLETED ? 100.0 : t.progress().percent();
    char buf[16];
    std::snprintf(buf, sizeof(buf), " %3.0f%% ", pct);
    std::string elapsed = t.has_start_time()
                              ? RunTime(t)
                              : "waiting " + client::FormatDuration(Since(t.create_time()));
    plain += name + Bar(pct, 22, false) + buf + elapsed;
    shown += Colored(name, t.state(), color_) + Bar(pct, 22, color_) + buf + elapsed;
    message = t.progress().message();
  } else {
    plain += "…";
    shown = plain;
  }
  // Never wider than the terminal, so the line never wraps.
  size_t width = TerminalWidth(STDERR_FILENO) - 1;
  size_t used = Columns(plain);
  std::string line;
  if (used > width) {
    line = Fit(plain, width);
  } else {
    line = shown;
    if (!message.empty() && used + 2 < width) line += "  " + Fit(message, width - used - 2);
  }
  std::fputs(("\r\033[K" + line).c_str(), stderr);
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace taskd::taskctl
