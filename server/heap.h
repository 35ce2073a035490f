// The process heap, whichever allocator it runs on. The taskd binary and
// the benchmarks that host it link jemalloc (TASKD_JEMALLOC, on by default);
// the tests and the sanitizer builds run on glibc's malloc. Nothing here
// needs jemalloc at build time: it is looked up when called.
#pragma once

namespace taskd::server {

// "jemalloc" or "glibc".
const char* HeapAllocator();

// Returns freed heap pages to the system now: every jemalloc arena purged,
// or glibc's malloc_trim(0). Takes milliseconds on a large heap: not on the
// manager strand.
void ReleaseFreeHeap();

}  // namespace taskd::server
