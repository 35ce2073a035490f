#include "core/model/task_json.h"

#include <nlohmann/json.hpp>

namespace taskd {

namespace {

using nlohmann::json;

int64_t Nanos(WallTime t) {
  return std::chrono::duration_cast<Duration>(t.time_since_epoch()).count();
}
WallTime FromNanos(int64_t n) {
  return WallTime(std::chrono::duration_cast<WallTime::duration>(Duration(n)));
}

void PutTime(json& j, const char* key, const std::optional<WallTime>& t) {
  if (t) j[key] = Nanos(*t);
}
std::optional<WallTime> GetTime(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return std::nullopt;
  return FromNanos(it->get<int64_t>());
}

json SpecToJson(const TaskSpec& s) {
  json j;
  j["name"] = s.name;
  j["labels"] = s.labels;
  if (const auto* e = s.exec()) {
    j["exec"] = {
        {"argv", e->argv}, {"env", e->env}, {"cwd", e->cwd}, {"inherit_env", e->inherit_env}};
    // Only when not the default, so rows written before it stay as they were.
    if (e->kill_mode == KillMode::kGroup) j["exec"]["kill_mode"] = "group";
  } else if (const auto* h = s.handler()) {
    j["handler"] = {{"name", h->name}, {"payload", h->payload}};
  }
  j["timeout"] = s.timeout.count();
  j["kill_grace"] = s.kill_grace.count();
  j["priority"] = s.priority;
  j["queue"] = s.queue;
  j["retry"] = {{"max_attempts", s.retry.max_attempts},
                {"initial_backoff", s.retry.initial_backoff.count()},
                {"max_backoff", s.retry.max_backoff.count()},
                {"multiplier", s.retry.multiplier}};
  if (s.ttl) j["ttl"] = s.ttl->count();
  PutTime(j, "not_before", s.not_before);
  j["after"] = s.after;
  return j;
}

TaskSpec SpecFromJson(const json& j) {
  TaskSpec s;
  s.name = j.value("name", "");
  s.labels = j.value("labels", std::map<std::string, std::string>{});
  if (auto it = j.find("exec"); it != j.end()) {
    ExecAction e;
    e.argv = it->value("argv", std::vector<std::string>{});
    e.env = it->value("env", std::map<std::string, std::string>{});
    e.cwd = it->value("cwd", "");
    e.inherit_env = it->value("inherit_env", false);
    const std::string kill_mode = it->value("kill_mode", "all");
    if (kill_mode == "group") {
      e.kill_mode = KillMode::kGroup;
    } else if (kill_mode != "all") {
      throw std::runtime_error("unknown exec.kill_mode '" + kill_mode + "'");
    }
    s.action = std::move(e);
  } else if (auto h = j.find("handler"); h != j.end()) {
    s.action = HandlerAction{h->value("name", ""), h->value("payload", "")};
  } else {
    throw std::runtime_error("spec has neither exec nor handler");
  }
  s.timeout = Duration(j.value("timeout", int64_t{0}));
  s.kill_grace = Duration(j.value("kill_grace", int64_t{0}));
  s.priority = j.value("priority", 0);
  s.queue = j.value("queue", "");
  if (auto r = j.find("retry"); r != j.end()) {
    s.retry.max_attempts = r->value("max_attempts", 0);
    s.retry.initial_backoff = Duration(r->value("initial_backoff", int64_t{0}));
    s.retry.max_backoff = Duration(r->value("max_backoff", int64_t{0}));
    s.retry.multiplier = r->value("multiplier", 0.0);
  }
  if (auto it = j.find("ttl"); it != j.end()) s.ttl = Duration(it->get<int64_t>());
  s.not_before = GetTime(j, "not_before");
  s.after = j.value("after", std::vector<std::string>{});
  return s;
}

}  // namespace

std::string TaskToJson(const Task& t) {
  json j;
  j["v"] = 1;
  j["id"] = t.id;
  j["request_id"] = t.request_id;
  j["spec"] = SpecToJson(t.spec);
  j["state"] = static_cast<int>(t.state);
  j["reason"] = static_cast<int>(t.reason);
  j["progress"] = {{"percent", t.progress.percent}, {"message", t.progress.message}};
  PutTime(j["progress"], "update_time", t.progress.update_time);
  if (t.result) {
    json r;
    if (t.result->exit_code) r["exit_code"] = *t.result->exit_code;
    if (t.result->signal) r["signal"] = *t.result->signal;
    r["output"] = t.result->output;
    r["stdout_bytes"] = t.result->stdout_bytes;
    r["stderr_bytes"] = t.result->stderr_bytes;
    r["logs_truncated"] = t.result->logs_truncated;
    j["result"] = std::move(r);
  }
  if (t.error)
    j["error"] = {{"code", static_cast<int>(t.error->code)}, {"message", t.error->message}};
  j["attempt"] = t.attempt;
  j["create_time"] = Nanos(t.create_time);
  PutTime(j, "start_time", t.start_time);
  PutTime(j, "end_time", t.end_time);
  PutTime(j, "expire_time", t.expire_time);
  PutTime(j, "next_attempt_time", t.next_attempt_time);
  if (t.process) {
    j["process"] = {{"pid", t.process->pid},
                    {"start_ticks", t.process->start_ticks},
                    {"boot_id", t.process->boot_id}};
  }
  // Replace invalid UTF-8 rather than throw: names and messages are client text.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

StatusOr<Task> TaskFromJson(const std::string& text) {
  try {
    json j = json::parse(text);
    Task t;
    t.id = j.at("id").get<std::string>();
    t.request_id = j.value("request_id", "");
    t.spec = SpecFromJson(j.at("spec"));
    t.state = static_cast<TaskState>(j.at("state").get<int>());
    t.reason = static_cast<TaskReason>(j.value("reason", 0));
    if (auto p = j.find("progress"); p != j.end()) {
      t.progress.percent = p->value("percent", 0.0);
      t.progress.message = p->value("message", "");
      t.progress.update_time = GetTime(*p, "update_time");
    }
    if (auto r = j.find("result"); r != j.end()) {
      TaskResult res;
      if (auto e = r->find("exit_code"); e != r->end()) res.exit_code = e->get<int32_t>();
      if (auto s = r->find("signal"); s != r->end()) res.signal = s->get<int32_t>();
      res.output = r->value("output", "");
      res.stdout_bytes = r->value("stdout_bytes", int64_t{0});
      res.stderr_bytes = r->value("stderr_bytes", int64_t{0});
      res.logs_truncated = r->value("logs_truncated", false);
      t.result = std::move(res);
    }
    if (auto e = j.find("error"); e != j.end()) {
      t.error = TaskError{static_cast<StatusCode>(e->value("code", 2)), e->value("message", "")};
    }
    t.attempt = j.value("attempt", 0);
    t.create_time = FromNanos(j.value("create_time", int64_t{0}));
    t.start_time = GetTime(j, "start_time");
    t.end_time = GetTime(j, "end_time");
    t.expire_time = GetTime(j, "expire_time");
    t.next_attempt_time = GetTime(j, "next_attempt_time");
    if (auto p = j.find("process"); p != j.end()) {
      t.process = ProcessRef{p->value("pid", 0), p->value("start_ticks", uint64_t{0}),
                             p->value("boot_id", "")};
    }
    return t;
  } catch (const std::exception& e) {
    return Status(StatusCode::kDataLoss, std::string("stored task is not valid: ") + e.what());
  }
}

}  // namespace taskd
