// The three forms of a task agree: the taskd.v1 proto a client sends and
// receives, the core model the engine works on, and the JSON row the store
// keeps. A field that one conversion drops or alters fails here.
#include "server/convert.h"

#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <string>

#include "core/model/task_json.h"

namespace taskd::server {
namespace {

using google::protobuf::TextFormat;
using google::protobuf::util::MessageDifferencer;

v1::TaskSpec ParseSpec(const std::string& text) {
  v1::TaskSpec spec;
  EXPECT_TRUE(TextFormat::ParseFromString(text, &spec)) << text;
  return spec;
}

// Every field of an exec spec set to a value other than its default.
constexpr const char* kExecSpec = R"pb(
  name: "build \"all\""
  labels { key: "team" value: "infra" }
  labels { key: "tier" value: "1" }
  exec {
    argv: "sh"
    argv: "-c"
    argv: "echo \"$A\"\n"
    env { key: "A" value: "1" }
    cwd: "/tmp"
    inherit_env: true
    kill_mode: KILL_MODE_GROUP
  }
  timeout { seconds: 90 nanos: 500000000 }
  kill_grace { seconds: 2 }
  priority: -7
  queue: "io"
  retry {
    max_attempts: 4
    initial_backoff { nanos: 250000000 }
    max_backoff { seconds: 60 }
    multiplier: 1.5
  }
  ttl { seconds: 7200 }
  not_before { seconds: 1700000000 nanos: 123456789 }
  after: "01HZZZZZZZZZA"
  after: "01HZZZZZZZZZB"
)pb";

constexpr const char* kHandlerSpec = R"pb(
  name: "h"
  handler { name: "sleep" payload: "{\"seconds\": 0.1}" }
  queue: "default"
)pb";

void ExpectSpecComesBackFromCore(const char* text) {
  v1::TaskSpec in = ParseSpec(text);
  auto core = SpecFromProto(in, "spec");
  ASSERT_TRUE(core.ok()) << core.status().ToString();
  v1::TaskSpec out;
  SpecToProto(*core, &out);
  std::string diff;
  MessageDifferencer d;
  d.ReportDifferencesToString(&diff);
  EXPECT_TRUE(d.Compare(in, out)) << diff;
}

TEST(ConvertRoundTrip, AnExecSpecComesBackFromCoreUnchanged) {
  ExpectSpecComesBackFromCore(kExecSpec);
}

TEST(ConvertRoundTrip, AHandlerSpecComesBackFromCoreUnchanged) {
  ExpectSpecComesBackFromCore(kHandlerSpec);
}

// A task with every field set, its spec taken from the proto as SubmitTask
// takes it.
Task FullTask(const std::string& spec_text) {
  auto spec = SpecFromProto(ParseSpec(spec_text), "spec");
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  Task t;
  t.id = NewTaskId();
  t.request_id = "req-1";
  t.spec = *spec;
  t.state = TaskState::kFailed;
  t.reason = TaskReason::kExitCode;
  t.attempt = 3;
  t.progress = {42.5, "half way", WallTime(std::chrono::nanoseconds(1700000002000000001))};
  t.result = TaskResult{7, 9, "{\"ok\":false}", 10, 20, true};
  t.error = TaskError{StatusCode::kDeadlineExceeded, "exited with code 7"};
  t.create_time = WallTime(std::chrono::nanoseconds(1700000000123456789));
  t.start_time = WallTime(std::chrono::nanoseconds(1700000001000000001));
  t.end_time = WallTime(std::chrono::nanoseconds(1700000003999999999));
  t.expire_time = WallTime(std::chrono::nanoseconds(1700007203999999999));
  t.next_attempt_time = WallTime(std::chrono::nanoseconds(1700000004500000000));
  return t;
}

