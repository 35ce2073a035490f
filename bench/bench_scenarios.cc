#include "bench/bench_scenarios.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <random>
#include <thread>

namespace taskd::bench {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

namespace {

void Echo(const v1::TaskSpec& spec, v1::TaskState state, v1::Task* out) {
  out->set_id("0000000000000");
  out->set_state(state);
  *out->mutable_spec() = spec;
}

v1::TaskSpec Noop(const std::string& run = "") {
  v1::TaskSpec spec;
  spec.mutable_handler()->set_name("noop");
  if (!run.empty()) (*spec.mutable_labels())["run"] = run;
  return spec;
}

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// `callers` threads each calling `one` `calls` times; `one` returns false
// for a failed call. calls/s and each call's latency.
template <typename One>
Run Parallel(int callers, int calls, One one) {
  std::vector<std::vector<double>> lat(static_cast<size_t>(callers));
  std::atomic<int> failed{0};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < callers; ++i) {
    threads.emplace_back([&, i] {
      auto& mine = lat[static_cast<size_t>(i)];
      for (int k = 0; k < calls; ++k) {
        const auto t0 = Clock::now();
        if (!one(i)) {
          ++failed;
          continue;
        }
        mine.push_back(Micros(Clock::now() - t0));
      }
    });
  }
  for (auto& t : threads) t.join();
  const double secs = SecondsSince(start);
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  Run r;
  r.rate = static_cast<double>(all.size()) / secs;
  r.p50_us = Percentile(all, 0.5);
  r.p99_us = Percentile(all, 0.99);
  r.failed = failed.load();
  return r;
}

}  // namespace

grpc::ServerUnaryReactor* EchoService::SubmitTask(grpc::CallbackServerContext* ctx,
                                                  const v1::SubmitTaskRequest* req,
                                                  v1::Task* resp) {
  Echo(req->spec(), v1::TASK_STATE_PENDING, resp);
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* EchoService::BatchSubmitTasks(grpc::CallbackServerContext* ctx,
                                                        const v1::BatchSubmitTasksRequest* req,
                                                        v1::BatchSubmitTasksResponse* resp) {
  for (const auto& r : req->requests()) Echo(r.spec(), v1::TASK_STATE_PENDING, resp->add_tasks());
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* EchoService::RunTask(grpc::CallbackServerContext* ctx,
                                               const v1::RunTaskRequest* req, v1::Task* resp) {
  Echo(req->spec(), v1::TASK_STATE_COMPLETED, resp);
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

std::shared_ptr<grpc::Channel> Channel(const std::string& address, int n) {
  grpc::ChannelArguments args;
  args.SetInt("taskd.bench.channel", n);
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<v1::TaskService::Stub> Stub(const std::string& address, int n) {
  auto ch = Channel(address, n);
  ch->WaitForConnected(std::chrono::system_clock::now() + 10s);
  return v1::TaskService::NewStub(ch);
}

Run SubmitLoad(const std::string& address, int callers, int channels, int calls) {
  std::vector<std::unique_ptr<v1::TaskService::Stub>> stubs;
  for (int c = 0; c < channels; ++c) stubs.push_back(Stub(address, c));
  v1::SubmitTaskRequest req;
  *req.mutable_spec() = Noop();
  return Parallel(callers, calls, [&](int i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 30s);
    v1::Task resp;
    return stubs[static_cast<size_t>(i % channels)]->SubmitTask(&ctx, req, &resp).ok();
  });
}

Run BatchLoad(const std::string& address, int per_call, int tasks) {
  auto stub = Stub(address, 0);
  v1::BatchSubmitTasksRequest req;
  for (int i = 0; i < per_call; ++i) *req.add_requests()->mutable_spec() = Noop();
  std::vector<double> lat;
  Run r;
  size_t accepted = 0;
  auto start = Clock::now();
  for (int done = 0; done < tasks; done += per_call) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 60s);
    v1::BatchSubmitTasksResponse resp;
    auto t0 = Clock::now();
    if (!stub->BatchSubmitTasks(&ctx, req, &resp).ok()) {
      ++r.failed;
      continue;
    }
    lat.push_back(Micros(Clock::now() - t0));
    accepted += static_cast<size_t>(resp.tasks_size());
  }
  r.rate = static_cast<double>(accepted) / SecondsSince(start);
  r.p50_us = Percentile(lat, 0.5);
  r.p99_us = Percentile(lat, 0.99);
  return r;
}

Run RunLoad(const std::string& address, int calls) {
  auto stub = Stub(address, 0);
  v1::RunTaskRequest req;
  *req.mutable_spec() = Noop();
  std::vector<double> lat;
  Run r;
  auto start = Clock::now();
  for (int k = 0; k < calls; ++k) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 30s);
    v1::Task resp;
    auto t0 = Clock::now();
    if (!stub->RunTask(&ctx, req, &resp).ok() || resp.state() != v1::TASK_STATE_COMPLETED) {
      ++r.failed;
      continue;
    }
    lat.push_back(Micros(Clock::now() - t0));
  }
  r.rate = static_cast<double>(lat.size()) / SecondsSince(start);
  r.p50_us = Percentile(lat, 0.5);
  r.p99_us = Percentile(lat, 0.99);
  return r;
}

