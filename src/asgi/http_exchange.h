// One ASGI HTTP request (ASGI HTTP spec 2.4) on a connection: the events receive() returns
// (http.request with the body as it arrives, http.disconnect) and the messages send() takes
// (http.response.start, http.response.body), framed by src/http's response builder — the same
// validation, Date/Server, Content-Length/chunked and keep-alive decisions as the WSGI workers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "asgi/channel.h"
#include "http/response.h"

namespace narwhal::asgi {

// The connection as the request sees it; implemented by the asgi worker.
class HttpStream {
 public:
  virtual ~HttpStream() = default;
  enum class Body { Pending, End, Failed };
  // Appends the request-body bytes that arrived to *out. End: the body is complete (with what
  // was appended); Pending: more is to come (the exchange's body_ready() follows); Failed: a
  // malformed body or the client left mid-body.
  virtual Body take_body(std::string* out) = 0;
  virtual bool client_gone() const = 0;
  // Writes now what the socket takes, queues the rest. False: the client is gone.
  virtual bool write(std::string_view first, std::string_view second) = 0;
  // Queued output past the high-water mark: send() waits for output_drained().
  virtual bool backlogged() const = 0;
  virtual void send_continue() = 0;  // "100 Continue" (once, before the first body read)
  // The app's task ended; the worker takes the request back.
  virtual void request_finished() = 0;
  // A WebSocket was accepted: bytes that arrived meanwhile are frames now.
  virtual void websocket_opened() {}
  // The app took a WebSocket message: reading may resume (flow control).
  virtual void websocket_consumed() {}
};

struct HttpRequestInfo {
  bool head_method = false;
  int version_major = 1;
  int version_minor = 1;
  bool keep_alive = true;       // the request and the server allow reuse
  bool expect_continue = false;
};

class HttpExchange final : public Endpoint {
 public:
  HttpExchange(HttpStream& stream, const HttpRequestInfo& request, std::string& head_buffer);

  Step receive(py::Ref* message) override;
  Step send(PyObject* message) override;
  Step send_drained() override;
  void app_ended(bool raised) override;

  // ---- for the worker ----
  void body_ready() { wake(receive_waiter); }          // body bytes or the end of the body arrived
  void output_drained() { wake(send_waiter); }
  void client_left() {                                  // disconnect: both waiters wake
    wake(receive_waiter);
    wake(send_waiter);
  }
  // After the task ended: answers 500 when nothing was sent; true when the connection may be
  // reused (a complete response that allows it).
  bool finish();
  int status() const { return status_; }
  uint64_t body_bytes() const { return body_bytes_; }
  PyObject* response_headers() const { return headers_.get(); }  // for {name}o (list of pairs)
  bool failed() const { return app_failed_; }

 private:
  enum class Response { None, Started, HeadSent, Complete };
  Step start_response(PyObject* message);
  Step send_body(PyObject* message);
  Step fail(PyObject* exception_type, const std::string& text);

  HttpStream& stream_;
  HttpRequestInfo request_;
  std::string& head_;  // the worker's reusable head buffer
  std::optional<http::ResponseHeadBuilder> builder_;
  http::ResponseFraming framing_;
  Response response_ = Response::None;
  bool body_done_ = false;       // the last http.request event was given
  bool body_failed_ = false;
  bool continue_sent_ = false;
  bool app_failed_ = false;      // the task raised, or misused the protocol
  bool truncated_ = false;       // fewer (or more) bytes than its Content-Length
  int status_ = 0;
  uint64_t body_bytes_ = 0;
  py::Ref headers_;
  std::string chunk_;   // body bytes for an event / a chunk's framing
};

}  // namespace narwhal::asgi
