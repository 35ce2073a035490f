#include "server/log_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <memory>

#include "server/convert.h"
#include "server/failed_stream.h"
#include "server/wire.h"

namespace taskd::server {

namespace {

constexpr size_t kChunkBytes = 64 * 1024;
constexpr auto kPollInterval = std::chrono::milliseconds(100);

// Reads up to kChunkBytes of `path` at `offset`; empty at EOF or when the
// file does not exist yet (it is created on the task's first byte).
std::string ReadAt(const std::filesystem::path& path, int64_t offset) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string data(kChunkBytes, '\0');
  ssize_t n = ::pread(fd, data.data(), data.size(), offset);
  ::close(fd);
  data.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return data;
}

int64_t SizeOf(const std::filesystem::path& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(size);
}

class LogReader;

// Everything the reader's strand touches. Shared with posted handlers, so a
// handler that runs after the call finished finds `finished` set and leaves
// the (possibly deleted) reactor alone.
struct ReaderState {
  struct Stream {
    v1::LogStream kind;
    std::filesystem::path path;
    int64_t offset = 0;
  };
  ReaderState(TaskManager& m, Strand s) : manager(m), strand(s), timer(s) {}

  TaskManager& manager;
  Strand strand;
  asio::steady_timer timer;
  LogReader* reactor = nullptr;
  std::string id;
  bool follow = false;
  std::vector<Stream> streams;
  v1::LogChunk chunk;
  grpc::ByteBuffer message;  // the write in flight: `chunk` serialized
  bool writing = false;
  bool cancelled = false;  // OnCancel came, perhaps while a write was in flight
  bool ended = false;      // the task was terminal when last asked
  bool finished = false;   // Finish was called: never touch `reactor` again
};

class LogReader final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit LogReader(std::shared_ptr<ReaderState> state) : state_(std::move(state)) {
    state_->reactor = this;
  }
  void OnWriteDone(bool ok) override {
    auto st = state_;
    asio::post(st->strand, [st, ok] {
      st->writing = false;
      // A write may complete fine after the cancel came (see watcher.cc).
      if (!ok || st->cancelled) {
        Stop(*st, grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
        return;
      }
      Pump(st);
    });
  }
  void OnCancel() override {
    auto st = state_;
    asio::post(st->strand, [st] {
      st->cancelled = true;
      st->timer.cancel();
      // A write in flight stops the call from OnWriteDone.
      if (!st->writing) Stop(*st, grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
    });
  }
  void OnDone() override { delete this; }

  static void Stop(ReaderState& st, const grpc::Status& status) {
    if (st.finished) return;
    st.finished = true;
    st.timer.cancel();
    st.reactor->Finish(status);
  }

  // Sends the next chunk, or waits for more output, or ends the call.
  static void Pump(const std::shared_ptr<ReaderState>& st) {
    if (st->finished || st->writing) return;
    for (auto& s : st->streams) {
      std::string data = ReadAt(s.path, s.offset);
      if (data.empty()) continue;
      st->chunk.Clear();
      st->chunk.set_stream(s.kind);
      st->chunk.set_offset(s.offset);
      s.offset += static_cast<int64_t>(data.size());
      st->chunk.set_data(std::move(data));
      if (auto status = Serialize(st->chunk, &st->message); !status.ok()) {
        Stop(*st, status);
        return;
      }
      st->writing = true;
      st->reactor->StartWrite(&st->message);
      return;
    }
    // Everything written so far is sent.
    if (!st->follow || st->ended) {
      Stop(*st, grpc::Status::OK);
      return;
    }
    // Output still to come? Ask the manager; once the task is terminal, one
    // more pass sends what it wrote before it ended.
    st->manager.Get(st->id, [st](StatusOr<Task> t) {
      asio::post(st->strand, [st, gone = !t.ok(), terminal = t.ok() && IsTerminal(t->state)] {
        if (st->finished) return;
        if (gone || terminal) {
          st->ended = true;
          Pump(st);
          return;
        }
        st->timer.expires_after(kPollInterval);
        st->timer.async_wait([st](const boost::system::error_code& ec) {
          if (!ec) Pump(st);
        });
      });
    });
  }

 private:
  std::shared_ptr<ReaderState> state_;
};

}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* NewLogReader(TaskManager& manager,
                                                         const v1::ReadTaskLogsRequest& req) {
  if (req.id().empty()) return new FailedStream(InvalidArgument("id", "must not be empty"));
  if (req.offset() < 0) return new FailedStream(InvalidArgument("offset", "must not be negative"));
  if (req.tail_bytes() < 0) {
    return new FailedStream(InvalidArgument("tail_bytes", "must not be negative"));
  }
  if (req.offset() > 0 && req.tail_bytes() > 0) {
    return new FailedStream(InvalidArgument("tail_bytes", "give offset or tail_bytes, not both"));
  }
  if (!v1::LogStream_IsValid(req.stream())) {
    return new FailedStream(
        InvalidArgument("stream", "unknown value " + std::to_string(req.stream())));
  }
  auto st = std::make_shared<ReaderState>(manager,
                                          asio::make_strand(manager.strand().get_inner_executor()));
  st->id = req.id();
  st->follow = req.follow();
  if (req.stream() != v1::LOG_STREAM_STDERR) {
    st->streams.push_back({v1::LOG_STREAM_STDOUT, manager.StdoutPath(req.id()), req.offset()});
  }
  if (req.stream() != v1::LOG_STREAM_STDOUT) {
    st->streams.push_back({v1::LOG_STREAM_STDERR, manager.StderrPath(req.id()), req.offset()});
  }
  auto* reader = new LogReader(st);
  int64_t tail = req.tail_bytes();
  // The task must exist; its log files may not (yet).
  manager.Get(req.id(), [st, tail](StatusOr<Task> t) {
    asio::post(st->strand,
               [st, tail, status = t.status(), terminal = t.ok() && IsTerminal(t->state)] {
                 if (!status.ok()) {
                   LogReader::Stop(*st, ToGrpc(status));
                   return;
                 }
                 st->ended = terminal;
                 if (tail > 0) {
                   for (auto& s : st->streams)
                     s.offset = std::max<int64_t>(0, SizeOf(s.path) - tail);
                 }
                 LogReader::Pump(st);
               });
  });
  return reader;
}

}  // namespace taskd::server
