// taskctl's commands on tasks by id or filter: get, list (and list --watch),
// cancel, wait, progress and delete.
#include <cctype>
#include <cstdio>
#include <limits>

#include "taskctl/commands.h"

namespace taskd::taskctl {

namespace {

// Runs `call` for each id; a failure is reported and makes the exit 1, and
// an unreachable taskd stops at once.
template <typename Call>
int ForEachId(const std::vector<std::string>& ids, const std::string& addr, Call call) {
  int rc = 0;
  for (const auto& id : ids) {
    auto s = call(id);
    if (!s.ok()) {
      rc = Fail(s, addr);
      if (rc == kExitUnreachable) return rc;
    }
  }
  return rc;
}

class Get final : public Command {
 public:
  explicit Get(CLI::App* sub) : Command(sub) {
    sub->add_option("id", ids_, "Task ids")->required();
  }
  int Run(Context& ctx) override {
    // Every id that exists is shown; a missing one is reported and makes the exit 1.
    std::vector<v1::Task> tasks;
    int rc = ForEachId(ids_, ctx.addr, [&](const std::string& id) {
      v1::Task t;
      auto s = ctx.client.Get(id, &t);
      if (s.ok()) tasks.push_back(std::move(t));
      return s;
    });
    if (rc == kExitUnreachable) return rc;
    // One id asked: one document; several: a list, however many were found.
    if (!tasks.empty() || rc == 0) {
      PrintTasks(tasks, ctx.output, ids_.size() == 1 || ctx.output == "table");
    }
    return rc;
  }

 private:
  std::vector<std::string> ids_;
};

class List final : public Command {
 public:
  explicit List(CLI::App* sub) : Command(sub) {
    sub->alias("ls");
    sub->add_option("--state", states_, "Only tasks in this state (repeatable)")
        ->allow_extra_args(false);  // one value each time: the command is not swallowed
    sub->add_option("--label", labels_, "Only tasks with label KEY=VALUE (repeatable)")
        ->allow_extra_args(false);  // one value each time: the command is not swallowed
    sub->add_option("--queue", queue_, "Only tasks in this queue");
    sub->add_option("--limit", limit_, "At most this many tasks (0: all)")
        ->check(CLI::Range(0, std::numeric_limits<int>::max()));
    sub->add_flag("-w,--watch", watch_,
                  "After the list, print each change as it happens (until interrupted)");
    sub->add_flag("-q,--quiet", quiet_, "Print only the ids");
  }