namespace {

// Submits `tasks` tasks of `spec`, 1,000 per call, handing each accepted id
// to `accepted`; false when a call failed.
template <typename OnAccepted>
bool SubmitBatches(v1::TaskService::Stub& stub, const v1::TaskSpec& spec, int tasks,
                   OnAccepted accepted) {
  v1::BatchSubmitTasksRequest req;
  for (int i = 0; i < std::min(1000, tasks); ++i) *req.add_requests()->mutable_spec() = spec;
  for (int done = 0; done < tasks;) {
    const int n = std::min(1000, tasks - done);
    while (req.requests_size() > n) req.mutable_requests()->RemoveLast();
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 60s);
    v1::BatchSubmitTasksResponse resp;
    auto s = stub.BatchSubmitTasks(&ctx, req, &resp);
    if (!s.ok()) {
      std::fprintf(stderr, "batch submit failed: %s\n", s.error_message().c_str());
      return false;
    }
    for (const auto& t : resp.tasks()) accepted(t.id());
    done += n;
  }
  return true;
}

// Noop tasks labelled run=`run`, over a channel of their own.
template <typename OnAccepted>
bool SubmitAll(const std::string& address, const std::string& run, int tasks, OnAccepted accepted) {
  auto stub = Stub(address, 901);
  return SubmitBatches(*stub, Noop(run), tasks, accepted);
}

std::string NewRunLabel() {
  static std::atomic<int> n{0};
  return "e2e-" + std::to_string(::getpid()) + "-" + std::to_string(++n);
}

// One stream of either RPC, read as events.
class EventStream {
 public:
  EventStream(v1::TaskService::Stub& stub, const v1::WatchTasksRequest& req, bool batched) {
    ctx_.set_deadline(std::chrono::system_clock::now() + 600s);
    if (batched) {
      batches_ = stub.WatchTasksBatched(&ctx_, req);
    } else {
      events_ = stub.WatchTasks(&ctx_, req);
    }
  }
  // Calls `each` for every event of the next message; false at the end.
  template <typename Each>
  bool Next(Each each) {
    if (batches_) {
      if (!batches_->Read(&batch_)) return false;
      for (const auto& e : batch_.events()) each(e);
      return true;
    }
    if (!events_->Read(&event_)) return false;
    each(event_);
    return true;
  }
  void Cancel() { ctx_.TryCancel(); }
  grpc::Status Finish() {
    while (Next([](const v1::TaskEvent&) {})) {
    }
    return batches_ ? batches_->Finish() : events_->Finish();
  }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::TaskEventBatch>> batches_;
  std::unique_ptr<grpc::ClientReader<v1::TaskEvent>> events_;
  v1::TaskEventBatch batch_;
  v1::TaskEvent event_;
};

