// HTTP/2 server session (RFC 9113) over nghttp2: bytes in, events and bytes out. No sockets, no
// Python, no threads: one Session per connection, driven by the connection's loop. Rules, limits
// and what nghttp2 does for us: docs/http.md "HTTP/2".
//
// Usage:
//   Session session(options);                 // queues our SETTINGS (pending_output())
//   session.receive(bytes)                     // after TLS/ALPN "h2" or a prior-knowledge preface;
//                                              // false: connection error, write pending_output(), close
//   while (session.next_event(&event)) …        // Request → session.request(id) (a RequestHead for the
//                                              // environ builder), Data → the app's body bytes (call
//                                              // consume(id, n) as the app reads them), EndStream,
//                                              // StreamClosed (reset by the peer or us, or done)
//   session.submit_response(id, "200 OK", fields, end_stream)
//   session.submit_data(id, bytes, end)        // queued per stream; stream_pending(id) / pending_bytes()
//                                              // tell the caller when to stop calling the app
//   write(session.pending_output()); session.discard_output(written);
//   close the socket when session.finished().
// The caller's timers read idle_since(), settings_pending_since() and blocked_since(id)
// (milliseconds of SessionOptions::clock) and call reset_stream()/terminate() when one expires.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "http/request_parser.h"

namespace narwhal::http::h2 {

// RFC 9113 §7 error codes used by the session and reported in events.
enum ErrorCode : uint32_t {
  kNoError = 0x0,
  kProtocolError = 0x1,
  kInternalError = 0x2,
  kFlowControlError = 0x3,
  kSettingsTimeout = 0x4,
  kStreamClosed = 0x5,
  kFrameSizeError = 0x6,
  kRefusedStream = 0x7,
  kCancel = 0x8,
  kCompressionError = 0x9,
  kEnhanceYourCalm = 0xb,
};

struct SessionOptions {
  // Advertised in our SETTINGS (gunicorn 27 settings of the same names, docs/settings.md).
  uint32_t max_concurrent_streams = 100;  // http2_max_concurrent_streams; more → RST_STREAM(REFUSED_STREAM)
  uint32_t initial_window_size = 65535;   // http2_initial_window_size: each stream's receive window
  uint32_t max_frame_size = 16384;        // http2_max_frame_size (16384 … 16777215)
  uint32_t max_header_list_size = 65536;  // http2_max_header_list_size (RFC 9113 §6.5.2 octets); 0 = none
  uint32_t header_table_size = 4096;      // HPACK dynamic table the client may use (our decoder's memory)
  // Our receive window for the whole connection (the request bodies of all streams not yet
  // consume()d): what one connection may make us buffer. At least 65535.
  uint32_t connection_window_size = 1u << 20;
  // The HTTP/1 request policy, applied to HTTP/2 too (the ParserOptions the worker gives its
  // HTTP/1 parsers): limits.fields and limits.field_size → 431, limits.request_line bounds
  // :path → 414, limits.body → 413 (Content-Length) or a reset (DATA), header_map for '_'
  // names, the method policy (permit_unconventional_http_method, casefold_http_method).
  ParserOptions request;
  // Abuse bounds (nghttp2 options, and our own counters):
  uint64_t reset_burst = 1000;   // RST_STREAM token bucket (CVE-2023-44487): burst …
  uint64_t reset_rate = 33;      // … and refill per second; exhausted → GOAWAY
  size_t max_continuations = 8;  // CONTINUATION frames per header block (CVE-2024-28182)
  size_t max_outbound_ack = 1000;  // SETTINGS/PING ACKs queued unsent (client not reading) → GOAWAY
  size_t max_settings = 32;        // entries per SETTINGS frame
  size_t max_empty_frames = 64;    // consecutive DATA frames without payload nor END_STREAM → GOAWAY
  // Output: frames are serialised from nghttp2 only while less than this is buffered, so a
  // client that does not read makes nghttp2 keep (bounded) frames, not our buffer grow.
  size_t output_chunk = 64 * 1024;
  // Monotonic milliseconds; the timers' clock (tests inject a fake one).
  std::function<int64_t()> clock;
};

enum class EventType {
  Request,       // a request head is complete: request(stream_id)
  Data,          // request body bytes (`data`); flow-control credit comes back through consume()
  EndStream,     // the request (body, trailers) is complete
  StreamClosed,  // the stream is gone: error_code 0 after a complete exchange, else reset by the
                 // peer (`by_peer`) or by the session; request(stream_id) is invalid after this
                 // event has been popped
  GoAway,        // the peer sent GOAWAY (error_code, last_stream_id): no new streams will come
};

struct Event {
  EventType type = EventType::Request;
  int32_t stream_id = 0;
  std::string data;          // Data
  uint32_t error_code = 0;   // StreamClosed, GoAway
  bool by_peer = false;      // StreamClosed: RST_STREAM from the client
  int32_t last_stream_id = 0;  // GoAway
};

// A request as the environ builder wants it (the same RequestHead the HTTP/1 parser gives):
// method = :method, target = :path (origin-form, or "*" for OPTIONS), version 2.0, headers in
// wire order with "host" first (from :authority, RFC 9113 §8.3.1), cookie crumbs joined with
// "; " into one field (§8.2.3), names lower-case. Views stay valid until the stream's
// StreamClosed event is popped.
struct Request {
  RequestHead head;
  std::string_view scheme;     // :scheme as sent ("http"/"https"); wsgi.url_scheme must come from
                               // the transport, not from here (the client chooses it)
  std::string_view authority;  // :authority, else the Host field
};

struct ResponseField {
  std::string_view name;
  std::string_view value;
};

class Session {
 public:
  explicit Session(const SessionOptions& options);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Client bytes (the connection preface first). Returns false on a connection error: the
  // session has queued a GOAWAY (error_code()), reads nothing more; write the output and close.
  bool receive(const char* data, size_t length);
  bool next_event(Event* event);
  size_t pending_events() const;

