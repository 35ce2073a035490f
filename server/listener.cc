#include "server/listener.h"

#include <grpcpp/server.h>
#include <grpcpp/server_posix.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <future>

namespace taskd::server {

namespace {

std::string Errno(int err) { return std::strerror(err); }

constexpr auto kPauseAfterError = std::chrono::milliseconds(100);
constexpr int kAcceptsPerWakeup = 64;

}  // namespace

// ---------------------------------------------------------------- connections

bool ConnectionTable::Admit(int fd, bool via_unix) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return false;
  std::lock_guard lock(mu_);
  entries_.erase(fd);  // a number once used by a connection now closed
  if (entries_.size() >= max_) PruneClosed();
  if (entries_.size() >= max_) return false;
  entries_[fd] = Entry{st.st_ino, st.st_dev, via_unix};
  return true;
}

void ConnectionTable::PruneClosed() {
  for (auto it = entries_.begin(); it != entries_.end();) {
    struct stat st;
    bool same = ::fstat(it->first, &st) == 0 && st.st_ino == it->second.inode &&
                st.st_dev == it->second.dev;
    it = same ? std::next(it) : entries_.erase(it);
  }
}

bool ConnectionTable::ViaUnixSocket(std::string_view peer) const {
  if (peer.rfind("unix:", 0) == 0) return true;
  if (peer.rfind("fd:", 0) != 0) return false;
  int fd = -1;
  auto digits = peer.substr(3);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), fd);
  if (ec != std::errc() || end != digits.data() + digits.size()) return false;
  std::lock_guard lock(mu_);
  auto it = entries_.find(fd);
  return it != entries_.end() && it->second.via_unix;
}

size_t ConnectionTable::open() {
  std::lock_guard lock(mu_);
  PruneClosed();
  return entries_.size();
}

size_t DefaultMaxConnections(size_t fd_limit) {
  return fd_limit <= 96 ? 16 : std::max<size_t>(16, (fd_limit - 64) / 2);
}

size_t RaiseFdLimit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    // An unlimited hard limit is still bounded by fs.nr_open.
    if (::setrlimit(RLIMIT_NOFILE, &want) != 0 && rl.rlim_max == RLIM_INFINITY) {
      want.rlim_cur = 1 << 20;
      (void)::setrlimit(RLIMIT_NOFILE, &want);
    }
    ::getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur == RLIM_INFINITY ? (1 << 20) : static_cast<size_t>(rl.rlim_cur);
}

// ---------------------------------------------------------------- listener

// Shared with the pending handlers: they find `stopped` set after Stop().
// Everything but the construction runs on `strand`.
struct Listener::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io, ConnectionTable& t, bool unix_socket, std::string name)
      : strand(asio::make_strand(io)), table(t), via_unix(unix_socket), name(std::move(name)) {}

  void Add(int fd) {
    sockets.push_back(std::make_unique<asio::posix::stream_descriptor>(strand, fd));
    pauses.push_back(std::make_unique<asio::steady_timer>(strand));
  }

  void Arm(size_t i) {
    sockets[i]->async_wait(asio::posix::stream_descriptor::wait_read,
                           [self = shared_from_this(), i](const boost::system::error_code& ec) {
                             if (!ec && !self->stopped) self->Drain(i);
                           });
  }

  void Drain(size_t i) {
    const int lfd = sockets[i]->native_handle();
    for (int n = 0; n < kAcceptsPerWakeup; ++n) {
      int fd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        Hand(fd);
        continue;
      }
      int err = errno;
      switch (err) {
        case EAGAIN:
          Arm(i);
          return;
        case EINTR:
        case ECONNABORTED:
        case EPROTO:
        case EPERM:
        case ENETDOWN:
        case ENETUNREACH:
        case ENOPROTOOPT:
        case EHOSTDOWN:
        case EHOSTUNREACH:
        case ENONET:
        case EOPNOTSUPP:
          continue;  // that connection failed; the next may not
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
          // The connection waits in the backlog until descriptors are free.
          Warn(fmt::format("cannot accept on {}: {}; trying again every {} ms", name, Errno(err),
                           kPauseAfterError.count()));
          pauses[i]->expires_after(kPauseAfterError);
          pauses[i]->async_wait(
              [self = shared_from_this(), i](const boost::system::error_code& ec) {
                if (!ec && !self->stopped) self->Arm(i);
              });
          return;
        default:
          spdlog::error("accept on {} failed: {}; this listener stops", name, Errno(err));
          return;
      }
    }
    Arm(i);  // more may be waiting: after the other handlers had their turn
  }

  void Hand(int fd) {
    if (!table.Admit(fd, via_unix)) {
      ::close(fd);
      Warn(fmt::format(
          "refusing a connection on {}: {} connections are open, the limit (--max-connections)",
          name, table.max()));
      return;
    }
    if (!via_unix) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    grpc::AddInsecureChannelFromFd(server, fd);
  }

  // At most one line a second, with how many were held back.
  void Warn(const std::string& what) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_warning < std::chrono::seconds(1)) {
      ++suppressed;
      return;
    }
    if (suppressed > 0) {
      spdlog::warn("{} (and {} more like it)", what, suppressed);
    } else {
      spdlog::warn("{}", what);
    }
    suppressed = 0;
    last_warning = now;
  }

  void Close() {
    stopped = true;
    boost::system::error_code ignored;
    for (auto& t : pauses) t->cancel();
    for (auto& s : sockets) s->close(ignored);
  }

  Strand strand;
  ConnectionTable& table;
  const bool via_unix;
  std::string name;  // the address as bound
  grpc::Server* server = nullptr;
  std::vector<std::unique_ptr<asio::posix::stream_descriptor>> sockets;
  std::vector<std::unique_ptr<asio::steady_timer>> pauses;
  bool serving = false;
  bool stopped = false;
  std::chrono::steady_clock::time_point last_warning{};
  int suppressed = 0;
};