Run WatchedEndToEnd(const std::string& address, int tasks, bool batched) {
  const std::string run = NewRunLabel();
  auto stub = Stub(address, 900);
  v1::WatchTasksRequest req;
  (*req.mutable_labels())["run"] = run;
  EventStream stream(*stub, req, batched);
  std::atomic<bool> seen_probe{false};
  int completed = 0;
  Clock::time_point last;
  grpc::Status ended;
  std::thread reader([&] {
    while (completed < tasks && stream.Next([&](const v1::TaskEvent& e) {
      if (e.task().spec().labels().count("probe")) {
        seen_probe = true;
      } else if (e.task().state() == v1::TASK_STATE_COMPLETED) {
        if (++completed == tasks) last = Clock::now();
      }
    })) {
    }
    // Ended here once all completed; else it ended by itself (or below).
    if (completed == tasks) stream.Cancel();
    ended = stream.Finish();
  });
  // The stream registers after the call started: probe tasks run until it
  // has seen one, so the measured tasks all come after.
  v1::RunTaskRequest probe;
  *probe.mutable_spec() = Noop(run);
  (*probe.mutable_spec()->mutable_labels())["probe"] = "1";
  for (int i = 0; i < 3000 && !seen_probe; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    v1::Task t;
    (void)stub->RunTask(&ctx, probe, &t);
    std::this_thread::sleep_for(1ms);
  }
  Run r;
  const auto start = Clock::now();
  const bool submitted = seen_probe && SubmitAll(address, run, tasks, [](const std::string&) {});
  if (!submitted) stream.Cancel();
  reader.join();
  if (!submitted || completed < tasks) {
    std::fprintf(stderr, "  %s: %d of %d completed seen; the stream ended: %s\n",
                 batched ? "WatchTasksBatched" : "WatchTasks", completed, tasks,
                 ended.error_message().c_str());
    r.failed = 1;
    return r;
  }
  r.rate = tasks / std::chrono::duration<double>(last - start).count();
  return r;
}

Run WaitedEndToEnd(const std::string& address, int tasks) {
  const std::string run = NewRunLabel();
  constexpr int kWaiters = 16, kChannels = 4;
  std::vector<std::unique_ptr<v1::TaskService::Stub>> stubs;
  for (int c = 0; c < kChannels; ++c) stubs.push_back(Stub(address, 910 + c));
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> ids;
  bool submitting = true;
  std::atomic<int> completed{0}, failed{0};
  const auto start = Clock::now();
  std::vector<std::thread> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&, i] {
      auto& stub = *stubs[static_cast<size_t>(i % kChannels)];
      for (;;) {
        std::string id;
        {
          std::unique_lock l(mu);
          cv.wait(l, [&] { return !ids.empty() || !submitting; });
          if (ids.empty()) return;
          id = std::move(ids.front());
          ids.pop_front();
        }
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + 120s);
        v1::WaitTaskRequest req;
        req.set_id(id);
        v1::Task t;
        if (stub.WaitTask(&ctx, req, &t).ok() && t.state() == v1::TASK_STATE_COMPLETED) {
          ++completed;
        } else {
          ++failed;
        }
      }
    });
  }
  const bool ok = SubmitAll(address, run, tasks, [&](const std::string& id) {
    std::lock_guard l(mu);
    ids.push_back(id);
    cv.notify_one();
  });
  {
    std::lock_guard l(mu);
    submitting = false;
  }
  cv.notify_all();
  for (auto& t : waiters) t.join();
  Run r;
  r.failed = failed.load() + (ok ? 0 : 1);
  if (r.failed == 0) r.rate = completed.load() / SecondsSince(start);
  return r;
}

}  // namespace

Run EndToEnd(const std::string& address, int tasks, const std::string& how) {
  if (how == "wait") return WaitedEndToEnd(address, tasks);
  return WatchedEndToEnd(address, tasks, how == "watch_batched");
}

