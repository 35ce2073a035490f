#include "core/exec/handlers.h"

#include <cmath>

namespace taskd {

HandlerContext::HandlerContext(asio::any_io_executor ex, std::string task_id, int32_t attempt,
                               nlohmann::json payload,
                               std::function<void(double, std::string)> on_progress)
    : ex_(ex),
      task_id_(std::move(task_id)),
      attempt_(attempt),
      payload_(std::move(payload)),
      on_progress_(std::move(on_progress)) {}

void HandlerContext::ReportProgress(double percent, std::string message) {
  if (on_progress_) on_progress_(std::clamp(percent, 0.0, 100.0), std::move(message));
}

asio::awaitable<bool> HandlerContext::Sleep(Duration d) {
  if (cancelled_) co_return false;
  if (!timer_) timer_.emplace(ex_);
  timer_->expires_after(d);
  try {
    co_await timer_->async_wait(asio::use_awaitable);
  } catch (const boost::system::system_error&) {
    // operation_aborted: Cancel() fired the timer.
  }
  co_return !cancelled_;
}

void HandlerContext::Cancel() {
  cancelled_ = true;
  if (timer_) timer_->cancel();
}

void HandlerRegistry::Register(std::string name, HandlerFn fn, PayloadCheck check) {
  handlers_[std::move(name)] = Entry{std::move(fn), std::move(check)};
}

const HandlerFn* HandlerRegistry::Find(const std::string& name) const {
  auto it = handlers_.find(name);
  return it == handlers_.end() ? nullptr : &it->second.fn;
}

std::vector<std::string> HandlerRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, e] : handlers_) names.push_back(name);
  return names;
}

StatusOr<nlohmann::json> ParsePayload(std::string_view payload, const std::string& field) {
  if (payload.empty()) return nlohmann::json::object();
  auto j = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument(field, "is not valid JSON");
  return j;
}

Status HandlerRegistry::Check(std::string_view prefix, const HandlerAction& action) const {
  std::string base(prefix);
  if (!base.empty()) base += '.';
  auto it = handlers_.find(action.name);
  if (it == handlers_.end()) {
    std::string known;
    for (const auto& [name, e] : handlers_) known += (known.empty() ? "" : ", ") + name;
    return InvalidArgument(base + "handler.name", "unknown handler " + Quote(action.name) +
                                                      " (registered: " + known + ")");
  }
  std::string field = base + "handler.payload";
  auto payload = ParsePayload(action.payload, field);
  if (!payload.ok()) return payload.status();
  if (it->second.check) return it->second.check(*payload, field);
  return OkStatus();
}

void HandlerRegistry::RegisterBuiltins() {
  Register("noop", [](HandlerContext&) -> asio::awaitable<StatusOr<std::string>> {
    co_return std::string("{}");
  });

  auto check_sleep = [](const nlohmann::json& p, const std::string& field) -> Status {
    if (!p.is_object()) return InvalidArgument(field, "must be a JSON object");
    auto it = p.find("seconds");
    if (it == p.end()) return OkStatus();
    if (!it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() < 0 ||
        it->get<double>() > 365.0 * 86400) {
      return InvalidArgument(field + ".seconds", "must be a number from 0 to 31536000");
    }
    return OkStatus();
  };
  Register(
      "sleep",
      [](HandlerContext& ctx) -> asio::awaitable<StatusOr<std::string>> {
        double seconds = ctx.payload().value("seconds", 1.0);
        auto total = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
        // Report progress about 20 times, at least every second.
        Duration step = std::min<Duration>(total / 20, std::chrono::seconds(1));
        if (step <= Duration::zero()) step = total;
        Duration slept{0};
        while (slept < total) {
          Duration d = std::min(step, total - slept);
          if (!co_await ctx.Sleep(d)) co_return Status(StatusCode::kCancelled, "sleep cancelled");
          slept += d;
          ctx.ReportProgress(
              100.0 * static_cast<double>(slept.count()) / static_cast<double>(total.count()),
              "slept " +
                  std::to_string(
                      std::chrono::duration_cast<std::chrono::milliseconds>(slept).count()) +
                  " ms");
        }
        co_return nlohmann::json{{"slept_seconds", seconds}}.dump();
      },
      check_sleep);
}

}  // namespace taskd
