#include "log/socket_target.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

namespace narwhal::log {

HostPort split_host_port(std::string_view text, std::string_view default_port) {
  HostPort out{std::string(text), std::string(default_port)};
  if (!text.empty() && text.front() == '[') {  // [v6] or [v6]:port
    const size_t close = text.find(']');
    out.host = std::string(text.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1));
    if (close != std::string_view::npos && close + 1 < text.size() && text[close + 1] == ':') {
      out.port = std::string(text.substr(close + 2));
    }
  } else if (const size_t colon = text.rfind(':'); colon != std::string_view::npos && text.find(':') == colon) {
    out.host = std::string(text.substr(0, colon));
    out.port = std::string(text.substr(colon + 1));
  }
  return out;
}

UniqueFd connect_inet(const std::string& host, const std::string& port, int type, std::string* error) {
  addrinfo hints{};
  hints.ai_socktype = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    *error = "cannot resolve " + host + ": " + ::gai_strerror(rc);
    return {};
  }
  UniqueFd socket;
  for (addrinfo* candidate = found; candidate; candidate = candidate->ai_next) {
    socket.reset(::socket(candidate->ai_family, type | SOCK_CLOEXEC, 0));
    if (socket && ::connect(socket.get(), candidate->ai_addr, candidate->ai_addrlen) == 0) break;
    *error = std::string("cannot connect: ") + std::strerror(errno);
    socket.reset();
  }
  ::freeaddrinfo(found);
  return socket;
}

UniqueFd connect_unix(const std::string& path, int type, std::string* error) {
  sockaddr_un target{};
  target.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof target.sun_path) {
    *error = "invalid unix socket path " + path;
    return {};
  }
  std::memcpy(target.sun_path, path.c_str(), path.size() + 1);
  UniqueFd socket(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  if (!socket || ::connect(socket.get(), reinterpret_cast<sockaddr*>(&target), sizeof target) != 0) {
    *error = "cannot connect to " + path + ": " + std::strerror(errno);
    return {};
  }
  return socket;
}

}  // namespace narwhal::log
