#include "client/client.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

#include "common/default_address.h"
#include "common/token.h"

namespace taskd::client {
namespace {

void SetDuration(google::protobuf::Duration* out, std::chrono::milliseconds d) {
  out->set_seconds(d.count() / 1000);
  out->set_nanos(static_cast<int32_t>(d.count() % 1000) * 1000000);
}

}  // namespace

Client::Client(ClientOptions options) : options_(std::move(options)) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (options_.tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options_.tls_ca_pem;
    ssl.pem_cert_chain = options_.tls_cert_pem;
    ssl.pem_private_key = options_.tls_key_pem;
    creds = grpc::SslCredentials(ssl);
    if (!options_.tls_server_name.empty()) {
      args.SetSslTargetNameOverride(options_.tls_server_name);
    }
  } else {
    creds = grpc::InsecureChannelCredentials();
  }
  channel_ = grpc::CreateCustomChannel(options_.address, creds, args);
  stub_ = v1::TaskService::NewStub(channel_);
}

void Client::Authorize(grpc::ClientContext& ctx) const {
  if (!options_.token.empty()) ctx.AddMetadata("authorization", "Bearer " + options_.token);
}

void Client::Prepare(grpc::ClientContext& ctx, bool with_deadline) const {
  if (with_deadline) ctx.set_deadline(std::chrono::system_clock::now() + options_.deadline);
  Authorize(ctx);
}

std::string NewRequestId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t a = rng(), b = rng();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 1
  char buf[37];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                static_cast<unsigned>(b >> 48),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

// Runs `call(ctx)` up to options_.submit_attempts times while it fails with
// UNAVAILABLE or DEADLINE_EXCEEDED, backing off 100 ms, 200 ms, ... The
// request must carry its request_id already, so a retry is the same request.
template <typename Call>
grpc::Status Client::Retrying(Call&& call, std::chrono::milliseconds extra_deadline) const {
  grpc::Status status;
  auto backoff = std::chrono::milliseconds(100);
  int attempts = std::max(1, options_.submit_attempts);
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    grpc::ClientContext ctx;
    Prepare(ctx, false);
    ctx.set_deadline(std::chrono::system_clock::now() + options_.deadline + extra_deadline);
    status = call(ctx);
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE &&
        status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
      break;
    }
    if (attempt < attempts) {
      std::this_thread::sleep_for(backoff);
      backoff *= 2;
    }
  }
  return status;
}

grpc::Status Client::Submit(const v1::TaskSpec& spec, v1::Task* out, std::string request_id) {
  v1::SubmitTaskRequest req;
  *req.mutable_spec() = spec;
  req.set_request_id(request_id.empty() ? NewRequestId() : std::move(request_id));
  return Retrying([&](grpc::ClientContext& ctx) { return stub_->SubmitTask(&ctx, req, out); });
}

grpc::Status Client::BatchSubmit(const std::vector<v1::TaskSpec>& specs, std::vector<v1::Task>* out,
                                 std::vector<std::string> request_ids) {
  v1::BatchSubmitTasksRequest req;
  for (size_t i = 0; i < specs.size(); ++i) {
    auto* r = req.add_requests();
    *r->mutable_spec() = specs[i];
    bool given = i < request_ids.size() && !request_ids[i].empty();
    r->set_request_id(given ? std::move(request_ids[i]) : NewRequestId());
  }
  v1::BatchSubmitTasksResponse resp;
  auto status =
      Retrying([&](grpc::ClientContext& ctx) { return stub_->BatchSubmitTasks(&ctx, req, &resp); });
  if (status.ok() && out) {
    out->assign(std::make_move_iterator(resp.mutable_tasks()->begin()),
                std::make_move_iterator(resp.mutable_tasks()->end()));
  }
  return status;
}

grpc::Status Client::Run(const v1::TaskSpec& spec, std::optional<std::chrono::milliseconds> timeout,
                         v1::Task* out, std::string request_id) {
  v1::RunTaskRequest req;
  *req.mutable_spec() = spec;
  req.set_request_id(request_id.empty() ? NewRequestId() : std::move(request_id));
  if (timeout) SetDuration(req.mutable_timeout(), *timeout);
  // Without a timeout the task may run for long: no deadline then.
  auto extra = timeout.value_or(std::chrono::hours(24 * 365));
  return Retrying([&](grpc::ClientContext& ctx) { return stub_->RunTask(&ctx, req, out); }, extra);
}

grpc::Status Client::Get(const std::string& id, v1::Task* out) {
  grpc::ClientContext ctx;
  Prepare(ctx);
  v1::GetTaskRequest req;
  req.set_id(id);
  return stub_->GetTask(&ctx, req, out);
}

grpc::Status Client::List(const v1::ListTasksRequest& request, v1::ListTasksResponse* out) {
  grpc::ClientContext ctx;
  Prepare(ctx);
  return stub_->ListTasks(&ctx, request, out);
}

