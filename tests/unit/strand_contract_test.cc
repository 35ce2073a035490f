// The engine's threading contract (task_manager.h): every callback runs on
// the manager strand, refusals included, but a written submit's (on the
// store's commit thread); strand-only code refuses to run anywhere else (in
// debug and sanitizer builds).
#include <cmath>

#include "core/store/sqlite_store.h"
#include "tests/fakes/manager_harness.h"
#include "tests/fakes/stores.h"

namespace taskd {
namespace {

using testing::Handler;
using testing::ManagerHarness;

// Runs `call` with a callback that records whether it ran on the strand.
template <typename T, typename Call>
bool AnsweredOnStrand(TaskManager& m, Call call) {
  std::promise<bool> on_strand;
  call([&](StatusOr<T> r) {
    EXPECT_FALSE(r.ok());  // these are all refusals
    on_strand.set_value(m.strand().running_in_this_thread());
  });
  auto f = on_strand.get_future();
  return testing::Await(f);
}

TEST(StrandContract, ARefusedSubmitIsAnsweredOnTheStrand) {
  ManagerHarness h;
  EXPECT_TRUE(AnsweredOnStrand<Task>(h.m(), [&](Callback<Task> done) {
    h.m().Submit({Handler("no-such-handler"), ""}, std::move(done));
  }));
}

TEST(StrandContract, ARefusedBatchIsAnsweredOnTheStrand) {
  ManagerHarness h;
  EXPECT_TRUE(AnsweredOnStrand<std::vector<Task>>(
      h.m(), [&](Callback<std::vector<Task>> done) { h.m().BatchSubmit({}, std::move(done)); }));
  EXPECT_TRUE(AnsweredOnStrand<std::vector<Task>>(h.m(), [&](Callback<std::vector<Task>> done) {
    std::vector<SubmitRequest> two;
    two.push_back({Handler("noop"), "same"});
    two.push_back({Handler("noop"), "same"});
    h.m().BatchSubmit(std::move(two), std::move(done));
  }));
}

TEST(StrandContract, RefusedProgressIsAnsweredOnTheStrand) {
  ManagerHarness h;
  EXPECT_TRUE(AnsweredOnStrand<Task>(h.m(), [&](Callback<Task> done) {
    h.m().ReportProgress("x", std::nan(""), "", std::move(done));
  }));
  EXPECT_TRUE(AnsweredOnStrand<Task>(h.m(), [&](Callback<Task> done) {
    h.m().ReportProgress("x", 1, std::string(5000, 'm'), std::move(done));
  }));
}

// A written submit is answered where the commit finished (SqliteStore's
// writer), without a hop back to the strand; a call made from the answer
// finds the task all the same: its admission was posted first.
TEST(StrandContract, AWrittenSubmitIsAnsweredOnTheCommitThread) {
  testing::TempDir dir;
  auto sqlite = testing::OpenSqlite(dir.path() / "taskd.db");
  ASSERT_TRUE(sqlite);
  {
    ManagerHarness h(ManagerOptions{}, sqlite.get());
    for (bool batch : {false, true}) {
      struct Seen {
        bool on_strand = true;
        StatusOr<Task> submitted = Status(StatusCode::kUnknown, "");
        StatusOr<Task> got = Status(StatusCode::kUnknown, "");
      };
      std::promise<Seen> seen;
      auto answered = [&](StatusOr<Task> t) {
        Seen s{h.m().strand().running_in_this_thread(), t};
        if (!t.ok()) return seen.set_value(std::move(s));
        h.m().Get(t->id, [&, s](StatusOr<Task> got) mutable {
          s.got = std::move(got);
          seen.set_value(std::move(s));
        });
      };
      if (batch) {
        std::vector<SubmitRequest> one;
        one.push_back({Handler("noop"), "batch"});
        h.m().BatchSubmit(std::move(one), [&](StatusOr<std::vector<Task>> r) {
          if (!r.ok()) return answered(r.status());
          answered(std::move(r->front()));
        });
      } else {
        h.m().Submit({Handler("noop"), "single"}, answered);
      }
      auto f = seen.get_future();
      Seen s = testing::Await(f);
      SCOPED_TRACE(batch ? "BatchSubmit" : "Submit");
      EXPECT_FALSE(s.on_strand);
      ASSERT_TRUE(s.submitted.ok()) << s.submitted.status().ToString();
      EXPECT_EQ(s.submitted->state, TaskState::kPending);
      ASSERT_TRUE(s.got.ok()) << s.got.status().ToString();
      EXPECT_EQ(s.got->id, s.submitted->id);
    }
  }
}

// A submit `after` a task that failed is answered with the task as admitted
// (FAILED), so on the strand.
TEST(StrandContract, ASubmitAfterAFailedTaskIsAnsweredFailed) {
  testing::TempDir dir;
  auto sqlite = testing::OpenSqlite(dir.path() / "taskd.db");
  ASSERT_TRUE(sqlite);
  ManagerHarness h(ManagerOptions{}, sqlite.get());
  auto failed = h.Submit(testing::Exec({"false"}));
  ASSERT_TRUE(failed.ok());
  auto ended = h.Wait(failed->id);
  ASSERT_TRUE(ended.ok());
  ASSERT_EQ(ended->state, TaskState::kFailed);
  TaskSpec spec = Handler("noop");
  spec.after = {failed->id};
  std::promise<std::pair<bool, StatusOr<Task>>> p;
  h.m().Submit({spec, ""}, [&](StatusOr<Task> t) {
    p.set_value({h.m().strand().running_in_this_thread(), std::move(t)});
  });
  auto f = p.get_future();
  auto [on_strand, t] = testing::Await(f);
  EXPECT_TRUE(on_strand);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->state, TaskState::kFailed);
  EXPECT_EQ(t->reason, TaskReason::kDependencyFailed);
}

TEST(StrandContract, AStrandOnlyCallOffTheStrandAborts) {
#ifdef NDEBUG
  GTEST_SKIP() << "strand checks are on in debug and sanitizer builds only";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        ManagerHarness h;
        h.m().WaitOnStrand(h.m().NewHandle(), "0000000000000", std::nullopt, [](StatusOr<Task>) {});
      },
      "WaitOnStrand ran off the manager strand");
#endif
}

}  // namespace
}  // namespace taskd
