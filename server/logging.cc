#include "server/logging.h"

#include <google/protobuf/stubs/logging.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/model/task.h"

namespace taskd::server {

namespace {

std::string IsoTime(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

// Writes JsonLogLine records to stderr, flushed per line.
class JsonStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    auto level = spdlog::level::to_string_view(msg.level);
    std::string line = JsonLogLine(IsoTime(msg.time), std::string(level.data(), level.size()),
                                   std::string(msg.payload.data(), msg.payload.size()));
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

}  // namespace

std::string JsonLogLine(const std::string& time, const std::string& level, const std::string& msg) {
  nlohmann::json j;
  j["time"] = time;
  j["level"] = level;
  j["msg"] = msg;
  // Task lines read "task ID: ..."; the id gets its own field for filtering.
  if (msg.rfind("task ", 0) == 0) {
    auto colon = msg.find(':', 5);
    if (colon != std::string::npos && TaskIdNumber(std::string_view(msg).substr(5, colon - 5))) {
      j["task_id"] = msg.substr(5, colon - 5);
    }
  }
  // Replace, not throw, on bytes that are not UTF-8 (a task's own text).
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void SetupLogging(const std::string& level, const std::string& format) {
  bool json = format == "json" || (format == "auto" && !::isatty(STDERR_FILENO));
  std::shared_ptr<spdlog::logger> logger;
  if (json) {
    logger = std::make_shared<spdlog::logger>("taskd", std::make_shared<JsonStderrSink>());
  } else {
    logger = std::make_shared<spdlog::logger>(
        "taskd", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  }
  spdlog::set_default_logger(logger);
  spdlog::flush_on(spdlog::level::trace);
  spdlog::set_level(spdlog::level::from_str(level));
  // Protobuf logs a line for each request whose strings are not UTF-8; the
  // caller already gets INVALID_ARGUMENT naming the field, so a client
  // cannot flood the log with them: debug level.
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel lvl, const char* /*file*/,
                                     int /*line*/, const std::string& message) {
    if (lvl >= google::protobuf::LOGLEVEL_FATAL) {
      spdlog::critical("protobuf: {}", message);
    } else {
      spdlog::debug("protobuf: {}", message);
    }
  });
}

}  // namespace taskd::server