  int Run(Context& ctx) override {
    v1::ListTasksRequest req;
    for (const auto& st : states_) {
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
    for (const auto& l : labels_) {
      auto [k, v] = SplitPair(l, "--label");
      (*req.mutable_labels())[k] = v;
    }
    req.set_queue(queue_);
    // With --watch the stream opens first, so no change between the list
    // and the watch is missed (one may show twice).
    std::unique_ptr<client::Client::TaskWatch> watch;
    if (watch_) {
      v1::WatchTasksRequest wreq;
      *wreq.mutable_states() = req.states();
      *wreq.mutable_labels() = req.labels();
      wreq.set_queue(req.queue());
      watch = ctx.client.Watch(wreq);
    }
    std::vector<v1::Task> tasks;
    auto s = ctx.client.ListAll(req, &tasks, static_cast<size_t>(limit_));
    if (!s.ok()) return Fail(s, ctx.addr);
    const std::string& output = ctx.output;
    if (quiet_) {
      for (const auto& t : tasks) std::printf("%s\n", t.id().c_str());
    } else if (watch_ && output == "json") {
      // A stream follows: one document per task from the start.
      for (const auto& t : tasks) std::printf("%s\n", ToJson(t, false).c_str());
    } else if (watch_ && output == "yaml") {
      for (const auto& t : tasks) std::printf("---\n%s", ToYaml(t).c_str());
    } else {
      PrintTasks(tasks, output, false);
    }
    std::fflush(stdout);
    if (!watch) return 0;
    v1::TaskEvent event;
    while (watch->Next(&event)) {
      const v1::Task& t = event.task();
      if (quiet_) {
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
    return ws.ok() ? 0 : Fail(ws, ctx.addr);
  }

 private:
  std::vector<std::string> states_, labels_;
  std::string queue_;
  int limit_ = 0;
  bool watch_ = false, quiet_ = false;
};

class Cancel final : public Command {
 public:
  explicit Cancel(CLI::App* sub) : Command(sub) {
    sub->add_option("id", ids_, "Task ids")->required();
    sub->add_option("--grace", grace_, "Time between SIGTERM and SIGKILL (default: the task's)");
  }
  int Run(Context& ctx) override {
    auto grace = DurationFlag(grace_, "--grace");
    return ForEachId(ids_, ctx.addr, [&](const std::string& id) {
      v1::Task t;
      auto s = ctx.client.Cancel(id, grace, &t);
      if (s.ok()) std::printf("%s %s\n", t.id().c_str(), StateName(t.state()).c_str());
      return s;
    });
  }

 private:
  std::vector<std::string> ids_;
  std::string grace_;
};

class Wait final : public Command {
 public:
  explicit Wait(CLI::App* sub) : Command(sub) {
    sub->add_option("id", ids_, "Task ids")->required();
    sub->add_option("--timeout", timeout_, "Give up after this long (exit 124)");
  }
  int Run(Context& ctx) override {
    auto t_out = DurationFlag(timeout_, "--timeout");
    int rc = 0;
    ProgressLine line(ctx.client, ids_);
    auto started = std::chrono::steady_clock::now();
    for (const auto& id : ids_) {
      v1::Task t;
      line.Show(id);
      // --timeout bounds the whole command, not each task.
      std::optional<std::chrono::milliseconds> left;
      if (t_out) {
        left = std::max(std::chrono::milliseconds(0),
                        *t_out - std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now() - started));
      }
      auto s = ctx.client.Wait(id, left, &t);
      line.Suspend();  // no line while the result prints
      if (!s.ok()) return Fail(s, ctx.addr);
      // Answered before the task ended with no timeout asked: taskd is stopping.
      if (!IsTerminal(t.state()) && !t_out) return StoppedEarly(t);
      if (ctx.output != "table") {
        PrintTasks({t}, ctx.output, true);
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

 private:
  std::vector<std::string> ids_;
  std::string timeout_;
};

class Progress final : public Command {
 public:
  explicit Progress(CLI::App* sub) : Command(sub) {
    sub->add_option("percent", percent_, "0 to 100")->required();
    sub->add_option("message", message_, "What is happening");
    sub->add_option("--id", id_, "Task id (default: $TASKD_TASK_ID)")->envname("TASKD_TASK_ID");
  }
  int Run(Context& ctx) override {
    if (id_.empty()) throw UsageError("progress: no --id and TASKD_TASK_ID is not set");
    v1::Task t;
    auto s = ctx.client.ReportProgress(id_, percent_, message_, &t);
    return s.ok() ? 0 : Fail(s, ctx.addr);
  }

 private:
  double percent_ = 0;
  std::string message_, id_;
};

class Delete final : public Command {
 public:
  explicit Delete(CLI::App* sub) : Command(sub) {
    sub->add_option("id", ids_, "Task ids")->required();
  }
  int Run(Context& ctx) override {
    return ForEachId(ids_, ctx.addr, [&](const std::string& id) { return ctx.client.Delete(id); });
  }

 private:
  std::vector<std::string> ids_;
};

}  // namespace

void AddTaskCommands(CLI::App& app, Commands& out) {
  out.push_back(std::make_unique<Get>(app.add_subcommand("get", "Show tasks")));
  out.push_back(std::make_unique<List>(app.add_subcommand("list", "List tasks, oldest first")));
  out.push_back(std::make_unique<Cancel>(app.add_subcommand("cancel", "Cancel tasks")));
  out.push_back(std::make_unique<Wait>(app.add_subcommand(
      "wait",
      "Wait for tasks to end; exits with the code of the first that did not succeed (else 0)")));
  out.push_back(std::make_unique<Progress>(
      app.add_subcommand("progress", "Report progress of a running task")));
  out.push_back(
      std::make_unique<Delete>(app.add_subcommand("delete", "Delete ended tasks and their logs")));
}

}  // namespace taskd::taskctl
