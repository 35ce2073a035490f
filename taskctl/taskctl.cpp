// taskctl: the command line for taskd, built on libtaskd_client.
//
// Data goes to stdout, diagnostics to stderr. Exit codes:
//   0   success (wait: the task COMPLETED)
//   N   wait / submit --wait: the task's own exit code when it ran
//   1   an error, or the waited task FAILED or was CANCELLED without an exit code
//   2   usage error
//   69  taskd cannot be reached
//   124 wait timed out before the task ended
#include "taskctl/taskctl.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/generic/generic_stub.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/duration.h"
#include "common/default_address.h"
#include "common/status_codes.h"

#ifndef TASKD_VERSION
#define TASKD_VERSION "dev"
#endif

namespace {

using taskd::client::Client;
using taskd::client::ParseDuration;
using namespace taskd::taskctl;  // NOLINT(google-build-using-namespace): this file's own helpers

// Thrown for a usage error found after parsing (a bad duration or label).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Reports a failed call on stderr; returns the exit code for it.
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

// A wait or follow that taskd ended before the task did (it is stopping).
int StoppedEarly(const v1::Task& t) {
  std::cerr << "taskctl: taskd stopped before task " << t.id() << " ended (it is "
            << StateName(t.state()) << "); wait again once taskd is back\n";
  return kExitUnreachable;
}

// The exit code for a waited task (see the header comment).
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
  auto d = ParseDuration(text);
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"taskctl: submit, inspect and control taskd tasks"};
  app.footer(
      "Exit codes: 0 success; wait and submit --wait exit with the task's own exit code when it "
      "ran, 0 when it COMPLETED, 1 when it FAILED or was CANCELLED without one, 124 when the "
      "wait timed out (wait A B: the first task that did not succeed decides); 1 other errors; "
      "2 usage errors; 69 taskd cannot be reached (or stopped during a wait).");
  app.require_subcommand(1);
  app.fallthrough();  // global options also after the subcommand: `taskctl get ID -o json`
  // submit's command lands in app.remaining() (see submit->prefix_command());
  // any other command with arguments left over is a usage error, below.
  app.allow_extras();
  std::string addr = taskd::DefaultAddress();
  std::string output = "table";
  app.add_option("--addr", addr, "taskd address: unix:PATH or HOST:PORT")
      ->envname("TASKD_ADDR")
      ->capture_default_str();
  std::string token_file, tls_ca, tls_cert, tls_key;
  app.add_option("--token-file", token_file,
                 "Send the token in this file as 'authorization: Bearer …' (taskd over TCP)")
      ->envname("TASKD_TOKEN_FILE");
  app.add_option("--tls-ca", tls_ca, "Use TLS; trust this CA (PEM) for taskd's certificate")
      ->envname("TASKD_TLS_CA");
  app.add_option("--tls-cert", tls_cert, "Client certificate (PEM) for mTLS; implies TLS");
  app.add_option("--tls-key", tls_key, "Client key (PEM) for mTLS");
  app.add_option("-o,--output", output, "Output format for read commands")
      ->check(CLI::IsMember({"table", "wide", "json", "jsonl", "yaml"}))
      ->capture_default_str();
  app.set_version_flag("--version", std::string("taskctl ") + TASKD_VERSION);

  // submit
  auto* submit = app.add_subcommand("submit", "Submit a task; prints its id");
  std::vector<std::string> command, labels, envs, after;
  std::string name, cwd, queue, handler, payload, timeout, kill_grace, ttl, delay, request_id;
  std::string kill_mode;
  int priority = 0, retries = 0;
  bool wait_flag = false, follow_submit = false, quiet = false, inherit_env = false;
  submit->add_option("--name", name, "Task name");
  submit->add_option("--label", labels, "Label KEY=VALUE (repeatable)")
      ->allow_extra_args(false);  // one value each time: the command is not swallowed
  submit->add_option("--env", envs, "Environment variable KEY=VALUE (repeatable)")
      ->allow_extra_args(false);  // one value each time: the command is not swallowed
  submit->add_flag("--inherit-env", inherit_env, "Start from taskd's whole environment");
  submit->add_option("--cwd", cwd, "Working directory");
  submit->add_option("--timeout", timeout, "Kill the task after this long (e.g. 30s, 5m)");
  submit->add_option("--kill-grace", kill_grace, "Time between SIGTERM and SIGKILL");
  submit
      ->add_option("--kill-mode", kill_mode,
                   "What goes when an attempt ends or taskd stops: all (default: its process "
                   "group and what left it) or group (only the group: a daemon it started "
                   "with setsid lives on)")
      ->check(CLI::IsMember({"all", "group"}));
  submit->add_option("--priority", priority, "Higher runs first within its queue");
  submit->add_option("--queue", queue, "Queue name");
  submit->add_option("--retries", retries, "Retries after a failed attempt")
      ->check(CLI::Range(0, 999));
  submit->add_option("--after", after, "Start only after this task COMPLETED (repeatable)")
      ->allow_extra_args(false);  // one value each time: the command is not swallowed
  submit->add_option("--ttl", ttl, "Keep the ended task this long");
  submit->add_option("--delay", delay, "Do not start before this long from now");
  submit->add_option("--handler", handler, "Run a built-in handler instead of a command");
  submit->add_option("--payload", payload,
                     "JSON input for --handler; @FILE reads it from FILE, - from stdin");
  submit->add_option("--request-id", request_id, "Idempotency key (default: a new UUID)");
  submit->add_flag("--wait", wait_flag, "Wait for the task and exit with its exit code");
  submit->add_flag("--follow", follow_submit,
                   "Print the task's output as it runs (stdout and stderr), then exit as --wait");
  submit->add_flag("-q,--quiet", quiet, "Print only the id");
  // Everything from the first argument that is not one of submit's options
  // (or after --) is the command, taken whole: `--label k=v -- sh -c …` and
  // `ls -l` must not be parsed as taskctl's options.
  submit->prefix_command();
  submit->footer(
      "The command and its arguments follow the options: taskctl submit [OPTIONS] [--] "
      "COMMAND [ARGS...]");

  // get
  auto* get = app.add_subcommand("get", "Show tasks");
  std::vector<std::string> ids;
  get->add_option("id", ids, "Task ids")->required();

  // list
  auto* list = app.add_subcommand("list", "List tasks, oldest first");
  list->alias("ls");
  std::vector<std::string> states, list_labels;
  std::string list_queue;
  int limit = 0;
  list->add_option("--state", states, "Only tasks in this state (repeatable)")
      ->allow_extra_args(false);  // one value each time: the command is not swallowed
  list->add_option("--label", list_labels, "Only tasks with label KEY=VALUE (repeatable)")
      ->allow_extra_args(false);  // one value each time: the command is not swallowed
  list->add_option("--queue", list_queue, "Only tasks in this queue");
  list->add_option("--limit", limit, "At most this many tasks (0: all)")
      ->check(CLI::Range(0, std::numeric_limits<int>::max()));
  bool list_watch = false, list_quiet = false;
  list->add_flag("-w,--watch", list_watch,
                 "After the list, print each change as it happens (until interrupted)");
  list->add_flag("-q,--quiet", list_quiet, "Print only the ids");

  // cancel
  auto* cancel = app.add_subcommand("cancel", "Cancel tasks");
  std::vector<std::string> cancel_ids;
  std::string grace;
  cancel->add_option("id", cancel_ids, "Task ids")->required();
  cancel->add_option("--grace", grace, "Time between SIGTERM and SIGKILL (default: the task's)");

  // wait
  auto* wait = app.add_subcommand(
      "wait",
      "Wait for tasks to end; exits with the code of the first that did not succeed (else 0)");
  std::vector<std::string> wait_ids;
  std::string wait_timeout;
  wait->add_option("id", wait_ids, "Task ids")->required();
  wait->add_option("--timeout", wait_timeout, "Give up after this long (exit 124)");

  // progress
  auto* progress = app.add_subcommand("progress", "Report progress of a running task");
  double percent = 0;
  std::string message, progress_id;
  progress->add_option("percent", percent, "0 to 100")->required();
  progress->add_option("message", message, "What is happening");
  progress->add_option("--id", progress_id, "Task id (default: $TASKD_TASK_ID)")
      ->envname("TASKD_TASK_ID");

  // logs
  auto* logs = app.add_subcommand("logs", "Print a task's output (stdout unless told otherwise)");
  std::string logs_id;
  bool follow = false, want_stderr = false, want_all = false;
  int64_t tail = 0;
  logs->add_option("id", logs_id, "Task id")->required();
  logs->add_flag("-f,--follow", follow, "Keep printing new output until the task ends");
  auto* stderr_flag = logs->add_flag("--stderr", want_stderr, "The task's stderr instead");
  logs->add_flag("--all", want_all, "Both streams: stdout to stdout, stderr to stderr")
      ->excludes(stderr_flag);
  logs->add_option("--tail", tail, "Start this many bytes before the end")
      ->check(CLI::Range(0, std::numeric_limits<int>::max()));

  // delete
  auto* del = app.add_subcommand("delete", "Delete ended tasks and their logs");
  std::vector<std::string> delete_ids;
  del->add_option("id", delete_ids, "Task ids")->required();

  // version
  auto* version = app.add_subcommand("version", "Show taskctl's and taskd's versions");

  // health
  auto* health = app.add_subcommand(
      "health", "Ask taskd's gRPC health service; prints SERVING (exit 0) or NOT_SERVING (exit 1)");

  // top
  auto* top = app.add_subcommand(
      "top", "Live full-screen view of running, pending and recently ended tasks (q quits)");

  // completion
  auto* completion = app.add_subcommand(
      "completion", "Print a shell completion script: source <(taskctl completion bash)");
  std::string shell;
  completion->add_option("shell", shell, "bash or zsh")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }

  // What is left after the options: submit's command, else a mistake.
  std::vector<std::string> extras = app.remaining();
  // Only what follows the first `--` may start with '-': anything before it
  // that does is a mistyped option (`--timout 5s -- sleep 1`), not the command.
  size_t after_dashdash = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--") {
      after_dashdash = static_cast<size_t>(argc - i - 1);
      break;
    }
  }
  bool before_dashdash = extras.size() > after_dashdash;
  if (!extras.empty() && (!*submit || (before_dashdash && extras.front().rfind("-", 0) == 0))) {
    std::string what;
    for (const auto& e : extras) what += (what.empty() ? "" : " ") + e;
    std::cerr << "taskctl: unexpected argument(s): " << what
              << (*submit ? " (an option of submit? a command starting with - goes after --)" : "")
              << "\nRun with --help for more information.\n";
    return kExitUsage;
  }

  if (*completion) {
    std::cout << CompletionScript(app, shell);
    return 0;
  }

  taskd::client::ClientOptions copts{addr};
  auto read_file = [](const std::string& path, const char* flag) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw UsageError(std::string(flag) + ": cannot read " + path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  try {
    if (!token_file.empty()) {
      try {
        copts.token = taskd::client::ReadTokenFile(token_file);
      } catch (const std::runtime_error& e) {
        throw UsageError(std::string("--token-file: ") + e.what());
      }
    }
    if (!tls_ca.empty() || !tls_cert.empty() || !tls_key.empty()) {
      if (tls_cert.empty() != tls_key.empty()) {
        throw UsageError("--tls-cert and --tls-key go together");
      }
      copts.tls = true;
      if (!tls_ca.empty()) copts.tls_ca_pem = read_file(tls_ca, "--tls-ca");
      if (!tls_cert.empty()) copts.tls_cert_pem = read_file(tls_cert, "--tls-cert");
      if (!tls_key.empty()) copts.tls_key_pem = read_file(tls_key, "--tls-key");
    }
  } catch (const UsageError& e) {
    std::cerr << "taskctl: " << e.what() << "\n";
    return kExitUsage;
  }
  Client client(copts);
  try {
    if (*submit) {
      command = extras;
      v1::TaskSpec spec;
      spec.set_name(name);
      for (const auto& l : labels) {
        auto [k, v] = SplitPair(l, "--label");
        (*spec.mutable_labels())[k] = v;
      }
      if (!handler.empty()) {
        if (!command.empty()) throw UsageError("give either --handler or a command, not both");
        if (!kill_mode.empty()) throw UsageError("--kill-mode goes with a command, not --handler");
        spec.mutable_handler()->set_name(handler);
        if (payload == "-") {
          payload.assign(std::istreambuf_iterator<char>(std::cin),
                         std::istreambuf_iterator<char>());
        } else if (payload.rfind("@", 0) == 0) {
          payload = read_file(payload.substr(1), "--payload");
        }
        spec.mutable_handler()->set_payload(payload);
      } else {
        if (command.empty()) throw UsageError("submit needs a command after --, or --handler NAME");
        if (!payload.empty()) throw UsageError("--payload goes with --handler");
        auto* exec = spec.mutable_exec();
        for (const auto& a : command) exec->add_argv(a);
        for (const auto& e : envs) {
          auto [k, v] = SplitPair(e, "--env");
          (*exec->mutable_env())[k] = v;
        }
        // A relative --cwd is the caller's, not the daemon's.
        exec->set_cwd(cwd.empty() ? cwd
                                  : std::filesystem::absolute(cwd).lexically_normal().string());
        exec->set_inherit_env(inherit_env);
        if (kill_mode == "group") exec->set_kill_mode(v1::KILL_MODE_GROUP);
        if (kill_mode == "all") exec->set_kill_mode(v1::KILL_MODE_ALL);
      }
      if (auto d = DurationFlag(timeout, "--timeout")) SetDuration(spec.mutable_timeout(), *d);
      if (auto d = DurationFlag(kill_grace, "--kill-grace"))
        SetDuration(spec.mutable_kill_grace(), *d);
      if (auto d = DurationFlag(ttl, "--ttl")) SetDuration(spec.mutable_ttl(), *d);
      if (auto d = DurationFlag(delay, "--delay")) {
        *spec.mutable_not_before() =
            Now() + google::protobuf::util::TimeUtil::MillisecondsToDuration(d->count());
      }
      spec.set_priority(priority);
      spec.set_queue(queue);
      if (retries > 0) spec.mutable_retry()->set_max_attempts(retries + 1);
      for (const auto& a : after) spec.add_after(a);
      v1::Task task;
      auto s = client.Submit(spec, &task, request_id);
      if (!s.ok()) return Fail(s, addr);
      std::printf("%s\n", task.id().c_str());
      std::fflush(stdout);
      if (!quiet && !wait_flag && !follow_submit && ::isatty(STDERR_FILENO)) {
        std::fprintf(stderr, "submitted; see it with: taskctl get %s\n", task.id().c_str());
      }
      if (!wait_flag && !follow_submit) return 0;
      {
        // -q: nothing but data, not even the progress line.
        ProgressLine line(client,
                          quiet ? std::vector<std::string>{} : std::vector<std::string>{task.id()});
        if (follow_submit) {
          v1::ReadTaskLogsRequest req;
          req.set_id(task.id());
          req.set_follow(true);
          s = client.ReadLogs(req, [&line](const v1::LogChunk& c) {
            line.Write(c.stream() == v1::LOG_STREAM_STDERR ? stderr : stdout, c.data().data(),
                       c.data().size());
          });
          if (!s.ok()) {
            line.Suspend();  // the error on its own line
            return Fail(s, addr);
          }
        }
        s = client.Wait(task.id(), std::nullopt, &task);
      }
      if (!s.ok()) return Fail(s, addr);
      if (!IsTerminal(task.state())) return StoppedEarly(task);
      if (!quiet && output != "table") PrintTasks({task}, output, true);
      if (!quiet && task.state() != v1::TASK_STATE_COMPLETED &&
          !(task.has_result() && task.result().has_exit_code())) {
        // Why, on stderr, when there is no exit code to say it (a missing
        // program, a timeout, a cancel).
        std::cerr << "taskctl: task " << task.id() << " " << StateName(task.state()) << " ("
                  << ReasonName(task.reason()) << ")"
                  << (task.error().message().empty() ? "" : ": " + task.error().message()) << "\n";
      }
      return WaitExitCode(task);
    }
    if (*get) {
      // Every id that exists is shown; a missing one is reported and makes the exit 1.
      std::vector<v1::Task> tasks;
      int rc = 0;
      for (const auto& id : ids) {
        v1::Task t;
        auto s = client.Get(id, &t);
        if (!s.ok()) {
          rc = Fail(s, addr);
          if (rc == kExitUnreachable) return rc;
          continue;
        }
        tasks.push_back(std::move(t));
      }
      // One id asked: one document; several: a list, however many were found.
      if (!tasks.empty() || rc == 0)
        PrintTasks(tasks, output, ids.size() == 1 || output == "table");
      return rc;
    }
    if (*list) {
      v1::ListTasksRequest req;
      for (const auto& st : states) {
        std::string upper;
        for (char c : st) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        v1::TaskState value;
        if (!v1::TaskState_Parse("TASK_STATE_" + upper, &value) ||
            value == v1::TASK_STATE_UNSPECIFIED) {
          throw UsageError("--state: '" + st +
                           "' is not one of pending, running, completed, failed, cancelled");
        }
        req.add_states(value);
      }
      for (const auto& l : list_labels) {
        auto [k, v] = SplitPair(l, "--label");
        (*req.mutable_labels())[k] = v;
      }
      req.set_queue(list_queue);
      // With --watch the stream opens first, so no change between the
      // list and the watch is missed (one may show twice).
      std::unique_ptr<Client::TaskWatch> watch;
      if (list_watch) {
        v1::WatchTasksRequest wreq;
        *wreq.mutable_states() = req.states();
        *wreq.mutable_labels() = req.labels();
        wreq.set_queue(req.queue());
        watch = client.Watch(wreq);
      }
      std::vector<v1::Task> tasks;
      auto s = client.ListAll(req, &tasks, static_cast<size_t>(limit));
      if (!s.ok()) return Fail(s, addr);
      if (list_quiet) {
        for (const auto& t : tasks) std::printf("%s\n", t.id().c_str());
      } else if (list_watch && output == "json") {
        // A stream follows: one document per task from the start.
        for (const auto& t : tasks) std::printf("%s\n", ToJson(t, false).c_str());
      } else if (list_watch && output == "yaml") {
        for (const auto& t : tasks) std::printf("---\n%s", ToYaml(t).c_str());
      } else {
        PrintTasks(tasks, output, false);
      }
      std::fflush(stdout);
      if (!watch) return 0;
      v1::TaskEvent event;
      while (watch->Next(&event)) {
        const v1::Task& t = event.task();
        if (list_quiet) {
          std::printf("%s\n", t.id().c_str());
        } else if (output == "json" || output == "jsonl") {
          std::printf("%s\n", ToJson(t, false).c_str());
        } else if (output == "yaml") {
          std::printf("---\n%s", ToYaml(t).c_str());
        } else {
          PrintRow(t, output, /*header=*/false);  // PrintTasks printed it
        }
        std::fflush(stdout);
      }
      auto ws = watch->Finish();
      return ws.ok() ? 0 : Fail(ws, addr);
    }
    if (*cancel) {
      auto g = DurationFlag(grace, "--grace");
      int rc = 0;
      for (const auto& id : cancel_ids) {
        v1::Task t;
        auto s = client.Cancel(id, g, &t);
        if (!s.ok()) {
          rc = Fail(s, addr);
          if (rc == kExitUnreachable) return rc;
          continue;
        }
        std::printf("%s %s\n", t.id().c_str(), StateName(t.state()).c_str());
      }
      return rc;
    }
    if (*wait) {
      auto t_out = DurationFlag(wait_timeout, "--timeout");
      int rc = 0;
      ProgressLine line(client, wait_ids);
      auto started = std::chrono::steady_clock::now();
      for (const auto& id : wait_ids) {
        v1::Task t;
        line.Show(id);
        // --timeout bounds the whole command, not each task.
        std::optional<std::chrono::milliseconds> left;
        if (t_out) {
          left = std::max(std::chrono::milliseconds(0),
                          *t_out - std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::steady_clock::now() - started));
        }
        auto s = client.Wait(id, left, &t);
        line.Suspend();  // no line while the result prints
        if (!s.ok()) return Fail(s, addr);
        // Answered before the task ended with no timeout asked: taskd is stopping.
        if (!IsTerminal(t.state()) && !t_out) return StoppedEarly(t);
        if (output != "table") {
          PrintTasks({t}, output, true);
        } else {
          std::string text = t.id() + " " + StateName(t.state());
          if (t.has_result() && t.result().has_exit_code()) {
            text += " exit=" + std::to_string(t.result().exit_code());
          }
          std::printf("%s\n", text.c_str());
        }
        std::fflush(stdout);
        // The first task that did not succeed decides the exit code, so
        // `taskctl wait A B && deploy` never deploys after a failure.
        if (rc == 0) rc = WaitExitCode(t);
        line.Resume();
      }
      return rc;
    }
    if (*progress) {
      if (progress_id.empty()) throw UsageError("progress: no --id and TASKD_TASK_ID is not set");
      v1::Task t;
      auto s = client.ReportProgress(progress_id, percent, message, &t);
      if (!s.ok()) return Fail(s, addr);
      return 0;
    }
    if (*logs) {
      v1::ReadTaskLogsRequest req;
      req.set_id(logs_id);
      req.set_follow(follow);
      req.set_tail_bytes(tail);
      req.set_stream(want_all      ? v1::LOG_STREAM_UNSPECIFIED
                     : want_stderr ? v1::LOG_STREAM_STDERR
                                   : v1::LOG_STREAM_STDOUT);
      std::optional<ProgressLine> line;
      if (follow) line.emplace(client, std::vector<std::string>{logs_id});
      auto s = client.ReadLogs(req, [&](const v1::LogChunk& c) {
        // The stream asked for is data (stdout); with --all, stderr stays stderr.
        FILE* out = want_all && c.stream() == v1::LOG_STREAM_STDERR ? stderr : stdout;
        if (line) {
          line->Write(out, c.data().data(), c.data().size());
        } else {
          std::fwrite(c.data().data(), 1, c.data().size(), out);
          std::fflush(out);
        }
      });
      if (!s.ok()) {
        line.reset();  // the error on its own line
        return Fail(s, addr);
      }
      if (follow) {
        // A follow ends when the task ended, or early when taskd stops.
        v1::Task t;
        if (auto g = client.Get(logs_id, &t); g.ok() && !IsTerminal(t.state())) {
          line.reset();
          return StoppedEarly(t);
        }
      }
      return 0;
    }
    if (*del) {
      int rc = 0;
      for (const auto& id : delete_ids) {
        auto s = client.Delete(id);
        if (!s.ok()) {
          rc = Fail(s, addr);
          if (rc == kExitUnreachable) return rc;
        }
      }
      return rc;
    }
    if (*version) {
      std::printf("taskctl %s\n", TASKD_VERSION);
      v1::ServerInfo info;
      auto s = client.ServerInfo(&info);
      if (!s.ok()) return Fail(s, addr);
      std::printf("taskd   %s (%s store, max %d running, at %s)\n", info.version().c_str(),
                  info.store().c_str(), info.max_running(), addr.c_str());
      return 0;
    }
    if (*top) return RunTop(client, addr);
    if (*health) {
      // grpc.health.v1.Health/Check with service "": an empty request; the
      // answer is HealthCheckResponse{status = 1 (SERVING) | 2 (NOT_SERVING)}.
      grpc::GenericStub stub(client.channel());
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      grpc::Slice empty("", 0);  // a ByteBuffer must hold a slice, even an empty one
      grpc::ByteBuffer req(&empty, 1), resp;
      grpc::Status status;
      std::promise<void> done;
      stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &req, &resp,
                     [&](grpc::Status s) {
                       status = std::move(s);
                       done.set_value();
                     });
      done.get_future().wait();
      if (!status.ok()) return Fail(status, addr);
      std::vector<grpc::Slice> slices;
      std::string bytes;
      if (resp.Dump(&slices).ok()) {
        for (auto& sl : slices) bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
      }
      bool serving = bytes == std::string("\x08\x01", 2);
      std::printf("%s\n", serving ? "SERVING" : "NOT_SERVING");
      return serving ? 0 : 1;
    }
  } catch (const UsageError& e) {
    std::cerr << "taskctl: " << e.what() << "\n";
    return kExitUsage;
  }
  return kExitUsage;
}
