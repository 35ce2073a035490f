#include "core/model/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace taskd {

Status MakeDirectories(const std::filesystem::path& dir, mode_t mode) {
  if (dir.empty()) return OkStatus();
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return OkStatus();
    return Internal("cannot create " + dir.string() + ": it exists and is not a directory");
  }
  auto parent = dir.parent_path();
  if (!parent.empty() && parent != dir) {
    if (auto s = MakeDirectories(parent, mode); !s.ok()) return s;
  }
  if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) {
    return Internal("cannot create " + dir.string() + ": " + std::strerror(errno));
  }
  return OkStatus();
}

Status CreateFileIfMissing(const std::filesystem::path& path, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) return OkStatus();
    return Internal("cannot create " + path.string() + ": " + std::strerror(errno));
  }
  ::close(fd);
  return OkStatus();
}

}  // namespace taskd