double FdatasyncP50(int n) {
  fs::path dir = fs::temp_directory_path() / ("taskd-bench-fsync-" + std::to_string(::getpid()) +
                                              "-" + std::to_string(std::random_device{}()));
  fs::create_directories(dir);
  int fd = ::open((dir / "probe").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  std::vector<double> lat;
  std::string page(4096, 'x');
  for (int i = 0; fd >= 0 && i < n; ++i) {
    auto t0 = Clock::now();
    if (::write(fd, page.data(), page.size()) < 0 || ::fdatasync(fd) != 0) break;
    lat.push_back(Micros(Clock::now() - t0));
  }
  if (fd >= 0) ::close(fd);
  std::error_code ec;
  fs::remove_all(dir, ec);
  return Median(lat);
}

Run ExecLoad(const std::string& address, int callers, int calls) {
  std::vector<std::unique_ptr<v1::TaskService::Stub>> stubs;
  for (int c = 0; c < callers; ++c) stubs.push_back(Stub(address, 920 + c));
  v1::RunTaskRequest req;
  req.mutable_spec()->mutable_exec()->add_argv("/bin/true");
  return Parallel(callers, calls, [&](int i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 30s);
    v1::Task t;
    return stubs[static_cast<size_t>(i)]->RunTask(&ctx, req, &t).ok() &&
           t.state() == v1::TASK_STATE_COMPLETED;
  });
}

Run SpawnLoad(int callers, int calls) {
  return Parallel(callers, calls, [](int) {
    char arg0[] = "/bin/true";
    char* argv[] = {arg0, nullptr};
    pid_t pid;
    if (::posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) != 0) return false;
    int status = 0;
    return ::waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  });
}

namespace {

// A WatchTasksBatched stream read as bytes: the events of each message are
// counted off the wire (field 1 of TaskEventBatch), not parsed, so what is
// measured is what taskd delivers, not what a client spends decoding it.
class RawBatchStream {
 public:
  RawBatchStream(const std::shared_ptr<grpc::Channel>& channel, const v1::WatchTasksRequest& req) {
    ctx_.set_deadline(std::chrono::system_clock::now() + 600s);
    grpc::ByteBuffer request;
    bool own = false;
    (void)grpc::GenericSerialize<grpc::ProtoBufferWriter, v1::WatchTasksRequest>(req, &request,
                                                                                 &own);
    static const grpc::internal::RpcMethod kMethod("/taskd.v1.TaskService/WatchTasksBatched",
                                                   grpc::internal::RpcMethod::SERVER_STREAMING);
    reader_.reset(grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(
        channel.get(), kMethod, &ctx_, request));
  }
  // The number of events in the next message; -1 at the end.
  long Next() {
    grpc::ByteBuffer bb;
    if (!reader_->Read(&bb)) return -1;
    grpc::Slice flat;
    if (!bb.DumpToSingleSlice(&flat).ok()) return -1;
    const uint8_t* p = flat.begin();
    const uint8_t* end = flat.end();
    long n = 0;
    while (p < end) {
      const uint8_t tag = *p++;
      uint64_t len = 0;
      for (int shift = 0; p < end; shift += 7) {
        const uint8_t b = *p++;
        len |= static_cast<uint64_t>(b & 0x7f) << shift;
        if (!(b & 0x80)) break;
      }
      if (tag == 0x0a) ++n;  // field 1, length-delimited: one TaskEvent
      p += std::min<uint64_t>(len, static_cast<uint64_t>(end - p));
    }
    return n;
  }
  void Cancel() { ctx_.TryCancel(); }
  grpc::Status Finish() {
    while (Next() >= 0) {
    }
    return reader_->Finish();
  }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader_;
};

}  // namespace

