// Compact value types for Task fields that are usually empty or unset.
//
// taskd keeps every unfinished task in memory (and, with the in-memory store,
// every retained finished one), so each field costs its full size on every
// task whether it is set or not: a std::string is 32 bytes, a
// std::optional<TaskResult> 80. These types keep an unset field at 8 bytes
// and otherwise behave as the standard type they replace.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace taskd {

// Like std::optional<T>, with the value on the heap: 8 bytes while unset.
// For values that exist only in some states (a result once a task ended).
template <typename T>
class Boxed {
 public:
  Boxed() = default;
  Boxed(std::nullopt_t) {}  // NOLINT(google-explicit-constructor): optional-like
  Boxed(T v) : p_(std::make_unique<T>(std::move(v))) {}  // NOLINT(google-explicit-constructor)
  Boxed(std::optional<T> v) {                            // NOLINT(google-explicit-constructor)
    if (v) p_ = std::make_unique<T>(std::move(*v));
  }
  Boxed(const Boxed& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
  Boxed(Boxed&&) noexcept = default;
  Boxed& operator=(const Boxed& o) {
    if (this != &o) p_ = o.p_ ? std::make_unique<T>(*o.p_) : nullptr;
    return *this;
  }
  Boxed& operator=(Boxed&&) noexcept = default;
  Boxed& operator=(std::nullopt_t) {
    p_.reset();
    return *this;
  }
  Boxed& operator=(T v) {
    if (p_) {
      *p_ = std::move(v);
    } else {
      p_ = std::make_unique<T>(std::move(v));
    }
    return *this;
  }
  Boxed& operator=(std::optional<T> v) {
    if (v) return *this = std::move(*v);
    p_.reset();
    return *this;
  }

  bool has_value() const { return p_ != nullptr; }
  explicit operator bool() const { return p_ != nullptr; }
  T& operator*() { return *p_; }
  const T& operator*() const { return *p_; }
  T* operator->() { return p_.get(); }
  const T* operator->() const { return p_.get(); }
  template <typename... A>
  T& emplace(A&&... args) {
    p_ = std::make_unique<T>(std::forward<A>(args)...);
    return *p_;
  }
  void reset() { p_.reset(); }

 private:
  std::unique_ptr<T> p_;
};

// Like std::optional<T> for a std::chrono duration or time_point, in the
// size of T: T::min() stands for "unset" (no task time is ever that value).
template <typename T>
class CompactOptional {
 public:
  constexpr CompactOptional() = default;
  constexpr CompactOptional(std::nullopt_t) {}  // NOLINT(google-explicit-constructor)
  template <typename U>
  requires std::is_convertible_v<U, T>
  constexpr CompactOptional(U v) : v_(v) {}      // NOLINT(google-explicit-constructor)
  constexpr CompactOptional(std::optional<T> v)  // NOLINT(google-explicit-constructor)
      : v_(v ? *v : T::min()) {}
  // NOLINTNEXTLINE(google-explicit-constructor): passes where std::optional<T> is taken
  constexpr operator std::optional<T>() const {
    return has_value() ? std::optional<T>(v_) : std::nullopt;
  }

  constexpr bool has_value() const { return v_ != T::min(); }
  constexpr explicit operator bool() const { return has_value(); }
  constexpr const T& operator*() const { return v_; }
  constexpr const T* operator->() const { return &v_; }
  constexpr T value_or(T other) const { return has_value() ? v_ : other; }
  constexpr void reset() { v_ = T::min(); }

  friend constexpr bool operator==(const CompactOptional& a, const CompactOptional& b) {
    return a.v_ == b.v_;
  }

 private:
  T v_ = T::min();
};

// A string in 8 bytes: null while empty, else one heap block holding the
// size, the characters and a NUL. For strings most tasks leave empty (a
// name, a queue, a progress message); it reads as a std::string_view.
class CompactString {
 public:
  CompactString() = default;
  CompactString(std::string_view s) { Assign(s); }    // NOLINT(google-explicit-constructor)
  CompactString(const std::string& s) { Assign(s); }  // NOLINT(google-explicit-constructor)
  CompactString(const char* s) {                      // NOLINT(google-explicit-constructor)
    if (s != nullptr) Assign(s);
  }
  CompactString(const CompactString& o) { Assign(o.view()); }
  CompactString(CompactString&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  CompactString& operator=(const CompactString& o) {
    if (this != &o) Assign(o.view());
    return *this;
  }
  CompactString& operator=(CompactString&& o) noexcept {
    if (this != &o) {
      std::free(p_);
      p_ = std::exchange(o.p_, nullptr);  // the source is left empty, as a std::string
    }
    return *this;
  }
  CompactString& operator=(std::string_view s) {
    Assign(s);
    return *this;
  }
  CompactString& operator=(const std::string& s) { return *this = std::string_view(s); }
  CompactString& operator=(const char* s) { return *this = std::string_view(s ? s : ""); }
  ~CompactString() { std::free(p_); }

  bool empty() const { return p_ == nullptr; }
  size_t size() const {
    if (p_ == nullptr) return 0;
    uint32_t n;
    std::memcpy(&n, p_, sizeof n);
    return n;
  }
  const char* data() const { return p_ ? p_ + sizeof(uint32_t) : ""; }  // NUL-terminated
  const char* c_str() const { return data(); }
  std::string_view view() const { return {data(), size()}; }
  operator std::string_view() const { return view(); }  // NOLINT(google-explicit-constructor)
  std::string str() const { return std::string(view()); }

  friend bool operator==(const CompactString& a, const CompactString& b) {
    return a.view() == b.view();
  }
  friend bool operator==(const CompactString& a, std::string_view b) { return a.view() == b; }
  friend bool operator==(const CompactString& a, const char* b) { return a.view() == b; }
  friend bool operator==(const CompactString& a, const std::string& b) { return a.view() == b; }
  friend std::ostream& operator<<(std::ostream& os, const CompactString& s) {
    return os << s.view();
  }

 private:
  void Assign(std::string_view s) {
    char* old = p_;
    p_ = nullptr;
    if (!s.empty()) {
      // Task strings are bounded by SpecLimits far below 4 GiB.
      if (s.size() > UINT32_MAX) throw std::length_error("CompactString: over 4 GiB");
      const auto n = static_cast<uint32_t>(s.size());
      p_ = static_cast<char*>(std::malloc(sizeof n + s.size() + 1));
      if (p_ == nullptr) throw std::bad_alloc();
      std::memcpy(p_, &n, sizeof n);
      std::memcpy(p_ + sizeof n, s.data(), s.size());
      p_[sizeof n + s.size()] = '\0';
    }
    std::free(old);
  }

  char* p_ = nullptr;  // [uint32 size][chars][NUL], or null when empty
};

}  // namespace taskd