grpc::Status Client::ListAll(v1::ListTasksRequest request,
                             const std::function<bool(const v1::Task&)>& on_task) {
  if (request.page_size() == 0) request.set_page_size(1000);
  request.clear_page_token();
  do {
    v1::ListTasksResponse page;
    auto status = List(request, &page);
    if (!status.ok()) return status;
    for (const auto& t : page.tasks()) {
      if (!on_task(t)) return grpc::Status::OK;
    }
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  return grpc::Status::OK;
}

grpc::Status Client::ListAll(v1::ListTasksRequest request, std::vector<v1::Task>* out,
                             size_t limit) {
  if (limit > 0 && (request.page_size() == 0 || static_cast<size_t>(request.page_size()) > limit))
    request.set_page_size(static_cast<int32_t>(std::min<size_t>(limit, 1000)));
  return ListAll(std::move(request), [&](const v1::Task& t) {
    out->push_back(t);
    return limit == 0 || out->size() < limit;
  });
}

grpc::Status Client::Cancel(const std::string& id, std::optional<std::chrono::milliseconds> grace,
                            v1::Task* out) {
  grpc::ClientContext ctx;
  Prepare(ctx, false);
  // Cancel answers once the task has stopped, which takes up to its grace.
  ctx.set_deadline(std::chrono::system_clock::now() + options_.deadline +
                   grace.value_or(std::chrono::milliseconds(0)));
  v1::CancelTaskRequest req;
  req.set_id(id);
  if (grace) SetDuration(req.mutable_grace(), *grace);
  return stub_->CancelTask(&ctx, req, out);
}

grpc::Status Client::Wait(const std::string& id, std::optional<std::chrono::milliseconds> timeout,
                          v1::Task* out) {
  grpc::ClientContext ctx;
  Prepare(ctx, false);
  v1::WaitTaskRequest req;
  req.set_id(id);
  if (timeout) {
    SetDuration(req.mutable_timeout(), *timeout);
    ctx.set_deadline(std::chrono::system_clock::now() + *timeout + options_.deadline);
  }
  return stub_->WaitTask(&ctx, req, out);
}

grpc::Status Client::ReportProgress(const std::string& id, double percent,
                                    const std::string& message, v1::Task* out) {
  grpc::ClientContext ctx;
  Prepare(ctx);
  v1::ReportProgressRequest req;
  req.set_id(id);
  req.set_percent(percent);
  req.set_message(message);
  return stub_->ReportProgress(&ctx, req, out);
}

grpc::Status Client::Delete(const std::string& id) {
  grpc::ClientContext ctx;
  Prepare(ctx);
  v1::DeleteTaskRequest req;
  req.set_id(id);
  google::protobuf::Empty empty;
  return stub_->DeleteTask(&ctx, req, &empty);
}

grpc::Status Client::ReadLogs(const v1::ReadTaskLogsRequest& request,
                              const std::function<void(const v1::LogChunk&)>& on_chunk) {
  grpc::ClientContext ctx;
  Prepare(ctx, !request.follow());
  auto reader = stub_->ReadTaskLogs(&ctx, request);
  v1::LogChunk chunk;
  while (reader->Read(&chunk)) on_chunk(chunk);
  return reader->Finish();
}

grpc::Status Client::Watch(const v1::WatchTasksRequest& request,
                           const std::function<bool(const v1::TaskEvent&)>& on_event) {
  auto watch = Watch(request);
  v1::TaskEvent event;
  while (watch->Next(&event)) {
    if (!on_event(event)) {
      watch->Cancel();
      break;
    }
  }
  return watch->Finish();
}

std::unique_ptr<Client::TaskWatch> Client::Watch(const v1::WatchTasksRequest& request) {
  return std::unique_ptr<TaskWatch>(new TaskWatch(*this, request));
}

Client::TaskWatch::TaskWatch(const Client& client, const v1::WatchTasksRequest& request)
    : client_(client), request_(request) {
  client_.Prepare(ctx_, false);
  batches_ = client_.stub_->WatchTasksBatched(&ctx_, request_);
}

Client::TaskWatch::~TaskWatch() {
  if (!finished_) {
    Cancel();
    (void)Finish();
  }
}

void Client::TaskWatch::FallBack() {
  std::lock_guard l(mu_);
  v1_ctx_ = std::make_unique<grpc::ClientContext>();
  client_.Prepare(*v1_ctx_, false);
  if (cancelled_) v1_ctx_->TryCancel();
  events_ = client_.stub_->WatchTasks(v1_ctx_.get(), request_);
}

bool Client::TaskWatch::Next(v1::TaskEvent* event) {
  if (finished_) return false;
  if (!events_) {
    while (next_ >= batch_.events_size()) {
      if (!batches_->Read(&batch_)) {
        // Finish needs every message read first: there are none left.
        status_ = batches_->Finish();
        if (got_batch_ || status_.error_code() != grpc::StatusCode::UNIMPLEMENTED) {
          finished_ = true;
          return false;
        }
        FallBack();
        break;
      }
      got_batch_ = true;
      next_ = 0;
    }
    if (!events_) {
      event->Swap(batch_.mutable_events(next_++));
      return true;
    }
  }
  if (events_->Read(event)) return true;
  status_ = events_->Finish();
  finished_ = true;
  return false;
}

void Client::TaskWatch::Cancel() {
  std::lock_guard l(mu_);
  cancelled_ = true;
  ctx_.TryCancel();
  if (v1_ctx_) v1_ctx_->TryCancel();
}

grpc::Status Client::TaskWatch::Finish() {
  // Finish needs every message read first (Next finishes the call at the end).
  v1::TaskEvent drain;
  while (Next(&drain)) {
  }
  return status_;
}

ClientOptions OptionsFromEnvironment() {
  ClientOptions o;
  const char* addr = std::getenv("TASKD_ADDR");
  o.address = addr && *addr ? addr : DefaultAddress();
  if (const char* f = std::getenv("TASKD_TOKEN_FILE"); f && *f) {
    try {
      o.token = ReadTokenFile(f);
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(std::string("TASKD_TOKEN_FILE: ") + e.what());
    }
  }
  return o;
}

std::string ReadTokenFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string why;
  std::optional<std::string> token = TokenFromFile(content, &why);
  if (!token) throw std::runtime_error(path + ": " + why);
  return std::move(*token);
}

grpc::Status Client::ServerInfo(v1::ServerInfo* out) {
  grpc::ClientContext ctx;
  Prepare(ctx);
  return stub_->GetServerInfo(&ctx, v1::GetServerInfoRequest{}, out);
}

}  // namespace taskd::client
