#include "core/model/task_json.h"

#include <gtest/gtest.h>

#include <limits>

namespace taskd {
namespace {

TEST(TaskJson, RoundTripsEveryField) {
  Task t;
  t.id = NewTaskId();
  t.request_id = "req";
  ExecAction e{{"sh", "-c", "echo \"hi\"\n"}, {{"A", "1"}}, "/tmp", true, KillMode::kGroup};
  t.spec.action = e;
  t.spec.name = "name with \"quotes\"";
  t.spec.labels = {{"k", "v"}};
  t.spec.timeout = std::chrono::seconds(5);
  t.spec.kill_grace = std::chrono::milliseconds(1500);
  t.spec.priority = -3;
  t.spec.queue = "q";
  t.spec.retry = {4, std::chrono::seconds(1), std::chrono::seconds(60), 1.5};
  t.spec.ttl = std::chrono::hours(2);
  t.spec.not_before = WallTime(std::chrono::seconds(1700000000));
  t.spec.after = {"a", "b"};
  t.state = TaskState::kFailed;
  t.reason = TaskReason::kExitCode;
  t.progress = {55.5, "msg", WallTime(std::chrono::seconds(1700000001))};
  t.result = TaskResult{7, std::nullopt, "", 10, 20, true};
  t.error = TaskError{StatusCode::kUnknown, "exited with code 7"};
  t.attempt = 2;
  t.create_time = WallTime(std::chrono::nanoseconds(1700000000123456789));
  t.start_time = t.create_time;
  t.end_time = t.create_time;
  t.expire_time = t.create_time;

  auto back = TaskFromJson(TaskToJson(t));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(TaskToJson(*back), TaskToJson(t));
  EXPECT_EQ(back->spec.exec()->argv[2], "echo \"hi\"\n");
  EXPECT_EQ(back->spec.exec()->kill_mode, KillMode::kGroup);
  EXPECT_EQ(back->create_time, t.create_time);
  EXPECT_EQ(back->result->exit_code, 7);
  EXPECT_FALSE(back->result->signal);
}

TEST(TaskJson, HandlerSpecRoundTrips) {
  Task t;
  t.id = NewTaskId();
  t.spec.action = HandlerAction{"sleep", R"({"seconds":1})"};
  auto back = TaskFromJson(TaskToJson(t));
  ASSERT_TRUE(back.ok());
  ASSERT_TRUE(back->spec.handler());
  EXPECT_EQ(back->spec.handler()->payload, R"({"seconds":1})");
}

// Rows written before kill_mode existed have none: the default, kAll. An
// unknown value is refused, not read as a mode that kills more or less.
TEST(TaskJson, KillModeDefaultsToAllAndAnUnknownOneIsDataLoss) {
  Task t;
  t.id = NewTaskId();
  t.spec.action = ExecAction{{"true"}};
  const std::string row = TaskToJson(t);
  EXPECT_EQ(row.find("kill_mode"), std::string::npos);
  auto back = TaskFromJson(row);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->spec.exec()->kill_mode, KillMode::kAll);

