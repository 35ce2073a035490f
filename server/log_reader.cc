#include "server/log_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <memory>

#include "server/convert.h"
#include "server/failed_stream.h"
#include "server/stream_writer.h"
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

// Everything the reader's strand touches, shared with the handlers it posts.
class ReaderState final : public StreamState, public std::enable_shared_from_this<ReaderState> {
 public:
  struct Stream {
    v1::LogStream kind;
    std::filesystem::path path;
    int64_t offset = 0;
  };
  ReaderState(TaskManager& m, Strand s) : StreamState(s), manager(m), timer(s) {}

  TaskManager& manager;
  asio::steady_timer timer;
  std::string id;
  bool follow = false;
  std::vector<Stream> streams;
  v1::LogChunk chunk;
  bool ended = false;  // the task was terminal when last asked

  // Sends the next chunk, or waits for more output, or ends the call.
  void Pump() override {
    if (finished() || writing()) return;
    for (auto& s : streams) {
      std::string data = ReadAt(s.path, s.offset);
      if (data.empty()) continue;
      chunk.Clear();
      chunk.set_stream(s.kind);
      chunk.set_offset(s.offset);
      s.offset += static_cast<int64_t>(data.size());
      chunk.set_data(std::move(data));
      grpc::ByteBuffer message;
      if (auto status = Serialize(chunk, &message); !status.ok()) {
        Stop(status);
        return;
      }
      StartWrite(&message);
      return;
    }
    // Everything written so far is sent.
    if (!follow || ended) {
      Stop(grpc::Status::OK);
      return;
    }
    // Output still to come? Ask the manager; once the task is terminal, one
    // more pass sends what it wrote before it ended.
    auto self = shared_from_this();
    manager.Get(id, [self](StatusOr<Task> t) {
      asio::post(self->strand(), [self, gone = !t.ok(), terminal = t.ok() && IsTerminal(t->state)] {
        if (self->finished()) return;
        if (gone || terminal) {
          self->ended = true;
          self->Pump();
          return;
        }
        self->timer.expires_after(kPollInterval);
        self->timer.async_wait([self](const boost::system::error_code& ec) {
          if (!ec) self->Pump();
        });
      });
    });
  }

 private:
  void OnStop() override { timer.cancel(); }
};

}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* NewLogReader(TaskManager& manager,
                                                         const v1::ReadTaskLogsRequest& req) {
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
  auto* reader = new StreamWriter(st);
  int64_t tail = req.tail_bytes();
  // The task must exist; its log files may not (yet).
  manager.Get(req.id(), [st, tail](StatusOr<Task> t) {
    asio::post(st->strand(),
               [st, tail, status = t.status(), terminal = t.ok() && IsTerminal(t->state)] {
                 if (!status.ok()) {
                   st->Stop(ToGrpc(status));
                   return;
                 }
                 st->ended = terminal;
                 if (tail > 0) {
                   for (auto& s : st->streams)
                     s.offset = std::max<int64_t>(0, SizeOf(s.path) - tail);
                 }
                 st->Pump();
               });
  });
  return reader;
}

}  // namespace taskd::server
