#include "core/model/task_json.h"

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string_view>

namespace taskd {

namespace {

using nlohmann::json;

int64_t Nanos(WallTime t) {
  return std::chrono::duration_cast<Duration>(t.time_since_epoch()).count();
}
WallTime FromNanos(int64_t n) {
  return WallTime(std::chrono::duration_cast<WallTime::duration>(Duration(n)));
}

std::optional<WallTime> GetTime(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return std::nullopt;
  return FromNanos(it->get<int64_t>());
}

// The writer: JSON text appended straight to a string. Building an
// nlohmann::json per row and dumping it took half the SQLite writer
// thread's time; the reader (TaskFromJson) stays on nlohmann.
class Out {
 public:
  explicit Out(std::string& s) : s_(s) {}

  void Open() {
    s_ += '{';
    first_ = true;
  }
  void Close() {
    s_ += '}';
    first_ = false;
  }
  // The next member's key; its value follows.
  Out& Key(std::string_view k) {
    if (!first_) s_ += ',';
    first_ = false;
    s_ += '"';
    s_ += k;  // keys are the literals below: nothing to escape
    s_ += "\":";
    return *this;
  }
  // A member whose value is an object: Open() it, then Close().
  Out& Object(std::string_view k) {
    Key(k).Open();
    return *this;
  }

  void Int(int64_t v) { Number(v); }
  void Uint(uint64_t v) { Number(v); }
  void Bool(bool v) { s_ += v ? "true" : "false"; }
  void Double(double v) {
    // JSON has no NaN or infinity (nlohmann wrote null, which its reader
    // then refused): validation keeps them out; 0 if one got here.
    if (!std::isfinite(v)) v = 0;
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest that reads back the same
    s_.append(buf, r.ptr);
  }
  // Escaped; invalid UTF-8 (client text) becomes U+FFFD, byte by byte.
  void String(std::string_view v) {
    s_ += '"';
    size_t i = 0;
    while (i < v.size()) {
      const auto c = static_cast<unsigned char>(v[i]);
      if (Plain(c)) {
        size_t j = i + 1;
        while (j < v.size() && Plain(static_cast<unsigned char>(v[j]))) ++j;
        s_.append(v.data() + i, j - i);
        i = j;
      } else if (c < 0x80) {
        Escape(c);
        ++i;
      } else if (size_t n = Utf8Length(v, i); n > 0) {
        s_.append(v.data() + i, n);
        i += n;
      } else {
        s_ += "\xEF\xBF\xBD";
        ++i;
      }
    }
    s_ += '"';
  }
  void Strings(const std::vector<std::string>& v) {
    s_ += '[';
    for (size_t i = 0; i < v.size(); ++i) {
      if (i > 0) s_ += ',';
      String(v[i]);
    }
    s_ += ']';
    first_ = false;
  }
  void StringMap(const std::map<std::string, std::string>& m) {
    Open();
    for (const auto& [k, v] : m) {
      if (!first_) s_ += ',';
      first_ = false;
      String(k);
      s_ += ':';
      String(v);
    }
    Close();
  }
  void Time(std::string_view k, const std::optional<WallTime>& t) {
    if (t) Key(k).Int(Nanos(*t));
  }
  // A member only when it is not its type's default (0, false, empty): the
  // reader takes a missing member as that default, and a row of a noop task
  // is a third of the size it was with every member written.
  void IntIf(std::string_view k, int64_t v) {
    if (v != 0) Key(k).Int(v);
  }
  void DoubleIf(std::string_view k, double v) {
    if (v != 0) Key(k).Double(v);
  }
  void BoolIf(std::string_view k, bool v) {
    if (v) Key(k).Bool(v);
  }
  void StringIf(std::string_view k, std::string_view v) {
    if (!v.empty()) Key(k).String(v);
  }
  void StringsIf(std::string_view k, const std::vector<std::string>& v) {
    if (!v.empty()) Key(k).Strings(v);
  }
  void StringMapIf(std::string_view k, const std::map<std::string, std::string>& m) {
    if (!m.empty()) Key(k).StringMap(m);
  }

