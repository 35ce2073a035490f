#include "core/exec/exec_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>

#include "core/exec/proc.h"
#include "core/exec/reaper.h"

extern char** environ;

namespace taskd {

namespace {

constexpr int kProgressFd = 3;

// Variables a task sees from the daemon's environment unless inherit_env.
bool Allowlisted(std::string_view name) {
  static constexpr std::array<std::string_view, 10> kNames = {
      "PATH", "HOME", "LANG", "TZ", "USER", "LOGNAME", "SHELL", "TMPDIR", "TERM", "LANGUAGE"};
  for (auto n : kNames) {
    if (n == name) return true;
  }
  return name.substr(0, 3) == "LC_";
}

std::string ErrnoText(int err) { return std::strerror(err); }

// A child may write any bytes; progress messages reach clients as proto
// strings, which must be UTF-8. Invalid sequences become U+FFFD.
std::string ValidUtf8(std::string in) {
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    auto c = static_cast<unsigned char>(in[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xe  ? 3
                 : (c >> 3) == 0x1e ? 4
                                    : 0;
    bool ok = len > 0 && i + len <= in.size();
    for (size_t k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(in[i + k]) & 0xc0) == 0x80;
    }
    if (ok && len > 1) {
      // Reject overlong forms, surrogates and code points past U+10FFFF.
      uint32_t cp = c & (0xffu >> (len + 1));
      for (size_t k = 1; k < len; ++k) {
        cp = (cp << 6) | (static_cast<unsigned char>(in[i + k]) & 0x3fu);
      }
      static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= kMin[len] && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
    }
    if (ok) {
      out.append(in, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

// Owns a file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    reset(std::exchange(o.fd_, -1));
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read, write;
};

StatusOr<Pipe> MakePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Internal("pipe2: " + ErrnoText(errno));
  return Pipe{Fd(fds[0]), Fd(fds[1])};
}

// The program to exec: argv[0] itself when it has a '/', else the first
// executable match in the task environment's PATH (posix_spawnp would
// search the daemon's PATH instead).
StatusOr<std::string> ResolveProgram(const std::string& program,
                                     const std::vector<std::string>& env) {
  if (program.find('/') != std::string::npos) return program;
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  for (const auto& kv : env) {
    if (kv.rfind("PATH=", 0) == 0) path = kv.substr(5);
  }
  int last_err = ENOENT;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + program;
    struct stat st;
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
      last_err = EACCES;
    }
    start = end + 1;
  }
  return Status(StatusCode::kNotFound,
                "'" + program + "': " + ErrnoText(last_err) + " (searched PATH=" + path + ")");
}

}  // namespace

std::vector<std::string> BuildChildEnv(const ExecAction& action, const std::string& task_id,
                                       int32_t attempt, const std::string& instance,
                                       const std::map<std::string, std::string>* daemon_env) {
  std::map<std::string, std::string> vars;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    auto name = kv.substr(0, eq);
    if (action.inherit_env || Allowlisted(name)) vars[std::string(name)] = kv.substr(eq + 1);
  }
  if (!vars.count("PATH")) vars["PATH"] = "/usr/local/bin:/usr/bin:/bin";
  if (daemon_env) {
    for (const auto& [k, v] : *daemon_env) vars[k] = v;
  }
  for (const auto& [k, v] : action.env) vars[k] = v;
  vars["TASKD_TASK_ID"] = task_id;
  vars["TASKD_ATTEMPT"] = std::to_string(attempt);
  vars["TASKD_PROGRESS_FD"] = std::to_string(kProgressFd);
  if (!instance.empty()) vars["TASKD_INSTANCE"] = instance;
  // The mark that spares the attempt's escaped processes (KillEscaped).
  if (action.kill_mode == KillMode::kGroup) {
    vars[std::string(kKillModeVar)] = "group";
  } else {
    vars.erase(std::string(kKillModeVar));
  }
  std::vector<std::string> out;
  out.reserve(vars.size());
  for (auto& [k, v] : vars) out.push_back(k + "=" + v);
  return out;
}

