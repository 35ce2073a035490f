// The engine's threading contract (task_manager.h): every callback runs on
// the manager strand, refusals included, and strand-only code refuses to run
// anywhere else (in debug and sanitizer builds).
#include <cmath>

#include "tests/fakes/manager_harness.h"

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
