// Error log (gunicorn's layout: "[2026-11-29 17:40:00 +0000] [1234] [INFO] message") and the
// access log with gunicorn's access_log_format atoms. One Logger per process.
//
// Every line is written with a single write(2) on an O_APPEND descriptor, so lines from the
// master and its workers (which share the descriptors across fork) never interleave. Lines are
// built in a thread-local buffer, so worker threads may log concurrently without a lock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/unique_fd.h"
#include "log/access_format.h"
#include "log/statsd.h"
#include "log/syslog.h"

namespace narwhal::log {

enum class Level { Debug = 10, Info = 20, Warning = 30, Error = 40, Critical = 50 };

// "debug" | "info" | "warning" | "error" | "critical" (case-insensitive); false if unknown.
bool parse_level(std::string_view text, Level* out);

// "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL" (Python logging's level names).
std::string_view level_name(Level level);

// Where error lines go instead of the file when the user asked for Python logging (logconfig,
// logconfig_dict, logconfig_json, logger_class: src/module/python_log.h). The log layer knows
// nothing of Python: a sink may refuse a line (it cannot take it now, e.g. the interpreter is
// finalizing, or the line comes from inside the sink itself), and the logger then writes it.
class LineSink {
 public:
  virtual ~LineSink() = default;
  // One error line; `exception`: an error with a traceback (gunicorn's log.exception).
  virtual bool line(Level level, std::string_view message, bool exception) = 0;
  // USR1 (after the logger reopened its own files): reopen the sink's files.
  virtual void reopen() = 0;
  // Lines (and a reopen) the sink deferred because the thread that logged them could not wait
  // for it (see set_thread_never_waits); called by such a worker's loop at a safe point.
  virtual void drain() = 0;
};

// A thread that must never block on a sink (the gthread worker's loop thread, which must not
// wait for the GIL) marks itself; a sink then defers its lines until the next drain().
void set_thread_never_waits(bool never);
bool thread_never_waits();

class Logger {
 public:
  Logger() = default;
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  // errorlog: "-" = stderr, else a file path (opened for append, created 0666 & ~umask).
  // accesslog: "" = off, "-" = stdout, else a file path. access_format: "" = gunicorn's default.
  // Returns false with *error set when a file cannot be opened; the logger is then unchanged.
  // A format that Python's % would reject is accepted (rendered best-effort) with a warning.
  bool open(std::string_view errorlog, std::string_view accesslog, Level level,
            std::string_view access_format, std::string* error);
  // USR1: reopen the files at their paths (after logrotate moved them). The new file replaces
  // the old one under the same descriptor number (dup2), so concurrent writers and children that
  // inherited the descriptor follow. Returns false if a file could not be reopened (the old one
  // stays in use and an error line is written).
  bool reopen();
  // --capture-output (gunicorn): when the error log is a file, descriptors 1 and 2 become it, so
  // what the app prints lands in the error log; kept across reopen(). Flush stdio first.
  void capture_output();

  void set_level(Level level) { level_ = level; }
  // Error lines go to `sink` (null: back to the file). Set in the master before workers fork.
  // While a sink is set, syslog is the sink's business too (gunicorn's SysLogHandler).
  void set_sink(LineSink* sink) { sink_ = sink; }
  LineSink* sink() const { return sink_; }
  // What a sink deferred, at a point where the calling thread may block on it.
  void drain_sink() {
    if (sink_) sink_->drain();
  }
  Level level() const { return level_; }
  bool enabled(Level level) const { return level >= level_; }
  void write(Level level, std::string_view message);  // one line, timestamped, with getpid()
  void write_line_only(Level level, std::string_view message);  // write() without the metric
  void debug(std::string_view m) {
    if (enabled(Level::Debug)) write(Level::Debug, m);
  }
  void info(std::string_view m) {
    if (enabled(Level::Info)) write(Level::Info, m);
  }
  void warning(std::string_view m) {
    if (enabled(Level::Warning)) write(Level::Warning, m);
  }
  void error(std::string_view m) {
    if (enabled(Level::Error)) write(Level::Error, m);
  }
  void critical(std::string_view m) {
    if (enabled(Level::Critical)) write(Level::Critical, m);
  }
  // An error with a traceback (gunicorn's log.exception): logged at ERROR; statsd counts it as
  // gunicorn.log.exception rather than gunicorn.log.error.
  void exception(std::string_view m);

  // statsd_host: gunicorn's metrics (log/statsd.h). A finished request's are reported with
  // request_metrics whether or not the access log is on (gunicorn: Statsd.access).
  Statsd& statsd() { return statsd_; }
  // --log-syslog: error lines (and access lines when `access` is true) also go to syslog.
  Syslog& syslog() { return syslog_; }
  void set_syslog_access(bool access) { syslog_access_ = access; }
  void request_metrics(int status, int64_t duration_us);

  bool access_enabled() const { return access_fd_ >= 0; }
  void access(const AccessRecord& record);  // no-op when the access log is off
  const AccessFormat& access_format() const { return format_; }

  int error_fd() const { return error_fd_; }
  int access_fd() const { return access_fd_; }

 private:
  Level level_ = Level::Info;
  int error_fd_ = 2;
  int access_fd_ = -1;
  UniqueFd owned_error_fd_;   // set when errorlog is a file (error_fd_ == its number)
  UniqueFd owned_access_fd_;  // set when accesslog is a file
  std::string errorlog_path_;
  std::string accesslog_path_;
  AccessFormat format_;
  Statsd statsd_;
  Syslog syslog_;
  bool syslog_access_ = false;
  bool capture_output_ = false;
  LineSink* sink_ = nullptr;

  void write_to_file(Level level, std::string_view message);
};

// The process's logger (the one explicit per-process context for logging).
Logger& logger();

}  // namespace narwhal::log
