#include "asgi/websocket_exchange.h"

#include "http/response.h"
#include "asgi/message.h"
#include "log/logger.h"

namespace narwhal::asgi {
namespace {

// An optional str field as UTF-8; false with a Python error for a non-str.
bool text_field(PyObject* message, PyObject* key, std::string* out, bool* present) {
  PyObject* value = field_of(message, key);
  *present = false;
  if (!value) return !PyErr_Occurred();
  if (value == Py_None) return true;
  Py_ssize_t size = 0;
  const char* data = PyUnicode_Check(value) ? PyUnicode_AsUTF8AndSize(value, &size) : nullptr;
  if (!data) {
    if (!PyErr_Occurred()) PyErr_Format(PyExc_TypeError, "expected str, not %.100s", Py_TYPE(value)->tp_name);
    return false;
  }
  out->assign(data, static_cast<size_t>(size));
  *present = true;
  return true;
}

Endpoint::Step error(PyObject* type, const std::string& text) {
  PyErr_SetString(type, text.c_str());
  return Endpoint::Step::Error;
}

}  // namespace

WebSocketExchange::WebSocketExchange(HttpStream& stream, const http::ws::Handshake& handshake, size_t max_message_size,
                                     std::string& head_buffer)
    : stream_(stream), handshake_(handshake), max_message_size_(max_message_size), head_(head_buffer) {}

py::Ref WebSocketExchange::disconnect_event(int code, std::string_view reason) {
  return py::Ref::steal(Py_BuildValue("{s:O,s:i,s:s#}", "type", names().websocket_disconnect, "code", code, "reason",
                                      reason.data(), static_cast<Py_ssize_t>(reason.size())));
}

// ---------------------------------------------------------------------------------------------
// receive()

Endpoint::Step WebSocketExchange::receive(py::Ref* message) {
  if (!connect_given_) {
    connect_given_ = true;
    *message = py::Ref::steal(Py_BuildValue("{s:O}", "type", names().websocket_connect));
    return *message ? Step::Done : Step::Error;
  }
  if (state_ == State::Open) {
    http::ws::Event event;
    if (session_->next_event(&event)) {
      stream_.websocket_consumed();
      if (event.type == http::ws::EventType::Close) {
        state_ = State::Closed;
        close_code_ = event.code;
        close_reason_ = event.reason;
        flush_session();  // the echo of the peer's close
        *message = disconnect_event(event.code, event.reason);
      } else if (event.type == http::ws::EventType::Text) {
        *message = py::Ref::steal(Py_BuildValue("{s:O,s:s#}", "type", names().websocket_receive, "text", event.data.data(),
                                                static_cast<Py_ssize_t>(event.data.size())));
      } else {
        *message = py::Ref::steal(Py_BuildValue("{s:O,s:y#}", "type", names().websocket_receive, "bytes", event.data.data(),
                                                static_cast<Py_ssize_t>(event.data.size())));
      }
      return *message ? Step::Done : Step::Error;
    }
    if (session_->failed()) {
      state_ = State::Closed;
      close_code_ = session_->error_code();
    } else if (!stream_.client_gone()) {
      return Step::Wait;
    } else {
      state_ = State::Closed;  // gone without a close frame: 1006 (RFC 6455 §7.1.5)
    }
  }
  if (state_ == State::Connecting && !stream_.client_gone()) return Step::Wait;  // accept or close first
  *message = disconnect_event(close_code_, close_reason_);
  return *message ? Step::Done : Step::Error;
}

void WebSocketExchange::input(std::string& bytes) {
  if (state_ != State::Open || !session_) return;  // before accept the bytes wait in the stash
  session_->feed(bytes.data(), bytes.size());
  bytes.clear();
  flush_session();
  wake(receive_waiter);
}

void WebSocketExchange::client_left() {
  wake(receive_waiter);
  wake(send_waiter);
}

void WebSocketExchange::flush_session() {
  if (!session_) return;
  std::string& output = session_->output();
  if (output.empty()) return;
  stream_.write(output, {});
  output.clear();
}

// ---------------------------------------------------------------------------------------------
// send()

Endpoint::Step WebSocketExchange::send(PyObject* message) {
  if (!PyDict_Check(message) && !PyMapping_Check(message)) return error(PyExc_TypeError, "ASGI send() takes a message dict");
  PyObject* type = field_of(message, names().type);
  if (!type) return PyErr_Occurred() ? Step::Error : error(PyExc_ValueError, "ASGI message without 'type'");
  if (same_text(type, names().websocket_send)) return send_data(message);
  if (same_text(type, names().websocket_accept)) return accept(message);
  if (same_text(type, names().websocket_close)) return close(message);
  if (same_text(type, names().websocket_http_response_start)) return denial_response(message, true);
  if (same_text(type, names().websocket_http_response_body)) return denial_response(message, false);
  py::Ref repr = py::Ref::steal(PyObject_Repr(type));
  const char* shown = repr ? PyUnicode_AsUTF8(repr.get()) : nullptr;
  PyErr_Clear();
  return error(PyExc_RuntimeError, std::string("Unexpected ASGI message ") + (shown ? shown : "?") + " sent for a WebSocket");
}

Endpoint::Step WebSocketExchange::accept(PyObject* message) {
  if (state_ != State::Connecting || denial_) {
    return error(PyExc_RuntimeError, "Unexpected ASGI message 'websocket.accept': the handshake was already answered");
  }
  std::string subprotocol;
  bool has_subprotocol = false;
  if (!text_field(message, names().subprotocol, &subprotocol, &has_subprotocol)) return Step::Error;
  // RFC 6455 §4.2.2: the 101 with the accept key, the subprotocol chosen among those offered.
  head_.assign("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
  head_.append(handshake_.accept).append("\r\n");
  if (has_subprotocol) {
    if (const char* bad = http::check_field("Sec-WebSocket-Protocol", subprotocol)) return error(PyExc_ValueError, std::string("subprotocol: ") + bad);
    head_.append("Sec-WebSocket-Protocol: ").append(subprotocol).append("\r\n");
  }
  if (handshake_.deflate_offered) {
    head_.append("Sec-WebSocket-Extensions: ").append(http::ws::deflate_extension_header(handshake_.deflate)).append("\r\n");
  }
  PyObject* headers = field_of(message, names().headers);
  if (PyErr_Occurred()) return Step::Error;
  if (headers) {
    py::Ref list = py::Ref::steal(PySequence_List(headers));
    if (!list) return Step::Error;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list.get()); ++i) {
      py::Ref pair = py::Ref::steal(PySequence_Fast(PyList_GET_ITEM(list.get(), i), "a header must be a [name, value] pair"));
      if (!pair) return Step::Error;
      if (PySequence_Fast_GET_SIZE(pair.get()) != 2) return error(PyExc_ValueError, "a header must be a [name, value] pair");
      PyObject* name = PySequence_Fast_GET_ITEM(pair.get(), 0);
      PyObject* value = PySequence_Fast_GET_ITEM(pair.get(), 1);
      if (!PyBytes_Check(name) || !PyBytes_Check(value)) return error(PyExc_TypeError, "websocket.accept headers must be bytes");
      std::string_view name_view(PyBytes_AS_STRING(name), static_cast<size_t>(PyBytes_GET_SIZE(name)));
      std::string_view value_view(PyBytes_AS_STRING(value), static_cast<size_t>(PyBytes_GET_SIZE(value)));
      if (const char* bad = http::check_field(name_view, value_view)) {
        return error(PyExc_ValueError, std::string("invalid websocket.accept header: ") + bad);
      }
      head_.append(name_view).append(": ").append(value_view).append("\r\n");
    }
  }
  head_.append("Server: narwhal\r\n\r\n");
  http::ws::SessionOptions options;
  options.max_message_size = max_message_size_;
  options.deflate = handshake_.deflate_offered;
  options.deflate_params = handshake_.deflate;
  session_ = std::make_unique<http::ws::Session>(options);
  state_ = State::Open;
  status_ = 101;
  stream_.write(head_, {});
  stream_.websocket_opened();
  return Step::Done;
}