namespace {

// A listening socket on `addr`, or the error text.
int ListenOn(const sockaddr* addr, socklen_t len, std::string* error) {
  int fd = ::socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = Errno(errno);
    return -1;
  }
  int one = 1;
  if (addr->sa_family != AF_UNIX) {
    // Our own closed connections in TIME-WAIT must not block a restart;
    // SO_REUSEPORT stays off: a second taskd must fail to bind.
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  }
  if (addr->sa_family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (::bind(fd, addr, len) != 0 || ::listen(fd, SOMAXCONN) != 0) {
    *error = Errno(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

StatusOr<std::unique_ptr<Listener>> Listener::Bind(asio::io_context& io, const std::string& address,
                                                   ConnectionTable& table) {
  if (address.rfind("unix:", 0) == 0) {
    std::string path = address.substr(5);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof(sa.sun_path)) {
      return InvalidArgument("listen", "'" + address + "': the socket path is too long");
    }
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    // A socket left by a taskd that died: ours now (the caller holds its lock).
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
    std::string error;
    int fd = ListenOn(reinterpret_cast<sockaddr*>(&sa), sizeof(sa), &error);
    if (fd < 0) return Unavailable("cannot listen on " + address + ": " + error);
    auto impl = std::make_shared<Impl>(io, table, true, address);
    impl->Add(fd);
    return std::unique_ptr<Listener>(new Listener(std::move(impl), address));
  }
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return InvalidArgument("listen", "'" + address + "' is not unix:PATH or HOST:PORT");
  }
  std::string host = address.substr(0, colon), port = address.substr(colon + 1);
  std::string bare = host.size() > 2 && host.front() == '[' && host.back() == ']'
                         ? host.substr(1, host.size() - 2)
                         : host;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(bare.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return InvalidArgument("listen", "'" + address + "': " + ::gai_strerror(rc));
  }
  auto impl = std::make_shared<Impl>(io, table, false, address);
  std::string error;
  int bound_port = -1;
  for (addrinfo* ai = found; ai; ai = ai->ai_next) {
    sockaddr_storage sa{};
    std::memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
    // Port 0: every address of the host gets the port the first one got.
    auto* port_field = sa.ss_family == AF_INET ? &reinterpret_cast<sockaddr_in*>(&sa)->sin_port
                                               : &reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port;
    if (bound_port > 0) *port_field = htons(static_cast<uint16_t>(bound_port));
    int fd = ListenOn(reinterpret_cast<sockaddr*>(&sa), ai->ai_addrlen, &error);
    if (fd < 0) continue;
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
    bound_port =
        ntohs(local.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&local)->sin_port
                                         : reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
    impl->Add(fd);
  }
  ::freeaddrinfo(found);
  if (impl->sockets.empty()) return Unavailable("cannot listen on " + address + ": " + error);
  std::string bound = host + ":" + std::to_string(bound_port);
  impl->name = bound;
  return std::unique_ptr<Listener>(new Listener(std::move(impl), bound));
}

Listener::~Listener() { Stop(); }

void Listener::Serve(grpc::Server* server) {
  asio::post(impl_->strand, [impl = impl_, server] {
    if (impl->stopped) return;
    impl->server = server;
    for (size_t i = 0; i < impl->sockets.size(); ++i) impl->Arm(i);
  });
  impl_->serving = true;
}

void Listener::Stop() {
  if (!impl_) return;
  auto impl = std::move(impl_);
  if (!impl->serving) {
    impl->Close();  // no handler was ever armed
    return;
  }
  std::promise<void> closed;
  asio::post(impl->strand, [&closed, impl] {
    impl->Close();
    closed.set_value();
  });
  closed.get_future().wait();
}

}  // namespace taskd::server