Run WatchFanOut(const std::string& address, int watchers, int tasks, int per_second) {
  const std::string run = NewRunLabel();
  v1::WatchTasksRequest req;
  (*req.mutable_labels())["run"] = run;
  // Watchers over 4 channels (connections), as separate clients would be
  // spread; each has a thread of its own reading.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int c = 0; c < 4; ++c) channels.push_back(Channel(address, 930 + c));
  const auto n = static_cast<size_t>(watchers);
  std::vector<std::unique_ptr<RawBatchStream>> streams;
  for (size_t w = 0; w < n; ++w) {
    streams.push_back(std::make_unique<RawBatchStream>(channels[w % 4], req));
  }
  // seen: events read so far; until: where a reader stops (set once the
  // probes are counted); last: when it got there.
  std::vector<std::atomic<long>> seen(n), until(n);
  for (auto& u : until) u = std::numeric_limits<long>::max();
  std::vector<Clock::time_point> last(n);
  std::vector<grpc::Status> ended(n);
  // Where the measured events start in each stream (set with `until`), and
  // the messages that carried them.
  std::vector<std::atomic<long>> base(n);
  for (auto& b : base) b = std::numeric_limits<long>::max();
  std::atomic<long> messages{0};
  std::vector<std::thread> readers;
  for (size_t w = 0; w < n; ++w) {
    readers.emplace_back([&, w] {
      auto& s = *streams[w];
      long total = 0;
      for (long got; (got = s.Next()) >= 0;) {
        if (total >= base[w]) ++messages;
        total += got;
        seen[w] = total;
        if (total >= until[w]) break;
      }
      last[w] = Clock::now();
      if (total >= until[w]) s.Cancel();
      ended[w] = s.Finish();
    });
  }
  // Probe tasks until every stream has seen an event (so all are
  // registered), then one more, a pause for its events to arrive, and each
  // stream's count so far is where the measured events start.
  auto stub = Stub(address, 929);
  auto probe = [&] {
    v1::RunTaskRequest p;
    *p.mutable_spec() = Noop(run);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    v1::Task t;
    (void)stub->RunTask(&ctx, p, &t);
  };
  auto all_seen = [&] {
    return std::all_of(seen.begin(), seen.end(), [](const auto& v) { return v.load() > 0; });
  };
  for (int i = 0; i < 2000 && !all_seen(); ++i) {
    probe();
    std::this_thread::sleep_for(5ms);
  }
  const bool ready = all_seen();
  probe();
  std::this_thread::sleep_for(200ms);
  for (size_t w = 0; w < n; ++w) {
    base[w] = seen[w].load();
    until[w] = base[w] + 3L * tasks;  // CREATED, RUNNING, COMPLETED each
  }
  Run r;
  const auto start = Clock::now();
  bool submitted = ready;
  // Paced: a batch every 10 ms, or back to back (1,000 each) when
  // per_second is 0.
  const int per_batch = per_second > 0 ? std::max(1, per_second / 100) : 1000;
  v1::BatchSubmitTasksRequest batch;
  for (int done = 0; done < tasks && submitted; done += per_batch) {
    batch.clear_requests();
    for (int i = 0; i < std::min(per_batch, tasks - done); ++i)
      *batch.add_requests()->mutable_spec() = Noop(run);
    if (per_second > 0) {
      std::this_thread::sleep_until(
          start + std::chrono::microseconds(static_cast<int64_t>(done) * 1'000'000 / per_second));
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 60s);
    v1::BatchSubmitTasksResponse resp;
    submitted = stub->BatchSubmitTasks(&ctx, batch, &resp).ok();
  }
  if (!submitted) {
    for (auto& s : streams) s->Cancel();
  }
  for (auto& t : readers) t.join();
  long delivered = 0;
  Clock::time_point end = start;
  for (size_t w = 0; w < n; ++w) {
    if (seen[w] < until[w]) {
      if (++r.failed == 1) {
        std::fprintf(stderr, "  watcher %zu of %d: %ld of %ld events; the stream ended: %s\n", w,
                     watchers, seen[w] - base[w], 3L * tasks,
                     !ready      ? "not every stream registered"
                     : submitted ? ended[w].error_message().c_str()
                                 : "a submit failed");
      }
    }
    delivered += std::max(0L, seen[w] - base[w]);
    end = std::max(end, last[w]);
  }
  if (r.failed > 1)
    std::fprintf(stderr, "  (%d of %d watchers did not see all)\n", r.failed, watchers);
  std::fprintf(stderr, "  %d watcher(s): %.1f events per message\n", watchers,
               messages > 0 ? static_cast<double>(delivered) / static_cast<double>(messages) : 0.0);
  const double secs = std::chrono::duration<double>(end - start).count();
  r.rate = static_cast<double>(delivered) / secs;
  r.extra = tasks / secs;
  return r;
}

}  // namespace taskd::bench

