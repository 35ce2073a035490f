#include "core/model/validate.h"

#include <cctype>
#include <cmath>
#include <string>

namespace taskd {

namespace {

std::string Path(std::string_view prefix, std::string_view field) {
  std::string p(prefix);
  if (!p.empty()) p += '.';
  p += field;
  return p;
}

std::string TooLong(size_t limit, std::string_view unit) {
  return "must be at most " + std::to_string(limit) + " " + std::string(unit);
}

Status CheckDuration(Duration d, std::string_view prefix, std::string_view field) {
  if (d.count() < 0) return InvalidArgument(Path(prefix, field), "must not be negative");
  return OkStatus();
}

bool HasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

Status CheckExec(const ExecAction& exec, std::string_view prefix, const SpecLimits& limits) {
  auto field = [&](std::string_view f) { return Path(prefix, f); };
  if (exec.argv.empty()) return InvalidArgument(field("exec.argv"), "must not be empty");
  if (exec.argv.size() > limits.max_argv_entries) {
    return InvalidArgument(field("exec.argv"), TooLong(limits.max_argv_entries, "entries"));
  }
  if (exec.argv[0].empty()) {
    return InvalidArgument(field("exec.argv[0]"), "the program must not be empty");
  }
  size_t bytes = 0;
  for (size_t i = 0; i < exec.argv.size(); ++i) {
    if (HasNul(exec.argv[i])) {
      return InvalidArgument(field("exec.argv[" + std::to_string(i) + "]"),
                             "must not contain a NUL byte");
    }
    bytes += exec.argv[i].size() + 1;
  }
  if (bytes > limits.max_argv_bytes) {
    return InvalidArgument(field("exec.argv"), TooLong(limits.max_argv_bytes, "bytes in total"));
  }
  if (exec.env.size() > limits.max_env_entries) {
    return InvalidArgument(field("exec.env"), TooLong(limits.max_env_entries, "entries"));
  }
  bytes = 0;
  for (const auto& [k, v] : exec.env) {
    if (k.empty() || k.find('=') != std::string::npos || HasNul(k)) {
      return InvalidArgument(field("exec.env"),
                             "key " + Quote(k) + " must be non-empty and contain no '=' or NUL");
    }
    if (HasNul(v)) {
      return InvalidArgument(field("exec.env[" + Quote(k) + "]"), "must not contain a NUL byte");
    }
    bytes += k.size() + v.size() + 2;
  }
  if (bytes > limits.max_env_bytes) {
    return InvalidArgument(field("exec.env"), TooLong(limits.max_env_bytes, "bytes in total"));
  }
  if (exec.cwd.size() > limits.max_cwd_bytes || HasNul(exec.cwd)) {
    return InvalidArgument(field("exec.cwd"),
                           TooLong(limits.max_cwd_bytes, "bytes and contain no NUL"));
  }
  return OkStatus();
}

}  // namespace

Status ValidateSpec(const TaskSpec& spec, std::string_view prefix, const SpecLimits& limits,
                    const HandlerCheck& check_handler) {
  auto field = [&](std::string_view f) { return Path(prefix, f); };
  if (spec.name.size() > limits.max_name_bytes) {
    return InvalidArgument(field("name"), TooLong(limits.max_name_bytes, "bytes"));
  }
  if (spec.labels.size() > limits.max_labels) {
    return InvalidArgument(field("labels"), TooLong(limits.max_labels, "entries"));
  }
  for (const auto& [k, v] : spec.labels) {
    if (k.empty() || k.size() > limits.max_label_key_bytes) {
      return InvalidArgument(field("labels"), "key " + Quote(k) + " must be 1 to " +
                                                  std::to_string(limits.max_label_key_bytes) +
                                                  " bytes");
    }
    if (k.find('=') != std::string::npos || k.find(',') != std::string::npos) {
      return InvalidArgument(field("labels"), "key " + Quote(k) + " must not contain '=' or ','");
    }
    if (v.size() > limits.max_label_value_bytes) {
      return InvalidArgument(field("labels[" + Quote(k) + "]"),
                             TooLong(limits.max_label_value_bytes, "bytes"));
    }
  }
  if (const auto* exec = spec.exec()) {
    if (auto s = CheckExec(*exec, prefix, limits); !s.ok()) return s;
  } else if (const auto* handler = spec.handler()) {
    if (handler->name.empty()) {
      return InvalidArgument(field("handler.name"), "must not be empty");
    }
    if (handler->payload.size() > limits.max_payload_bytes) {
      return InvalidArgument(field("handler.payload"), TooLong(limits.max_payload_bytes, "bytes"));
    }
    if (check_handler) {
      if (auto s = check_handler(prefix, *handler); !s.ok()) return s;
    }
  } else {
    return InvalidArgument(field("action"), "one of exec or handler is required");
  }
  if (auto s = CheckDuration(spec.timeout, prefix, "timeout"); !s.ok()) return s;
  if (auto s = CheckDuration(spec.kill_grace, prefix, "kill_grace"); !s.ok()) return s;
  if (spec.ttl) {
    if (auto s = CheckDuration(*spec.ttl, prefix, "ttl"); !s.ok()) return s;
  }
  if (spec.queue.size() > limits.max_queue_bytes) {
    return InvalidArgument(field("queue"), TooLong(limits.max_queue_bytes, "bytes"));
  }
  for (char c : spec.queue.view()) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return InvalidArgument(field("queue"), "may contain only letters, digits, '-', '_' and '.'");
    }
  }
  const auto& r = spec.retry;
  if (r.max_attempts < 0)
    return InvalidArgument(field("retry.max_attempts"), "must not be negative");
  if (r.max_attempts > 1000) {
    return InvalidArgument(field("retry.max_attempts"), "must be at most 1000");
  }
  if (auto s = CheckDuration(r.initial_backoff, prefix, "retry.initial_backoff"); !s.ok()) return s;
  if (auto s = CheckDuration(r.max_backoff, prefix, "retry.max_backoff"); !s.ok()) return s;
  if (!std::isfinite(r.multiplier) || (r.multiplier != 0 && r.multiplier < 1)) {
    return InvalidArgument(field("retry.multiplier"), "must be 0 (default) or at least 1");
  }
  if (spec.after.size() > limits.max_after) {
    return InvalidArgument(field("after"), TooLong(limits.max_after, "entries"));
  }
  for (size_t i = 0; i < spec.after.size(); ++i) {
    if (spec.after[i].empty()) {
      return InvalidArgument(field("after[" + std::to_string(i) + "]"), "must not be empty");
    }
  }
  return OkStatus();
}

Status ValidateRequestId(std::string_view request_id, std::string_view field,
                         const SpecLimits& limits) {
  if (request_id.size() > limits.max_request_id_bytes) {
    return InvalidArgument(field, TooLong(limits.max_request_id_bytes, "bytes"));
  }
  return OkStatus();
}

}  // namespace taskd