std::optional<std::pair<double, std::string>> ParseProgressLine(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  size_t i = 0;
  while (i < line.size() && line[i] == ' ') ++i;
  line.remove_prefix(i);
  size_t end = line.find_first_of(" \t");
  std::string_view number = line.substr(0, end);
  if (!number.empty() && number.back() == '%') number.remove_suffix(1);
  double percent = 0;
  auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), percent);
  if (ec != std::errc() || ptr != number.data() + number.size() || number.empty()) {
    return std::nullopt;
  }
  if (!std::isfinite(percent) || percent < 0 || percent > 100) return std::nullopt;
  std::string message;
  if (end != std::string_view::npos) {
    auto rest = line.substr(end);
    size_t s = rest.find_first_not_of(" \t");
    if (s != std::string_view::npos) message = std::string(rest.substr(s));
  }
  return std::make_pair(percent, std::move(message));
}

// What an ExecAttempt owns while its child runs.
struct ExecAttempt::Impl {
  ExecLaunch launch;
  asio::posix::stream_descriptor pidfd;
  asio::posix::stream_descriptor out;
  asio::posix::stream_descriptor err;
  asio::posix::stream_descriptor progress;
  Fd out_file, err_file;  // opened on the first byte of output
  bool log_open_failed = false;
  ExecOutcome outcome;
  std::array<std::array<char, 16384>, 3> bufs;
  std::string progress_line;
  asio::steady_timer linger;
  int open_pipes = 3;
  bool exited = false;
  bool finished = false;

  explicit Impl(Strand s) : pidfd(s), out(s), err(s), progress(s), linger(s) {}

  asio::posix::stream_descriptor& pipe(int which) {
    return which == 0 ? out : which == 1 ? err : progress;
  }
  void OnData(int which, const char* data, size_t n) {
    if (which == 2) {
      ProgressBytes(data, n);
    } else {
      Append(which == 1, data, n);
    }
  }

  void Append(bool is_err, const char* data, size_t n) {
    int64_t& total = is_err ? outcome.stderr_bytes : outcome.stdout_bytes;
    int64_t room = std::max<int64_t>(0, launch.log_cap_bytes - total);
    size_t keep = static_cast<size_t>(std::min<int64_t>(room, static_cast<int64_t>(n)));
    if (keep < n) outcome.logs_truncated = true;
    total += static_cast<int64_t>(n);
    Fd& file = is_err ? err_file : out_file;
    if (keep > 0 && file.get() < 0) {
      // Opened on the first byte: most tasks leave at least one stream
      // empty, and creating a file costs more than spawning the process.
      const auto& path = is_err ? launch.stderr_path : launch.stdout_path;
      file.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
      if (file.get() < 0) {
        if (!log_open_failed) {
          spdlog::warn("task {}: cannot open {}: {}; its output is dropped", launch.task_id,
                       path.string(), ErrnoText(errno));
        }
        log_open_failed = true;
        outcome.logs_truncated = true;
        return;
      }
    }
    while (keep > 0) {
      ssize_t w = ::write(file.get(), data, keep);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        // Disk full or I/O error: the task goes on, its log is incomplete.
        outcome.logs_truncated = true;
        break;
      }
      data += w;
      keep -= static_cast<size_t>(w);
    }
  }

  void ProgressBytes(const char* data, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      if (data[i] == '\n') {
        if (auto p = ParseProgressLine(progress_line); p && launch.on_progress) {
          launch.on_progress(p->first, ValidUtf8(std::move(p->second)));
        }
        progress_line.clear();
      } else if (progress_line.size() < 4096) {
        progress_line.push_back(data[i]);
      }
    }
  }
};

