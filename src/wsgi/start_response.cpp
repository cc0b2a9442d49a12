// start_response and the write() callable (PEP 3333 §"The start_response() Callable"), and the
// serialisation of the response head with the framing decision (RFC 9112 §6).
#include <time.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <new>
#include <string>

#include "wsgi/objects.h"

namespace narwhal::wsgi {

namespace {

struct StartResponse {
  PyObject_HEAD
  Exchange* exchange;
  StartResponseState state;
  PyObject* write_method;  // bound "write", created lazily
};

bool is_tchar(unsigned char c) {
  // RFC 9110 §5.6.2 token characters.
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if ((a[i] | 0x20) != (b[i] | 0x20)) return false;
  }
  return true;
}

// A str as latin-1 bytes without copying (PEP 3333: header strings are ISO-8859-1).
bool latin1_view(PyObject* object, std::string_view* out) {
  if (!PyUnicode_Check(object) || PyUnicode_READY(object) < 0 ||
      PyUnicode_KIND(object) != PyUnicode_1BYTE_KIND) {
    return false;
  }
  *out = std::string_view(reinterpret_cast<const char*>(PyUnicode_1BYTE_DATA(object)),
                          static_cast<size_t>(PyUnicode_GET_LENGTH(object)));
  return true;
}

std::string_view http_date() {
  static thread_local time_t cached_second = 0;
  static thread_local char buffer[40];
  static thread_local size_t length = 0;
  time_t now = time(nullptr);
  if (now != cached_second) {
    struct tm utc;
    gmtime_r(&now, &utc);
    length = strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S GMT", &utc);
    cached_second = now;
  }
  return std::string_view(buffer, length);
}

bool is_hop_by_hop(std::string_view name) {
  static constexpr std::string_view kNames[] = {"connection", "keep-alive", "proxy-authenticate",
                                                "proxy-authorization", "te", "trailer",
                                                "trailers", "transfer-encoding", "upgrade"};
  for (std::string_view candidate : kNames) {
    if (equals_ignore_case(name, candidate)) return true;
  }
  return false;
}

bool contains_token(std::string_view list, std::string_view token) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string_view item = list.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (equals_ignore_case(item, token)) return true;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return false;
}

bool parse_status(PyObject* status, int* code) {
  std::string_view text;
  if (!latin1_view(status, &text)) {
    PyErr_SetString(PyExc_TypeError, "status must be a latin-1 str like '200 OK'");
    return false;
  }
  if (text.size() < 3 || !std::isdigit(static_cast<unsigned char>(text[0])) ||
      !std::isdigit(static_cast<unsigned char>(text[1])) ||
      !std::isdigit(static_cast<unsigned char>(text[2])) || (text.size() > 3 && text[3] != ' ') ||
      text[0] == '0') {
    PyErr_Format(PyExc_ValueError, "Invalid status %R: expected 'NNN Reason'", status);
    return false;
  }
  for (char c : text) {
    if (c == '\r' || c == '\n' || c == '\0') {
      PyErr_Format(PyExc_ValueError, "Invalid status %R: control character", status);
      return false;
    }
  }
  *code = (text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0');
  return true;
}

bool check_headers(PyObject* headers) {
  if (!PyList_Check(headers)) {
    PyErr_SetString(PyExc_TypeError, "headers must be a list of (name, value) tuples");
    return false;
  }
  Py_ssize_t count = PyList_GET_SIZE(headers);
  for (Py_ssize_t i = 0; i < count; ++i) {
    PyObject* item = PyList_GET_ITEM(headers, i);
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
      PyErr_Format(PyExc_TypeError, "header %R is not a (name, value) tuple", item);
      return false;
    }
    std::string_view name, value;
    if (!latin1_view(PyTuple_GET_ITEM(item, 0), &name) || !latin1_view(PyTuple_GET_ITEM(item, 1), &value)) {
      PyErr_Format(PyExc_TypeError, "header %R: name and value must be latin-1 str", item);
      return false;
    }
    if (name.empty()) {
      PyErr_Format(PyExc_ValueError, "Invalid header name %R", PyTuple_GET_ITEM(item, 0));
      return false;
    }
    for (char c : name) {
      if (!is_tchar(static_cast<unsigned char>(c))) {
        PyErr_Format(PyExc_ValueError, "Invalid header name %R", PyTuple_GET_ITEM(item, 0));
        return false;
      }
    }
    for (char c : value) {
      if (c == '\r' || c == '\n' || c == '\0') {
        PyErr_Format(PyExc_ValueError, "Invalid header value %R for %R", PyTuple_GET_ITEM(item, 1),
                     PyTuple_GET_ITEM(item, 0));
        return false;
      }
    }
  }
  return true;
}

