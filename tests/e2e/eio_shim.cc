// An LD_PRELOAD shim for e2e.io_error: while the file named by
// $TASKD_TEST_EIO_TRIGGER exists, fsync() and fdatasync() of taskd's
// database files (any path containing ".db": the database and its WAL) fail
// with EIO, as on a dying disk. Everything else passes through.
#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

bool ShouldFail(int fd) {
  const char* trigger = std::getenv("TASKD_TEST_EIO_TRIGGER");
  struct stat st {};
  if (!trigger || ::stat(trigger, &st) != 0) return false;
  char link[64];
  std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  char path[4096];
  ssize_t n = ::readlink(link, path, sizeof(path) - 1);
  if (n <= 0) return false;
  path[n] = '\0';
  return std::strstr(path, ".db") != nullptr;
}

using SyncFn = int (*)(int);

SyncFn Real(const char* name) { return reinterpret_cast<SyncFn>(::dlsym(RTLD_NEXT, name)); }

// EIO for a file that should fail, else the real call.
int FailOr(SyncFn real, int fd) {
  if (ShouldFail(fd)) {
    errno = EIO;
    return -1;
  }
  return real(fd);
}

}  // namespace

extern "C" int fsync(int fd) {
  static SyncFn real = Real("fsync");
  return FailOr(real, fd);
}

extern "C" int fdatasync(int fd) {
  static SyncFn real = Real("fdatasync");
  return FailOr(real, fd);
}