StatusOr<std::shared_ptr<ExecAttempt>> ExecAttempt::Start(Strand strand, ExecLaunch launch) {
  const ExecAction& action = *launch.action;
  std::vector<std::string> env =
      BuildChildEnv(action, launch.task_id, launch.attempt, launch.instance, launch.daemon_env);
  auto program = ResolveProgram(action.argv[0], env);
  if (!program.ok()) return program.status();
  if (!action.cwd.empty()) {
    struct stat st;
    if (::stat(action.cwd.c_str(), &st) != 0) {
      return Status(StatusCode::kNotFound, "cwd '" + action.cwd + "': " + ErrnoText(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
      return Status(StatusCode::kNotFound, "cwd '" + action.cwd + "': " + ErrnoText(ENOTDIR));
    }
  }

  // The pipes, the log writes and the exit watch run on a strand of the
  // attempt's own; what it reports is posted to the caller's.
  if (launch.on_progress) {
    launch.on_progress = [strand, f = std::move(launch.on_progress)](double percent,
                                                                     std::string message) {
      asio::post(strand, [f, percent, message = std::move(message)]() mutable {
        f(percent, std::move(message));
      });
    };
  }
  if (launch.on_exit) {
    launch.on_exit = [strand, f = std::move(launch.on_exit)](ExecOutcome o) {
      asio::post(strand, [f, o] { f(o); });
    };
  }
  auto self = std::shared_ptr<ExecAttempt>(new ExecAttempt());
  self->impl_ = std::make_unique<Impl>(asio::make_strand(strand.get_inner_executor()));
  Impl& im = *self->impl_;
  im.launch = std::move(launch);
  im.launch.action = nullptr;  // the caller's: read here only
  im.launch.daemon_env = nullptr;

  auto out = MakePipe();
  auto err = MakePipe();
  auto prog = MakePipe();
  if (!out.ok()) return out.status();
  if (!err.ok()) return err.status();
  if (!prog.ok()) return prog.status();

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out->write.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, err->write.get(), 2);
  posix_spawn_file_actions_adddup2(&fa, prog->write.get(), kProgressFd);
  if (!action.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, action.cwd.c_str());
  posix_spawn_file_actions_addclosefrom_np(&fa, kProgressFd + 1);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> argv;
  for (const auto& a : action.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  pid_t pid = -1;
  int rc;
  {
    // Registered before the orphan reaper can look: its exit status is ours.
    auto registry = ChildRegistry::Lock();
    rc = ::posix_spawn(&pid, program->c_str(), &fa, &attr, argv.data(), envp.data());
    if (rc == 0) ChildRegistry::Add(pid);
  }
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    std::string what = "'" + action.argv[0] + "': " + ErrnoText(rc);
    if (!action.cwd.empty() && (rc == ENOENT || rc == ENOTDIR || rc == EACCES)) {
      what += " (program " + *program + ", cwd " + action.cwd + ")";
    }
    return Status(StatusCode::kFailedPrecondition, what);
  }
  self->pid_ = pid;
  // Read here: once the exit watch is armed, another thread may reap it.
  self->ref_ = RefOf(pid);
  // The child holds the write ends now; ours must close so EOF arrives.
  out->write.reset();
  err->write.reset();
  prog->write.reset();

  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    // Cannot supervise it: kill it rather than leave it unobserved.
    int e = errno;
    ::kill(-pid, SIGKILL);
    siginfo_t info;
    ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED);
    ChildRegistry::Remove(pid);
    return Internal("pidfd_open: " + ErrnoText(e));
  }
  im.pidfd.assign(pidfd);
  im.out.assign(out->read.release());
  im.err.assign(err->read.release());
  im.progress.assign(prog->read.release());

  for (int which = 0; which < 3; ++which) self->ReadPipe(which);
  self->WatchExit();
  return self;
}

ExecAttempt::~ExecAttempt() = default;

