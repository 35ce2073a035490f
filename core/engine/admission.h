// Admission: which requests of a submit create a task, checked against the
// task table before anything is written.
//
// Promises: for each request, a request_id the table knows (in RAM, or a
// finished task in the store) answers with that task; otherwise every
// `after` id must name a task that exists (in RAM or the store), and the
// request creates a task. Any error refuses the whole submit, naming the
// request's field: a request_id still being committed by another call
// (ABORTED), an unknown `after` id (INVALID_ARGUMENT), a failed store read.
// Changes nothing.
//
// Threading: PlanAdmission and AdmissionReads on the manager strand (the
// table's); ReadAhead on any thread. PlanAdmission reads the store (request
// ids and `after` ids of finished tasks) unless those reads were made ahead:
// AdmissionReads says which they are, ReadAhead makes them off the strand,
// and TaskTable::Using hands them to the plan.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "core/engine/task_table.h"
#include "core/model/status.h"
#include "core/model/task.h"

namespace taskd {

struct SubmitRequest {
  TaskSpec spec;
  std::string request_id;
};

struct AdmissionPlan {
  std::vector<Task> out;      // per request: the known task, or empty when fresh
  std::vector<size_t> fresh;  // the requests that create a task, in order
  // False when an `after` id of a fresh task has failed or been cancelled:
  // admission then fails that task, so the answer must wait for it.
  bool as_planned = true;
};

// The store reads PlanAdmission would make now: keys of `after` ids not in
// RAM, and request_ids that may belong to a finished task in the store.
struct StoreReads {
  std::vector<uint64_t> keys;
  std::vector<std::string> request_ids;
  bool empty() const { return keys.empty() && request_ids.empty(); }
};
StoreReads AdmissionReads(const std::vector<SubmitRequest>& requests, TaskTable& table);
// Makes them (the Store's reads may be called from any thread).
TaskTable::Prefetched ReadAhead(Store& store, const StoreReads& reads);

// `in_flight(rid)`: a submit with this request_id is being committed.
StatusOr<AdmissionPlan> PlanAdmission(const std::vector<SubmitRequest>& requests, TaskTable& table,
                                      const std::function<bool(const std::string&)>& in_flight);

}  // namespace taskd
