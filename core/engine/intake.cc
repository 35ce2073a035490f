#include "core/engine/intake.h"

#include <algorithm>

namespace taskd {

namespace {

bool HasAfter(const std::vector<SubmitRequest>& requests) {
  return std::any_of(requests.begin(), requests.end(),
                     [](const SubmitRequest& r) { return !r.spec.after.empty(); });
}

}  // namespace

void Intake::EndRead(const std::shared_ptr<const TaskTable::Prefetched>& ahead) {
  if (ahead && ahead->ticket != 0) driver_.EndOutsideRead(ahead->ticket);
}

void Intake::Submit(std::vector<SubmitRequest> requests, Callback<std::vector<Task>> done,
                    std::shared_ptr<const TaskTable::Prefetched> ahead) {
  driver_.OnStrand("Intake::Submit");
  // The read made ahead is held until the tasks are admitted (so the tasks
  // it did not read stay in RAM); every way out ends it.
  auto refuse = [&](Status s) {
    EndRead(ahead);
    done(std::move(s));
  };
  if (driver_.shutting_down()) return refuse(Unavailable("taskd is shutting down"));
  const bool single = requests.size() == 1;
  // A repeated request_id of a single submit whose first request is still
  // being committed waits for that commit.
  if (single && !requests[0].request_id.empty()) {
    auto it = inflight_.find(requests[0].request_id);
    if (it != inflight_.end()) {
      EndRead(ahead);
      it->second.push_back([done](StatusOr<Task> t) {
        if (!t.ok()) {
          done(t.status());
        } else {
          done(std::vector<Task>{std::move(t).value()});
        }
      });
      return;
    }
  }
  if (!ahead) {
    // What the plan would read from the store is read on an io thread
    // first; then the submit comes back here with the answers.
    StoreReads reads = AdmissionReads(requests, table());
    if (!reads.empty() || HasAfter(requests)) {
      const uint64_t ticket = table().BeginOutsideRead();
      if (!reads.empty()) {
        RunOffStrand(
            strand_,
            [this, ticket, reads = std::move(reads)] {
              auto got = std::make_shared<TaskTable::Prefetched>(ReadAhead(store_, reads));
              got->ticket = ticket;
              return std::shared_ptr<const TaskTable::Prefetched>(std::move(got));
            },
            [this, requests = std::move(requests),
             done = std::move(done)](std::shared_ptr<const TaskTable::Prefetched> got) mutable {
              Submit(std::move(requests), std::move(done), std::move(got));
            });
        return;
      }
      // Nothing to read: the ticket alone keeps the `after` tasks in RAM.
      auto held = std::make_shared<TaskTable::Prefetched>();
      held->ticket = ticket;
      ahead = std::move(held);
    }
  } else if (!ahead->status.ok()) {
    return refuse(ahead->status);
  }
  auto plan = [&] {
    TaskTable::Using reads(table(), ahead.get());
    return PlanAdmission(requests, table(),
                         [this](const std::string& rid) { return inflight_.count(rid) > 0; });
  }();
  if (!plan.ok()) return refuse(plan.status());
  std::vector<Task> out = std::move(plan->out);
  std::vector<size_t> fresh = std::move(plan->fresh);  // the requests that create a task
  if (driver_.pending() + fresh.size() > options_.max_pending) {
    return refuse(ResourceExhausted("the pending task limit (" +
                                    std::to_string(options_.max_pending) +
                                    ") is reached; retry later"));
  }
  if (fresh.empty()) {
    EndRead(ahead);
    done(std::move(out));
    return;
  }
  std::vector<StoreOp> ops;
  ops.reserve(fresh.size());
  WallTime now = clock_.WallNow();
  for (size_t i : fresh) {
    Task t;
    t.id = NewTaskId();
    t.request_id = std::move(requests[i].request_id);
    t.spec = std::move(requests[i].spec);
    t.state = TaskState::kPending;
    t.create_time = now;
    if (t.spec.not_before && *t.spec.not_before > now) t.next_attempt_time = t.spec.not_before;
    if (!t.request_id.empty()) inflight_[t.request_id.str()];
    if (store_.durable()) ops.push_back(StoreOp{StoreOp::Kind::kPut, t, {}});
    out[i] = std::move(t);
  }
  driver_.AddPending(fresh.size());
  // The acknowledgement waits for the commit; the tasks are admitted only
  // once committed, so no task runs that a crash could forget. When
  // admission cannot change a task the plan made (no `after` id had failed),
  // the commit thread answers, once it has posted the admission: a call made
  // after the answer reaches the strand after the tasks. Otherwise the strand
  // answers, with the tasks as admitted.
  store_.Write(std::move(ops),
               [this, out = std::move(out), fresh = std::move(fresh), ahead,
                as_planned = plan->as_planned, done = std::move(done)](Status s) mutable {
                 auto admit = [this, s, ahead](std::vector<Task> tasks) {
                   AdmitCommitted(s, tasks, ahead.get());
                   EndRead(ahead);
                   driver_.Dispatch();
                   return tasks;
                 };
                 if (s.ok() && as_planned && !strand_.running_in_this_thread()) {
                   std::vector<Task> committed;
                   committed.reserve(fresh.size());
                   for (size_t i : fresh) committed.push_back(out[i]);
                   asio::post(strand_, [admit, committed = std::move(committed)]() mutable {
                     admit(std::move(committed));
                   });
                   done(std::move(out));
                   return;
                 }
                 auto answer = [admit, s, out = std::move(out), fresh = std::move(fresh),
                                done = std::move(done)]() mutable {
                   std::vector<Task> committed;
                   committed.reserve(fresh.size());
                   for (size_t i : fresh) committed.push_back(std::move(out[i]));
                   committed = admit(std::move(committed));
                   if (!s.ok()) return done(s);
                   for (size_t k = 0; k < fresh.size(); ++k)
                     out[fresh[k]] = std::move(committed[k]);
                   done(std::move(out));
                 };
                 if (strand_.running_in_this_thread()) {
                   answer();  // a store that writes nothing answers at once
                 } else {
                   asio::post(strand_, std::move(answer));
                 }
               });
}

void Intake::AdmitCommitted(const Status& s, std::vector<Task>& tasks,
                            const TaskTable::Prefetched* ahead) {
  driver_.OnStrand("Intake::AdmitCommitted");
  driver_.SubPending(tasks.size());
  for (Task& task : tasks) {
    std::vector<Callback<Task>> followers;
    if (const auto& rid = task.request_id; !rid.empty()) {
      auto it = inflight_.find(rid.str());
      if (it != inflight_.end()) {
        followers = std::move(it->second);
        inflight_.erase(it);
      }
    }
    if (!s.ok()) {
      for (auto& f : followers) f(s);
      continue;
    }
    driver_.AddPending(1);
    std::string id = task.id;
    {
      // Admit reads the state of `after` ids that are only in the store.
      TaskTable::Using reads(table(), ahead);
      driver_.Admit(std::move(task), /*recovered=*/false);
    }
    task = table().Find(id)->second.task;  // as admitted: it may have ended already
    for (auto& f : followers) f(task);
  }
}

}  // namespace taskd
