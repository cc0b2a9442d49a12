// Accepting connections: non-blocking, close-on-exec, TCP_NODELAY, peer address as text.
#pragma once

#include <sys/socket.h>

#include <string>

#include "base/unique_fd.h"

namespace narwhal::net {

struct PeerAddress {
  int family = 0;    // AF_INET, AF_INET6 or AF_UNIX
  std::string host;  // "127.0.0.1", "::1"; for unix sockets the peer path, usually "" (gunicorn
                     // then sets REMOTE_ADDR to "" and no REMOTE_PORT)
  int port = -1;     // -1 for unix sockets
};

// Formats a sockaddr (from accept/getpeername/getsockname) into `out`.
void peer_from_sockaddr(const struct sockaddr* address, unsigned length, PeerAddress* out);

// accept4(SOCK_NONBLOCK | SOCK_CLOEXEC), retrying EINTR and ECONNABORTED. Returns 0 with the
// connection in `connection` (TCP_NODELAY inherited from the listener), io::kWouldBlock when there is nothing
// to accept (EAGAIN, or another worker won the race), or -errno (EMFILE, ENFILE, ENOBUFS...).
int accept_connection(int listen_fd, UniqueFd* connection, PeerAddress* peer);

}  // namespace narwhal::net
