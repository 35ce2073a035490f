#include "core/engine/attempt_runner.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include "core/engine/lifecycle.h"
#include "core/exec/proc.h"

namespace taskd {

AttemptRunner::AttemptRunner(Strand strand, Clock& clock, Spawner& spawner,
                             const HandlerRegistry& handlers, Options options,
                             OnProgress on_progress, OnEnd on_end)
    : strand_(std::move(strand)),
      clock_(clock),
      spawner_(spawner),
      handlers_(handlers),
      options_(std::move(options)),
      on_progress_(std::move(on_progress)),
      on_end_(std::move(on_end)) {}

std::filesystem::path AttemptRunner::StdoutPath(const std::string& id) const {
  return options_.log_dir / (id + ".out");
}
std::filesystem::path AttemptRunner::StderrPath(const std::string& id) const {
  return options_.log_dir / (id + ".err");
}

AttemptRunner::Started AttemptRunner::Start(const Task& t, RunningAttempt& run,
                                            bool want_process_ref) {
  Started started;
  const std::string id = t.id;
  const int32_t attempt = t.attempt;
  const ExecAction* exec = t.spec.exec();
  if (!exec) {
    StartHandler(t, *t.spec.handler(), run);
    return started;
  }
  ExecLaunch launch;
  launch.action = exec;
  launch.task_id = id;
  launch.attempt = attempt;
  launch.stdout_path = StdoutPath(id);
  launch.stderr_path = StderrPath(id);
  launch.log_cap_bytes = options_.log_cap_bytes;
  launch.instance = instance_;
  launch.daemon_env = options_.task_env;
  launch.on_progress = [this, id, attempt](double percent, std::string message) {
    on_progress_(id, attempt, percent, std::move(message));
  };
  launch.on_exit = [this, id, attempt](ExecOutcome o) {
    AttemptEnd end = EndOfExit(o);
    on_end_(id, attempt, end.reason, ResultOfExit(o), std::move(end.error));
  };
  auto spawned = spawner_.Spawn(strand_, std::move(launch));
  if (!spawned.ok()) {
    spdlog::warn("task {}: spawn failed: {}", id, spawned.status().message());
    // Reported through the strand like any other end, never re-entrantly.
    asio::post(strand_, [this, id, attempt, msg = spawned.status().message()] {
      on_end_(id, attempt, TaskReason::kSpawnFailed, std::nullopt,
              TaskError{StatusCode::kFailedPrecondition, msg});
    });
    started.running = false;
    return started;
  }
  run.exec = std::move(spawned).value();
  // Taken by the spawner before the exit could be reaped (none: unknown).
  if (want_process_ref) started.process = run.exec->ref();
  return started;
}

void AttemptRunner::StartHandler(const Task& t, const HandlerAction& action, RunningAttempt& run) {
  const std::string id = t.id;
  const int32_t attempt = t.attempt;
  const HandlerFn* fn = handlers_.Find(action.name);
  auto payload = ParsePayload(action.payload, "spec.handler.payload");
  if (!fn || !payload.ok()) {
    // Validated at submit; a recovered task may name a handler this build lacks.
    asio::post(strand_, [this, id, attempt, name = action.name] {
      on_end_(id, attempt, TaskReason::kSpawnFailed, std::nullopt,
              TaskError{StatusCode::kFailedPrecondition, "unknown handler '" + name + "'"});
    });
    return;
  }
  // Handlers run on the manager strand (see handlers.h): no hand-off between
  // strands per task, and a cancel cannot race the coroutine.
  run.handler =
      std::make_shared<HandlerContext>(strand_, id, attempt, std::move(payload).value(),
                                       [this, id, attempt](double percent, std::string message) {
                                         on_progress_(id, attempt, percent, std::move(message));
                                       });
  asio::co_spawn(
      strand_,
      [fn = *fn, ctx = run.handler]() -> asio::awaitable<StatusOr<std::string>> {
        co_return co_await fn(*ctx);
      },
      [this, id, attempt](std::exception_ptr ex, StatusOr<std::string> r) {
        // A handler that throws fails its task; it never takes the daemon down.
        if (ex) {
          try {
            std::rethrow_exception(ex);
          } catch (const std::exception& err) {
            r = Status(StatusCode::kInternal, std::string("handler threw: ") + err.what());
          } catch (...) {
            r = Status(StatusCode::kInternal, "handler threw a non-standard exception");
          }
        }
        // co_spawn completes on the coroutine's executor: the manager strand.
        if (r.ok()) {
          TaskResult res;
          res.output = std::move(r).value();
          on_end_(id, attempt, TaskReason::kSucceeded, std::move(res), std::nullopt);
        } else {
          on_end_(id, attempt, TaskReason::kHandlerError, std::nullopt,
                  TaskError{r.status().code(), r.status().message()});
        }
      });
}

void AttemptRunner::Stop(RunningAttempt& run, Duration grace) {
  if (run.exec) {
    run.exec->SignalGroup(SIGTERM);
    std::shared_ptr<Process> exec = run.exec;
    const SteadyTime deadline = clock_.SteadyNow() + ToSteady(grace);
    if (run.kill_timer && run.kill_at <= deadline) return;
    run.kill_at = deadline;
    run.kill_timer = clock_.RunAt(deadline, strand_, [exec] { exec->SignalGroup(SIGKILL); });
  } else if (run.handler) {
    run.handler->Cancel();  // on the strand the handler runs on
  }
}

void AttemptRunner::Reap(const Task& t, RunningAttempt& run) {
  if (!run.exec) return;
  // Whatever is left of the group (grandchildren) goes with the attempt,
  // and (unless the task said otherwise) what left the group.
  run.exec->SignalGroup(SIGKILL);
  if (const ExecAction* exec = t.spec.exec(); exec && exec->kill_mode == KillMode::kAll) {
    KillEscapedOf(t.id);
  }
}

void AttemptRunner::KillEscapedOf(const std::string& id) {
  // Descendants that left the group are this subreaper's children once
  // their parent has died; a parent killed just now may still be dying, so
  // look again a little later.
  auto kill = [instance = instance_, id] {
    if (int n = KillEscaped(instance, &id); n > 0) {
      spdlog::info("task {}: killed {} processes that had left its process group", id, n);
    }
  };
  // Both scans read /proc: on an io thread, not the strand.
  const auto io = strand_.get_inner_executor();
  asio::post(io, kill);
  auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(250));
  timer->async_wait([timer, kill](const boost::system::error_code& ec) {
    if (!ec) kill();
  });
}

void AttemptRunner::KillAllEscaped() {
  if (int n = KillEscaped(instance_, nullptr); n > 0) {
    spdlog::info("killed {} processes that had left their task's process group", n);
  }
}

}  // namespace taskd
