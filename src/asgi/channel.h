// The Python side of one ASGI connection scope: the `receive` and `send` callables an app gets,
// and the awaitables they return. An awaitable completes at once — no Future, no extra loop
// iteration — when the message is already buffered or the socket takes the write; otherwise it
// yields a Future of the running loop that the endpoint resolves when the socket is ready
// (body bytes arrived, the output queue drained, the client left).
#pragma once

#include "python/pyref.h"

namespace narwhal::asgi {

// What receive()/send() act on: an HTTP request or a WebSocket (one per scope). Everything runs
// on the worker's loop thread with the GIL held.
class Endpoint {
 public:
  virtual ~Endpoint() = default;
  enum class Step { Done, Wait, Error };  // Error: a Python exception is set
  // Done: *message is the next event; Wait: nothing yet (the receive waiter is resolved later).
  virtual Step receive(py::Ref* message) = 0;
  // Done: the message is handled; Wait: it was taken but the output is backlogged — the send
  // waiter is resolved once it drained (then send_drained() is asked again).
  virtual Step send(PyObject* message) = 0;
  virtual Step send_drained() = 0;
  // The app's coroutine ended: returned, or raised (the exception is the current Python error;
  // the endpoint logs it and clears it).
  virtual void app_ended(bool raised) = 0;

  // The Futures awaited now (null: none).
  py::Ref receive_waiter;
  py::Ref send_waiter;
  // Resolves a waiter (if still pending) and forgets it.
  static void wake(py::Ref& waiter);
};

// The objects the app's call gets: receive and send. Each keeps a channel that points at
// `endpoint` until detach(): after that receive() says the client is gone and send() raises (an
// app that keeps them past its request reaches nothing).
struct Channel {
  py::Ref object;  // the channel (owns nothing of the endpoint)
  py::Ref receive;
  py::Ref send;
};
bool make_channel(Endpoint* endpoint, PyObject* loop, Channel* channel);  // false: Python error
// `gone`: what receive() returns from then on (null: {"type": "http.disconnect"}).
void detach(Channel& channel, PyObject* gone = nullptr);

// The coroutine the app's task runs: `app_coroutine` wrapped so that its end reaches the
// endpoint within the task's last step (Endpoint::app_ended) — no done callback, no extra loop
// iteration — and its exception is logged there rather than left in the task.
py::Ref wrap_app_coroutine(PyObject* app_coroutine, const Channel& channel);

// Adds the types to the extension module (at import).
bool register_types(PyObject* module);

// Interned strings and small constants shared by the asgi layer (created at first use).
struct Names {
  PyObject* type;
  PyObject* body;
  PyObject* more_body;
  PyObject* status;
  PyObject* headers;
  PyObject* trailers;
  PyObject* bytes_;
  PyObject* text;
  PyObject* code;
  PyObject* reason;
  PyObject* subprotocol;
  PyObject* http_request;
  PyObject* http_disconnect;
  PyObject* http_response_start;
  PyObject* http_response_body;
  PyObject* websocket_connect;
  PyObject* websocket_accept;
  PyObject* websocket_receive;
  PyObject* websocket_send;
  PyObject* websocket_close;
  PyObject* websocket_disconnect;
  PyObject* websocket_http_response_start;
  PyObject* websocket_http_response_body;
  PyObject* create_future;
  PyObject* create_task;
  PyObject* add_done_callback;
  PyObject* set_result;
  PyObject* done;
  PyObject* cancelled;
  PyObject* exception;
  PyObject* cancelled_error;  // asyncio.CancelledError
  PyObject* future_blocking;  // _asyncio_future_blocking
  PyObject* empty_bytes;
};
const Names& names();

}  // namespace narwhal::asgi
