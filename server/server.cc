#include "server/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <thread>

#include "common/token.h"
#include "core/exec/reaper.h"
#include "core/model/files.h"
#include "core/store/sqlite_store.h"
#include "server/auth.h"
#include "server/heap.h"
#include "server/listener.h"
#include "server/metrics.h"
#include "server/task_service.h"

namespace taskd::server {

namespace {

std::string Errno() { return std::strerror(errno); }

// An exclusive flock on a file, held for the daemon's lifetime: one daemon
// per data directory (and per socket path).
class LockFile {
 public:
  static StatusOr<std::unique_ptr<LockFile>> Acquire(const std::filesystem::path& path,
                                                     const std::string& what) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return Internal("cannot open lock file " + path.string() + ": " + Errno());
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      char buf[32] = {};
      ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
      ::close(fd);
      std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "?";
      while (!holder.empty() && holder.back() == '\n') holder.pop_back();
      return Status(StatusCode::kFailedPrecondition,
                    "another taskd (pid " + holder + ") is using " + what);
    }
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
      spdlog::warn("cannot record pid in {}: {}", path.string(), Errno());
    }
    return std::unique_ptr<LockFile>(new LockFile(fd));
  }
  ~LockFile() { ::close(fd_); }

 private:
  explicit LockFile(int fd) : fd_(fd) {}
  int fd_;
};

// Makes sure `dir` exists, belongs to this user and only this user can
// enter it. A directory taskd creates is made 0700; an existing one is never
// chmod-ed (it may be /tmp or /var/lib): one that others can reach is
// refused, with what to do instead.
Status PrivateDir(const std::filesystem::path& dir, const std::string& what) {
  // Parents taskd creates are private too, whatever the umask.
  if (auto s = MakeDirectories(dir, 0700); !s.ok()) return s;
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    return Internal("cannot stat " + dir.string() + ": " + Errno());
  }
  if (!S_ISDIR(st.st_mode)) return InvalidArgument(what, dir.string() + " is not a directory");
  if (st.st_uid != ::geteuid()) {
    return Status(StatusCode::kPermissionDenied,
                  what + ": " + dir.string() + " belongs to another user; refusing to use it");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", st.st_mode & 07777);
    return Status(StatusCode::kPermissionDenied,
                  what + ": " + dir.string() + " can be entered by other users (mode " + mode +
                      "); use a directory only taskd's user can reach (a new subdirectory), "
                      "or chmod 700 it");
  }
  return OkStatus();
}

StatusOr<std::string> ReadSmallFile(const std::filesystem::path& path, const std::string& flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(flag, "cannot read " + path.string() + ": " + Errno());
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.size() > (1 << 20)) return InvalidArgument(flag, path.string() + " is over 1 MiB");
  return data;
}

// The bearer token in the file (common/token.h has the rule).
StatusOr<std::string> ReadToken(const std::filesystem::path& path) {
  auto data = ReadSmallFile(path, "token_file");
  if (!data.ok()) return data.status();
  std::string why;
  std::optional<std::string> t = TokenFromFile(*data, &why);
  if (!t) return InvalidArgument("token_file", path.string() + ": " + why);
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    spdlog::warn("token file {} can be read by other users; chmod 600 it", path.string());
  }
  return std::move(*t);
}

}  // namespace

std::filesystem::path DefaultDataDir() {
  if (const char* d = std::getenv("TASKD_DATA_DIR"); d && *d) return d;
  if (::geteuid() == 0) return "/var/lib/taskd";
  if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x)
    return std::filesystem::path(x) / "taskd";
  if (const char* h = std::getenv("HOME"); h && *h) {
    return std::filesystem::path(h) / ".local/state/taskd";
  }
  return "/tmp/taskd-" + std::to_string(::geteuid()) + "/data";
}

