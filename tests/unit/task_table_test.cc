// TaskTable alone, on a real SQLite store in a temp dir (the table's reads
// are store reads) and on a MemoryStore (nothing leaves RAM): where a task
// is found, what a deletion hides, and the merged listing.
#include "core/engine/task_table.h"

#include <gtest/gtest.h>

#include "core/store/sqlite_store.h"
#include "tests/fakes/manager_harness.h"
#include "tests/fakes/stores.h"

namespace taskd {
namespace {

using testing::TempDir;

Task Finished(std::string rid = "") {
  Task t;
  t.id = NewTaskId();
  t.request_id = rid;
  t.spec = testing::Exec({"true"});
  t.state = TaskState::kCompleted;
  return t;
}

void WriteSync(Store& store, const Task& t) {
  ASSERT_TRUE(testing::WriteSync(store, {testing::PutOp(t)}).ok());
}

class TaskTableOnSqlite : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = testing::OpenSqlite(dir_.path() / "taskd.db");
    ASSERT_TRUE(store_ && store_->Load().ok());
    table_ = std::make_unique<TaskTable>(*store_);
  }
  void TearDown() override { store_->Close(); }
  // A finished task written to the store, then moved out of RAM.
  Task Evicted(std::string rid = "") {
    Task t = Finished(rid);
    WriteSync(*store_, t);
    EXPECT_TRUE(table_->Insert(t));
    EXPECT_TRUE(table_->Evict(table_->Find(t.id), INT64_MAX));
    return t;
  }

  TempDir dir_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<TaskTable> table_;
};

TEST_F(TaskTableOnSqlite, AnEvictedTaskIsReadFromTheStore) {
  ASSERT_TRUE(table_->evicts());
  Task t = Evicted("rid-1");
  EXPECT_EQ(table_->Find(t.id), table_->end());
  auto got = table_->Lookup(t.id);
  ASSERT_TRUE(got.ok() && *got);
  EXPECT_EQ((*got)->id, t.id);
  EXPECT_EQ(table_->ended().size(), 1u);
  EXPECT_EQ(table_->ByRequestId("rid-1"), nullptr);  // not in RAM any more
  auto by_rid = table_->StoredByRequestId("rid-1");
  ASSERT_TRUE(by_rid.ok() && *by_rid);
  EXPECT_EQ((*by_rid)->id, t.id);
}

TEST_F(TaskTableOnSqlite, ADeletionHidesTheTaskUntilItCommits) {
  Task t = Evicted("rid-2");
  table_->RemoveStored(t);
  EXPECT_FALSE(*table_->ReadStored(t.id));
  EXPECT_FALSE(*table_->StoredByRequestId("rid-2"));
  EXPECT_EQ(table_->StoredOrNotFound(t.id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(table_->IsDeleting(TaskKey(t.id)));
  table_->Deleted(TaskKey(t.id));
  EXPECT_FALSE(table_->IsDeleting(TaskKey(t.id)));
}

TEST_F(TaskTableOnSqlite, RemovingFromRamHidesTheStoredRowToo) {
  Task t = Finished("rid-3");
  WriteSync(*store_, t);
  table_->Insert(t);
  Task removed = table_->Remove(table_->Find(t.id));
  EXPECT_EQ(removed.id, t.id);
  EXPECT_EQ(table_->ByRequestId("rid-3"), nullptr);
  EXPECT_FALSE(*table_->Lookup(t.id));  // the row is still there, being deleted
}

TEST_F(TaskTableOnSqlite, ListMergesRamAndStoreInIdOrder) {
  Task a = Evicted();
  Task b = Finished();
  b.state = TaskState::kPending;
  table_->Insert(b);
  Task c = Evicted();
  ListRequest all;
  all.page_size = 2;
  auto first = table_->List(all);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->tasks.size(), 2u);
  EXPECT_EQ(first->tasks[0].id, a.id);
  EXPECT_EQ(first->tasks[1].id, b.id);
  ASSERT_FALSE(first->last_id.empty());
  all.start_after = first->last_id;
  auto second = table_->List(all);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->tasks.size(), 1u);
  EXPECT_EQ(second->tasks[0].id, c.id);
  EXPECT_TRUE(second->last_id.empty());
}

TEST_F(TaskTableOnSqlite, ASnapshotWithoutIdsLeavesFinishedTasksOut) {
  Evicted();
  Task pending = Finished();
  pending.state = TaskState::kPending;
  table_->Insert(pending);
  auto page = table_->Snapshot(ListRequest{});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->tasks.size(), 1u);
  EXPECT_EQ(page->tasks[0].id, pending.id);
}

