#include "log/logger.h"

#include <cstdio>

#include <errno.h>
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <new>

#include "base/io.h"
#include "log/time_text.h"

namespace narwhal::log {
namespace {

constexpr struct {
  std::string_view name;
  Level level;
} kLevels[] = {
    {"debug", Level::Debug}, {"info", Level::Info},         {"warning", Level::Warning},
    {"error", Level::Error}, {"critical", Level::Critical},
};

// Python's open(path, "a"): created with 0666 & ~umask. O_APPEND makes each write(2) land at the
// current end of file atomically, which is what keeps lines of several processes whole.
int open_append(const std::string& path) {
  for (;;) {
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd >= 0 || errno != EINTR) return fd;
  }
}

std::string open_error(const std::string& path, int error_number) {
  return "Error: '" + path + "' isn't writable [" + std::strerror(error_number) + "]";
}

// One write(2) per line (write_all only loops on a short write, e.g. a full pipe).
void write_line(int fd, std::string& line) {
  struct iovec iov = {line.data(), line.size()};
  (void)io::write_all(fd, &iov, 1, -1);  // a failed log write has nowhere to be reported
}

// Puts a freshly opened file under the descriptor number `target` (atomic for other writers).
bool replace_fd(int target, int fresh) {
  int rc;
  do {
    rc = ::dup2(fresh, target);
  } while (rc < 0 && (errno == EINTR || errno == EBUSY));
  int saved = errno;
  ::close(fresh);
  errno = saved;
  if (rc < 0) return false;
  io::set_cloexec(target, true);  // dup2 clears FD_CLOEXEC on the target
  return true;
}

thread_local bool t_never_waits = false;

}  // namespace

void set_thread_never_waits(bool never) { t_never_waits = never; }
bool thread_never_waits() { return t_never_waits; }

bool parse_level(std::string_view text, Level* out) {
  for (const auto& entry : kLevels) {
    if (entry.name.size() != text.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < text.size() && same; ++i) {
      char c = text[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
      same = c == entry.name[i];
    }
    if (same) {
      *out = entry.level;
      return true;
    }
  }
  return false;
}

std::string_view level_name(Level level) {
  switch (level) {
    case Level::Debug: return "DEBUG";
    case Level::Info: return "INFO";
    case Level::Warning: return "WARNING";
    case Level::Error: return "ERROR";
    case Level::Critical: return "CRITICAL";
  }
  return "INFO";
}

bool Logger::open(std::string_view errorlog, std::string_view accesslog, Level level,
                  std::string_view access_format, std::string* error) {
  std::string error_path(errorlog.empty() ? "-" : errorlog);
  std::string access_path(accesslog);
  UniqueFd new_error_fd;
  UniqueFd new_access_fd;
  if (error_path != "-") {
    new_error_fd.reset(open_append(error_path));
    if (!new_error_fd) {
      if (error != nullptr) *error = open_error(error_path, errno);
      return false;
    }
  }
  if (!access_path.empty() && access_path != "-") {
    new_access_fd.reset(open_append(access_path));
    if (!new_access_fd) {
      if (error != nullptr) *error = open_error(access_path, errno);
      return false;
    }
  }
  ::tzset();  // localtime_r does not read TZ itself
  level_ = level;
  error_fd_ = new_error_fd ? new_error_fd.get() : 2;
  access_fd_ = new_access_fd ? new_access_fd.get() : (access_path == "-" ? 1 : -1);
  owned_error_fd_ = std::move(new_error_fd);
  owned_access_fd_ = std::move(new_access_fd);
  errorlog_path_ = std::move(error_path);
  accesslog_path_ = std::move(access_path);
  format_ = AccessFormat(access_format.empty() ? kDefaultAccessFormat : access_format);
  if (!format_.error().empty() && access_enabled()) {
    warning("access_log_format is not a valid Python format (" + format_.error() +
            "); gunicorn would log a traceback per request, narwhal renders it best-effort");
  }
  return true;
}

bool Logger::reopen() {
  bool ok = true;
  auto reopen_one = [this, &ok](const UniqueFd& owned, const std::string& path) {
    if (!owned) return;  // stderr / stdout / off: nothing to reopen
    int fresh = open_append(path);
    if (fresh < 0 || !replace_fd(owned.get(), fresh)) {
      ok = false;
      error(open_error(path, errno));
    }
  };
  reopen_one(owned_error_fd_, errorlog_path_);
  reopen_one(owned_access_fd_, accesslog_path_);
  if (capture_output_) capture_output();  // 1 and 2 still point at the rotated file
  if (sink_) sink_->reopen();
  return ok;
}

void Logger::capture_output() {
  if (!owned_error_fd_) return;  // errorlog "-": stdout/stderr stay as they are (gunicorn)
  capture_output_ = true;
  std::fflush(stdout);
  std::fflush(stderr);
  ::dup2(error_fd_, 1);
  ::dup2(error_fd_, 2);
}

void Logger::write(Level level, std::string_view message) {
  // gunicorn's Statsd logger counts warning, error and critical lines.
  if (statsd_.enabled()) {
    if (level == Level::Warning) statsd_.increment("gunicorn.log.warning");
    else if (level == Level::Error) statsd_.increment("gunicorn.log.error");
    else if (level == Level::Critical) statsd_.increment("gunicorn.log.critical");
  }
  write_line_only(level, message);
}

void Logger::exception(std::string_view message) {
  if (!enabled(Level::Error)) return;
  if (statsd_.enabled()) statsd_.increment("gunicorn.log.exception");
  if (sink_ && sink_->line(Level::Error, message, true)) return;
  write_to_file(Level::Error, message);
}

void Logger::request_metrics(int status, int64_t duration_us) {
  if (!statsd_.enabled()) return;
  // gunicorn's Statsd.access: the duration in ms, the request, its status.
  statsd_.histogram_ms("gunicorn.request.duration", static_cast<double>(duration_us) / 1000.0);
  statsd_.increment("gunicorn.requests");
  if (status > 0) statsd_.increment("gunicorn.request.status." + std::to_string(status));
}

void Logger::write_line_only(Level level, std::string_view message) {
  if (sink_ && sink_->line(level, message, false)) return;
  write_to_file(level, message);
}

void Logger::write_to_file(Level level, std::string_view message) {
  if (syslog_.enabled()) {
    const int severity = level >= Level::Critical ? 2 : level >= Level::Error ? 3 : level >= Level::Warning ? 4
                         : level >= Level::Info ? 6 : 7;
    syslog_.send(severity, false, ::getpid(), message);
  }
  thread_local std::string line;
  line.clear();
  append_error_time(line, std::time(nullptr));
  line.append(" [");
  line.append(std::to_string(::getpid()));  // not cached: the same Logger runs in forked children
  line.append("] [");
  line.append(level_name(level));
  line.append("] ");
  line.append(message);
  line.push_back('\n');
  write_line(error_fd_, line);
}

void Logger::access(const AccessRecord& record) {
  if (access_fd_ < 0) return;
  thread_local std::string line;
  line.clear();
  format_.render(record, line);
  if (syslog_access_ && syslog_.enabled()) syslog_.send(6, true, ::getpid(), line);
  line.push_back('\n');
  write_line(access_fd_, line);
}

Logger& logger() {
  // Never destroyed: code running in static destructors or atexit handlers may still log, and a
  // closed descriptor number could by then belong to something else.
  alignas(Logger) static unsigned char storage[sizeof(Logger)];
  static Logger* instance = ::new (storage) Logger();
  return *instance;
}

}  // namespace narwhal::log
