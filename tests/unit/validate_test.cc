#include "core/model/validate.h"

#include <gtest/gtest.h>

namespace taskd {
namespace {

Status Check(const TaskSpec& s) { return ValidateSpec(s, "spec", SpecLimits{}, nullptr); }

TaskSpec Exec(std::vector<std::string> argv) {
  TaskSpec s;
  s.action = ExecAction{std::move(argv), {}, {}, false};
  return s;
}

void ExpectInvalid(const TaskSpec& s, const std::string& field) {
  Status st = Check(s);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << field;
  EXPECT_EQ(st.message().rfind(field + ":", 0), 0u) << st.message();
}

TEST(Validate, AcceptsAPlainCommand) { EXPECT_TRUE(Check(Exec({"true"})).ok()); }

TEST(Validate, NamesTheBadField) {
  ExpectInvalid(TaskSpec{}, "spec.action");  // neither exec nor handler
  ExpectInvalid(Exec({}), "spec.exec.argv");
  ExpectInvalid(Exec({""}), "spec.exec.argv[0]");
  ExpectInvalid(Exec({"a", std::string("b\0c", 3)}), "spec.exec.argv[1]");
  auto s = Exec({"true"});
  s.mutable_exec()->env["A=B"] = "x";
  ExpectInvalid(s, "spec.exec.env");
  s = Exec({"true"});
  s.timeout = std::chrono::seconds(-1);
  ExpectInvalid(s, "spec.timeout");
  s = Exec({"true"});
  s.kill_grace = std::chrono::seconds(-1);
  ExpectInvalid(s, "spec.kill_grace");
  s = Exec({"true"});
  s.ttl = std::chrono::seconds(-1);
  ExpectInvalid(s, "spec.ttl");
  s = Exec({"true"});
  s.retry.max_attempts = -1;
  ExpectInvalid(s, "spec.retry.max_attempts");
  s = Exec({"true"});
  s.retry.multiplier = 0.5;
  ExpectInvalid(s, "spec.retry.multiplier");
  s = Exec({"true"});
  s.queue = "bad queue";
  ExpectInvalid(s, "spec.queue");
  s = Exec({"true"});
  s.labels[""] = "x";
  ExpectInvalid(s, "spec.labels");
  s = Exec({"true"});
  s.name = std::string(300, 'n');
  ExpectInvalid(s, "spec.name");
  s = Exec({"true"});
  s.after = {""};
  ExpectInvalid(s, "spec.after[0]");
}

TEST(Validate, EnforcesSizeLimits) {
  SpecLimits limits;
  limits.max_argv_entries = 3;
  EXPECT_FALSE(ValidateSpec(Exec({"a", "b", "c", "d"}), "spec", limits, nullptr).ok());
  TaskSpec h;
  h.action = HandlerAction{"noop", std::string(2 << 20, ' ')};
  Status st = ValidateSpec(h, "spec", SpecLimits{}, nullptr);
  EXPECT_EQ(st.message().rfind("spec.handler.payload:", 0), 0u);
  EXPECT_FALSE(ValidateRequestId(std::string(200, 'r'), "request_id", SpecLimits{}).ok());
}

}  // namespace
}  // namespace taskd
