// Directories and files created with explicit modes, whatever the umask.
#pragma once

#include <sys/types.h>

#include <filesystem>

#include "core/model/status.h"

namespace taskd {

// Creates `dir` and each missing parent with `mode` (the umask can only take
// bits away from it, never add any). Existing directories are left as they are.
Status MakeDirectories(const std::filesystem::path& dir, mode_t mode = 0700);

// Creates `path` empty with `mode` when it does not exist (an existing file
// keeps its mode): SQLite then gives its -wal and -shm files the same mode.
Status CreateFileIfMissing(const std::filesystem::path& path, mode_t mode = 0600);

}  // namespace taskd