PyObject* start_response_call(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"status", "headers", "exc_info", nullptr};
  PyObject *status, *headers, *exc_info = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|O:start_response", const_cast<char**>(keywords),
                                   &status, &headers, &exc_info)) {
    return nullptr;
  }
  auto* object = reinterpret_cast<StartResponse*>(self);
  if (!object->exchange) {
    PyErr_SetString(PyExc_RuntimeError, "start_response called after the request ended");
    return nullptr;
  }
  StartResponseState& state = object->state;
  if (exc_info != Py_None) {
    if (object->exchange->head_sent()) {
      // PEP 3333: too late to change the status; re-raise so the server aborts the response.
      PyObject *type, *value, *traceback;
      if (!PyArg_ParseTuple(exc_info, "OOO", &type, &value, &traceback)) return nullptr;
      Py_INCREF(type);
      Py_INCREF(value);
      Py_INCREF(traceback);
      PyErr_Restore(type, value, traceback);
      return nullptr;
    }
  } else if (state.called) {
    PyErr_SetString(PyExc_AssertionError, "Response headers already set!");
    return nullptr;
  }
  int code;
  if (!parse_status(status, &code) || !check_headers(headers)) return nullptr;
  state.status = py::Ref::borrow(status);
  state.headers = py::Ref::borrow(headers);
  state.status_code = code;
  state.called = true;
  if (!object->write_method) {
    object->write_method = PyObject_GetAttrString(self, "write");
    if (!object->write_method) return nullptr;
  }
  Py_INCREF(object->write_method);
  return object->write_method;
}

PyObject* start_response_write(PyObject* self, PyObject* data) {
  auto* object = reinterpret_cast<StartResponse*>(self);
  ExchangeUse use(object->exchange, "write()");
  Exchange* exchange = use.get();
  if (!exchange) return nullptr;
  if (!object->state.called) {
    PyErr_SetString(PyExc_AssertionError, "write() before start_response()");
    return nullptr;
  }
  Py_buffer view;
  if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) return nullptr;
  if (!exchange->head_sent() && !prepare_head(self, -1)) {
    PyBuffer_Release(&view);
    return nullptr;
  }
  int rc;
  {
    py::GilRelease nogil;
    rc = exchange->write_body(static_cast<const char*>(view.buf), static_cast<size_t>(view.len));
  }
  PyBuffer_Release(&view);
  if (rc != 0) {
    errno = -rc;
    return PyErr_SetFromErrno(PyExc_OSError);
  }
  Py_RETURN_NONE;
}

void start_response_dealloc(PyObject* self) {
  auto* object = reinterpret_cast<StartResponse*>(self);
  object->state.~StartResponseState();
  Py_XDECREF(object->write_method);
  Py_TYPE(self)->tp_free(self);
}

PyMethodDef start_response_methods[] = {
    {"write", start_response_write, METH_O, "write(data): the PEP 3333 write() callable"},
    {nullptr, nullptr, 0, nullptr}};

PyTypeObject start_response_type = py::static_type("narwhal._core.StartResponse", sizeof(StartResponse));

}  // namespace

bool register_start_response_type(PyObject* module) {
  start_response_type.tp_basicsize = sizeof(StartResponse);
  start_response_type.tp_flags = Py_TPFLAGS_DEFAULT;
  start_response_type.tp_call = start_response_call;
  start_response_type.tp_dealloc = start_response_dealloc;
  start_response_type.tp_methods = start_response_methods;
  if (PyType_Ready(&start_response_type) < 0) return false;
  Py_INCREF(&start_response_type);
  return PyModule_AddObject(module, "StartResponse", reinterpret_cast<PyObject*>(&start_response_type)) == 0;
}

