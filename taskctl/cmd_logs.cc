// taskctl logs: a task's output, once or followed until the task ends.
#include <cstdio>
#include <limits>

#include "taskctl/commands.h"

namespace taskd::taskctl {

namespace {

class Logs final : public Command {
 public:
  explicit Logs(CLI::App* sub) : Command(sub) {
    sub->add_option("id", id_, "Task id")->required();
    sub->add_flag("-f,--follow", follow_, "Keep printing new output until the task ends");
    auto* stderr_flag = sub->add_flag("--stderr", stderr_, "The task's stderr instead");
    sub->add_flag("--all", all_, "Both streams: stdout to stdout, stderr to stderr")
        ->excludes(stderr_flag);
    sub->add_option("--tail", tail_, "Start this many bytes before the end")
        ->check(CLI::Range(0, std::numeric_limits<int>::max()));
  }

  int Run(Context& ctx) override {
    v1::ReadTaskLogsRequest req;
    req.set_id(id_);
    req.set_follow(follow_);
    req.set_tail_bytes(tail_);
    req.set_stream(all_      ? v1::LOG_STREAM_UNSPECIFIED
                   : stderr_ ? v1::LOG_STREAM_STDERR
                             : v1::LOG_STREAM_STDOUT);
    std::optional<ProgressLine> line;
    if (follow_) line.emplace(ctx.client, std::vector<std::string>{id_});
    auto s = ctx.client.ReadLogs(req, [&](const v1::LogChunk& c) {
      // The stream asked for is data (stdout); with --all, stderr stays stderr.
      FILE* out = all_ && c.stream() == v1::LOG_STREAM_STDERR ? stderr : stdout;
      if (line) {
        line->Write(out, c.data().data(), c.data().size());
      } else {
        std::fwrite(c.data().data(), 1, c.data().size(), out);
        std::fflush(out);
      }
    });
    if (!s.ok()) {
      line.reset();  // the error on its own line
      return Fail(s, ctx.addr);
    }
    if (follow_) {
      // A follow ends when the task ended, or early when taskd stops.
      v1::Task t;
      if (auto g = ctx.client.Get(id_, &t); g.ok() && !IsTerminal(t.state())) {
        line.reset();
        return StoppedEarly(t);
      }
    }
    return 0;
  }

 private:
  std::string id_;
  bool follow_ = false, stderr_ = false, all_ = false;
  int64_t tail_ = 0;
};

}  // namespace

void AddLogsCommands(CLI::App& app, Commands& out) {
  out.push_back(std::make_unique<Logs>(
      app.add_subcommand("logs", "Print a task's output (stdout unless told otherwise)")));
}

}  // namespace taskd::taskctl
