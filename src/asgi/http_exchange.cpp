#include "asgi/http_exchange.h"

#include <cstdio>

#include "asgi/message.h"
#include "log/logger.h"

namespace narwhal::asgi {
namespace {

// A bytes-like view (bytes, bytearray, memoryview); false with TypeError for anything else.
class BytesView {
 public:
  bool open(PyObject* object, const char* what) {
    if (PyBytes_Check(object)) {
      data_ = std::string_view(PyBytes_AS_STRING(object), static_cast<size_t>(PyBytes_GET_SIZE(object)));
      return true;
    }
    if (PyObject_CheckBuffer(object) && PyObject_GetBuffer(object, &buffer_, PyBUF_SIMPLE) == 0) {
      held_ = true;
      data_ = std::string_view(static_cast<const char*>(buffer_.buf), static_cast<size_t>(buffer_.len));
      return true;
    }
    PyErr_Clear();
    PyErr_Format(PyExc_TypeError, "%s must be bytes, not %.100s", what, Py_TYPE(object)->tp_name);
    return false;
  }
  ~BytesView() {
    if (held_) PyBuffer_Release(&buffer_);
  }
  std::string_view data() const { return data_; }

 private:
  Py_buffer buffer_{};
  bool held_ = false;
  std::string_view data_;
};

// "200 OK" for 200: made once per code (the worker's loop thread is the only caller).
std::string_view status_line(int code) {
  static std::string lines[600];
  std::string& line = lines[code];
  if (line.empty()) line = std::to_string(code) + " " + std::string(http::reason_phrase(code));
  return line;
}

py::Ref disconnect_message() {
  py::Ref message = py::Ref::steal(PyDict_New());
  if (message && PyDict_SetItem(message.get(), names().type, names().http_disconnect) < 0) return py::Ref();
  return message;
}

}  // namespace

HttpExchange::HttpExchange(HttpStream& stream, const HttpRequestInfo& request, std::string& head_buffer)
    : stream_(stream), request_(request), head_(head_buffer) {}

Endpoint::Step HttpExchange::fail(PyObject* exception_type, const std::string& text) {
  app_failed_ = true;
  PyErr_SetString(exception_type, text.c_str());
  return Step::Error;
}

// ---------------------------------------------------------------------------------------------
// receive()

Endpoint::Step HttpExchange::receive(py::Ref* message) {
  // After the response, and once the client left with the body read: http.disconnect (spec 2.4).
  if (response_ == Response::Complete || (body_done_ && stream_.client_gone())) {
    *message = disconnect_message();
    return *message ? Step::Done : Step::Error;
  }
  if (body_done_) return Step::Wait;  // until the client leaves (or the response completes)
  if (request_.expect_continue && !continue_sent_ && response_ == Response::None) {
    // RFC 9110 §10.1.1: the app asked for the body — the client may send it now.
    continue_sent_ = true;
    stream_.send_continue();
  }
  chunk_.clear();
  HttpStream::Body state = stream_.take_body(&chunk_);
  if (state == HttpStream::Body::Failed) {
    body_done_ = true;
    body_failed_ = true;
    *message = disconnect_message();
    return *message ? Step::Done : Step::Error;
  }
  if (state == HttpStream::Body::Pending && chunk_.empty()) return Step::Wait;
  body_done_ = state == HttpStream::Body::End;
  py::Ref event = py::Ref::steal(PyDict_New());
  py::Ref body = py::Ref::steal(PyBytes_FromStringAndSize(chunk_.data(), static_cast<Py_ssize_t>(chunk_.size())));
  if (!event || !body || PyDict_SetItem(event.get(), names().type, names().http_request) < 0 ||
      PyDict_SetItem(event.get(), names().body, body.get()) < 0 ||
      PyDict_SetItem(event.get(), names().more_body, body_done_ ? Py_False : Py_True) < 0) {
    return Step::Error;
  }
  *message = std::move(event);
  return Step::Done;
}

// ---------------------------------------------------------------------------------------------
// send()

Endpoint::Step HttpExchange::send(PyObject* message) {
  if (!PyDict_Check(message) && !PyMapping_Check(message)) {
    return fail(PyExc_TypeError, "ASGI send() takes a message dict");
  }
  PyObject* type = field_of(message, names().type);
  if (!type) {
    if (PyErr_Occurred()) return Step::Error;
    return fail(PyExc_ValueError, "ASGI message without 'type'");
  }
  if (same_text(type, names().http_response_body)) return send_body(message);
  if (same_text(type, names().http_response_start)) return start_response(message);
  py::Ref repr = py::Ref::steal(PyObject_Repr(type));
  const char* shown = repr ? PyUnicode_AsUTF8(repr.get()) : nullptr;
  PyErr_Clear();
  return fail(PyExc_RuntimeError, std::string("Unexpected ASGI message ") + (shown ? shown : "?") + " sent for an HTTP request");
}

Endpoint::Step HttpExchange::start_response(PyObject* message) {
  if (response_ != Response::None) {
    return fail(PyExc_RuntimeError, "Unexpected ASGI message 'http.response.start' sent, after the response already started");
  }
  PyObject* status = field_of(message, names().status);
  if (!status || !PyLong_Check(status)) {
    if (PyErr_Occurred()) return Step::Error;
    return fail(PyExc_TypeError, "http.response.start needs an int 'status'");
  }
  const long code = PyLong_AsLong(status);
  if (code < 200 || code > 599) {
    PyErr_Clear();
    return fail(PyExc_ValueError, "http.response.start 'status' must be a final status (200-599), not " + std::to_string(code));
  }
  http::ResponseRequest request;
  request.head_method = request_.head_method;
  request.version_major = request_.version_major;
  request.version_minor = request_.version_minor;
  request.keep_alive = request_.keep_alive;
  http::ResponseHeadBuilder& builder = builder_.emplace(head_, request);
  if (const char* error = builder.status(status_line(static_cast<int>(code)))) {
    return fail(PyExc_ValueError, std::string("invalid status: ") + error);
  }
  PyObject* headers = field_of(message, names().headers);
  if (PyErr_Occurred()) return Step::Error;
  if (headers) {
    py::Ref iterator = py::Ref::steal(PyObject_GetIter(headers));
    if (!iterator) return Step::Error;
    while (py::Ref item = py::Ref::steal(PyIter_Next(iterator.get()))) {
      py::Ref pair = py::Ref::steal(PySequence_Fast(item.get(), "an ASGI header must be a [name, value] pair"));
      if (!pair) return Step::Error;
      if (PySequence_Fast_GET_SIZE(pair.get()) != 2) return fail(PyExc_ValueError, "an ASGI header must be a [name, value] pair");
      BytesView name, value;
      if (!name.open(PySequence_Fast_GET_ITEM(pair.get(), 0), "an ASGI header name") ||
          !value.open(PySequence_Fast_GET_ITEM(pair.get(), 1), "an ASGI header value")) {
        return Step::Error;
      }
      if (const char* error = builder.field(name.data(), value.data())) {
        return fail(PyExc_ValueError, std::string("invalid response header ") + std::string(name.data().substr(0, 64)) + ": " + error);
      }
    }
    if (PyErr_Occurred()) return Step::Error;
    headers_ = py::Ref::borrow(headers);
  }
  status_ = static_cast<int>(code);
  response_ = Response::Started;
  return Step::Done;
}

Endpoint::Step HttpExchange::send_body(PyObject* message) {
  if (response_ == Response::None) {
    return fail(PyExc_RuntimeError, "Unexpected ASGI message 'http.response.body' sent, before 'http.response.start'");
  }
  if (response_ == Response::Complete) {
    return fail(PyExc_RuntimeError, "Unexpected ASGI message 'http.response.body' sent, after the response already completed");
  }
  PyObject* body_object = field_of(message, names().body);
  if (!body_object && PyErr_Occurred()) return Step::Error;
  BytesView body;
  if (body_object && !body.open(body_object, "http.response.body 'body'")) return Step::Error;
  PyObject* more_object = field_of(message, names().more_body);
  if (!more_object && PyErr_Occurred()) return Step::Error;
  const int more = more_object ? PyObject_IsTrue(more_object) : 0;
  if (more < 0) return Step::Error;
  std::string_view data = body.data();

  std::string_view head;
  if (response_ == Response::Started) {
    // The head goes out with the first body: a response whose whole body comes in one message
    // gets a Content-Length instead of chunked framing.
    framing_ = builder_->finish(more ? -1 : static_cast<int64_t>(data.size()));
    response_ = Response::HeadSent;
    head = head_;
  }
  if (!more) response_ = Response::Complete;
  if (framing_.no_body) {
    data = {};  // HEAD, 204, 304: nothing after the head (RFC 9110 §6.4.1)
  } else if (framing_.content_length >= 0) {
    const uint64_t room = static_cast<uint64_t>(framing_.content_length) - std::min<uint64_t>(body_bytes_, framing_.content_length);
    if (data.size() > room) {
      truncated_ = true;  // more than its Content-Length: the rest is not sent, the connection closes
      data = data.substr(0, room);
    }
  }
  body_bytes_ += data.size();
  if (response_ == Response::Complete && framing_.content_length >= 0 && !framing_.no_body &&
      body_bytes_ != static_cast<uint64_t>(framing_.content_length)) {
    truncated_ = true;  // fewer bytes than announced: the client sees an incomplete response
  }
  if (stream_.client_gone()) return Step::Done;  // as uvicorn and gunicorn: sends to a gone client are dropped
  bool written;
  if (framing_.chunked) {
    chunk_.assign(head);
    if (!data.empty()) {
      char size_line[24];
      int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", data.size());
      chunk_.append(size_line, static_cast<size_t>(n)).append(data).append("\r\n");
    }
    if (!more) chunk_.append("0\r\n\r\n");  // RFC 9112 §7.1: the last chunk, no trailers
    written = stream_.write(chunk_, {});
  } else {
    written = stream_.write(head, data);
  }
  if (written && stream_.backlogged()) return Step::Wait;
  return Step::Done;
}

Endpoint::Step HttpExchange::send_drained() {
  return !stream_.client_gone() && stream_.backlogged() ? Step::Wait : Step::Done;
}

// ---------------------------------------------------------------------------------------------
// the end of the task

void HttpExchange::app_ended(bool raised) {
  if (raised) {
    app_failed_ = true;
    if (names().cancelled_error && PyErr_ExceptionMatches(names().cancelled_error)) {
      PyErr_Clear();
      log::logger().debug("ASGI request task cancelled");
    } else {
      log::logger().error("Exception in ASGI application\n" + py::format_exception());
    }
  } else if (response_ != Response::Complete) {
    log::logger().error(response_ == Response::None ? "ASGI callable returned without starting response."
                                                    : "ASGI callable returned without completing response.");
  }
  stream_.request_finished();
}

bool HttpExchange::finish() {
  if (response_ == Response::None || response_ == Response::Started) {
    // Nothing went out: the client gets a complete 500 (RFC 9110 §15.6.1), never silence.
    if (!stream_.client_gone()) {
      // A malformed body (chunked framing) is the client's error: 400.
      status_ = body_failed_ ? 400 : 500;
      const std::string answer = http::error_response(status_, "");
      stream_.write(answer, {});
      body_bytes_ = 0;
    }
    return false;
  }
  if (response_ == Response::HeadSent) return false;  // cut short: closing tells the client
  return framing_.keep_alive && !truncated_ && !body_failed_;
}

}  // namespace narwhal::asgi
