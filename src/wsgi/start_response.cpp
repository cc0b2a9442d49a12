// start_response and the write() callable (PEP 3333 §"The start_response() Callable"): the
// status and headers the app gives are handed, as latin-1 views, to the http layer, which
// validates them, serialises the head and decides the framing (http/response.h).
#include <cerrno>
#include <new>
#include <string>

#include "http/response.h"
#include "wsgi/objects.h"

namespace narwhal::wsgi {

namespace {

struct StartResponse {
  PyObject_HEAD
  Exchange* exchange;
  StartResponseState state;
  PyObject* write_method;  // bound "write", created lazily
};

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

bool parse_status(PyObject* status, int* code) {
  std::string_view text;
  if (!latin1_view(status, &text)) {
    PyErr_SetString(PyExc_TypeError, "status must be a latin-1 str like '200 OK'");
    return false;
  }
  if (const char* error = http::check_status(text, code)) {
    PyErr_Format(PyExc_ValueError, "Invalid status %R: %s", status, error);
    return false;
  }
  return true;
}

// One (name, value) item of the headers list as latin-1 views; false with a TypeError set.
bool header_views(PyObject* item, std::string_view* name, std::string_view* value) {
  if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
    PyErr_Format(PyExc_TypeError, "header %R is not a (name, value) tuple", item);
    return false;
  }
  if (!latin1_view(PyTuple_GET_ITEM(item, 0), name) || !latin1_view(PyTuple_GET_ITEM(item, 1), value)) {
    PyErr_Format(PyExc_TypeError, "header %R: name and value must be latin-1 str", item);
    return false;
  }
  return true;
}

void set_header_error(PyObject* item, const char* error) {
  PyErr_Format(PyExc_ValueError, "Invalid header %R: %s", item, error);
}

// Runs when the app calls start_response(), so that it gets the exception where it made the
// mistake; prepare_head() checks again (the app may change the list afterwards).
bool check_headers(PyObject* headers) {
  if (!PyList_Check(headers)) {
    PyErr_SetString(PyExc_TypeError, "headers must be a list of (name, value) tuples");
    return false;
  }
  http::ResponseFieldCheck check;
  for (Py_ssize_t i = 0, count = PyList_GET_SIZE(headers); i < count; ++i) {
    PyObject* item = PyList_GET_ITEM(headers, i);
    std::string_view name, value;
    if (!header_views(item, &name, &value)) return false;
    if (const char* error = check.add(name, value)) {
      set_header_error(item, error);
      return false;
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
  http::ResponseRequest facts;
  facts.head_method = request.method == "HEAD";
  facts.version_major = request.version_major;
  facts.version_minor = request.version_minor;
  // The worker presets framing().keep_alive (keepalive setting, max_requests, shutdown).
  facts.keep_alive = exchange.framing().keep_alive && request.keep_alive && exchange.may_keep_alive();

  std::string& head = exchange.head_buffer();
  http::ResponseHeadBuilder builder(head, facts);
  std::string_view status_text;
  latin1_view(state.status.get(), &status_text);  // checked by start_response()
  if (const char* error = builder.status(status_text)) {
    PyErr_Format(PyExc_ValueError, "Invalid status %R: %s", state.status.get(), error);
    return false;
  }
  PyObject* headers = state.headers.get();
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(headers); ++i) {
    PyObject* item = PyList_GET_ITEM(headers, i);
    std::string_view name, value;
    if (!header_views(item, &name, &value)) {
      head.clear();
      return false;
    }
    if (const char* error = builder.field(name, value)) {
      set_header_error(item, error);
      return false;
    }
  }
  exchange.set_framing(builder.finish(known_length));
  exchange.mark_response_started();
  return true;
}

}  // namespace narwhal::wsgi
