// One client connection, owned by the engine's registry. The loop reads request heads (and
// bodies up to the buffer size) into it before a request is handed to the worker's policy;
// while the app runs (Phase::Running) only the thread running it touches the connection.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>

#include "base/unique_fd.h"
#include "http/request_parser.h"
#include "tls/session.h"
#include "net/output_queue.h"
#include "net/transport.h"
#include "net/socket_ops.h"
#include "wsgi/environ.h"

namespace narwhal::workers {

enum class Phase {
  Handshake, // TLS: the handshake runs (header_timeout from the accept)
  Http2,     // an HTTP/2 connection: Connection::http2 drives it; its streams are other connections
  Idle,      // between requests: nothing of the next one received (keepalive deadline)
  Head,      // bytes of a request head have arrived (header_timeout deadline)
  Body,      // head complete; the loop buffers the body before the app runs (body_timeout)
  Running,   // the app runs the request (its thread owns the connection)
  Draining,  // after the response: the loop discards the unread rest of the body
  Sending,   // the output queue is finished from the loop (write_timeout); then `after_send`
  Closing,   // an error answer is in the output queue; closed once it is sent
};

// A listener's own address: SERVER_NAME / SERVER_PORT of the requests it accepts.
struct ServerAddress {
  std::string host;
  int port = 0;
  bool is_unix = false;
};

class Http2Connection;  // workers/http2_bridge.h

// What a policy keeps per connection beyond the engine's fields (asgi: its protocol state);
// destroyed with the connection, in Policy::release.
struct ProtocolState {
  virtual ~ProtocolState() = default;
};

struct Connection {
  Connection(UniqueFd socket, const http::ParserOptions& options);
  ~Connection();  // out of line: Http2Connection is complete there

  UniqueFd fd;
  std::unique_ptr<tls::Session> tls;  // on a TLS listener
  http::RequestParser parser;
  net::PeerAddress address;   // the client
  const ServerAddress* server = nullptr;  // the listener it came from
  bool underscore_parser = false;  // parses '_' field names for forwarder_headers
  std::optional<wsgi::Peer> peer;  // the environ's per-connection objects (built under the GIL)
  std::unique_ptr<ProtocolState> protocol;  // the policy's, when it keeps any
  std::unique_ptr<Http2Connection> http2;   // Phase::Http2
  bool served = false;  // a request was answered on it (h2c prior knowledge only comes first)
  bool h2c_allowed = false;  // http2_cleartext and the peer is in forwarded_allow_ips
  bool secure = false;       // came over TLS (an HTTP/2 stream's internal connection: its client did)
  bool via_http2 = false;    // an HTTP/2 stream's internal connection (SERVER_PROTOCOL HTTP/2)
  std::shared_ptr<const tls::PeerInfo> tls_peer;  // such a stream's client's TLS, for the environ

  bool keep_alive_allowed = true;  // set at dispatch: false when the worker is stopping/retiring

  // The connection preamble (Engine::step_preamble, engine_preamble.cpp): what is still to be
  // read or checked before the first request head (kPreamble* bits; 0 = nothing). After a
  // PROXY header `address` is the header's client and `proxied` where the connection came from.
  static constexpr uint8_t kPreambleProxyHeader = 1;  // proxy_protocol: a PROXY header may come
  static constexpr uint8_t kPreambleUwsgiPeer = 2;    // protocol = uwsgi: check uwsgi_allow_ips
  uint8_t preamble = 0;
  std::optional<wsgi::ProxiedFrom> proxied;

  Phase phase = Phase::Idle;
  Phase after_send = Phase::Idle;  // Idle (keep-alive), Draining, or Closing
  int64_t deadline_ms = 0;         // what happens then depends on the phase (Engine::expire)
  bool registered = false;         // in the epoll set
  uint32_t watching = 0;           // the events it is registered for

  std::string stash;       // bytes read and not parsed yet, while the worker's buffer is elsewhere
  std::string body;        // the body the loop buffered (Phase::Body)
  UniqueFd body_file;      // a body spooled to a temporary file (beyond the memory buffer)
  uint64_t spooled = 0;
  bool body_complete = false;
  uint64_t drained = 0;    // body bytes discarded after the response
  // Queue time (docs/metrics.md), CLOCK_REALTIME microseconds: when the last read from the
  // socket received its bytes (the kernel's stamp with WorkerOptions::arrival_stamps), when the
  // request's first bytes arrived (set as its head starts), and the queue time measured when
  // its app was called (the access log's Q).
  int64_t last_read_us = 0;
  int64_t arrived_us = 0;
  int64_t queue_us = 0;
  size_t head_bytes = 0;   // parser memory counted in the worker's head budget
  net::OutputQueue output;

  // How its bytes are read and written (plain, or through tls).
  net::Transport transport() const { return {fd.get(), tls.get()}; }
  // Request bytes received and not parsed yet, which epoll will not announce.
  bool has_buffered_input() const { return !stash.empty() || (tls && tls->pending()); }

  std::list<std::unique_ptr<Connection>>::iterator position;  // in the engine's registry
  bool in_ready_list = false;  // has pipelined bytes left for the next loop turn
  bool closed = false;         // waits in the graveyard until the event batch is over
};

// The socket itself is a unix socket (its `address` may be a PROXY header's client instead).
inline bool is_unix_socket(const Connection& connection) {
  return connection.proxied ? connection.proxied->socket_is_unix : connection.address.family == AF_UNIX;
}

}  // namespace narwhal::workers
