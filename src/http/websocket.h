// WebSocket protocol codec, server side (RFC 6455 + RFC 7692 permessage-deflate). Pure: bytes in,
// events and bytes out; no sockets, no Python. Rules and what wslay does for us: docs/http.md
// "WebSocket".
//
// Usage (one Session per upgraded connection):
//   Handshake h = check_handshake(parser.head());
//   if (!h.is_websocket) → ordinary HTTP request
//   else if (h.status) → answer h.status (426 with "Sec-WebSocket-Version: 13"), close
//   else → 101 with Sec-WebSocket-Accept: h.accept (+ the chosen subprotocol,
//          + "Sec-WebSocket-Extensions: " + deflate_extension_header(h.deflate) if accepted),
//          then Session session({.deflate = accepted, .deflate_params = h.deflate});
//   loop: session.feed(bytes) → next_event() until false → write session.output(), erase written.
//   The connection is done when failed(), or close_sent() && close_received(): write what is
//   left in output(), then close the socket (RFC 6455 §7.1.1: the server closes TCP first).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/request_parser.h"

namespace narwhal::http::ws {

// RFC 7692 §7.1 parameters, as the server answers them.
struct DeflateParams {
  bool server_no_context_takeover = false, client_no_context_takeover = false;
  int server_max_window_bits = 15, client_max_window_bits = 15;
  // The offer named server_max_window_bits, so the 101 must name it too even when it is 15
  // (RFC 7692 §7.1.2.1). client_max_window_bits is answered only when below 15 (§7.1.2.2: MAY).
  bool server_max_window_bits_offered = false;
};

struct Handshake {
  bool is_websocket = false;  // Upgrade: websocket (token, case-insensitive) and Connection: upgrade
  int status = 0;             // 0 = valid; 400 (bad/missing key, not GET, HTTP/1.0) or 426 (bad/missing
                              // Sec-WebSocket-Version; the caller adds "Sec-WebSocket-Version: 13")
  std::string_view reason;    // short text for the log
  std::string accept;         // Sec-WebSocket-Accept: base64(SHA1(key + GUID)) (RFC 6455 §4.2.2)
  std::vector<std::string> subprotocols;  // Sec-WebSocket-Protocol offers in order (all lines,
                                          // comma-split, trimmed)
  bool deflate_offered = false;           // a permessage-deflate offer we can accept
  DeflateParams deflate;                  // the parameters we answer with (first acceptable offer)
};

Handshake check_handshake(const RequestHead& head);
// Value of Sec-WebSocket-Extensions in the 101 (e.g. "permessage-deflate; server_no_context_takeover").
std::string deflate_extension_header(const DeflateParams& params);

struct SessionOptions {
  size_t max_message_size = 16u << 20;  // bytes of a received message (decompressed); 0 = no limit
  bool deflate = false;                 // permessage-deflate was negotiated
  DeflateParams deflate_params;
};

enum class EventType { Text, Binary, Close };  // Close: the peer's close frame (code 1005 if none)

struct Event {
  EventType type;
  std::string data;  // Text: valid UTF-8
  int code = 0;
  std::string reason;
  friend bool operator==(const Event&, const Event&) = default;
};

class Session {
 public:
  explicit Session(const SessionOptions& options);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Bytes from the socket. Complete messages and the peer's close become events; pings get pongs
  // in output(). The peer's close is echoed (by wslay: same code and reason) right away, so after
  // a Close event close_sent() is true. On a protocol violation a close frame with the RFC code
  // (1002, 1007, 1009) is queued, failed() becomes true, error_code() says which, and later input
  // is ignored. Input after the peer's close is ignored too. Returns !failed().
  bool feed(const char* data, size_t length);
  bool next_event(Event* out);  // pops the oldest pending event; false when none
  size_t pending_events() const;  // events fed and not popped yet (the caller's flow control)

  // Nothing is sent once a close was sent or the session failed.
  void send_message(bool text, std::string_view payload);  // compressed when deflate negotiated
  // Once. reason truncated to 123 bytes (at a UTF-8 boundary). A code that may not be sent
  // (RFC 6455 §7.4: 1005, 1006, 1015, < 1000, …) sends a close without a code.
  void send_close(int code, std::string_view reason);
  void send_ping(std::string_view payload);  // truncated to 125 bytes

  std::string& output();  // bytes to write to the socket; the caller erases what it wrote

  bool close_sent() const;
  bool close_received() const;  // the peer's close was received (and reported as an event)
  bool failed() const;
  int error_code() const;  // the close code sent for the violation (0 while none)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace narwhal::http::ws