struct Server::Impl {
  ServerOptions options;
  std::unique_ptr<LockFile> data_lock;
  std::vector<std::unique_ptr<LockFile>> socket_locks;
  std::unique_ptr<HandlerRegistry> handlers;
  std::unique_ptr<Store> store;
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  std::unique_ptr<OrphanReaper> reaper;
  std::unique_ptr<TaskManager> manager;
  std::unique_ptr<Metrics> metrics;  // after manager: unsubscribes from it first
  std::unique_ptr<MetricsHttpServer> metrics_http;
  std::unique_ptr<TaskServiceImpl> service;
  std::unique_ptr<ConnectionTable> connections;
  std::vector<std::unique_ptr<Listener>> listeners;  // taskd's own accept loops
  std::unique_ptr<grpc::Server> grpc_server;
  std::vector<std::string> addresses;
  std::vector<std::filesystem::path> socket_paths;
  bool shut_down = false;
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Shutdown(); }

const std::vector<std::string>& Server::addresses() const { return impl_->addresses; }
std::string Server::metrics_address() const {
  return impl_->metrics_http ? impl_->metrics_http->address() : "";
}
TaskManager& Server::manager() { return *impl_->manager; }
size_t Server::open_watchers() const { return impl_->service->open_watchers(); }

StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options,
                                                std::unique_ptr<HandlerRegistry> handlers) {
  auto impl = std::make_unique<Impl>();
  if (options.data_dir.empty()) options.data_dir = DefaultDataDir();
  if (options.listen.empty()) return InvalidArgument("listen", "no address to listen on");
  if (auto s = PrivateDir(options.data_dir, "--data-dir"); !s.ok()) return s;
  auto lock = LockFile::Acquire(options.data_dir / "taskd.lock",
                                "data directory " + options.data_dir.string());
  if (!lock.ok()) return lock.status();
  impl->data_lock = std::move(lock).value();
  if (options.manager.log_dir.empty()) options.manager.log_dir = options.data_dir / "logs";
  // Tasks reach their daemon through its unix socket (no token needed
  // there): `taskctl progress` inside a task works without flags.
  for (const auto& addr : options.listen) {
    if (addr.rfind("unix:", 0) == 0 && !options.manager.task_env.count("TASKD_ADDR")) {
      options.manager.task_env["TASKD_ADDR"] = addr;
    }
  }

  if (!handlers) {
    handlers = std::make_unique<HandlerRegistry>();
    handlers->RegisterBuiltins();
  }
  impl->handlers = std::move(handlers);

  // Credentials first: a bad file must stop us before recovery touches anything.
  std::string token;
  if (!options.token_file.empty()) {
    auto t = ReadToken(options.token_file);
    if (!t.ok()) return t.status();
    token = std::move(t).value();
  }
  std::shared_ptr<grpc::ServerCredentials> tls;
  if (!options.tls_cert.empty() || !options.tls_key.empty() || !options.tls_client_ca.empty()) {
    if (options.tls_cert.empty() || options.tls_key.empty()) {
      return InvalidArgument(options.tls_cert.empty() ? "tls_cert" : "tls_key",
                             "TLS needs both a certificate and its key");
    }
    auto cert = ReadSmallFile(options.tls_cert, "tls_cert");
    if (!cert.ok()) return cert.status();
    auto key = ReadSmallFile(options.tls_key, "tls_key");
    if (!key.ok()) return key.status();
    grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    ssl.pem_key_cert_pairs.push_back({std::move(key).value(), std::move(cert).value()});
    if (!options.tls_client_ca.empty()) {
      auto ca = ReadSmallFile(options.tls_client_ca, "tls_client_ca");
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = std::move(ca).value();
      ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    tls = grpc::SslServerCredentials(ssl);
  }
  if (options.store == "sqlite") {
    auto store = SqliteStore::Open(options.data_dir / "taskd.db");
    if (!store.ok()) return store.status();
    // An I/O error on commit: stop at once; the next start recovers from
    // the last commit (a full disk is not fatal: submits get
    // RESOURCE_EXHAUSTED until there is space again).
    (*store)->SetFatalHandler([](const Status& s) {
      spdlog::critical("the store cannot write ({}); exiting, restart to recover", s.message());
      spdlog::shutdown();
      std::_Exit(75);
    });
    impl->store = std::move(store).value();
  } else if (options.store == "memory") {
    impl->store = std::make_unique<MemoryStore>();
  } else {
    return InvalidArgument("store", "must be 'sqlite' or 'memory', not '" + options.store + "'");
  }

  // taskd is a child subreaper (main.cpp): reap the task grandchildren that
  // get re-parented to it.
  impl->reaper = std::make_unique<OrphanReaper>(impl->io);
  impl->manager =
      std::make_unique<TaskManager>(impl->io, options.manager, *impl->store, *impl->handlers);
  if (auto s = impl->manager->Start(); !s.ok()) return s;
  // Descriptors: the soft limit raised to the hard one, and a cap on
  // connections that leaves room for tasks and the store.
  const size_t fd_limit = RaiseFdLimit();
  const size_t max_connections =
      options.max_connections > 0 ? options.max_connections : DefaultMaxConnections(fd_limit);
  spdlog::info("descriptor limit {}; up to {} client connections at once; heap: {}", fd_limit,
               max_connections, HeapAllocator());
  impl->connections = std::make_unique<ConnectionTable>(max_connections);
  impl->service = std::make_unique<TaskServiceImpl>(
      *impl->manager, ServiceInfo{options.version, std::chrono::system_clock::now()}, token,
      impl->connections.get(), options.max_watchers);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(options.max_receive_bytes);
  // One daemon per address: a second one must fail to bind, not share the port.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  std::vector<std::unique_ptr<int>> ports;
  for (const auto& addr : options.listen) {
    if (addr.rfind("unix:", 0) == 0) {
      std::filesystem::path path = addr.substr(5);
      if (path.empty() || path.is_relative()) {
        return InvalidArgument("listen", "'" + addr + "': a unix socket path must be absolute");
      }
      if (auto s = PrivateDir(path.parent_path(), "socket directory"); !s.ok()) return s;
      auto sock_lock = LockFile::Acquire(path.string() + ".lock", "socket " + path.string());
      if (!sock_lock.ok()) return sock_lock.status();
      impl->socket_locks.push_back(std::move(sock_lock).value());
      auto listener = Listener::Bind(impl->io, addr, *impl->connections);
      if (!listener.ok()) return listener.status();
      impl->socket_paths.push_back(path);
      impl->addresses.push_back((*listener)->address());
      impl->listeners.push_back(std::move(listener).value());
      ports.push_back(nullptr);
      continue;
    }
    auto colon = addr.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      return InvalidArgument("listen", "'" + addr + "' is not unix:PATH or HOST:PORT");
    }
    std::string host = addr.substr(0, colon);
    // TCP: TLS or a token; plain and open only on loopback, and only when asked.
    if (!tls && token.empty()) {
      if (!IsLoopbackHost(host)) {
        return InvalidArgument("listen", "'" + addr +
                                             "': TCP on a non-loopback address needs TLS "
                                             "(--tls-cert/--tls-key) or a bearer token "
                                             "(--token-file)");
      }
      if (!options.insecure) {
        return InvalidArgument("listen", "'" + addr +
                                             "': plain TCP without a token needs --insecure "
                                             "(loopback only); the default unix socket needs "
                                             "nothing");
      }
    } else if (!tls && !IsLoopbackHost(host)) {
      spdlog::warn("listening on {} without TLS: the bearer token crosses the network in clear",
                   addr);
    } else if (token.empty() && options.tls_client_ca.empty() && !IsLoopbackHost(host)) {
      spdlog::warn(
          "listening on {} with TLS but no client authentication: anyone who can reach it can "
          "run commands as this user; add --token-file or --tls-client-ca",
          addr);
    }
    if (!tls) {
      // Plain TCP (a token, or --insecure): accepted by taskd itself.
      auto listener = Listener::Bind(impl->io, addr, *impl->connections);
      if (!listener.ok()) return listener.status();
      impl->addresses.push_back((*listener)->address());
      impl->listeners.push_back(std::move(listener).value());
      ports.push_back(nullptr);
      continue;
    }
    auto port = std::make_unique<int>(0);
    builder.AddListeningPort(addr, tls, port.get());
    impl->addresses.push_back(addr);
    ports.push_back(std::move(port));
  }
  builder.RegisterService(impl->service.get());
  impl->metrics = std::make_unique<Metrics>(*impl->manager);
  {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(impl->metrics->InterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(creators));
  }
  if (!options.metrics_listen.empty()) {
    auto http = MetricsHttpServer::Start(impl->io, options.metrics_listen, token, *impl->metrics);
    if (!http.ok()) return http.status();
    impl->metrics_http = std::move(http).value();
  }

  impl->work.emplace(asio::make_work_guard(impl->io));
  for (int i = 0; i < std::max(1, options.io_threads); ++i) {
    impl->threads.emplace_back([io = &impl->io] { io->run(); });
  }
  impl->grpc_server = builder.BuildAndStart();
  auto server = std::unique_ptr<Server>(new Server(std::move(impl)));
  Impl& im = *server->impl_;
  if (!im.grpc_server) {
    return Unavailable("cannot listen on the requested addresses (in use, or not permitted)");
  }
  for (size_t i = 0; i < ports.size(); ++i) {
    if (!ports[i]) continue;
    if (*ports[i] == 0) return Unavailable("cannot listen on " + im.addresses[i]);
    auto& a = im.addresses[i];
    a = a.substr(0, a.rfind(':') + 1) + std::to_string(*ports[i]);
  }
  for (const auto& p : im.socket_paths) ::chmod(p.c_str(), 0600);
  for (auto& l : im.listeners) l->Serve(im.grpc_server.get());
  im.options = std::move(options);
  return server;
}