// A List page whose store rows were read ahead (off the strand) is the page
// a List reading here gives, RAM newer than the store for a task in both.
TEST_F(TaskTableOnSqlite, AListReadAheadMergesAsAListReadHere) {
  Task a = Evicted();
  Task b = Finished();
  WriteSync(*store_, b);  // committed, still in RAM: RAM's copy is listed
  b.state = TaskState::kFailed;
  ASSERT_TRUE(table_->Insert(b));
  Task c = Evicted();
  ListRequest all;
  ASSERT_TRUE(table_->ScansStore(all));
  auto here = table_->List(all);
  auto ahead = TaskTable::ReadEndedAhead(*store_, all);
  auto merged = table_->List(all, &ahead);
  ASSERT_TRUE(here.ok() && merged.ok());
  ASSERT_EQ(merged->tasks.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(merged->tasks[i].id, here->tasks[i].id);
  EXPECT_EQ(merged->tasks[1].state, TaskState::kFailed);
  EXPECT_TRUE(merged->last_id.empty());
  ListRequest pending;
  pending.filter.states = {TaskState::kPending};
  EXPECT_FALSE(table_->ScansStore(pending));  // unfinished tasks are all in RAM
}

// While a read made ahead is out, a finished task does not leave RAM (the
// read may have missed its row), and a task whose deletion commits stays
// hidden (the read may have seen its row); both end with the last read.
TEST_F(TaskTableOnSqlite, AReadAheadHoldsEvictionsAndRemembersDeletions) {
  Task gone = Evicted();
  Task kept = Finished();
  WriteSync(*store_, kept);
  ASSERT_TRUE(table_->Insert(kept));
  const uint64_t first = table_->BeginOutsideRead();
  const uint64_t second = table_->BeginOutsideRead();
  auto ahead = TaskTable::ReadEndedAhead(*store_, ListRequest{});
  ASSERT_EQ(ahead.tasks.size(), 2u);
  table_->RemoveStored(gone);
  table_->Deleted(TaskKey(gone.id));  // committed: no longer "deleting"
  EXPECT_FALSE(table_->Evict(table_->Find(kept.id), INT64_MAX));
  EXPECT_NE(table_->Find(kept.id), table_->end());
  auto page = table_->List(ListRequest{}, &ahead);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->tasks.size(), 1u);
  EXPECT_EQ(page->tasks[0].id, kept.id);
  EXPECT_FALSE(*table_->ReadStored(gone.id));
  {
    TaskTable::Prefetched read;  // a read made ahead that saw the row
    read.by_key.emplace(TaskKey(gone.id), gone);
    TaskTable::Using using_it(*table_, &read);
    EXPECT_FALSE(*table_->ReadStored(gone.id));
  }
  EXPECT_TRUE(table_->EndOutsideRead(second).empty());  // the first is still out
  EXPECT_EQ(table_->EndOutsideRead(first), std::vector<uint64_t>{TaskKey(kept.id)});
  EXPECT_TRUE(table_->Evict(table_->Find(kept.id), INT64_MAX, /*released=*/true));
}

// An eviction waits only for the reads begun before it: once they are back
// it may go, though reads begun since are still out (a stream of
// overlapping reads does not keep finished tasks in RAM).
TEST_F(TaskTableOnSqlite, AnEvictionWaitsOnlyForTheReadsBegunBeforeIt) {
  Task a = Finished();
  Task b = Finished();
  for (const Task& t : {a, b}) {
    WriteSync(*store_, t);
    ASSERT_TRUE(table_->Insert(t));
  }
  const uint64_t r1 = table_->BeginOutsideRead();
  EXPECT_FALSE(table_->Evict(table_->Find(a.id), INT64_MAX));
  const uint64_t r2 = table_->BeginOutsideRead();
  EXPECT_FALSE(table_->Evict(table_->Find(b.id), INT64_MAX));
  const uint64_t r3 = table_->BeginOutsideRead();
  EXPECT_EQ(table_->EndOutsideRead(r1), std::vector<uint64_t>{TaskKey(a.id)});
  EXPECT_TRUE(table_->Evict(table_->Find(a.id), INT64_MAX, /*released=*/true));
  EXPECT_EQ(table_->EndOutsideRead(r2), std::vector<uint64_t>{TaskKey(b.id)});
  EXPECT_TRUE(table_->Evict(table_->Find(b.id), INT64_MAX, /*released=*/true));
  // A deletion that commits while r3 is out stays known until it is back.
  table_->RemoveStored(a);
  table_->Deleted(TaskKey(a.id));
  EXPECT_FALSE(*table_->ReadStored(a.id));
  EXPECT_TRUE(table_->EndOutsideRead(r3).empty());
}

// A task whose eviction waits for an earlier read may leave RAM while a
// later read is out: the later read reads it ahead like one only in the
// store, so it never has to read it on the strand.
TEST_F(TaskTableOnSqlite, ATaskAboutToLeaveRamIsReadAheadToo) {
  Task t = Finished();
  WriteSync(*store_, t);
  ASSERT_TRUE(table_->Insert(t));
  EXPECT_TRUE(table_->OnlyInStore({t.id}).empty());  // in RAM, and staying
  const uint64_t read = table_->BeginOutsideRead();
  EXPECT_FALSE(table_->Evict(table_->Find(t.id), INT64_MAX));
  EXPECT_TRUE(table_->LeavingRam(TaskKey(t.id)));
  EXPECT_EQ(table_->OnlyInStore({t.id}), std::vector<uint64_t>{TaskKey(t.id)});
  EXPECT_EQ(table_->EndOutsideRead(read), std::vector<uint64_t>{TaskKey(t.id)});
  EXPECT_FALSE(table_->LeavingRam(TaskKey(t.id)));
}

TEST(TaskTableInRam, InsertRefusesAMalformedOrRepeatedId) {
  MemoryStore store;
  TaskTable table(store);
  EXPECT_FALSE(table.evicts());
  Task t = Finished("r");
  EXPECT_TRUE(table.Insert(t));
  EXPECT_FALSE(table.Insert(t));
  Task bad = t;
  bad.id = "not-an-id";
  EXPECT_FALSE(table.Insert(bad));
  ASSERT_NE(table.ByRequestId("r"), nullptr);
  EXPECT_EQ(table.ByRequestId("r")->id, t.id);
}

TEST(TaskTableInRam, AStoreThatServesNoReadsIsNeverAsked) {
  MemoryStore store;
  TaskTable table(store);
  auto got = table.ReadStored(NewTaskId());
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(*got);
  EXPECT_FALSE(*table.StoredByRequestId("anything"));
}

}  // namespace
}  // namespace taskd
