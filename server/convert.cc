#include "server/convert.h"

namespace taskd::server {

namespace {
// google.protobuf.Duration's documented range: +-10,000 years. Beyond ~292
// years nanoseconds overflow int64, which no sane timeout needs.
constexpr int64_t kMaxDurationSeconds = int64_t{100} * 365 * 86400;
}  // namespace

grpc::Status ToGrpc(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return {static_cast<grpc::StatusCode>(status.code()), status.message()};
}

StatusOr<Duration> DurationFromProto(const google::protobuf::Duration& d,
                                     const std::string& field) {
  if (d.seconds() > kMaxDurationSeconds || d.seconds() < -kMaxDurationSeconds) {
    return InvalidArgument(field, "must be at most 100 years");
  }
  if (d.nanos() <= -1000000000 || d.nanos() >= 1000000000 || (d.seconds() > 0 && d.nanos() < 0) ||
      (d.seconds() < 0 && d.nanos() > 0)) {
    return InvalidArgument(field, "is not a normalized Duration");
  }
  Duration out = std::chrono::seconds(d.seconds()) + std::chrono::nanoseconds(d.nanos());
  if (out < Duration::zero()) return InvalidArgument(field, "must not be negative");
  return out;
}

void DurationToProto(Duration d, google::protobuf::Duration* out) {
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(d);
  out->set_seconds(secs.count());
  out->set_nanos(static_cast<int32_t>((d - secs).count()));
}

void TimeToProto(WallTime t, google::protobuf::Timestamp* out) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  int64_t secs = ns / 1000000000;
  int64_t nanos = ns % 1000000000;
  if (nanos < 0) {
    nanos += 1000000000;
    --secs;
  }
  out->set_seconds(secs);
  out->set_nanos(static_cast<int32_t>(nanos));
}

v1::TaskState StateToProto(TaskState s) { return static_cast<v1::TaskState>(s); }

StatusOr<TaskState> StateFromProto(int s, const std::string& field) {
  if (s <= 0 || s > static_cast<int>(TaskState::kCancelled)) {
    return InvalidArgument(field, "unknown task state " + std::to_string(s));
  }
  return static_cast<TaskState>(s);
}

StatusOr<TaskSpec> SpecFromProto(const v1::TaskSpec& p, const std::string& field) {
  TaskSpec s;
  s.name = p.name();
  s.labels.insert(p.labels().begin(), p.labels().end());
  switch (p.action_case()) {
    case v1::TaskSpec::kExec: {
      ExecAction e;
      e.argv.assign(p.exec().argv().begin(), p.exec().argv().end());
      e.env.insert(p.exec().env().begin(), p.exec().env().end());
      e.cwd = p.exec().cwd();
      e.inherit_env = p.exec().inherit_env();
      switch (p.exec().kill_mode()) {
        case v1::KILL_MODE_UNSPECIFIED:
        case v1::KILL_MODE_ALL:
          e.kill_mode = KillMode::kAll;
          break;
        case v1::KILL_MODE_GROUP:
          e.kill_mode = KillMode::kGroup;
          break;
        default:
          return InvalidArgument(field + ".exec.kill_mode",
                                 "unknown value " + std::to_string(p.exec().kill_mode()));
      }
      s.action = std::move(e);
      break;
    }
    case v1::TaskSpec::kHandler:
      s.action = HandlerAction{p.handler().name(), p.handler().payload()};
      break;
    default:
      return InvalidArgument(field + ".action", "one of exec or handler is required");
  }
  auto dur = [&](bool has, const google::protobuf::Duration& d, const char* name,
                 Duration* out) -> Status {
    if (!has) return OkStatus();
    auto v = DurationFromProto(d, field + "." + name);
    if (!v.ok()) return v.status();
    *out = *v;
    return OkStatus();
  };
  if (auto st = dur(p.has_timeout(), p.timeout(), "timeout", &s.timeout); !st.ok()) return st;
  if (auto st = dur(p.has_kill_grace(), p.kill_grace(), "kill_grace", &s.kill_grace); !st.ok()) {
    return st;
  }
  if (p.has_ttl()) {
    Duration ttl{0};
    if (auto st = dur(true, p.ttl(), "ttl", &ttl); !st.ok()) return st;
    s.ttl = ttl;
  }
  s.priority = p.priority();
  s.queue = p.queue();
  if (p.has_retry()) {
    s.retry.max_attempts = p.retry().max_attempts();
    if (auto st = dur(p.retry().has_initial_backoff(), p.retry().initial_backoff(),
                      "retry.initial_backoff", &s.retry.initial_backoff);
        !st.ok()) {
      return st;
    }
    if (auto st = dur(p.retry().has_max_backoff(), p.retry().max_backoff(), "retry.max_backoff",
                      &s.retry.max_backoff);
        !st.ok()) {
      return st;
    }
    s.retry.multiplier = p.retry().multiplier();
  }
  if (p.has_not_before()) {
    const auto& ts = p.not_before();
    // Nanoseconds since 1970 in an int64 end in 2262: later would overflow.
    if (ts.nanos() < 0 || ts.nanos() >= 1000000000 || ts.seconds() < 0 ||
        ts.seconds() >= 9223372036) {
      return InvalidArgument(field + ".not_before",
                             "must be a valid Timestamp between 1970 and 2262");
    }
    s.not_before = WallTime(std::chrono::duration_cast<WallTime::duration>(
        std::chrono::seconds(ts.seconds()) + std::chrono::nanoseconds(ts.nanos())));
  }
  s.after.assign(p.after().begin(), p.after().end());
  return s;
}

