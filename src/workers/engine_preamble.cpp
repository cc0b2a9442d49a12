// The connection preamble: what a connection must send before its first request head. Today
// that is the PROXY protocol header (proxy_protocol, docs/proxies.md); it is read here, from the
// loop, with the header_timeout deadline that runs from the accept, so a proxy (or anyone)
// dripping a header holds no app slot. A TLS transport reads this preamble before its handshake.
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "base/clock.h"
#include "log/logger.h"
#include "workers/engine.h"

namespace narwhal::workers {
namespace {

int family_of(const std::string& protocol) {
  if (protocol == "TCP4") return AF_INET;
  if (protocol == "TCP6") return AF_INET6;
  return AF_UNIX;
}

}  // namespace

// Phase Idle/Head with connection->preamble set. true = progress (look at the phase again).
bool Engine::step_preamble(Connection* connection) {
  if (input_.empty() && !read_more(connection)) return false;
  if (connection->phase == Phase::Idle) {
    // The deadline set at the accept (header_timeout) stays: it covers the PROXY header and the
    // first request head together. Queue time starts with the first bytes.
    connection->phase = Phase::Head;
    connection->arrived_us = connection->last_read_us != 0 ? connection->last_read_us : clock::realtime_us();
  }
  if ((connection->preamble & Connection::kPreambleProxyHeader) && !read_proxy_header(connection)) return false;
  if (connection->preamble & Connection::kPreambleUwsgiPeer) {
    // gunicorn (uwsgi/message.py _check_allowed_ip): the socket's peer, before any parsing.
    const bool is_unix = is_unix_socket(*connection);
    const std::string& host = connection->proxied ? connection->proxied->socket_host : connection->address.host;
    if (!uwsgi_peers_.allows(host, is_unix)) {
      log::logger().warning("uwsgi request from " + host + ", which uwsgi_allow_ips does not list: refused");
      answer_error(connection, 403, "uwsgi request from a peer not in uwsgi_allow_ips");
      return false;
    }
  }
  connection->preamble = 0;
  return true;
}

// The PROXY header: true once it is read (or absent and not required); false when the
// connection waits for more bytes or was answered and closed.
bool Engine::read_proxy_header(Connection* connection) {
  for (;;) {
    size_t length = 0;
    switch (judge_proxy_header(connection, std::string_view(input_.data(), input_.size()), &length)) {
      case ProxyVerdict::NeedMore:
        // Incomplete: read more behind what is here (it stays in the connection's stash while
        // the connection waits in epoll).
        if (!read_more(connection)) return false;
        continue;
      case ProxyVerdict::Closed:
        return false;
      case ProxyVerdict::Done:
        input_.consume(length);
        return true;
    }
  }
}

// On a TLS listener the header comes before the handshake, in clear, and OpenSSL reads the
// socket itself: the header's bytes are taken off the socket and nothing after them (the
// ClientHello stays for OpenSSL). Bytes of an incomplete header are all header: they wait in the
// stash. true: go on with the handshake.
bool Engine::read_proxy_header_before_tls(Connection* connection) {
  char buffer[net::kProxyV2MaxLength + 1];
  for (;;) {
    const size_t stashed = connection->stash.size();
    std::memcpy(buffer, connection->stash.data(), stashed);
    ssize_t peeked = ::recv(connection->fd.get(), buffer + stashed, sizeof buffer - stashed, MSG_PEEK | MSG_DONTWAIT);
    if (peeked < 0 && errno == EINTR) continue;
    if (peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      watch(connection, net::EventLoop::kReadable);
      return false;
    }
    if (peeked <= 0) {
      close_connection(connection);
      return false;
    }
    size_t length = 0;
    const std::string_view data(buffer, stashed + static_cast<size_t>(peeked));
    switch (judge_proxy_header(connection, data, &length)) {
      case ProxyVerdict::NeedMore:
        if (data.size() >= sizeof buffer) {  // the parser caps a header below this
          answer_error(connection, 400, "invalid PROXY protocol header");
          return false;
        }
        // All of it is header: take it off the socket into the stash, and wait for the rest.
        if (::recv(connection->fd.get(), buffer + stashed, static_cast<size_t>(peeked), MSG_DONTWAIT) != peeked) {
          close_connection(connection);
          return false;
        }
        connection->stash.assign(data);
        continue;
      case ProxyVerdict::Closed:
        return false;
      case ProxyVerdict::Done: {
        // Take exactly the header's remaining bytes off the socket.
        const size_t rest = length > stashed ? length - stashed : 0;
        if (rest > 0 && ::recv(connection->fd.get(), buffer, rest, MSG_DONTWAIT) != static_cast<ssize_t>(rest)) {
          close_connection(connection);
          return false;
        }
        connection->stash.clear();
        return true;
      }
    }
  }
}

// The verdict on the PROXY header at the start of `data`. Done: *length header bytes to drop
// (0: no header, and none was required); Closed: answered (400/403) and closing.
Engine::ProxyVerdict Engine::judge_proxy_header(Connection* connection, std::string_view data, size_t* length) {
  net::ProxyHeader header;
  std::string error;
  const net::ProxyStatus status = net::parse_proxy_header(data, options_.proxy_protocol, &header, &error);
  const net::PeerAddress& peer = connection->address;
  const bool allowed = proxy_peers_.allows(peer.host, peer.family == AF_UNIX);
  const std::string from = peer.family == AF_UNIX ? "a unix socket peer" : peer.host;
  *length = 0;
  switch (status) {
    case net::ProxyStatus::NeedMore:
      return ProxyVerdict::NeedMore;
    case net::ProxyStatus::Error:
      // gunicorn: InvalidProxyLine / InvalidProxyHeader are answered 400.
      log::logger().warning("Invalid PROXY protocol header from " + from + ": " + error);
      answer_error(connection, 400, "invalid PROXY protocol header");
      return ProxyVerdict::Closed;
    case net::ProxyStatus::Absent:
      // With v1 or v2 a proxy that may send the header must send it (proxy-protocol.txt §1:
      // the receiver must not guess); with auto it is optional, as in gunicorn. A peer not in
      // proxy_allow_ips is served as itself.
      if (allowed && options_.proxy_protocol != net::ProxyMode::Auto) {
        log::logger().warning("Missing PROXY protocol header from " + from);
        answer_error(connection, 400, "missing PROXY protocol header");
        return ProxyVerdict::Closed;
      }
      connection->preamble &= static_cast<uint8_t>(~Connection::kPreambleProxyHeader);
      return ProxyVerdict::Done;
    case net::ProxyStatus::Complete:
      break;
  }
  if (!allowed) {
    // gunicorn: ForbiddenProxyRequest is answered 403.
    log::logger().warning("PROXY protocol header from " + from + ", which proxy_allow_ips does not list: refused");
    answer_error(connection, 403, "PROXY protocol header from a peer not in proxy_allow_ips");
    return ProxyVerdict::Closed;
  }
  *length = header.length;
  connection->preamble &= static_cast<uint8_t>(~Connection::kPreambleProxyHeader);
  wsgi::ProxiedFrom proxied;
  proxied.protocol = header.protocol;
  proxied.destination_host = header.destination_host;
  proxied.destination_port = header.destination_port;
  proxied.socket_host = peer.host;
  proxied.socket_is_unix = peer.family == AF_UNIX;
  if (header.has_source) {
    connection->address.family = family_of(header.protocol);
    connection->address.host = header.source_host;
    connection->address.port = header.source_port;
  }
  connection->proxied = std::move(proxied);
  return ProxyVerdict::Done;
}

}  // namespace narwhal::workers
