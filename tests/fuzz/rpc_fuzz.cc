// The request handling of every unary TaskService RPC, in-process: the
// first byte picks the RPC, the rest is its request on the wire, parsed as
// the server parses it (ParseCallRequest) and handed to the real TaskRpcs on a
// real TaskManager with a MemoryStore. Exec tasks get a spawner that refuses
// (nothing is run); handler tasks run the built-in handlers.
//
// Properties: a request that does not parse is INVALID_ARGUMENT naming a
// field; every call is answered exactly once, within 10 s; never UNKNOWN or
// INTERNAL; an answered response serializes and parses back.
#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "server/task_rpcs.h"
#include "server/wire.h"
#include "tests/fakes/io_pool.h"
#include "tests/fakes/spawners.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace taskd;
using namespace std::chrono_literals;

// A manager on its own io threads; replaced every kInputsPerManager inputs
// so that retained tasks do not pile up.
class Daemon {
 public:
  Daemon() {
    handlers_.RegisterBuiltins();
    ManagerOptions o;
    o.max_running = 4;
    o.max_pending = 500;
    o.log_dir =
        std::filesystem::temp_directory_path() / ("taskd-rpc-fuzz-" + std::to_string(::getpid()));
    o.spawner = &spawner_;
    manager_ = std::make_unique<TaskManager>(pool_.io(), o, store_, handlers_);
    FUZZ_CHECK(manager_->Start().ok());
    rpcs_ = std::make_unique<server::TaskRpcs>(*manager_, server::ServiceInfo{"fuzz", {}});
    pool_.Run(2);
  }
  ~Daemon() { pool_.Stop(*manager_, &store_); }
  server::TaskRpcs& rpcs() { return *rpcs_; }
  TaskManager& manager() { return *manager_; }

 private:
  testing::IoPool pool_;
  testing::FailingSpawner spawner_{
      Status(StatusCode::kFailedPrecondition, "the fuzzer runs no process")};
  MemoryStore store_;
  HandlerRegistry handlers_;
  std::unique_ptr<TaskManager> manager_;
  std::unique_ptr<server::TaskRpcs> rpcs_;
};

constexpr int kInputsPerManager = 5000;

// One RPC's handling of `bytes`; `waits`: the RPC registers a wait. Req and
// Resp come from the handler's own type.
template <typename Req, typename Resp>
void Call(Daemon& d,
          void (server::TaskRpcs::*method)(const Req&, Resp*, server::CallScope&, server::Done),
          std::string_view bytes, bool waits) {
  Req req;
  Status parsed = server::ParseCallRequest(bytes, &req);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.code() == StatusCode::kInvalidArgument);
    FUZZ_CHECK(parsed.message().find(": ") != std::string::npos);
    return;
  }
  Resp resp;
  server::CallScope scope;
  scope.until_deadline = 0ms;  // waits answer at once with the task as it is
  if (waits) scope.handle = d.manager().NewHandle();
  auto answered = std::make_shared<std::promise<Status>>();
  auto calls = std::make_shared<std::atomic<int>>(0);
  (d.rpcs().*method)(req, &resp, scope, [answered, calls](const Status& s) {
    FUZZ_CHECK(calls->fetch_add(1) == 0);
    answered->set_value(s);
  });
  auto f = answered->get_future();
  FUZZ_CHECK(f.wait_for(10s) == std::future_status::ready);
  Status s = f.get();
  FUZZ_CHECK(s.code() != StatusCode::kUnknown && s.code() != StatusCode::kInternal);
  if (s.ok()) {
    std::string out;
    FUZZ_CHECK(resp.SerializeToString(&out));
    Resp back;
    FUZZ_CHECK(back.ParseFromString(out));
  }
}

template <auto kMethod, bool kWaits>
void Fuzz(Daemon& d, std::string_view bytes) {
  Call(d, kMethod, bytes, kWaits);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static int inputs = 0;
  static std::unique_ptr<Daemon> daemon;
  if (!daemon || ++inputs % kInputsPerManager == 0) {
    google::protobuf::SetLogHandler(nullptr);  // parse failures are expected here
    spdlog::set_level(spdlog::level::off);
    const bool first = !daemon;
    daemon.reset();
    daemon = std::make_unique<Daemon>();
    // Stopped before the statics it uses (spdlog's registry, the clock) are
    // destroyed at exit: registered after they were made, it runs first.
    if (first) std::atexit([] { daemon.reset(); });
  }
  if (size == 0) return 0;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  using namespace taskd::server;
  Daemon& d = *daemon;
  // The first byte picks the RPC; `true`: one that registers a wait.
  using Rpc = void (*)(Daemon&, std::string_view);
  static constexpr Rpc kRpcs[] = {
      &Fuzz<&TaskRpcs::SubmitTask, false>, &Fuzz<&TaskRpcs::BatchSubmitTasks, false>,
      &Fuzz<&TaskRpcs::RunTask, true>,     &Fuzz<&TaskRpcs::GetTask, false>,
      &Fuzz<&TaskRpcs::ListTasks, false>,  &Fuzz<&TaskRpcs::CancelTask, true>,
      &Fuzz<&TaskRpcs::WaitTask, true>,    &Fuzz<&TaskRpcs::ReportProgress, false>,
      &Fuzz<&TaskRpcs::DeleteTask, false>, &Fuzz<&TaskRpcs::GetServerInfo, false>,
  };
  kRpcs[data[0] % std::size(kRpcs)](d, bytes);
  return 0;
}