void ExpectSameThroughJson(const Task& t) {
  const std::string json = TaskToJson(t);
  auto back = TaskFromJson(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString() << "\n" << json;
  v1::Task direct, via_json;
  TaskToProto(t, &direct);
  TaskToProto(*back, &via_json);
  std::string diff;
  MessageDifferencer d;
  d.ReportDifferencesToString(&diff);
  EXPECT_TRUE(d.Compare(direct, via_json)) << diff;
  EXPECT_EQ(TaskToJson(*back), json);
}

TEST(ConvertRoundTrip, ATaskGoesToProtoWithEveryField) {
  Task t = FullTask(kExecSpec);
  t.id = "01HZZZZZZZZZC";
  v1::Task want;
  ASSERT_TRUE(
      TextFormat::ParseFromString(R"pb(
                                    id: "01HZZZZZZZZZC"
                                    request_id: "req-1"
                                    state: TASK_STATE_FAILED
                                    reason: TASK_REASON_EXIT_CODE
                                    attempt: 3
                                    progress {
                                      percent: 42.5
                                      message: "half way"
                                      update_time { seconds: 1700000002 nanos: 1 }
                                    }
                                    result {
                                      exit_code: 7
                                      signal: 9
                                      output: "{\"ok\":false}"
                                      stdout_bytes: 10
                                      stderr_bytes: 20
                                      logs_truncated: true
                                    }
                                    error { code: 4 message: "exited with code 7" }
                                    create_time { seconds: 1700000000 nanos: 123456789 }
                                    start_time { seconds: 1700000001 nanos: 1 }
                                    end_time { seconds: 1700000003 nanos: 999999999 }
                                    expire_time { seconds: 1700007203 nanos: 999999999 }
                                    next_attempt_time { seconds: 1700000004 nanos: 500000000 }
                                  )pb",
                                  &want));
  *want.mutable_spec() = ParseSpec(kExecSpec);
  v1::Task got;
  TaskToProto(t, &got);
  std::string diff;
  MessageDifferencer d;
  d.ReportDifferencesToString(&diff);
  EXPECT_TRUE(d.Compare(want, got)) << diff;
}

TEST(ConvertRoundTrip, AnExecTaskReadsTheSameAfterTheStoreRow) {
  ExpectSameThroughJson(FullTask(kExecSpec));
}

TEST(ConvertRoundTrip, AHandlerTaskReadsTheSameAfterTheStoreRow) {
  ExpectSameThroughJson(FullTask(kHandlerSpec));
}

TEST(ConvertRoundTrip, AFreshPendingTaskReadsTheSameAfterTheStoreRow) {
  auto spec = SpecFromProto(ParseSpec(R"pb(exec { argv: "true" })pb"), "spec");
  ASSERT_TRUE(spec.ok());
  Task t;
  t.id = NewTaskId();
  t.spec = *spec;
  t.create_time = WallTime(std::chrono::seconds(1700000000));
  ExpectSameThroughJson(t);
}

TEST(ConvertRoundTrip, EveryStateAndReasonKeepsItsProtoNumber) {
  for (int s = 1; s <= static_cast<int>(TaskState::kCancelled); ++s) {
    auto state = StateFromProto(s, "state");
    ASSERT_TRUE(state.ok());
    EXPECT_EQ(static_cast<int>(StateToProto(*state)), s);
    EXPECT_EQ("TASK_STATE_" + std::string(StateName(*state)),
              v1::TaskState_Name(StateToProto(*state)));
  }
  for (int r = 0; r <= static_cast<int>(TaskReason::kShutdown); ++r) {
    auto reason = static_cast<TaskReason>(r);
    if (reason == TaskReason::kUnspecified) continue;
    EXPECT_EQ("TASK_REASON_" + std::string(ReasonName(reason)),
              v1::TaskReason_Name(static_cast<v1::TaskReason>(r)));
  }
  EXPECT_FALSE(StateFromProto(0, "state").ok());
  EXPECT_FALSE(StateFromProto(static_cast<int>(TaskState::kCancelled) + 1, "state").ok());
}

}  // namespace
}  // namespace taskd::server