namespace taskd::bench {

long RssBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6)) * 1024;
  }
  return -1;
}

namespace {

google::protobuf::Timestamp FromNow(std::chrono::milliseconds d) {
  const auto t = std::chrono::system_clock::now() + d;
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  google::protobuf::Timestamp ts;
  ts.set_seconds(ns / 1'000'000'000);
  ts.set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
  return ts;
}

// Submits `tasks` noop tasks that may start only at `not_before` (unset:
// at once), 1,000 per call: their ids, or none when a call failed.
std::vector<std::string> SubmitHeld(v1::TaskService::Stub& stub, int tasks,
                                    const google::protobuf::Timestamp& not_before) {
  v1::TaskSpec spec = Noop();
  if (not_before.seconds() != 0) *spec.mutable_not_before() = not_before;
  std::vector<std::string> ids;
  if (!SubmitBatches(stub, spec, tasks, [&](const std::string& id) { ids.push_back(id); })) {
    return {};
  }
  return ids;
}

// The pids of `daemon`'s children (over all its threads).
std::vector<pid_t> ChildrenOf(pid_t daemon) {
  std::vector<pid_t> out;
  const fs::path tasks = "/proc/" + std::to_string(daemon) + "/task";
  std::error_code ec;
  for (const auto& t : fs::directory_iterator(tasks, ec)) {
    std::ifstream in(t.path() / "children");
    pid_t p;
    while (in >> p) out.push_back(p);
  }
  return out;
}

// The child of `daemon` that runs task `id` (by its TASKD_TASK_ID), or -1.
pid_t ChildOfTask(pid_t daemon, const std::string& id) {
  const std::string want = "TASKD_TASK_ID=" + id;
  for (pid_t p : ChildrenOf(daemon)) {
    std::ifstream in("/proc/" + std::to_string(p) + "/environ", std::ios::binary);
    std::string var;
    while (std::getline(in, var, '\0')) {
      if (var == want) return p;
    }
  }
  return -1;
}

}  // namespace

Run PendingRss(const std::string& address, pid_t daemon, int tasks) {
  auto stub = Stub(address, 940);
  Run r;
  // The daemon runs one task at a time (--max-running 1): a `sleep` holds
  // the place, and every noop task after it stays PENDING in the queue.
  v1::SubmitTaskRequest gate;
  gate.mutable_spec()->mutable_exec()->add_argv("sleep");
  gate.mutable_spec()->mutable_exec()->add_argv("3600");
  v1::Task held;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    if (!stub->SubmitTask(&ctx, gate, &held).ok()) {
      r.failed = 1;
      return r;
    }
  }
  // The first thousand grow what grows once (tables, arenas, the channel).
  const google::protobuf::Timestamp at_once;  // unset: no not_before
  bool ok = SubmitHeld(*stub, 1000, at_once).size() == 1000;
  const long before = RssBytes(daemon);
  ok = ok && SubmitHeld(*stub, tasks, at_once).size() == static_cast<size_t>(tasks);
  const long after = RssBytes(daemon);
  {
    // They were pending: the gate still ran (cancelling an ended task is
    // FAILED_PRECONDITION). Then it goes.
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    v1::CancelTaskRequest cancel;
    cancel.set_id(held.id());
    v1::Task cancelled;
    ok = ok && stub->CancelTask(&ctx, cancel, &cancelled).ok();
  }
  if (!ok) {
    r.failed = 1;
    return r;
  }
  r.rate = static_cast<double>(after - before) / tasks;
  return r;
}

