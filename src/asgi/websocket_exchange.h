// One ASGI WebSocket connection (ASGI WebSocket spec 2.4) over src/http's RFC 6455 codec: the
// handshake answer (101 with the accepted subprotocol, extra headers and permessage-deflate),
// websocket.receive/send of text and bytes, the close handshake with codes and reasons,
// websocket.disconnect, a close before accept (403) and the websocket.http.response denial
// extension. Pings are answered by the codec, never by Python.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "asgi/channel.h"
#include "asgi/http_exchange.h"
#include "http/websocket.h"

namespace narwhal::asgi {

class WebSocketExchange final : public Endpoint {
 public:
  WebSocketExchange(HttpStream& stream, const http::ws::Handshake& handshake, size_t max_message_size,
                    std::string& head_buffer);

  Step receive(py::Ref* message) override;
  Step send(PyObject* message) override;
  Step send_drained() override;
  void app_ended(bool raised) override;

  // ---- for the worker ----
  void input(std::string& bytes);  // bytes from the socket (consumed); wakes receive()
  void client_left();
  void output_drained() { wake(send_waiter); }
  // Closes an open WebSocket from the server side (1001 at a graceful stop, 1011 for a peer
  // that stopped answering pings).
  void close_from_server(int code, std::string_view reason);
  void ping();
  bool open() const { return state_ == State::Open; }
  // Messages received and not taken by the app yet: the worker stops reading past a bound.
  size_t pending() const { return session_ ? session_->pending_events() : 0; }
  // After the task ended: answers 500 when the handshake was never answered.
  void finish();
  int status() const { return status_; }
  uint64_t body_bytes() const { return sent_bytes_; }

 private:
  enum class State { Connecting, Open, Closed };
  Step accept(PyObject* message);
  Step deny(PyObject* message);
  Step send_data(PyObject* message);
  Step close(PyObject* message);
  Step denial_response(PyObject* message, bool start);
  void flush_session();
  py::Ref disconnect_event(int code, std::string_view reason);

  HttpStream& stream_;
  const http::ws::Handshake handshake_;
  size_t max_message_size_;
  std::string& head_;
  std::unique_ptr<http::ws::Session> session_;
  std::optional<HttpExchange> denial_;  // websocket.http.response.*: an HTTP response instead
  State state_ = State::Connecting;
  bool connect_given_ = false;
  bool app_closed_ = false;      // the app sent websocket.close
  bool gone_reported_ = false;   // websocket.disconnect was given
  int close_code_ = 1006;        // what websocket.disconnect reports once closed
  std::string close_reason_;
  int status_ = 0;
  uint64_t sent_bytes_ = 0;
};

}  // namespace narwhal::asgi
