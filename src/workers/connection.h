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
#include "net/output_queue.h"
#include "net/socket_ops.h"
#include "wsgi/environ.h"

namespace narwhal::workers {

enum class Phase {
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

// What a policy keeps per connection beyond the engine's fields (asgi: its protocol state);
// destroyed with the connection, in Policy::release.
struct ProtocolState {
  virtual ~ProtocolState() = default;
};

struct Connection {
  Connection(UniqueFd socket, const http::ParserOptions& options) : fd(std::move(socket)), parser(options) {}

  UniqueFd fd;
  http::RequestParser parser;
  net::PeerAddress address;   // the client
  const ServerAddress* server = nullptr;  // the listener it came from
  bool underscore_parser = false;  // parses '_' field names for forwarder_headers
  std::optional<wsgi::Peer> peer;  // the environ's per-connection objects (built under the GIL)
  std::unique_ptr<ProtocolState> protocol;  // the policy's, when it keeps any

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

  std::list<std::unique_ptr<Connection>>::iterator position;  // in the engine's registry
  bool in_ready_list = false;  // has pipelined bytes left for the next loop turn
  bool closed = false;         // waits in the graveyard until the event batch is over
};

// The socket itself is a unix socket (its `address` may be a PROXY header's client instead).
inline bool is_unix_socket(const Connection& connection) {
  return connection.proxied ? connection.proxied->socket_is_unix : connection.address.family == AF_UNIX;
}

}  // namespace narwhal::workers
