// taskctl submit: build a TaskSpec from flags and a command, submit it, and
// with --wait / --follow wait for it (and print its output).
#include <google/protobuf/util/time_util.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iterator>

#include "taskctl/commands.h"

namespace taskd::taskctl {

namespace {

class Submit final : public Command {
 public:
  explicit Submit(CLI::App* sub) : Command(sub) {
    sub->add_option("--name", name_, "Task name");
    sub->add_option("--label", labels_, "Label KEY=VALUE (repeatable)")
        ->allow_extra_args(false);  // one value each time: the command is not swallowed
    sub->add_option("--env", envs_, "Environment variable KEY=VALUE (repeatable)")
        ->allow_extra_args(false);  // one value each time: the command is not swallowed
    sub->add_flag("--inherit-env", inherit_env_, "Start from taskd's whole environment");
    sub->add_option("--cwd", cwd_, "Working directory");
    sub->add_option("--timeout", timeout_, "Kill the task after this long (e.g. 30s, 5m)");
    sub->add_option("--kill-grace", kill_grace_, "Time between SIGTERM and SIGKILL");
    sub->add_option("--kill-mode", kill_mode_,
                    "What goes when an attempt ends or taskd stops: all (default: its process "
                    "group and what left it) or group (only the group: a daemon it started "
                    "with setsid lives on)")
        ->check(CLI::IsMember({"all", "group"}));
    sub->add_option("--priority", priority_, "Higher runs first within its queue");
    sub->add_option("--queue", queue_, "Queue name");
    sub->add_option("--retries", retries_, "Retries after a failed attempt")
        ->check(CLI::Range(0, 999));
    sub->add_option("--after", after_, "Start only after this task COMPLETED (repeatable)")
        ->allow_extra_args(false);  // one value each time: the command is not swallowed
    sub->add_option("--ttl", ttl_, "Keep the ended task this long");
    sub->add_option("--delay", delay_, "Do not start before this long from now");
    sub->add_option("--handler", handler_, "Run a built-in handler instead of a command");
    sub->add_option("--payload", payload_,
                    "JSON input for --handler; @FILE reads it from FILE, - from stdin");
    sub->add_option("--request-id", request_id_, "Idempotency key (default: a new UUID)");
    sub->add_flag("--wait", wait_, "Wait for the task and exit with its exit code");
    sub->add_flag("--follow", follow_,
                  "Print the task's output as it runs (stdout and stderr), then exit as --wait");
    sub->add_flag("-q,--quiet", quiet_, "Print only the id");
    // Everything from the first argument that is not one of submit's options
    // (or after --) is the command, taken whole: `--label k=v -- sh -c …` and
    // `ls -l` must not be parsed as taskctl's options.
    sub->prefix_command();
    sub->footer(
        "The command and its arguments follow the options: taskctl submit [OPTIONS] [--] "
        "COMMAND [ARGS...]");
  }
  bool takes_extras() const override { return true; }

  int Run(Context& ctx) override {
    v1::TaskSpec spec = Spec(ctx.extras);
    v1::Task task;
    auto s = ctx.client.Submit(spec, &task, request_id_);
    if (!s.ok()) return Fail(s, ctx.addr);
    std::printf("%s\n", task.id().c_str());
    std::fflush(stdout);
    if (!quiet_ && !wait_ && !follow_ && ::isatty(STDERR_FILENO)) {
      std::fprintf(stderr, "submitted; see it with: taskctl get %s\n", task.id().c_str());
    }
    if (!wait_ && !follow_) return 0;
    {
      // -q: nothing but data, not even the progress line.
      ProgressLine line(ctx.client,
                        quiet_ ? std::vector<std::string>{} : std::vector<std::string>{task.id()});
      if (follow_) {
        v1::ReadTaskLogsRequest req;
        req.set_id(task.id());
        req.set_follow(true);
        s = ctx.client.ReadLogs(req, [&line](const v1::LogChunk& c) {
          line.Write(c.stream() == v1::LOG_STREAM_STDERR ? stderr : stdout, c.data().data(),
                     c.data().size());
        });
        if (!s.ok()) {
          line.Suspend();  // the error on its own line
          return Fail(s, ctx.addr);
        }
      }
      s = ctx.client.Wait(task.id(), std::nullopt, &task);
    }
    if (!s.ok()) return Fail(s, ctx.addr);
    if (!IsTerminal(task.state())) return StoppedEarly(task);
    if (!quiet_ && ctx.output != "table") PrintTasks({task}, ctx.output, true);
    if (!quiet_ && task.state() != v1::TASK_STATE_COMPLETED &&
        !(task.has_result() && task.result().has_exit_code())) {
      // Why, on stderr, when there is no exit code to say it (a missing
      // program, a timeout, a cancel).
      std::cerr << "taskctl: task " << task.id() << " " << StateName(task.state()) << " ("
                << ReasonName(task.reason()) << ")"
                << (task.error().message().empty() ? "" : ": " + task.error().message()) << "\n";
    }
    return WaitExitCode(task);
  }