Endpoint::Step WebSocketExchange::send_data(PyObject* message) {
  if (state_ == State::Connecting) return error(PyExc_RuntimeError, "Unexpected ASGI message 'websocket.send', before 'websocket.accept'");
  if (app_closed_) return error(PyExc_RuntimeError, "Unexpected ASGI message 'websocket.send', after sending 'websocket.close'");
  PyObject* bytes = field_of(message, names().bytes_);
  if (!bytes && PyErr_Occurred()) return Step::Error;
  PyObject* text = field_of(message, names().text);
  if (!text && PyErr_Occurred()) return Step::Error;
  if (bytes == Py_None) bytes = nullptr;
  if (text == Py_None) text = nullptr;
  if ((bytes != nullptr) == (text != nullptr)) return error(PyExc_ValueError, "websocket.send needs exactly one of 'bytes' and 'text'");
  if (state_ == State::Closed || stream_.client_gone()) return Step::Done;  // the peer left: dropped (as for HTTP)
  if (text) {
    Py_ssize_t size = 0;
    const char* data = PyUnicode_Check(text) ? PyUnicode_AsUTF8AndSize(text, &size) : nullptr;
    if (!data) return PyErr_Occurred() ? Step::Error : error(PyExc_TypeError, "websocket.send 'text' must be str");
    session_->send_message(true, std::string_view(data, static_cast<size_t>(size)));
    sent_bytes_ += static_cast<uint64_t>(size);
  } else {
    if (!PyBytes_Check(bytes)) return error(PyExc_TypeError, "websocket.send 'bytes' must be bytes");
    session_->send_message(false, std::string_view(PyBytes_AS_STRING(bytes), static_cast<size_t>(PyBytes_GET_SIZE(bytes))));
    sent_bytes_ += static_cast<uint64_t>(PyBytes_GET_SIZE(bytes));
  }
  flush_session();
  return stream_.backlogged() ? Step::Wait : Step::Done;
}

