// wsgi.input: a file-like object streaming the request body (PEP 3333 §"Input and Error Streams").
#include <climits>

#include "wsgi/objects.h"

namespace narwhal::wsgi {
namespace {

struct Input {
  PyObject_HEAD
  Exchange* exchange;
};

Exchange* exchange_of(PyObject* self) { return reinterpret_cast<Input*>(self)->exchange; }

bool parse_size(PyObject* const* args, Py_ssize_t nargs, Py_ssize_t* size) {
  *size = -1;
  if (nargs > 1) {
    PyErr_SetString(PyExc_TypeError, "expected at most one argument");
    return false;
  }
  if (nargs == 1 && args[0] != Py_None) {
    *size = PyLong_AsSsize_t(args[0]);
    if (*size == -1 && PyErr_Occurred()) return false;
  }
  return true;
}

// Blocking body reads happen without the GIL.
bool fill(Exchange* exchange, size_t want, bool line) {
  bool ok;
  {
    py::GilRelease nogil;
    ok = line ? exchange->fill_line(want) : exchange->fill(want);
  }
  if (!ok) PyErr_SetString(PyExc_OSError, exchange->body_error().c_str());
  return ok;
}

PyObject* take_bytes(Exchange* exchange, size_t count) {
  std::string_view data = exchange->available();
  if (count > data.size()) count = data.size();
  PyObject* bytes = PyBytes_FromStringAndSize(data.data(), static_cast<Py_ssize_t>(count));
  if (bytes) exchange->take(count);
  return bytes;
}

PyObject* read_line(Exchange* exchange, Py_ssize_t size) {
  size_t limit = size < 0 ? SIZE_MAX : static_cast<size_t>(size);
  if (limit == 0) return PyBytes_FromStringAndSize(nullptr, 0);
  if (!fill(exchange, limit, true)) return nullptr;
  std::string_view data = exchange->available();
  size_t end = data.find('\n');
  end = end == std::string_view::npos ? data.size() : end + 1;
  return take_bytes(exchange, std::min(end, limit));
}

PyObject* input_read(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  Py_ssize_t size;
  if (!parse_size(args, nargs, &size)) return nullptr;
  ExchangeUse use(exchange_of(self), "wsgi.input");
  Exchange* exchange = use.get();
  if (!exchange) return nullptr;
  size_t want = size < 0 ? SIZE_MAX : static_cast<size_t>(size);
  if (!fill(exchange, want, false)) return nullptr;
  return take_bytes(exchange, want);
}

PyObject* input_readline(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  Py_ssize_t size;
  if (!parse_size(args, nargs, &size)) return nullptr;
  ExchangeUse use(exchange_of(self), "wsgi.input");
  Exchange* exchange = use.get();
  if (!exchange) return nullptr;
  return read_line(exchange, size);
}

PyObject* input_readlines(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  Py_ssize_t hint;
  if (!parse_size(args, nargs, &hint)) return nullptr;
  ExchangeUse use(exchange_of(self), "wsgi.input");
  Exchange* exchange = use.get();
  if (!exchange) return nullptr;
  py::Ref lines = py::Ref::steal(PyList_New(0));
  if (!lines) return nullptr;
  Py_ssize_t total = 0;
  for (;;) {
    py::Ref line = py::Ref::steal(read_line(exchange, -1));
    if (!line) return nullptr;
    Py_ssize_t length = PyBytes_GET_SIZE(line.get());
    if (length == 0) break;
    if (PyList_Append(lines.get(), line.get()) < 0) return nullptr;
    total += length;
    if (hint > 0 && total >= hint) break;
  }
  return lines.release();
}

PyObject* input_iter(PyObject* self) {
  Py_INCREF(self);
  return self;
}

PyObject* input_next(PyObject* self) {
  ExchangeUse use(exchange_of(self), "wsgi.input");
  Exchange* exchange = use.get();
  if (!exchange) return nullptr;
  PyObject* line = read_line(exchange, -1);
  if (line && PyBytes_GET_SIZE(line) == 0) {
    Py_DECREF(line);
    return nullptr;  // StopIteration
  }
  return line;
}

PyMethodDef input_methods[] = {
    {"read", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(input_read)), METH_FASTCALL,
     "read(size=-1) -> bytes"},
    {"readline", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(input_readline)),
     METH_FASTCALL, "readline(size=-1) -> bytes"},
    {"readlines", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(input_readlines)),
     METH_FASTCALL, "readlines(hint=-1) -> list of bytes"},
    {nullptr, nullptr, 0, nullptr}};

PyTypeObject input_type = py::static_type("narwhal._core.Input", sizeof(Input));

}  // namespace

bool register_input_type(PyObject* module) {
  input_type.tp_basicsize = sizeof(Input);
  input_type.tp_flags = Py_TPFLAGS_DEFAULT;
  input_type.tp_doc = "wsgi.input: the request body as a stream";
  input_type.tp_iter = input_iter;
  input_type.tp_iternext = input_next;
  input_type.tp_methods = input_methods;
  input_type.tp_new = nullptr;
  if (PyType_Ready(&input_type) < 0) return false;
  Py_INCREF(&input_type);
  return PyModule_AddObject(module, "Input", reinterpret_cast<PyObject*>(&input_type)) == 0;
}

py::Ref new_input(Exchange* exchange) {
  Input* input = PyObject_New(Input, &input_type);
  if (input) input->exchange = exchange;
  return py::Ref::steal(reinterpret_cast<PyObject*>(input));
}

void detach_input(PyObject* input) { reinterpret_cast<Input*>(input)->exchange = nullptr; }

ExchangeUse::ExchangeUse(Exchange* exchange, const char* what) {
  if (!exchange || exchange->ended()) {
    PyErr_Format(PyExc_OSError, "request finished: %s used after its request ended", what);
    return;
  }
  if (!exchange->claim()) {
    PyErr_Format(PyExc_OSError, "%s is in use by another thread", what);
    return;
  }
  exchange_ = exchange;
}

void end_exchange(Exchange& exchange, PyObject* input, PyObject* start_response) {
  if (input) detach_input(input);
  if (start_response) detach_start_response(start_response);
  if (exchange.in_use()) {
    py::GilRelease nogil;
    exchange.end();
  } else {
    exchange.end();
  }
}

}  // namespace narwhal::wsgi
