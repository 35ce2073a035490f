// taskctl's commands about taskd itself: version, health and top.
#include <grpcpp/generic/generic_stub.h>

#include <cstdio>
#include <future>

#include "taskctl/commands.h"

#ifndef TASKD_VERSION
#define TASKD_VERSION "dev"
#endif

namespace taskd::taskctl {

namespace {

class Version final : public Command {
 public:
  using Command::Command;
  int Run(Context& ctx) override {
    std::printf("taskctl %s\n", TASKD_VERSION);
    v1::ServerInfo info;
    auto s = ctx.client.ServerInfo(&info);
    if (!s.ok()) return Fail(s, ctx.addr);
    std::printf("taskd   %s (%s store, max %d running, at %s)\n", info.version().c_str(),
                info.store().c_str(), info.max_running(), ctx.addr.c_str());
    return 0;
  }
};

class Health final : public Command {
 public:
  using Command::Command;
  int Run(Context& ctx) override {
    // grpc.health.v1.Health/Check with service "": an empty request; the
    // answer is HealthCheckResponse{status = 1 (SERVING) | 2 (NOT_SERVING)}.
    grpc::GenericStub stub(ctx.client.channel());
    grpc::ClientContext call;
    call.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Slice empty("", 0);  // a ByteBuffer must hold a slice, even an empty one
    grpc::ByteBuffer req(&empty, 1), resp;
    grpc::Status status;
    std::promise<void> done;
    stub.UnaryCall(&call, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &req, &resp,
                   [&](grpc::Status s) {
                     status = std::move(s);
                     done.set_value();
                   });
    done.get_future().wait();
    if (!status.ok()) return Fail(status, ctx.addr);
    std::vector<grpc::Slice> slices;
    std::string bytes;
    if (resp.Dump(&slices).ok()) {
      for (auto& sl : slices) bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
    }
    bool serving = bytes == std::string("\x08\x01", 2);
    std::printf("%s\n", serving ? "SERVING" : "NOT_SERVING");
    return serving ? 0 : 1;
  }
};

class Top final : public Command {
 public:
  using Command::Command;
  int Run(Context& ctx) override { return RunTop(ctx.client, ctx.addr); }
};

}  // namespace

void AddServerCommands(CLI::App& app, Commands& out) {
  out.push_back(std::make_unique<Version>(
      app.add_subcommand("version", "Show taskctl's and taskd's versions")));
  out.push_back(std::make_unique<Health>(app.add_subcommand(
      "health",
      "Ask taskd's gRPC health service; prints SERVING (exit 0) or NOT_SERVING (exit 1)")));
  out.push_back(std::make_unique<Top>(app.add_subcommand(
      "top", "Live full-screen view of running, pending and recently ended tasks (q quits)")));
}

}  // namespace taskd::taskctl