 private:
  static bool Plain(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

  template <typename T>
  void Number(T v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    s_.append(buf, r.ptr);
  }

  void Escape(unsigned char c) {
    switch (c) {
      case '"':
        s_ += "\\\"";
        return;
      case '\\':
        s_ += "\\\\";
        return;
      case '\b':
        s_ += "\\b";
        return;
      case '\f':
        s_ += "\\f";
        return;
      case '\n':
        s_ += "\\n";
        return;
      case '\r':
        s_ += "\\r";
        return;
      case '\t':
        s_ += "\\t";
        return;
      default: {
        static constexpr char kHex[] = "0123456789abcdef";
        s_ += "\\u00";
        s_ += kHex[c >> 4];
        s_ += kHex[c & 15];
      }
    }
  }

  // The length of the well-formed UTF-8 sequence at v[i] (RFC 3629: no
  // overlong forms, surrogates or code points past U+10FFFF), 0 if none.
  static size_t Utf8Length(std::string_view v, size_t i) {
    const auto b = [&](size_t k) -> unsigned {
      return i + k < v.size() ? static_cast<unsigned char>(v[i + k]) : 0u;
    };
    const auto cont = [](unsigned c) { return c >= 0x80 && c <= 0xBF; };
    const unsigned c0 = b(0);
    if (c0 >= 0xC2 && c0 <= 0xDF) return cont(b(1)) ? 2 : 0;
    if (c0 >= 0xE0 && c0 <= 0xEF) {
      const unsigned lo = c0 == 0xE0 ? 0xA0 : 0x80, hi = c0 == 0xED ? 0x9F : 0xBF;
      return b(1) >= lo && b(1) <= hi && cont(b(2)) ? 3 : 0;
    }
    if (c0 >= 0xF0 && c0 <= 0xF4) {
      const unsigned lo = c0 == 0xF0 ? 0x90 : 0x80, hi = c0 == 0xF4 ? 0x8F : 0xBF;
      return b(1) >= lo && b(1) <= hi && cont(b(2)) && cont(b(3)) ? 4 : 0;
    }
    return 0;
  }

  std::string& s_;
  bool first_ = true;
};

void SpecToJson(Out& o, const TaskSpec& s) {
  o.StringIf("name", s.name.view());
  o.StringMapIf("labels", s.labels);
  if (const auto* e = s.exec()) {
    o.Object("exec");
    o.Key("argv").Strings(e->argv);
    o.StringMapIf("env", e->env);
    o.StringIf("cwd", e->cwd);
    o.BoolIf("inherit_env", e->inherit_env);
    // Only when not the default, so rows written before it stay as they were.
    if (e->kill_mode == KillMode::kGroup) o.Key("kill_mode").String("group");
    o.Close();
  } else if (const auto* h = s.handler()) {
    o.Object("handler");
    o.Key("name").String(h->name);
    o.StringIf("payload", h->payload.view());
    o.Close();
  }
  o.IntIf("timeout", s.timeout.count());
  o.IntIf("kill_grace", s.kill_grace.count());
  o.IntIf("priority", s.priority);
  o.StringIf("queue", s.queue.view());
  const RetryPolicy& r = s.retry;
  if (r.max_attempts != 0 || r.initial_backoff.count() != 0 || r.max_backoff.count() != 0 ||
      r.multiplier != 0) {
    o.Object("retry");
    o.IntIf("max_attempts", r.max_attempts);
    o.IntIf("initial_backoff", r.initial_backoff.count());
    o.IntIf("max_backoff", r.max_backoff.count());
    o.DoubleIf("multiplier", r.multiplier);
    o.Close();
  }
  if (s.ttl) o.Key("ttl").Int(s.ttl->count());
  o.Time("not_before", s.not_before);
  o.StringsIf("after", s.after);
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
  std::string text;
  text.reserve(256);
  Out o(text);
  o.Open();
  o.Key("v").Int(1);
  o.Key("id").String(t.id);
  o.StringIf("request_id", t.request_id.view());
  o.Object("spec");
  SpecToJson(o, t.spec);
  o.Close();
  o.Key("state").Int(static_cast<int>(t.state));
  o.IntIf("reason", static_cast<int>(t.reason));
  if (t.progress.percent != 0 || !t.progress.message.empty() || t.progress.update_time) {
    o.Object("progress");
    o.DoubleIf("percent", t.progress.percent);
    o.StringIf("message", t.progress.message.view());
    o.Time("update_time", t.progress.update_time);
    o.Close();
  }
  if (t.result) {
    // Present even when every member is a default: a result (of a handler
    // that returned nothing) is not the same as none.
    o.Object("result");
    if (t.result->exit_code) o.Key("exit_code").Int(*t.result->exit_code);
    if (t.result->signal) o.Key("signal").Int(*t.result->signal);
    o.StringIf("output", t.result->output);
    o.IntIf("stdout_bytes", t.result->stdout_bytes);
    o.IntIf("stderr_bytes", t.result->stderr_bytes);
    o.BoolIf("logs_truncated", t.result->logs_truncated);
    o.Close();
  }
  if (t.error) {
    o.Object("error");
    o.Key("code").Int(static_cast<int>(t.error->code));
    o.StringIf("message", t.error->message);
    o.Close();
  }
  o.IntIf("attempt", t.attempt);
  o.Key("create_time").Int(Nanos(t.create_time));
  o.Time("start_time", t.start_time);
  o.Time("end_time", t.end_time);
  o.Time("expire_time", t.expire_time);
  o.Time("next_attempt_time", t.next_attempt_time);
  if (t.process) {
    o.Object("process");
    o.Key("pid").Int(t.process->pid);
    o.Key("start_ticks").Uint(t.process->start_ticks);
    o.StringIf("boot_id", t.process->boot_id);
    o.Close();
  }
  o.Close();
  return text;
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
