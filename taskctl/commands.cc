#include "taskctl/commands.h"

#include <cctype>
#include <fstream>
#include <iostream>
#include <iterator>

#include "client/duration.h"
#include "common/status_codes.h"

namespace taskd::taskctl {

int Fail(const grpc::Status& s, const std::string& addr) {
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    // One line: where, why, and what to do.
    std::cerr << "taskctl: cannot reach taskd at " << addr << " (" << s.error_message()
              << "); is it running? Start it with `taskd`, or point --addr / TASKD_ADDR at it\n";
    return kExitUnreachable;
  }
  // "not found", "resource exhausted", ...: the code's name, in words.
  std::string code(taskd::StatusCodeNameOf(s.error_code()));
  for (char& c : code) c = c == '_' ? ' ' : static_cast<char>(std::tolower(c));
  if (s.error_code() == grpc::StatusCode::UNIMPLEMENTED) code = "not implemented by this taskd";
  std::cerr << "taskctl: " << code << ": " << s.error_message() << "\n";
  return kExitError;
}

int StoppedEarly(const v1::Task& t) {
  std::cerr << "taskctl: taskd stopped before task " << t.id() << " ended (it is "
            << StateName(t.state()) << "); wait again once taskd is back\n";
  return kExitUnreachable;
}

int WaitExitCode(const v1::Task& t) {
  if (!IsTerminal(t.state())) return kExitTimeout;
  bool completed = t.state() == v1::TASK_STATE_COMPLETED;
  if (t.has_result() && t.result().has_exit_code()) {
    // A task that did not complete never exits 0 (one that handled the
    // SIGTERM of a timeout or cancel and exited 0, say).
    int code = t.result().exit_code();
    return code == 0 && !completed ? kExitError : code;
  }
  return completed ? 0 : kExitError;
}

std::optional<std::chrono::milliseconds> DurationFlag(const std::string& text, const char* flag) {
  if (text.empty()) return std::nullopt;
  auto d = client::ParseDuration(text);
  if (!d)
    throw UsageError(std::string(flag) + ": '" + text +
                     "' is not a duration (e.g. 90s, 5m, 1h30m)");
  return d;
}

void SetDuration(google::protobuf::Duration* out, std::chrono::milliseconds d) {
  out->set_seconds(d.count() / 1000);
  out->set_nanos(static_cast<int32_t>(d.count() % 1000) * 1000000);
}

std::pair<std::string, std::string> SplitPair(const std::string& kv, const char* flag) {
  auto eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw UsageError(std::string(flag) + ": '" + kv + "' must be KEY=VALUE");
  }
  return {kv.substr(0, eq), kv.substr(eq + 1)};
}

std::string ReadFileFlag(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(std::string(flag) + ": cannot read " + path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace taskd::taskctl