namespace {
class PosixSpawnerImpl final : public Spawner {
 public:
  StatusOr<std::shared_ptr<Process>> Spawn(Strand strand, ExecLaunch launch) override {
    auto a = ExecAttempt::Start(strand, std::move(launch));
    if (!a.ok()) return a.status();
    return std::shared_ptr<Process>(std::move(a).value());
  }
};
}  // namespace

Spawner& PosixSpawner() {
  static PosixSpawnerImpl spawner;
  return spawner;
}

void ExecAttempt::SignalGroup(int sig) {
  // Also after the leader exited: grandchildren may still hold the group.
  // The group id cannot be reused while any member lives.
  if (pid_ > 0) ::kill(-pid_, sig);
}

void ExecAttempt::TEST_WakeExitWatcher() {
  asio::post(impl_->pidfd.get_executor(),
             [self = shared_from_this()] { self->OnExitWakeup(boost::system::error_code()); });
}

void ExecAttempt::WatchExit() {
  impl_->pidfd.async_wait(
      asio::posix::stream_descriptor::wait_read,
      [self = shared_from_this()](const boost::system::error_code& ec) { self->OnExitWakeup(ec); });
}

void ExecAttempt::ReadPipe(int which) {
  Impl& im = *impl_;
  auto& sd = im.pipe(which);
  auto& buf = im.bufs[which];
  sd.async_read_some(asio::buffer(buf), [self = shared_from_this(), which](
                                            const boost::system::error_code& ec, size_t n) {
    Impl& im = *self->impl_;
    if (n > 0) im.OnData(which, im.bufs[which].data(), n);
    if (ec) {
      --im.open_pipes;
      self->MaybeFinish();
      return;
    }
    self->ReadPipe(which);
  });
}

void ExecAttempt::OnExitWakeup(const boost::system::error_code& ec) {
  Impl& im = *impl_;
  // Closed: the exit was taken already (or the attempt is being destroyed).
  if (im.exited || ec == asio::error::operation_aborted || !im.pidfd.is_open()) return;
  // A pidfd may be reported readable before its child exited: WNOHANG then
  // finds nothing (EAGAIN on a non-blocking pidfd), and the wait goes on.
  siginfo_t info{};
  int rc;
  do {
    rc = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(im.pidfd.native_handle()),
                  &info, WEXITED | WNOHANG);
  } while (rc != 0 && errno == EINTR);
  if ((rc == 0 && info.si_pid == 0) || (rc != 0 && errno == EAGAIN)) {
    WatchExit();
    return;
  }
  if (rc != 0) {
    spdlog::error("task {}: waitid on pid {} failed: {}", im.launch.task_id, pid_,
                  ErrnoText(errno));
  } else if (info.si_code == CLD_EXITED) {
    im.outcome.exit_code = info.si_status;
  } else {
    im.outcome.signal = info.si_status;
  }
  ChildRegistry::Remove(pid_);
  im.exited = true;
  boost::system::error_code ignored;
  im.pidfd.close(ignored);
  if (im.open_pipes > 0) {
    // Usually the pipes reach EOF right after the exit. A grandchild that
    // inherited them may keep them open: stop reading after a short linger
    // rather than tie the task's end to it.
    im.linger.expires_after(std::chrono::milliseconds(200));
    im.linger.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      Impl& im = *self->impl_;
      boost::system::error_code ignored;
      for (int which = 0; which < 3; ++which) im.pipe(which).close(ignored);
    });
  }
  MaybeFinish();
}

void ExecAttempt::MaybeFinish() {
  Impl& im = *impl_;
  if (!im.exited || im.open_pipes > 0 || im.finished) return;
  im.finished = true;
  im.linger.cancel();
  if (!im.progress_line.empty()) im.OnData(2, "\n", 1);
  im.out_file.reset();
  im.err_file.reset();
  if (im.launch.on_exit) im.launch.on_exit(im.outcome);
}

}  // namespace taskd
