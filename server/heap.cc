#include "server/heap.h"

#include <dlfcn.h>
#include <malloc.h>

#include <cstddef>

namespace taskd::server {

namespace {

using Mallctl = int (*)(const char*, void*, size_t*, void*, size_t);

// jemalloc's mallctl when the process runs on it (its symbols replace
// malloc's, and it exports this one), else null.
Mallctl JemallocCtl() {
  static const Mallctl ctl = reinterpret_cast<Mallctl>(::dlsym(RTLD_DEFAULT, "mallctl"));
  return ctl;
}

}  // namespace

const char* HeapAllocator() { return JemallocCtl() ? "jemalloc" : "glibc"; }

void ReleaseFreeHeap() {
  if (Mallctl ctl = JemallocCtl()) {
    // "arena.<MALLCTL_ARENAS_ALL>.purge": every arena's unused dirty and
    // muzzy pages go back to the system (jemalloc would otherwise return
    // them over its decay time, 10 s by default).
    if (ctl("arena.4096.purge", nullptr, nullptr, nullptr, 0) == 0) return;
  }
  ::malloc_trim(0);  // glibc's, or a jemalloc that refused the purge
}

}  // namespace taskd::server
