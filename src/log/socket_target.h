// Connected sockets to the log destinations outside the process (StatsD, syslog): one place that
// resolves "host:port" and connects unix sockets, for log/statsd.cpp and log/syslog.cpp.
#pragma once

#include <string>
#include <string_view>

#include "base/unique_fd.h"

namespace narwhal::log {

struct HostPort {
  std::string host;
  std::string port;
};
// "host", "host:port", "[v6]" or "[v6]:port" (a bare IPv6 address has no port).
HostPort split_host_port(std::string_view text, std::string_view default_port);

// `type`: SOCK_DGRAM or SOCK_STREAM, optionally | SOCK_NONBLOCK (SOCK_CLOEXEC is added). An
// invalid descriptor with *error set on failure.
UniqueFd connect_inet(const std::string& host, const std::string& port, int type, std::string* error);
UniqueFd connect_unix(const std::string& path, int type, std::string* error);

}  // namespace narwhal::log
