// Handlers: C++ code compiled into the daemon that runs as a task.
//
// A handler is a coroutine. It receives a HandlerContext to read its
// payload, report progress and notice cancellation (or a timeout), and
// returns its result as JSON text or an error Status.
//
// Handlers run on the TaskManager's strand, like every task state change:
// a handler must never block. It co_awaits I/O and timers (ctx.Sleep), and
// sends CPU-heavy or blocking work to a thread pool and co_awaits the
// result; a handler that blocks stalls the whole manager.
//
// Thread-safety: register every handler before the manager starts; lookups
// afterwards are read-only. HandlerContext methods may be called from the
// handler's coroutine only.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/model/asio.h"
#include "core/model/status.h"
#include "core/model/task.h"

namespace taskd {

class HandlerContext {
 public:
  HandlerContext(asio::any_io_executor ex, std::string task_id, int32_t attempt,
                 nlohmann::json payload, std::function<void(double, std::string)> on_progress);

  const std::string& task_id() const { return task_id_; }
  int32_t attempt() const { return attempt_; }
  const nlohmann::json& payload() const { return payload_; }
  // True once the task was cancelled or timed out; the handler should return soon.
  bool cancelled() const { return cancelled_; }
  void ReportProgress(double percent, std::string message);
  // Sleeps for `d`; returns false early when cancelled.
  asio::awaitable<bool> Sleep(Duration d);

  // Called by the manager (on the handler's executor).
  void Cancel();

 private:
  asio::any_io_executor ex_;
  std::string task_id_;
  int32_t attempt_;
  nlohmann::json payload_;
  std::function<void(double, std::string)> on_progress_;
  std::optional<asio::steady_timer> timer_;  // made on the first Sleep: most handlers never sleep
  bool cancelled_ = false;
};

using HandlerFn = std::function<asio::awaitable<StatusOr<std::string>>(HandlerContext&)>;
// Checks a payload at submit; returns INVALID_ARGUMENT naming `field` when bad.
using PayloadCheck = std::function<Status(const nlohmann::json& payload, const std::string& field)>;

class HandlerRegistry {
 public:
  // Registers `fn` under `name`, replacing any earlier one.
  void Register(std::string name, HandlerFn fn, PayloadCheck check = nullptr);
  // Registers the built-in handlers: "noop" and "sleep" ({"seconds": N}).
  void RegisterBuiltins();

  const HandlerFn* Find(const std::string& name) const;
  // INVALID_ARGUMENT naming the field for an unknown name or a bad payload.
  Status Check(std::string_view prefix, const HandlerAction& action) const;
  std::vector<std::string> Names() const;

 private:
  struct Entry {
    HandlerFn fn;
    PayloadCheck check;
  };
  std::map<std::string, Entry, std::less<>> handlers_;
};

// Parses a handler payload ("" means {}); INVALID_ARGUMENT naming `field` if not JSON.
StatusOr<nlohmann::json> ParsePayload(std::string_view payload, const std::string& field);

}  // namespace taskd
