#include "net/socket_ops.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <charconv>
#include <cstring>

#include "base/io.h"

namespace narwhal::net {

namespace {

// inet_ntop(AF_INET) without its sprintf: once per accepted connection.
void format_ipv4(const in_addr& address, std::string* out) {
  const auto* octets = reinterpret_cast<const unsigned char*>(&address.s_addr);
  char text[INET_ADDRSTRLEN];
  char* end = text;
  for (int i = 0; i < 4; ++i) {
    if (i) *end++ = '.';
    end = std::to_chars(end, text + sizeof text, octets[i]).ptr;
  }
  out->assign(text, static_cast<size_t>(end - text));
}

}  // namespace

void peer_from_sockaddr(const sockaddr* address, unsigned length, PeerAddress* out) {
  char host[INET6_ADDRSTRLEN] = {};
  out->family = address->sa_family;
  out->port = -1;
  out->host.clear();
  switch (address->sa_family) {
    case AF_INET: {
      const auto* in = reinterpret_cast<const sockaddr_in*>(address);
      format_ipv4(in->sin_addr, &out->host);
      out->port = ntohs(in->sin_port);
      break;
    }
    case AF_INET6: {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
      inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
      out->host = host;
      out->port = ntohs(in6->sin6_port);
      break;
    }
    case AF_UNIX: {
      const auto* un = reinterpret_cast<const sockaddr_un*>(address);
      const size_t offset = offsetof(sockaddr_un, sun_path);
      if (length > offset && un->sun_path[0] != '\0') {
        out->host.assign(un->sun_path, strnlen(un->sun_path, length - offset));
      }
      break;
    }
    default:
      break;
  }
}

int accept_connection(int listen_fd, UniqueFd* connection, PeerAddress* peer) {
  for (;;) {
    sockaddr_storage storage{};
    socklen_t length = sizeof(storage);
    const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&storage), &length,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return io::kWouldBlock;
      return -errno;
    }
    // TCP_NODELAY needs no call here: Linux copies it from the listening socket, where
    // set_listen_options() sets it (one syscall less per connection).
    connection->reset(fd);
    if (peer) peer_from_sockaddr(reinterpret_cast<const sockaddr*>(&storage), length, peer);
    return 0;
  }
}

}  // namespace narwhal::net