Endpoint::Step WebSocketExchange::close(PyObject* message) {
  long code = 1000;
  PyObject* code_object = field_of(message, names().code);
  if (PyErr_Occurred()) return Step::Error;
  if (code_object && code_object != Py_None) {
    code = PyLong_AsLong(code_object);
    if (code == -1 && PyErr_Occurred()) return Step::Error;
  }
  std::string reason;
  bool has_reason = false;
  if (!text_field(message, names().reason, &reason, &has_reason)) return Step::Error;
  if (state_ == State::Connecting) {
    // ASGI: a close before accept is an HTTP 403 (the handshake is refused).
    if (denial_) return error(PyExc_RuntimeError, "websocket.close after a websocket.http.response");
    state_ = State::Closed;
    app_closed_ = true;
    status_ = 403;
    const std::string answer = http::error_response(403, "");
    stream_.write(answer, {});
    return Step::Done;
  }
  if (app_closed_) return error(PyExc_RuntimeError, "Unexpected ASGI message 'websocket.close', after sending 'websocket.close'");
  app_closed_ = true;
  if (state_ == State::Open && !stream_.client_gone()) {
    session_->send_close(static_cast<int>(code), reason);
    flush_session();
  }
  if (state_ == State::Open) {
    close_code_ = static_cast<int>(code);
    close_reason_ = reason;
  }
  return Step::Done;
}

Endpoint::Step WebSocketExchange::denial_response(PyObject* message, bool start) {
  if (state_ != State::Connecting || (start && denial_) || (!start && !denial_)) {
    return error(PyExc_RuntimeError, "Unexpected websocket.http.response message in this state");
  }
  if (start) {
    HttpRequestInfo request;
    request.keep_alive = false;
    denial_.emplace(stream_, request, head_);
  }
  py::Ref translated = py::Ref::steal(PyDict_New());
  if (!translated || PyDict_Update(translated.get(), message) < 0 ||
      PyDict_SetItem(translated.get(), names().type, start ? names().http_response_start : names().http_response_body) < 0) {
    return Step::Error;
  }
  Step result = denial_->send(translated.get());
  status_ = denial_->status();
  sent_bytes_ = denial_->body_bytes();
  return result;
}

Endpoint::Step WebSocketExchange::send_drained() {
  return !stream_.client_gone() && stream_.backlogged() ? Step::Wait : Step::Done;
}

void WebSocketExchange::close_from_server(int code, std::string_view reason) {
  if (state_ != State::Open || app_closed_ || !session_ || session_->close_sent()) return;
  session_->send_close(code, reason);
  flush_session();
}

void WebSocketExchange::ping() {
  if (state_ != State::Open || !session_ || session_->close_sent()) return;
  session_->send_ping("narwhal");
  flush_session();
}

// ---------------------------------------------------------------------------------------------
// the end of the task

void WebSocketExchange::app_ended(bool raised) {
  bool failed = false;
  if (raised) {
    if (names().cancelled_error && PyErr_ExceptionMatches(names().cancelled_error)) {
      PyErr_Clear();
      log::logger().debug("ASGI WebSocket task cancelled");
    } else {
      failed = true;
      log::logger().error("Exception in ASGI application\n" + py::format_exception());
    }
  }
  // An open WebSocket the app left: closed for it (1011 after an exception, RFC 6455 §7.4.1).
  if (state_ == State::Open && !app_closed_ && !stream_.client_gone() && session_ && !session_->close_sent()) {
    session_->send_close(failed ? 1011 : 1000, "");
    flush_session();
  }
  stream_.request_finished();
}

void WebSocketExchange::finish() {
  if (denial_) {
    denial_->finish();
    status_ = denial_->status();
    return;
  }
  if (state_ == State::Connecting && status_ == 0 && !stream_.client_gone()) {
    // The app ended without answering the handshake.
    log::logger().error("ASGI callable returned without sending handshake.");
    status_ = 500;
    const std::string answer = http::error_response(500, "");
    stream_.write(answer, {});
  }
}

}  // namespace narwhal::asgi
