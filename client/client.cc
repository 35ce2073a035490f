#include "client/client.h"

#include <random>
#include <thread>

namespace taskd::client {

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

grpc::Status Client::Submit(const v1::TaskSpec& spec, v1::Task* out, std::string request_id) {
  v1::SubmitTaskRequest req;
  *req.mutable_spec() = spec;
  req.set_request_id(request_id.empty() ? NewRequestId() : std::move(request_id));
  grpc::Status status;
  auto backoff = std::chrono::milliseconds(100);
  for (int attempt = 1; attempt <= std::max(1, options_.submit_attempts); ++attempt) {
    grpc::ClientContext ctx;
    Prepare(ctx);
    status = stub_->SubmitTask(&ctx, req, out);
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE &&
        status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
      break;
    }
    if (attempt < options_.submit_attempts) {
      std::this_thread::sleep_for(backoff);
      backoff *= 2;
    }
  }
  return status;
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

grpc::Status Client::Cancel(const std::string& id, std::optional<std::chrono::milliseconds> grace,
                            v1::Task* out) {
  grpc::ClientContext ctx;
  Prepare(ctx, false);
  // Cancel answers once the task has stopped, which takes up to its grace.
  ctx.set_deadline(std::chrono::system_clock::now() + options_.deadline +
                   grace.value_or(std::chrono::milliseconds(0)));
  v1::CancelTaskRequest req;
  req.set_id(id);
  if (grace) {
    req.mutable_grace()->set_seconds(grace->count() / 1000);
    req.mutable_grace()->set_nanos(static_cast<int32_t>(grace->count() % 1000) * 1000000);
  }
  return stub_->CancelTask(&ctx, req, out);
}

grpc::Status Client::Wait(const std::string& id, std::optional<std::chrono::milliseconds> timeout,
                          v1::Task* out) {
  grpc::ClientContext ctx;
  Prepare(ctx, false);
  v1::WaitTaskRequest req;
  req.set_id(id);
  if (timeout) {
    req.mutable_timeout()->set_seconds(timeout->count() / 1000);
    req.mutable_timeout()->set_nanos(static_cast<int32_t>(timeout->count() % 1000) * 1000000);
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
  grpc::ClientContext ctx;
  Prepare(ctx, false);
  auto reader = stub_->WatchTasks(&ctx, request);
  v1::TaskEvent event;
  while (reader->Read(&event)) {
    if (!on_event(event)) {
      ctx.TryCancel();
      while (reader->Read(&event)) {
      }
      break;
    }
  }
  return reader->Finish();
}

grpc::Status Client::ServerInfo(v1::ServerInfo* out) {
  grpc::ClientContext ctx;
  Prepare(ctx);
  return stub_->GetServerInfo(&ctx, v1::GetServerInfoRequest{}, out);
}

}  // namespace taskd::client
