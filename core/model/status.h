// Status and StatusOr: how core reports likely failures (bad input, unknown
// id, full queue, OS errors) without exceptions. Codes use the canonical
// gRPC numbering so the server maps them one to one.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace taskd {

enum class StatusCode : int32_t {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "INVALID_ARGUMENT: spec.exec.argv: must not be empty"
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status OkStatus() { return {}; }

// Client input for an error message: in single quotes, at most `max` bytes
// of it (cut on a UTF-8 boundary) and its size when longer, control bytes
// as '?'. A reply must stay small whatever the request held.
std::string Quote(std::string_view input, size_t max = 64);
// Bad input; `field` is the request path of the offending field ("spec.exec.argv").
inline Status InvalidArgument(std::string_view field, std::string_view what) {
  return {StatusCode::kInvalidArgument, std::string(field) + ": " + std::string(what)};
}
inline Status NotFound(std::string message) { return {StatusCode::kNotFound, std::move(message)}; }
inline Status FailedPrecondition(std::string message) {
  return {StatusCode::kFailedPrecondition, std::move(message)};
}
inline Status ResourceExhausted(std::string message) {
  return {StatusCode::kResourceExhausted, std::move(message)};
}
inline Status Internal(std::string message) { return {StatusCode::kInternal, std::move(message)}; }
inline Status Unavailable(std::string message) {
  return {StatusCode::kUnavailable, std::move(message)};
}

// A value or the Status explaining why there is none. Never holds an OK status.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  // An UNKNOWN error; exists because asio::co_spawn default-constructs results.
  StatusOr() : v_(Status(StatusCode::kUnknown, "no value")) {}
  StatusOr(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  StatusOr(Status status) : v_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<Status, T> v_;
};

// How an asynchronous call answers: a value, or why there is none.
template <typename T>
using Callback = std::function<void(StatusOr<T>)>;

}  // namespace taskd
