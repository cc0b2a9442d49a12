// A parsed `--bind` value, in the forms gunicorn accepts (gunicorn.util.parse_address).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace narwhal::net {

inline constexpr uint16_t kDefaultPort = 8000;  // gunicorn's default_port

struct BindAddress {
  enum class Kind { Tcp, Unix, Fd };
  Kind kind = Kind::Tcp;
  std::string host;  // Tcp: lower-cased host or IP literal without brackets ("" = any address)
  uint16_t port = kDefaultPort;  // Tcp only; 0 = let the kernel choose
  bool ipv6 = false;             // Tcp: host is an IPv6 literal (gunicorn's util.is_ipv6)
  std::string path;              // Unix only
  int fd = -1;                   // Fd only

  // The form gunicorn uses in "Connection in use: ..." messages: "('127.0.0.1', 8000)" for TCP,
  // the path for unix sockets, the number for fds.
  std::string display() const;
};

// Parses "HOST:PORT", "HOST" (port 8000), "[::1]:PORT", "[::1]", ":PORT", "tcp://HOST:PORT",
// "unix:/path", "unix:///path" and "fd://N". On failure
// `error` is set to a message (gunicorn's wording) and the returned value is meaningless;
// on success `error` is cleared.
BindAddress parse_bind(std::string_view text, std::string* error);

// True when `host` is a textual IPv6 address (inet_pton AF_INET6 accepts it).
bool is_ipv6_literal(std::string_view host);

}  // namespace narwhal::net
