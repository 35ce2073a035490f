#include "core/model/task.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstring>

#include "core/model/check.h"

namespace taskd {

namespace {
constexpr std::array<std::string_view, 6> kStateNames = {"UNSPECIFIED", "PENDING", "RUNNING",
                                                         "COMPLETED",   "FAILED",  "CANCELLED"};
constexpr std::array<std::string_view, 12> kReasonNames = {
    "UNSPECIFIED",       "SUCCEEDED",         "EXIT_CODE",     "SIGNALED",
    "SPAWN_FAILED",      "TIMED_OUT",         "CANCELLED",     "INTERRUPTED",
    "RETRIES_EXHAUSTED", "DEPENDENCY_FAILED", "HANDLER_ERROR", "SHUTDOWN"};
}  // namespace

std::string_view StateName(TaskState s) {
  auto i = static_cast<size_t>(s);
  return i < kStateNames.size() ? kStateNames[i] : "UNKNOWN";
}

std::optional<TaskState> ParseState(std::string_view name) {
  std::string upper(name);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  for (size_t i = 1; i < kStateNames.size(); ++i) {
    if (kStateNames[i] == upper) return static_cast<TaskState>(i);
  }
  return std::nullopt;
}

std::string_view ReasonName(TaskReason r) {
  auto i = static_cast<size_t>(r);
  return i < kReasonNames.size() ? kReasonNames[i] : "UNKNOWN";
}

namespace {
constexpr char kIdAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr size_t kIdLength = 13;  // 64 bits in base32; fits std::string's inline buffer

// Character -> its value in kIdAlphabet, or -1 (ids are looked up on every call).
constexpr std::array<int8_t, 256> kIdValue = [] {
  std::array<int8_t, 256> t{};
  t.fill(-1);
  for (int i = 0; i < 32; ++i)
    t[static_cast<unsigned char>(kIdAlphabet[i])] = static_cast<int8_t>(i);
  return t;
}();
// An id's number is (unix milliseconds << 16) | (node << 12) | sequence.
// Ids are made from a count, (unix milliseconds << 12) | sequence, which
// only grows; the node goes in between.
constexpr uint64_t kSequenceMask = (uint64_t{1} << kTaskIdSequenceBits) - 1;
constexpr int kMillisShift = kTaskIdSequenceBits + kTaskIdNodeBits;  // 16

uint64_t Compose(uint64_t count, uint64_t node) {
  return (count >> kTaskIdSequenceBits) << kMillisShift | node << kTaskIdSequenceBits |
         (count & kSequenceMask);
}

// The count of the last id issued.
std::atomic<uint64_t> last_count{0};
std::atomic<uint32_t> id_node{0};
}  // namespace

void SetTaskIdNode(uint32_t node) {
  TASKD_CHECK(node < kTaskIdNodes, "task id node " + std::to_string(node) + " is out of range");
  id_node.store(node, std::memory_order_relaxed);
}

uint32_t TaskIdNode(uint64_t number) {
  return static_cast<uint32_t>((number >> kTaskIdSequenceBits) & (kTaskIdNodes - 1));
}

std::string NewTaskId() {
  auto ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count());
  uint64_t floor = ms << kTaskIdSequenceBits;
  uint64_t prev = last_count.load(std::memory_order_relaxed);
  uint64_t next;
  do {
    // Strictly increasing even within a millisecond (4,096 ids) or after
    // the wall clock steps back: then ids run ahead of the clock for a while.
    next = std::max(prev + 1, floor);
  } while (!last_count.compare_exchange_weak(prev, next, std::memory_order_relaxed));
  return TaskIdFromNumber(Compose(next, id_node.load(std::memory_order_relaxed)));
}

std::string TaskIdFromNumber(uint64_t n) {
  std::string out(kIdLength, '0');
  for (size_t i = kIdLength; i-- > 0;) {
    out[i] = kIdAlphabet[n & 31];
    n >>= 5;
  }
  return out;
}

std::optional<uint64_t> TaskIdNumber(std::string_view id) {
  if (id.size() != kIdLength) return std::nullopt;
  // The first character carries only 4 of the 64 bits.
  if (id[0] < '0' || id[0] > 'F') return std::nullopt;
  uint64_t v = 0;
  for (char c : id) {
    const int8_t d = kIdValue[static_cast<unsigned char>(c)];
    if (d < 0) return std::nullopt;
    v = (v << 5) | static_cast<uint64_t>(d);
  }
  return v;
}

uint64_t TaskKey(std::string_view id) {
  auto v = TaskIdNumber(id);
  TASKD_CHECK(v.has_value(), "'" + std::string(id) + "' is not a task id");
  return *v;
}

void ObserveTaskId(std::string_view id) {
  auto v = TaskIdNumber(id);
  if (!v) return;
  // The count after which every id this node makes sorts after `id`: its
  // own count on this node, the end of its millisecond for a higher node,
  // the millisecond before it for a lower one. (Ids from before node
  // numbers had a 16-bit sequence; read this way they still sort right.)
  const uint64_t ms = *v >> kMillisShift;
  const uint32_t node = id_node.load(std::memory_order_relaxed);
  const uint32_t theirs = TaskIdNode(*v);
  uint64_t after = ms << kTaskIdSequenceBits;
  if (theirs == node) {
    after |= *v & kSequenceMask;
  } else if (theirs > node) {
    after |= kSequenceMask;
  } else if (after > 0) {
    --after;
  }
  uint64_t prev = last_count.load(std::memory_order_relaxed);
  while (prev < after &&
         !last_count.compare_exchange_weak(prev, after, std::memory_order_relaxed)) {
  }
}

}  // namespace taskd