py::Ref new_start_response(Exchange* exchange) {
  StartResponse* object = PyObject_New(StartResponse, &start_response_type);
  if (!object) return py::Ref();
  object->exchange = exchange;
  new (&object->state) StartResponseState();
  object->write_method = nullptr;
  return py::Ref::steal(reinterpret_cast<PyObject*>(object));
}

StartResponseState* start_response_state(PyObject* start_response) {
  return &reinterpret_cast<StartResponse*>(start_response)->state;
}

void detach_start_response(PyObject* start_response) {
  auto* object = reinterpret_cast<StartResponse*>(start_response);
  object->exchange = nullptr;
  // Break the cycle self → bound write method → self.
  Py_CLEAR(object->write_method);
}

bool prepare_head(PyObject* start_response, int64_t known_length) {
  auto* object = reinterpret_cast<StartResponse*>(start_response);
  Exchange& exchange = *object->exchange;
  const StartResponseState& state = object->state;
  const http::RequestHead& request = exchange.head();
  Framing framing = exchange.framing();  // keep_alive preset by the worker (shutdown, limits)

  int code = state.status_code;
  framing.no_body = request.method == "HEAD" || (code >= 100 && code < 200) || code == 204 || code == 304;
  framing.keep_alive = framing.keep_alive && request.keep_alive && exchange.may_keep_alive();

  std::string& head = exchange.head_buffer();
  head.clear();
  std::string_view status_text;
  latin1_view(state.status.get(), &status_text);
  head.append("HTTP/1.1 ").append(status_text).append("\r\n");

  int64_t app_length = -1;
  bool has_server = false, has_date = false;
  PyObject* headers = state.headers.get();
  for (Py_ssize_t i = 0, n = PyList_GET_SIZE(headers); i < n; ++i) {
    PyObject* item = PyList_GET_ITEM(headers, i);
    std::string_view name, value;
    latin1_view(PyTuple_GET_ITEM(item, 0), &name);
    latin1_view(PyTuple_GET_ITEM(item, 1), &value);
    if (equals_ignore_case(name, "content-length")) {
      int64_t parsed = 0;
      bool valid = !value.empty() && value.size() <= 18;
      for (char c : value) {
        if (c < '0' || c > '9') valid = false;
        else parsed = parsed * 10 + (c - '0');
      }
      if (!valid) {
        PyErr_Format(PyExc_ValueError, "Invalid Content-Length %R", PyTuple_GET_ITEM(item, 1));
        return false;
      }
      app_length = parsed;
    } else if (is_hop_by_hop(name)) {
      // PEP 3333: hop-by-hop headers belong to the server; honour "Connection: close".
      if (equals_ignore_case(name, "connection") && contains_token(value, "close")) framing.keep_alive = false;
      continue;
    } else if (equals_ignore_case(name, "server")) {
      has_server = true;
    } else if (equals_ignore_case(name, "date")) {
      has_date = true;
    }
    head.append(name).append(": ").append(value).append("\r\n");
  }

  framing.chunked = false;
  framing.content_length = app_length;
  if (app_length < 0 && known_length >= 0 && code != 204 && code != 304 && code >= 200) {
    framing.content_length = known_length;
    head.append("Content-Length: ").append(std::to_string(known_length)).append("\r\n");
  } else if (app_length < 0 && !framing.no_body) {
    if (request.version_major == 1 && request.version_minor >= 1) {
      framing.chunked = true;
      head.append("Transfer-Encoding: chunked\r\n");
    } else {
      framing.keep_alive = false;  // HTTP/1.0: the body ends when the connection closes
    }
  }
  if (!framing.keep_alive) {
    head.append("Connection: close\r\n");
  } else if (request.version_minor == 0) {
    head.append("Connection: keep-alive\r\n");
  }
  if (!has_date) head.append("Date: ").append(http_date()).append("\r\n");
  if (!has_server) head.append("Server: narwhal\r\n");
  head.append("\r\n");
  exchange.set_framing(framing);
  exchange.mark_response_started();
  return true;
}

}  // namespace narwhal::wsgi
