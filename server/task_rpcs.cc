#include "server/task_rpcs.h"

#include "server/convert.h"
#include "server/page_token.h"

namespace taskd::server {

namespace {

std::optional<Duration> Earliest(std::optional<Duration> a, std::optional<Duration> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

// The optional duration `field` of a request, when `present`.
StatusOr<std::optional<Duration>> OptionalDuration(bool present,
                                                   const google::protobuf::Duration& d,
                                                   const std::string& field) {
  if (!present) return std::optional<Duration>();
  auto t = DurationFromProto(d, field);
  if (!t.ok()) return t.status();
  return std::optional<Duration>(*t);
}

// The manager answers on its strand, or, for a submit it wrote, on the
// store's commit thread. `answer` (the conversion to protobuf, the
// serialization and the call's Finish) runs where the answer came, unless
// that is the strand: then on an io thread, so none of it is strand time.
// A batch's answer always goes to an io thread: its conversion would hold
// up the writer's next commit.
template <typename Result, typename F>
std::function<void(Result)> OffStrand(const Strand& strand, F answer, bool always_io = false) {
  return [strand, always_io, answer = std::move(answer)](Result r) mutable {
    if (!always_io && !strand.running_in_this_thread()) return answer(std::move(r));
    asio::post(strand.get_inner_executor(),
               [answer, r = std::move(r)]() mutable { answer(std::move(r)); });
  };
}

// Fills `resp` from a task the manager answered with, then finishes (off
// the strand).
Callback<Task> TaskAnswer(const Strand& strand, v1::Task* resp, Done done) {
  return OffStrand<StatusOr<Task>>(strand, [resp, done = std::move(done)](StatusOr<Task> t) {
    if (t.ok()) TaskToProto(*t, resp);
    done(t.status());
  });
}

}  // namespace

void TaskRpcs::OnStrand(CallScope& scope, v1::Task* resp, Done done, Starter start) {
  asio::post(manager_.strand(), [&scope, strand = manager_.strand(), resp, done = std::move(done),
                                 start = std::move(start)] {
    if (scope.cancelled.load()) {
      done(Status(StatusCode::kCancelled, "cancelled by the client"));
      return;
    }
    start(TaskAnswer(strand, resp, done));
  });
}

void TaskRpcs::SubmitTask(const v1::SubmitTaskRequest& req, v1::Task* resp, CallScope& /*scope*/,
                          Done done) {
  if (!req.has_spec()) return done(InvalidArgument("spec", "is required"));
  auto spec = SpecFromProto(req.spec(), "spec");
  if (!spec.ok()) return done(spec.status());
  manager_.Submit(SubmitRequest{std::move(spec).value(), req.request_id()},
                  TaskAnswer(manager_.strand(), resp, std::move(done)));
}

void TaskRpcs::BatchSubmitTasks(const v1::BatchSubmitTasksRequest& req,
                                v1::BatchSubmitTasksResponse* resp, CallScope& /*scope*/,
                                Done done) {
  if (req.requests_size() > 1000) {
    return done(InvalidArgument("requests", "must hold at most 1000 entries"));
  }
  std::vector<SubmitRequest> requests;
  requests.reserve(static_cast<size_t>(req.requests_size()));
  for (int i = 0; i < req.requests_size(); ++i) {
    std::string field = "requests[" + std::to_string(i) + "].spec";
    const auto& one = req.requests(i);
    if (!one.has_spec()) return done(InvalidArgument(field, "is required"));
    auto spec = SpecFromProto(one.spec(), field);
    if (!spec.ok()) return done(spec.status());
    requests.push_back(SubmitRequest{std::move(spec).value(), one.request_id()});
  }
  manager_.BatchSubmit(std::move(requests),
                       OffStrand<StatusOr<std::vector<Task>>>(
                           manager_.strand(),
                           [resp, done = std::move(done)](StatusOr<std::vector<Task>> tasks) {
                             if (tasks.ok()) {
                               for (const auto& t : *tasks) TaskToProto(t, resp->add_tasks());
                             }
                             done(tasks.status());
                           },
                           /*always_io=*/true));
}

void TaskRpcs::RunTask(const v1::RunTaskRequest& req, v1::Task* resp, CallScope& scope, Done done) {
  if (!req.has_spec()) return done(InvalidArgument("spec", "is required"));
  auto spec = SpecFromProto(req.spec(), "spec");
  if (!spec.ok()) return done(spec.status());
  auto timeout_field = OptionalDuration(req.has_timeout(), req.timeout(), "timeout");
  if (!timeout_field.ok()) return done(timeout_field.status());
  std::optional<Duration> timeout = *timeout_field;
  timeout = Earliest(timeout, scope.until_deadline);
  OnStrand(scope, resp, std::move(done),
           [this, &scope, timeout,
            request = std::make_shared<SubmitRequest>(
                SubmitRequest{std::move(spec).value(), req.request_id()})](Callback<Task> answer) {
             auto wait = [this, &scope, timeout, answer](StatusOr<Task> t) {
               // On the strand; `scope` lives until `answer` runs.
               if (!t.ok()) {
                 answer(t.status());
               } else if (scope.cancelled.load()) {
                 answer(Status(StatusCode::kCancelled, "cancelled by the client"));
               } else {
                 manager_.WaitOnStrand(scope.handle, t->id, timeout, answer);
               }
             };
             // A written submit is answered on the commit thread, after its
             // admission was posted to the strand: the wait goes there next.
             manager_.Submit(std::move(*request), [this, wait](StatusOr<Task> t) {
               if (manager_.strand().running_in_this_thread()) return wait(std::move(t));
               asio::post(manager_.strand(),
                          [wait, t = std::move(t)]() mutable { wait(std::move(t)); });
             });
           });
}

void TaskRpcs::GetTask(const v1::GetTaskRequest& req, v1::Task* resp, CallScope& /*scope*/,
                       Done done) {
  manager_.Get(req.id(), TaskAnswer(manager_.strand(), resp, std::move(done)));
}

void TaskRpcs::ListTasks(const v1::ListTasksRequest& req, v1::ListTasksResponse* resp,
                         CallScope& /*scope*/, Done done) {
  if (req.page_size() < 0) return done(InvalidArgument("page_size", "must not be negative"));
  ListRequest list;
  list.page_size = static_cast<size_t>(
      req.page_size() == 0 ? kDefaultPageSize : std::min(req.page_size(), kMaxPageSize));
  if (!req.page_token().empty()) {
    auto cursor = DecodePageToken(req.page_token());
    if (!cursor.ok()) return done(cursor.status());
    list.start_after = *cursor;
  }
  auto filter = FilterFromProto(req);
  if (!filter.ok()) return done(filter.status());
  list.filter = std::move(*filter);
  manager_.List(std::move(list),
                OffStrand<StatusOr<ListResult>>(
                    manager_.strand(), [resp, done = std::move(done)](StatusOr<ListResult> result) {
                      if (result.ok()) {
                        for (const auto& t : result->tasks) TaskToProto(t, resp->add_tasks());
                        if (!result->last_id.empty()) {
                          resp->set_next_page_token(EncodePageToken(result->last_id));
                        }
                      }
                      done(result.status());
                    }));
}

void TaskRpcs::CancelTask(const v1::CancelTaskRequest& req, v1::Task* resp, CallScope& scope,
                          Done done) {
  auto grace_field = OptionalDuration(req.has_grace(), req.grace(), "grace");
  if (!grace_field.ok()) return done(grace_field.status());
  std::optional<Duration> grace = *grace_field;
  // Answers once the task has stopped; a client that gives up ends the call
  // (the task is still stopped).
  OnStrand(scope, resp, std::move(done),
           [this, &scope, id = req.id(), grace](Callback<Task> answer) {
             manager_.CancelOnStrand(scope.handle, id, grace, std::move(answer));
           });
}

void TaskRpcs::WaitTask(const v1::WaitTaskRequest& req, v1::Task* resp, CallScope& scope,
                        Done done) {
  auto timeout_field = OptionalDuration(req.has_timeout(), req.timeout(), "timeout");
  if (!timeout_field.ok()) return done(timeout_field.status());
  std::optional<Duration> timeout = *timeout_field;
  timeout = Earliest(timeout, scope.until_deadline);
  OnStrand(scope, resp, std::move(done),
           [this, &scope, id = req.id(), timeout](Callback<Task> answer) {
             manager_.WaitOnStrand(scope.handle, id, timeout, std::move(answer));
           });
}

void TaskRpcs::ReportProgress(const v1::ReportProgressRequest& req, v1::Task* resp,
                              CallScope& /*scope*/, Done done) {
  manager_.ReportProgress(req.id(), req.percent(), req.message(),
                          TaskAnswer(manager_.strand(), resp, std::move(done)));
}

void TaskRpcs::DeleteTask(const v1::DeleteTaskRequest& req, google::protobuf::Empty* /*resp*/,
                          CallScope& /*scope*/, Done done) {
  manager_.Delete(req.id(), OffStrand<Status>(manager_.strand(), std::move(done)));
}

void TaskRpcs::GetServerInfo(const v1::GetServerInfoRequest& /*req*/, v1::ServerInfo* resp,
                             CallScope& /*scope*/, Done done) {
  resp->set_version(info_.version);
  TimeToProto(info_.start_time, resp->mutable_start_time());
  resp->set_max_running(manager_.options().max_running);
  resp->set_max_pending(static_cast<int32_t>(manager_.options().max_pending));
  for (const auto& name : manager_.handlers().Names()) resp->add_handlers(name);
  resp->set_store(manager_.store_name());
  done(OkStatus());
}

}  // namespace taskd::server
