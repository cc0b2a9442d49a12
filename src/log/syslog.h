// gunicorn's syslog output (glogging.py _set_syslog_handler with Python's SysLogHandler): each
// error-log line, and each access-log line unless disable_redirect_access_to_syslog, is sent as
// "<PRI>gunicorn.<prefix>.<error|access>: [pid] message\0" to udp://, tcp:// or unix:// — the
// layout syslog daemons and gunicorn users' filters already know. Sending never blocks the
// worker: a datagram that does not fit is dropped.
#pragma once

#include <mutex>
#include <string>
#include <string_view>

#include "base/unique_fd.h"

namespace narwhal::log {

class Syslog {
 public:
  // address: syslog_addr ("udp://HOST:PORT", "tcp://HOST:PORT", "unix://PATH[#dgram|#stream]");
  // facility: syslog_facility ("user", "local0", …); program: "gunicorn.<prefix>" without the
  // ".error"/".access" part. False with *error set (unknown facility, unreachable address).
  bool open(std::string_view address, std::string_view facility, std::string_view program, std::string* error);
  bool enabled() const { return socket_.valid(); }

  // severity: syslog's (2 critical, 3 error, 4 warning, 6 info, 7 debug).
  void send(int severity, bool access, int pid, std::string_view message);
  // In a forked child (one thread): the lock is made anew (a master thread may have held it).
  void after_fork();

 private:
  UniqueFd socket_;
  bool stream_ = false;  // tcp:// or a stream unix socket: messages end with NUL, one writer at a time
  int facility_ = 1;
  std::string program_;
  std::mutex mutex_;
};

// The syslog facility number of a name (Python's SysLogHandler.facility_names); -1 if unknown.
int syslog_facility(std::string_view name);

}  // namespace narwhal::log
