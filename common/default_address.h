// Where taskd listens by default, and so where taskctl looks for it: the one
// place both binaries take the default from, header-only so taskd does not
// link the client library.
//
//   root:      /run/taskd/taskd.sock
//   others:    $XDG_RUNTIME_DIR/taskd/taskd.sock, or /tmp/taskd-$UID/taskd.sock
//   override:  TASKD_SOCKET=/path/to/socket (for both)
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <string>

namespace taskd {

inline std::string DefaultSocketPath() {
  if (const char* s = std::getenv("TASKD_SOCKET"); s && *s) return s;
  if (::geteuid() == 0) return "/run/taskd/taskd.sock";
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg) {
    return std::string(xdg) + "/taskd/taskd.sock";
  }
  return "/tmp/taskd-" + std::to_string(::geteuid()) + "/taskd.sock";
}

inline std::string DefaultAddress() { return "unix:" + DefaultSocketPath(); }

}  // namespace taskd
