// Intake: a submit's way from the strand to its answer — the plan
// (admission.h), the write of the new tasks, their admission once
// committed, and the answer.
//
// Promises: a task is admitted (may run) only once its row is committed, so
// no task runs that a crash could forget; all the requests of a call are
// accepted or none is; a request_id that names a task answers with it, and
// one whose first submit is still being committed waits for that commit.
// The answer of a written submit runs on the store's commit thread, after
// the admission was posted to the strand (a call made after the answer finds
// the tasks); a refusal's, a failed write's, a store that writes nothing's,
// and one whose `after` id had failed (answered as admitted: FAILED) run on
// the strand. "Had failed" is decided by the plan: a dependency that fails
// while the write commits fails the task at admission, after an answer
// that said PENDING (the task was PENDING when it was committed).
//
// Threading: Submit on the manager strand; it reads the store for a plan
// only on an io thread (AdmissionReads, ReadAhead).
// Owns: the request_ids being committed, with the submits that wait for them.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/engine/admission.h"
#include "core/engine/manager_options.h"
#include "core/engine/task_driver.h"
#include "core/engine/task_table.h"
#include "core/model/asio.h"
#include "core/model/clock.h"
#include "core/model/status.h"
#include "core/store/store.h"

namespace taskd {

class Intake {
 public:
  Intake(Strand strand, const ManagerOptions& options, Clock& clock, Store& store,
         TaskDriver& driver)
      : strand_(std::move(strand)),
        options_(options),
        clock_(clock),
        store_(store),
        driver_(driver) {}
  Intake(const Intake&) = delete;
  Intake& operator=(const Intake&) = delete;

  // Strand only: admits what validation let through (all or none). The
  // store reads admission needs are made ahead, off the strand (`ahead`).
  void Submit(std::vector<SubmitRequest> requests, Callback<std::vector<Task>> done,
              std::shared_ptr<const TaskTable::Prefetched> ahead = nullptr);

 private:
  // Strand only: admits the committed `tasks` (or, when the write failed,
  // answers the submits that waited for their request ids) and leaves each
  // as admitted.
  void AdmitCommitted(const Status& s, std::vector<Task>& tasks,
                      const TaskTable::Prefetched* ahead);
  // Ends the read made ahead for a submit (its ticket), if any.
  void EndRead(const std::shared_ptr<const TaskTable::Prefetched>& ahead);
  TaskTable& table() { return driver_.table(); }

  Strand strand_;
  const ManagerOptions& options_;
  Clock& clock_;
  Store& store_;
  TaskDriver& driver_;
  // Strand only: uncommitted request_ids, with the submits that wait for them.
  std::unordered_map<std::string, std::vector<Callback<Task>>> inflight_;
};

}  // namespace taskd