void Server::Shutdown() {
  Impl& im = *impl_;
  if (im.shut_down) return;
  im.shut_down = true;
  // 1. Report NOT_SERVING, so health checks and load balancers stop sending.
  if (im.grpc_server) im.grpc_server->GetHealthCheckService()->SetServingStatus(false);
  // 2. Stop admitting tasks, end waits with the current state, stop running
  //    tasks (SIGTERM, SIGKILL after their grace): their RPCs can then finish.
  if (im.manager) {
    // Bounded: running tasks get their grace (capped by shutdown_grace), and
    // a handler that ignores cancellation must not keep taskd up forever.
    auto stopped = std::make_shared<std::promise<void>>();
    im.manager->Shutdown([stopped] { stopped->set_value(); });
    auto limit = im.options.manager.shutdown_grace + std::chrono::seconds(2);
    if (stopped->get_future().wait_for(limit) != std::future_status::ready) {
      spdlog::warn("tasks still running {} s after shutdown began; stopping anyway",
                   std::chrono::duration_cast<std::chrono::seconds>(limit).count());
    }
  }
  if (im.metrics_http) im.metrics_http->Stop();
  // 3. Shut the gRPC server down from this thread, not an io thread, while
  //    the io threads still run: an unfinished callback RPC would otherwise
  //    keep Shutdown from returning.
  for (auto& l : im.listeners) l->Stop();
  im.listeners.clear();
  if (im.grpc_server) {
    im.grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(3));
    im.grpc_server->Wait();
  }
  // 4. Flush the store, then stop the io threads.
  if (im.store) im.store->Close();
  if (im.reaper) im.reaper->Stop();
  im.work.reset();
  im.io.stop();
  for (auto& t : im.threads) t.join();
  im.threads.clear();
  std::error_code ec;
  for (const auto& p : im.socket_paths) std::filesystem::remove(p, ec);
}

}  // namespace taskd::server
