// The Python-visible WSGI objects, implemented in C++: wsgi.input (Input), start_response and
// write (StartResponse), wsgi.file_wrapper (FileWrapper) and wsgi.errors (ErrorStream).
#pragma once

#include "python/pyref.h"
#include "wsgi/exchange.h"

namespace narwhal::wsgi {

// Adds the types to the extension module; false with a Python error set on failure.
bool register_types(PyObject* module);
bool register_input_type(PyObject* module);
bool register_start_response_type(PyObject* module);
bool register_file_wrapper_type(PyObject* module);
bool register_error_stream_type(PyObject* module);

// A call from Python into a request's exchange (wsgi.input, write()), with the GIL held: null
// with OSError set when the request has ended or another thread is inside the exchange; the
// exchange cannot end while the call lasts (Exchange::claim, issue 10 item 3).
class ExchangeUse {
 public:
  ExchangeUse(Exchange* exchange, const char* what);
  ~ExchangeUse() {
    if (exchange_) exchange_->release();
  }
  ExchangeUse(const ExchangeUse&) = delete;
  ExchangeUse& operator=(const ExchangeUse&) = delete;
  Exchange* get() const { return exchange_; }

 private:
  Exchange* exchange_ = nullptr;
};

// The request is over: its Python objects stop reaching the exchange, and a thread still
// inside it gives up (waits for it with the GIL released).
void end_exchange(Exchange& exchange, PyObject* input, PyObject* start_response);

// ---- wsgi.input ----
py::Ref new_input(Exchange* exchange);
void detach_input(PyObject* input);  // the request is over: further reads raise

// ---- start_response ----
struct StartResponseState {
  py::Ref status;   // str as given, e.g. "200 OK"
  py::Ref headers;  // list of (name, value)
  int status_code = 0;
  bool called = false;
};
py::Ref new_start_response(Exchange* exchange);
StartResponseState* start_response_state(PyObject* start_response);
void detach_start_response(PyObject* start_response);

// Serialises the head (status line + headers + Date/Server/Connection/framing) into the
// exchange from the state of start_response and decides the framing. `known_length` is the body
// size when the server knows it (e.g. a one-element list), else -1. Returns false with a
// Python error set when the app gave an invalid header (→ 500).
bool prepare_head(PyObject* start_response, int64_t known_length);

// ---- wsgi.file_wrapper ----
PyTypeObject* file_wrapper_type();
// If `object` is a FileWrapper over a regular file with fileno(), returns its fd, the current
// offset (tell) and the bytes left; else false (no Python error set).
bool file_wrapper_regular_file(PyObject* object, int* fd, off_t* offset, uint64_t* size);

// ---- wsgi.errors ----
py::Ref new_error_stream();

}  // namespace narwhal::wsgi