  std::string odd = row;
  odd.replace(odd.find("\"argv\""), 0, "\"kill_mode\":\"none\",");
  auto bad = TaskFromJson(odd);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(bad.status().message().find("kill_mode"), std::string::npos);
}

// Rows are written by a writer of their own (not nlohmann's DOM): client
// text of any bytes comes back as valid JSON, escaped, with invalid UTF-8
// replaced by U+FFFD and valid multi-byte characters kept.
TEST(TaskJson, ClientTextOfAnyBytesIsWrittenAsValidJson) {
  Task t;
  t.id = NewTaskId();
  t.spec.action = ExecAction{{"printf", std::string("tab\there\x01\x1f\"\\/", 12)}};
  t.spec.name = "caf\xC3\xA9 \xF0\x9F\x98\x80 \xE2\x82\xAC";              // é, an emoji, €: kept
  t.spec.labels = {{"bad\xFF", "x\xC3"}, {"surrogate", "\xED\xA0\x80"}};  // not UTF-8
  t.progress.message = "overlong \xC0\xAF, past U+10FFFF \xF4\x90\x80\x80";
  t.progress.percent = std::numeric_limits<double>::quiet_NaN();
  t.spec.retry.multiplier = 0.1;
  t.error = TaskError{StatusCode::kInternal, std::string("nul \0 byte", 10)};
  const std::string row = TaskToJson(t);
  auto back = TaskFromJson(row);
  ASSERT_TRUE(back.ok()) << back.status().ToString() << "\n" << row;
  EXPECT_EQ(back->spec.exec()->argv[1], std::string("tab\there\x01\x1f\"\\/", 12));
  EXPECT_EQ(back->spec.name.view(), "caf\xC3\xA9 \xF0\x9F\x98\x80 \xE2\x82\xAC");
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(back->spec.labels.count("bad" + fffd), 1u);
  EXPECT_EQ(back->spec.labels.at("bad" + fffd), "x" + fffd);
  EXPECT_EQ(back->spec.labels.at("surrogate"), fffd + fffd + fffd);
  EXPECT_EQ(back->progress.message.view(),
            "overlong " + fffd + fffd + ", past U+10FFFF " + fffd + fffd + fffd + fffd);
  EXPECT_EQ(back->progress.percent, 0);  // JSON has no NaN
  EXPECT_EQ(back->spec.retry.multiplier, 0.1);
  EXPECT_EQ(back->error->message, std::string("nul \0 byte", 10));
  // What was read back writes the same row again.
  EXPECT_EQ(TaskToJson(*back), TaskToJson(*TaskFromJson(TaskToJson(*back))));
}

// A member at its default (0, false, empty) is left out of the row and read
// back as that default; a row written with every member (as taskd wrote
// them before) reads as the same task.
TEST(TaskJson, DefaultsAreLeftOutAndRowsWithThemReadTheSame) {
  Task t;
  t.id = NewTaskId();
  t.spec.action = HandlerAction{"noop", ""};
  t.create_time = WallTime(std::chrono::nanoseconds(5));
  const std::string row = TaskToJson(t);
  for (const char* absent : {"labels", "retry", "progress", "request_id", "timeout", "queue",
                             "after", "attempt", "payload", "reason"}) {
    EXPECT_EQ(row.find(absent), std::string::npos) << absent << " in " << row;
  }
  EXPECT_LT(row.size(), 110u) << row;
  const std::string full =
      R"({"attempt":0,"create_time":5,"id":")" + t.id +
      R"(","progress":{"message":"","percent":0.0},"reason":0,"request_id":"",)"
      R"("spec":{"after":[],"handler":{"name":"noop","payload":""},"kill_grace":0,"labels":{},)"
      R"("name":"","priority":0,"queue":"","retry":{"initial_backoff":0,"max_attempts":0,)"
      R"("max_backoff":0,"multiplier":0.0},"timeout":0},"state":1,"v":1})";
  auto old = TaskFromJson(full);
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(TaskToJson(*old), row);
  // A result with nothing in it is still a result.
  t.result = TaskResult{};
  auto back = TaskFromJson(TaskToJson(t));
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->result);
}

TEST(TaskJson, GarbageIsDataLoss) {
  auto r = TaskFromJson("{not json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
}

TEST(TaskId, ObservedIdsKeepNewIdsIncreasing) {
  // An id some minutes in the future (a store written while the clock was ahead).
  std::string future = NewTaskId();
  const std::string alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  size_t pos = future[5] == 'Z' ? 4 : 5;
  future[pos] = alphabet[alphabet.find(future[pos]) + 1];
  ObserveTaskId(future);
  EXPECT_GT(NewTaskId(), future);
  ObserveTaskId("not an id");  // ignored
}

TEST(TaskId, SortableAndUnique) {
  std::string prev = NewTaskId();
  for (int i = 0; i < 10000; ++i) {
    std::string next = NewTaskId();
    ASSERT_EQ(next.size(), 13u);
    ASSERT_LT(prev, next);
    prev = next;
  }
}

}  // namespace
}  // namespace taskd