void SpecToProto(const TaskSpec& s, v1::TaskSpec* p) {
  p->set_name(s.name.str());
  p->mutable_labels()->insert(s.labels.begin(), s.labels.end());
  if (const auto* e = s.exec()) {
    auto* pe = p->mutable_exec();
    for (const auto& a : e->argv) pe->add_argv(a);
    pe->mutable_env()->insert(e->env.begin(), e->env.end());
    pe->set_cwd(e->cwd);
    pe->set_inherit_env(e->inherit_env);
    if (e->kill_mode == KillMode::kGroup) pe->set_kill_mode(v1::KILL_MODE_GROUP);
  } else if (const auto* h = s.handler()) {
    p->mutable_handler()->set_name(h->name);
    p->mutable_handler()->set_payload(h->payload.str());
  }
  if (s.timeout > Duration::zero()) DurationToProto(s.timeout, p->mutable_timeout());
  if (s.kill_grace > Duration::zero()) DurationToProto(s.kill_grace, p->mutable_kill_grace());
  p->set_priority(s.priority);
  p->set_queue(s.queue.str());
  if (s.retry.max_attempts != 0 || s.retry.initial_backoff.count() || s.retry.max_backoff.count() ||
      s.retry.multiplier != 0) {
    auto* r = p->mutable_retry();
    r->set_max_attempts(s.retry.max_attempts);
    if (s.retry.initial_backoff.count()) {
      DurationToProto(s.retry.initial_backoff, r->mutable_initial_backoff());
    }
    if (s.retry.max_backoff.count()) DurationToProto(s.retry.max_backoff, r->mutable_max_backoff());
    r->set_multiplier(s.retry.multiplier);
  }
  if (s.ttl) DurationToProto(*s.ttl, p->mutable_ttl());
  if (s.not_before) TimeToProto(*s.not_before, p->mutable_not_before());
  for (const auto& a : s.after) p->add_after(a);
}

void TaskToProto(const Task& t, v1::Task* p) {
  p->set_id(t.id);
  SpecToProto(t.spec, p->mutable_spec());
  p->set_state(StateToProto(t.state));
  p->set_reason(static_cast<v1::TaskReason>(t.reason));
  if (t.progress.update_time || t.progress.percent != 0 || !t.progress.message.empty()) {
    auto* pr = p->mutable_progress();
    pr->set_percent(t.progress.percent);
    pr->set_message(t.progress.message.str());
    if (t.progress.update_time) TimeToProto(*t.progress.update_time, pr->mutable_update_time());
  }
  if (t.result) {
    auto* r = p->mutable_result();
    if (t.result->exit_code) r->set_exit_code(*t.result->exit_code);
    if (t.result->signal) r->set_signal(*t.result->signal);
    r->set_output(t.result->output);
    r->set_stdout_bytes(t.result->stdout_bytes);
    r->set_stderr_bytes(t.result->stderr_bytes);
    r->set_logs_truncated(t.result->logs_truncated);
  }
  if (t.error) {
    p->mutable_error()->set_code(static_cast<int32_t>(t.error->code));
    p->mutable_error()->set_message(t.error->message);
  }
  p->set_attempt(t.attempt);
  TimeToProto(t.create_time, p->mutable_create_time());
  if (t.start_time) TimeToProto(*t.start_time, p->mutable_start_time());
  if (t.end_time) TimeToProto(*t.end_time, p->mutable_end_time());
  if (t.expire_time) TimeToProto(*t.expire_time, p->mutable_expire_time());
  if (t.next_attempt_time) TimeToProto(*t.next_attempt_time, p->mutable_next_attempt_time());
  p->set_request_id(t.request_id.str());
}

}  // namespace taskd::server
