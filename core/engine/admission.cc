#include "core/engine/admission.h"

namespace taskd {

StatusOr<AdmissionPlan> PlanAdmission(const std::vector<SubmitRequest>& requests, TaskTable& table,
                                      const std::function<bool(const std::string&)>& in_flight) {
  const bool single = requests.size() == 1;
  AdmissionPlan plan;
  plan.out.resize(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& rid = requests[i].request_id;
    if (!rid.empty()) {
      if (const Task* known = table.ByRequestId(rid)) {
        plan.out[i] = *known;
        continue;
      }
      if (in_flight(rid)) {
        return Status(StatusCode::kAborted,
                      "request_id '" + rid + "' is being submitted by another call; retry");
      }
      auto stored = table.StoredByRequestId(rid);
      if (!stored.ok()) return stored.status();
      if (*stored) {
        plan.out[i] = std::move(**stored);
        continue;
      }
    }
    const auto& after = requests[i].spec.after;
    for (size_t j = 0; j < after.size(); ++j) {
      if (auto d = table.Find(after[j]); d != table.end()) {
        if (FailsDependents(d->second.task.state)) plan.as_planned = false;
        continue;
      }
      auto stored = table.ReadStored(after[j]);  // nullopt from a store that keeps nothing
      if (!stored.ok()) return stored.status();
      if (*stored) {
        if (FailsDependents((*stored)->state)) plan.as_planned = false;
        continue;
      }
      std::string field = single ? "spec" : "requests[" + std::to_string(i) + "].spec";
      return InvalidArgument(field + ".after[" + std::to_string(j) + "]",
                             "unknown task " + Quote(after[j]));
    }
    plan.fresh.push_back(i);
  }
  return plan;
}

StoreReads AdmissionReads(const std::vector<SubmitRequest>& requests, TaskTable& table) {
  StoreReads reads;
  if (!table.evicts()) return reads;  // a store that serves no reads: nothing is read
  for (const auto& r : requests) {
    if (!r.request_id.empty()) {
      const Task* known = table.ByRequestId(r.request_id);
      // In RAM (and staying there while the reads are out), or not in the store.
      if (known ? table.LeavingRam(TaskKey(known->id))
                : table.ended().MayHaveRequestId(RequestIdHash(r.request_id))) {
        reads.request_ids.push_back(r.request_id);
      }
    }
    for (uint64_t key : table.OnlyInStore(r.spec.after)) reads.keys.push_back(key);
  }
  return reads;
}

TaskTable::Prefetched ReadAhead(Store& store, const StoreReads& reads) {
  TaskTable::Prefetched out;
  for (uint64_t key : reads.keys) {
    auto t = store.Read(key);
    if (!t.ok()) {
      out.status = t.status();
      return out;
    }
    out.by_key.emplace(key, std::move(t).value());
  }
  for (const auto& rid : reads.request_ids) {
    auto tasks = store.ReadByRequestId(rid);
    if (!tasks.ok()) {
      out.status = tasks.status();
      return out;
    }
    out.by_request_id.emplace(rid, std::move(tasks).value());
  }
  return out;
}

}  // namespace taskd
