// Error log (gunicorn's layout: "[2026-11-29 17:40:00 +0000] [1234] [INFO] message") and the
// access log with gunicorn's access_log_format atoms. One Logger per process.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace narwhal::log {

enum class Level { Debug = 10, Info = 20, Warning = 30, Error = 40, Critical = 50 };

// "debug" | "info" | "warning" | "error" | "critical" (case-insensitive); false if unknown.
bool parse_level(std::string_view text, Level* out);

// Everything the access-log atoms need about one finished request.
struct AccessRecord {
  std::string_view remote_addr;         // h
  std::string_view method;              // m
  std::string_view target;              // U (path) / q (query) come from raw uri
  std::string_view path;                // U
  std::string_view query;               // q
  std::string_view protocol;            // H, e.g. "HTTP/1.1"
  std::string_view status;              // s (the 3 digits)
  int64_t response_length = -1;         // b ("-" when unknown) / B (0 when unknown)
  std::string_view referer;             // f
  std::string_view user_agent;          // a
  int64_t duration_us = 0;              // T (s), M (ms), D (us), L (decimal s)
  int pid = 0;                          // p
  // Request / response headers for {name}i / {name}o atoms, and environ-like values for {name}e.
  const std::vector<std::pair<std::string_view, std::string_view>>* request_headers = nullptr;
  const std::vector<std::pair<std::string_view, std::string_view>>* response_headers = nullptr;
};

// A compiled access_log_format (parsed once at start-up).
class AccessFormat {
 public:
  explicit AccessFormat(std::string_view format);
  void render(const AccessRecord& record, std::string& out) const;  // appends one line (no '\n')

 private:
  struct Piece;
  std::vector<Piece> pieces_;
 public:
  ~AccessFormat();
  AccessFormat(AccessFormat&&) noexcept;
  AccessFormat& operator=(AccessFormat&&) noexcept;
};

class Logger {
 public:
  // errorlog: "-" = stderr, else a file path (opened for append). accesslog: "" = off, "-" = stdout.
  // Returns false with *error set when a file cannot be opened.
  bool open(std::string_view errorlog, std::string_view accesslog, Level level,
            std::string_view access_format, std::string* error);
  bool reopen();  // USR1: reopen the files at the same paths

  void set_level(Level level) { level_ = level; }
  bool enabled(Level level) const { return level >= level_; }
  void write(Level level, std::string_view message);  // one line, timestamped, with pid
  void debug(std::string_view m) { if (enabled(Level::Debug)) write(Level::Debug, m); }
  void info(std::string_view m) { if (enabled(Level::Info)) write(Level::Info, m); }
  void warning(std::string_view m) { if (enabled(Level::Warning)) write(Level::Warning, m); }
  void error(std::string_view m) { if (enabled(Level::Error)) write(Level::Error, m); }
  void critical(std::string_view m) { if (enabled(Level::Critical)) write(Level::Critical, m); }

  bool access_enabled() const { return access_fd_ >= 0; }
  void access(const AccessRecord& record);

  int error_fd() const { return error_fd_; }

 private:
  Level level_ = Level::Info;
  int error_fd_ = 2;
  int access_fd_ = -1;
  bool owns_error_fd_ = false;
  bool owns_access_fd_ = false;
  std::string errorlog_path_;
  std::string accesslog_path_;
  AccessFormat* format_ = nullptr;
  std::string line_;  // reused
};

// The process's logger (the one explicit per-process context for logging).
Logger& logger();

}  // namespace narwhal::log
