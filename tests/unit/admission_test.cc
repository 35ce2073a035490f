// Admission alone, over a TaskTable on a MemoryStore: which requests of a
// submit create a task, and how a bad one refuses the whole submit.
#include "core/engine/admission.h"

#include <gtest/gtest.h>

#include "tests/fakes/manager_harness.h"

namespace taskd {
namespace {

class AdmissionTest : public ::testing::Test {
 protected:
  // A task in the table, with this request_id.
  std::string Known(std::string rid) {
    Task t;
    t.id = NewTaskId();
    t.request_id = rid;
    std::string id = t.id;
    table_.Insert(std::move(t));
    return id;
  }
  static SubmitRequest Request(std::string rid = "", std::vector<std::string> after = {}) {
    SubmitRequest r;
    r.spec = testing::Exec({"true"});
    for (auto& a : after) r.spec.after.push_back(a);
    r.request_id = std::move(rid);
    return r;
  }
  StatusOr<AdmissionPlan> Plan(const std::vector<SubmitRequest>& requests) {
    return PlanAdmission(requests, table_,
                         [this](const std::string& rid) { return in_flight_.count(rid) > 0; });
  }

  MemoryStore store_;
  TaskTable table_{store_};
  std::set<std::string> in_flight_;
};

TEST_F(AdmissionTest, AKnownRequestIdAnswersWithItsTaskAndTheRestAreFresh) {
  std::string id = Known("seen");
  auto plan = Plan({Request("new"), Request("seen"), Request()});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->fresh, (std::vector<size_t>{0, 2}));
  EXPECT_EQ(plan->out[1].id, id);
  EXPECT_TRUE(plan->out[0].id.empty());
}

TEST_F(AdmissionTest, ARequestIdBeingCommittedByAnotherCallIsAborted) {
  in_flight_.insert("busy");
  auto plan = Plan({Request("free"), Request("busy")});
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kAborted);
  EXPECT_NE(plan.status().message().find("busy"), std::string::npos);
}

TEST_F(AdmissionTest, AnUnknownAfterIdNamesItsField) {
  std::string dep = Known("");
  const std::string missing = NewTaskId();
  auto single = Plan({Request("", {dep, missing})});
  ASSERT_FALSE(single.ok());
  EXPECT_EQ(single.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(single.status().message().find("spec.after[1]"), std::string::npos)
      << single.status().message();
  auto batch = Plan({Request(), Request(), Request("", {missing})});
  ASSERT_FALSE(batch.ok());
  EXPECT_NE(batch.status().message().find("requests[2].spec.after[0]"), std::string::npos)
      << batch.status().message();
}

TEST_F(AdmissionTest, AfterIdsOfExistingTasksAreAccepted) {
  std::string a = Known(""), b = Known("");
  auto plan = Plan({Request("", {a, b})});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->fresh, std::vector<size_t>{0});
}

}  // namespace
}  // namespace taskd
