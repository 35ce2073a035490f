#include "core/task.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <mutex>
#include <random>

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

std::string NewTaskId() {
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  static std::mutex mu;
  static uint64_t last_ms = 0;                         // guarded by mu
  static std::array<uint8_t, 10> last_rand;            // guarded by mu
  static std::mt19937_64 rng{std::random_device{}()};  // guarded by mu

  std::array<uint8_t, 16> bytes{};
  {
    std::lock_guard lock(mu);
    auto ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
    if (ms <= last_ms) {
      // Same (or an earlier, after a clock step) millisecond: increment the
      // random part so ids stay strictly increasing.
      ms = last_ms;
      for (int i = 9; i >= 0; --i) {
        if (++last_rand[i] != 0) break;
      }
    } else {
      last_ms = ms;
      uint64_t a = rng(), b = rng();
      for (int i = 0; i < 8; ++i) last_rand[i] = static_cast<uint8_t>(a >> (8 * i));
      last_rand[8] = static_cast<uint8_t>(b);
      last_rand[9] = static_cast<uint8_t>(b >> 8);
      last_rand[0] &= 0x7f;  // leave room to increment within the millisecond
    }
    for (int i = 0; i < 6; ++i) bytes[i] = static_cast<uint8_t>(ms >> (8 * (5 - i)));
    std::copy(last_rand.begin(), last_rand.end(), bytes.begin() + 6);
  }
  // 128 bits -> 26 base32 characters (the first carries 3 bits).
  std::string out(26, '0');
  __extension__ using Uint128 = unsigned __int128;
  Uint128 v = 0;
  for (uint8_t byte : bytes) v = (v << 8) | byte;
  for (int i = 25; i >= 0; --i) {
    out[i] = kAlphabet[static_cast<unsigned>(v & 31)];
    v >>= 5;
  }
  return out;
}

}  // namespace taskd