 private:
  v1::TaskSpec Spec(const std::vector<std::string>& command) {
    v1::TaskSpec spec;
    spec.set_name(name_);
    for (const auto& l : labels_) {
      auto [k, v] = SplitPair(l, "--label");
      (*spec.mutable_labels())[k] = v;
    }
    if (!handler_.empty()) {
      if (!command.empty()) throw UsageError("give either --handler or a command, not both");
      if (!kill_mode_.empty()) throw UsageError("--kill-mode goes with a command, not --handler");
      spec.mutable_handler()->set_name(handler_);
      std::string payload = payload_;
      if (payload == "-") {
        payload.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
      } else if (payload.rfind("@", 0) == 0) {
        payload = ReadFileFlag(payload.substr(1), "--payload");
      }
      spec.mutable_handler()->set_payload(payload);
    } else {
      if (command.empty()) throw UsageError("submit needs a command after --, or --handler NAME");
      if (!payload_.empty()) throw UsageError("--payload goes with --handler");
      auto* exec = spec.mutable_exec();
      for (const auto& a : command) exec->add_argv(a);
      for (const auto& e : envs_) {
        auto [k, v] = SplitPair(e, "--env");
        (*exec->mutable_env())[k] = v;
      }
      // A relative --cwd is the caller's, not the daemon's.
      exec->set_cwd(cwd_.empty() ? cwd_
                                 : std::filesystem::absolute(cwd_).lexically_normal().string());
      exec->set_inherit_env(inherit_env_);
      if (kill_mode_ == "group") exec->set_kill_mode(v1::KILL_MODE_GROUP);
      if (kill_mode_ == "all") exec->set_kill_mode(v1::KILL_MODE_ALL);
    }
    if (auto d = DurationFlag(timeout_, "--timeout")) SetDuration(spec.mutable_timeout(), *d);
    if (auto d = DurationFlag(kill_grace_, "--kill-grace")) {
      SetDuration(spec.mutable_kill_grace(), *d);
    }
    if (auto d = DurationFlag(ttl_, "--ttl")) SetDuration(spec.mutable_ttl(), *d);
    if (auto d = DurationFlag(delay_, "--delay")) {
      *spec.mutable_not_before() =
          Now() + google::protobuf::util::TimeUtil::MillisecondsToDuration(d->count());
    }
    spec.set_priority(priority_);
    spec.set_queue(queue_);
    if (retries_ > 0) spec.mutable_retry()->set_max_attempts(retries_ + 1);
    for (const auto& a : after_) spec.add_after(a);
    return spec;
  }

  std::vector<std::string> labels_, envs_, after_;
  std::string name_, cwd_, queue_, handler_, payload_, timeout_, kill_grace_, ttl_, delay_;
  std::string request_id_, kill_mode_;
  int priority_ = 0, retries_ = 0;
  bool wait_ = false, follow_ = false, quiet_ = false, inherit_env_ = false;
};

}  // namespace

void AddSubmitCommands(CLI::App& app, Commands& out) {
  out.push_back(
      std::make_unique<Submit>(app.add_subcommand("submit", "Submit a task; prints its id")));
}

}  // namespace taskd::taskctl