  const Request* request(int32_t stream_id) const;  // null when unknown / closed

  // The app has read `length` body bytes of the stream: the client's stream and connection
  // windows reopen by as much (never more than was received).
  void consume(int32_t stream_id, size_t length);

  // Response head. `status` as WSGI gives it ("200 OK": 3 digits, reason ignored); fields are
  // checked like the HTTP/1 path (token names, no CR/LF/NUL/CTL in values) and lower-cased;
  // connection-specific fields (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding,
  // Upgrade, TE, Trailer, Proxy-Authenticate/-Authorization) are dropped (RFC 9113 §8.2.2);
  // date and server added when absent. 1xx and 101 are refused (no interim responses here).
  // `end_stream`: no body will follow. HEAD, 204 and 304 never carry a body (data dropped).
  // Returns null, or why nothing was sent (the caller answers 500 or resets the stream).
  const char* submit_response(int32_t stream_id, std::string_view status,
                              std::span<const ResponseField> fields, bool end_stream);
  // Queues body bytes (copied); `end` finishes the stream. More than the response's
  // Content-Length, or fewer at `end`, resets the stream (INTERNAL_ERROR) and returns why.
  const char* submit_data(int32_t stream_id, std::string_view bytes, bool end);
  void reset_stream(int32_t stream_id, uint32_t error_code);

  // Backpressure: response bytes queued (not yet framed) for one stream / all streams plus
  // the output buffer. The caller stops asking the app for more above its threshold.
  size_t stream_pending(int32_t stream_id) const;
  size_t pending_bytes() const;
  // The stream has queued data but its send window (stream or connection) is ≤ 0: since when
  // (clock ms), or -1. A client that never opens its window is found here; reset_stream() it.
  int64_t blocked_since(int32_t stream_id) const;

  // Output: serialises frames while less than options.output_chunk is buffered and returns the
  // buffered bytes; discard_output(n) after n of them were written. take_output() = both.
  std::string_view pending_output();
  void discard_output(size_t length);
  std::string take_output();

  bool want_read() const;
  bool want_write() const;
  // Nothing left to read or write: close the connection (after a GOAWAY, or a connection error).
  bool finished() const;

  // Graceful: GOAWAY(NO_ERROR, last stream id processed); streams in flight finish, new ones
  // are ignored (the client retries them elsewhere, RFC 9113 §6.8).
  void shutdown();
  // GOAWAY(error_code) now; every open stream is closed.
  void terminate(uint32_t error_code);

  // Timer state (clock ms; -1 = not applicable):
  int64_t idle_since() const;              // no open stream since then (keepalive timeout)
  int64_t settings_pending_since() const;  // our SETTINGS not acknowledged yet (SETTINGS_TIMEOUT)
  size_t open_streams() const;

  uint32_t error_code() const;            // the GOAWAY code after a connection error (0 while none)
  std::string_view error_reason() const;  // short text for the log
  uint64_t resets_received() const;       // RST_STREAM frames from the client

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace narwhal::http::h2