Run ManyWaits(const std::string& address, pid_t daemon, int waits) {
  Run r;
  constexpr int kChannels = 10;
  std::vector<std::unique_ptr<v1::TaskService::Stub>> stubs;
  for (int c = 0; c < kChannels; ++c) stubs.push_back(Stub(address, 950 + c));
  // Every task may start 4 s from now: time to submit them, start every
  // wait and let the daemon take them all in before the release.
  const auto release = std::chrono::system_clock::now() + 4s;
  const auto ids = SubmitHeld(*stubs[0], waits, FromNow(4000ms));
  if (ids.size() != static_cast<size_t>(waits)) {
    r.failed = 1;
    return r;
  }
  std::this_thread::sleep_for(200ms);
  const long before = RssBytes(daemon);
  struct Call {
    grpc::ClientContext ctx;
    v1::Task task;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::Task>> reader;
  };
  grpc::CompletionQueue cq;
  std::vector<std::unique_ptr<Call>> calls;
  calls.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    auto c = std::make_unique<Call>();
    c->ctx.set_deadline(std::chrono::system_clock::now() + 60s);
    v1::WaitTaskRequest req;
    req.set_id(ids[i]);
    c->reader = stubs[i % kChannels]->AsyncWaitTask(&c->ctx, req, &cq);
    c->reader->Finish(&c->task, &c->status, c.get());
    calls.push_back(std::move(c));
  }
  // The waits are in the daemon well before the release.
  std::this_thread::sleep_until(release - 1s);
  const long held = RssBytes(daemon);
  const bool in_time = std::chrono::system_clock::now() < release - 500ms;
  void* tag;
  bool ok;
  int answered = 0;
  std::chrono::system_clock::time_point last{};
  while (answered < waits && cq.Next(&tag, &ok)) {
    ++answered;
    last = std::chrono::system_clock::now();
    auto* c = static_cast<Call*>(tag);
    if (!ok || !c->status.ok() || c->task.state() != v1::TASK_STATE_COMPLETED) ++r.failed;
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  if (!in_time) {
    std::fprintf(stderr,
                 "  wait_10k: the waits were not all started a second before the release\n");
    ++r.failed;
  }
  r.rate = static_cast<double>(held - before) / waits;
  r.extra = std::chrono::duration<double, std::milli>(last - release).count();
  return r;
}

Run CancelLatency(const std::string& address, pid_t daemon, int cancels) {
  auto stub = Stub(address, 960);
  std::vector<double> lat;
  Run r;
  const auto start = Clock::now();
  for (int i = 0; i < cancels; ++i) {
    v1::SubmitTaskRequest req;
    auto* exec = req.mutable_spec()->mutable_exec();
    exec->add_argv("sleep");
    exec->add_argv("60");
    v1::Task t;
    {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 10s);
      if (!stub->SubmitTask(&ctx, req, &t).ok()) {
        ++r.failed;
        continue;
      }
    }
    // Its process, once it runs (and has exec'd: TASKD_TASK_ID is set).
    pid_t child = -1;
    for (int k = 0; k < 2000 && child < 0; ++k) {
      child = ChildOfTask(daemon, t.id());
      if (child < 0) std::this_thread::sleep_for(1ms);
    }
    const int pidfd = child < 0 ? -1 : static_cast<int>(::syscall(SYS_pidfd_open, child, 0));
    if (pidfd < 0) {
      ++r.failed;
      continue;
    }
    v1::CancelTaskRequest cancel;
    cancel.set_id(t.id());
    const auto t0 = Clock::now();
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    v1::Task after;
    const bool cancelled = stub->CancelTask(&ctx, cancel, &after).ok();
    // Readable once the process has exited.
    pollfd p{pidfd, POLLIN, 0};
    const bool gone = ::poll(&p, 1, 10000) == 1;
    const auto t1 = Clock::now();
    ::close(pidfd);
    if (!cancelled || !gone) {
      ++r.failed;
      continue;
    }
    lat.push_back(Micros(t1 - t0));
  }
  r.rate = static_cast<double>(lat.size()) / SecondsSince(start);
  r.p50_us = Percentile(lat, 0.5);
  r.p99_us = Percentile(lat, 0.99);
  return r;
}

}  // namespace taskd::bench
