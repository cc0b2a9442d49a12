#include "wsgi/handler.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "http/response.h"
#include "log/logger.h"
#include "wsgi/objects.h"

namespace narwhal::wsgi {
namespace {

void log_app_error(const Exchange& exchange, std::string_view what) {
  std::string message = std::string(what) + " " + std::string(exchange.head().target) + "\n" +
                        py::format_exception();
  log::logger().exception(message);
}

// Sends a bytes object without the GIL; returns 0 or -errno. A reference is held meanwhile
// (an app thread may change the list it came from); when the exchange keeps the bytes queued
// for the worker's loop (a client reading slowly), the queue keeps that reference.
int send_body(Exchange& exchange, PyObject* item) {
  Py_INCREF(item);
  int rc;
  {
    py::GilRelease nogil;
    rc = exchange.write_body(PyBytes_AS_STRING(item), static_cast<size_t>(PyBytes_GET_SIZE(item)), item);
  }
  if (!exchange.owner_kept()) Py_DECREF(item);
  return rc;
}

// The output queue's owners are bytes objects whose reference it was given (send_body). The
// queue drops them on whatever thread sent their last byte: with the GIL (the sync loop), at
// once; without it (the gthread loop, which must never wait for the GIL), they wait for the
// next thread that holds it (drop_released_bytes).
std::mutex g_released_mutex;
std::vector<PyObject*> g_released;
std::atomic<bool> g_released_pending{false};

void release_queued_bytes(void* owner) {
  if (PyGILState_Check()) {
    Py_DECREF(static_cast<PyObject*>(owner));
    return;
  }
  std::lock_guard<std::mutex> lock(g_released_mutex);
  g_released.push_back(static_cast<PyObject*>(owner));
  g_released_pending.store(true, std::memory_order_release);
}

// PEP 3333: the server calls the iterable's close() if it has one. Exact lists and tuples (the
// usual response) cannot have one; for anything else the lookup does not build the
// AttributeError a missing attribute would otherwise cost (hasattr() does).
void call_close(PyObject* result, const Exchange& exchange) {
  if (PyList_CheckExact(result) || PyTuple_CheckExact(result)) return;
  static PyObject* const name = PyUnicode_InternFromString("close");
  PyObject* method = nullptr;
#if PY_VERSION_HEX >= 0x030D0000
  const int found = PyObject_GetOptionalAttr(result, name, &method);
#else
  const int found = _PyObject_LookupAttr(result, name, &method);
#endif
  if (found == 0) return;
  if (found < 0) {
    log_app_error(exchange, "Error looking up close() of the response iterable of");
    return;
  }
  py::Ref bound = py::Ref::steal(method);
  py::Ref closed = py::Ref::steal(PyObject_CallNoArgs(bound.get()));
  if (!closed) log_app_error(exchange, "Error closing the response iterable of");
}

// Total size when every element is bytes (lists and tuples only; no iteration side effects).
int64_t sequence_length(PyObject* result) {
  PyObject** items = PySequence_Fast_ITEMS(result);
  int64_t total = 0;
  for (Py_ssize_t i = 0, n = PySequence_Fast_GET_SIZE(result); i < n; ++i) {
    if (!PyBytes_CheckExact(items[i])) return -1;
    total += PyBytes_GET_SIZE(items[i]);
  }
  return total;
}

enum class Step { Ok, AppError, IoError };

// One body element: PEP 3333 says headers go out with the first non-empty bytestring.
Step write_item(PyObject* start_response, Exchange& exchange, PyObject* item, int64_t known_length) {
  if (!PyBytes_Check(item)) {
    PyErr_Format(PyExc_TypeError, "response body items must be bytes, not %.100s", Py_TYPE(item)->tp_name);
    return Step::AppError;
  }
  Py_ssize_t size = PyBytes_GET_SIZE(item);
  if (size == 0) return Step::Ok;
  if (!exchange.head_sent()) {
    if (!start_response_state(start_response)->called) {
      PyErr_SetString(PyExc_AssertionError, "the application returned a body before calling start_response()");
      return Step::AppError;
    }
    if (!prepare_head(start_response, known_length)) return Step::AppError;
  }
  return send_body(exchange, item) == 0 ? Step::Ok : Step::IoError;
}

Step write_file(PyObject* start_response, Exchange& exchange, int fd, off_t offset, uint64_t size) {
  if (!prepare_head(start_response, static_cast<int64_t>(size))) return Step::AppError;
  const Framing& framing = exchange.framing();
  uint64_t count = framing.content_length >= 0 ? std::min<uint64_t>(size, framing.content_length) : size;
  py::GilRelease nogil;
  return exchange.send_file(fd, offset, count) == 0 ? Step::Ok : Step::IoError;
}

Step write_result(Application& app, PyObject* start_response, Exchange& exchange, PyObject* result) {
  if (PyList_CheckExact(result) || PyTuple_CheckExact(result)) {
    int64_t known = sequence_length(result);
    PyObject** items = PySequence_Fast_ITEMS(result);
    for (Py_ssize_t i = 0, n = PySequence_Fast_GET_SIZE(result); i < n; ++i) {
      if (Step step = write_item(start_response, exchange, items[i], known); step != Step::Ok) return step;
    }
    return Step::Ok;
  }
  int fd;
  off_t offset;
  uint64_t size;
  if (app.use_sendfile && start_response_state(start_response)->called &&
      file_wrapper_regular_file(result, &fd, &offset, &size)) {
    return write_file(start_response, exchange, fd, offset, size);
  }
  py::Ref iterator = py::Ref::steal(PyObject_GetIter(result));
  if (!iterator) return Step::AppError;
  while (py::Ref item = py::Ref::steal(PyIter_Next(iterator.get()))) {
    if (Step step = write_item(start_response, exchange, item.get(), -1); step != Step::Ok) return step;
  }
  return PyErr_Occurred() ? Step::AppError : Step::Ok;
}

// The app failed: a 500 if nothing was sent yet, else the connection is aborted. A body the
// parser refused (wsgi.input raised) is the client's error: answer with its status; a client
// that stalled while the app read the body gets 408 (RFC 9110 §15.5.9).
void fail(Exchange& exchange, RequestResult& outcome) {
  outcome.keep_alive = false;
  if (exchange.head_sent()) return;
  int status = exchange.body_timed_out() ? 408 : exchange.body_error_status() != 0 ? exchange.body_error_status() : 500;
  std::string response = http::error_response(status, "");
  py::GilRelease nogil;
  if (exchange.write_raw(response) == 0) outcome.status = status;
}

// An exception escaped the app. When it comes from the client (a stalled or malformed body
// that wsgi.input reported), it is logged as the client's doing, without a traceback.
void report_failure(const Exchange& exchange) {
  if (exchange.body_timed_out() || exchange.body_error_status() != 0) {
    log::logger().warning("Client error reading the body of " + std::string(exchange.head().target) + ": " +
                          exchange.body_error());
    PyErr_Clear();
    return;
  }
  log_app_error(exchange, "Error handling request");
}

}  // namespace

void install_output_release() { net::OutputQueue::set_release_owner(release_queued_bytes); }

void drop_released_bytes() {
  if (!g_released_pending.load(std::memory_order_acquire)) return;
  std::vector<PyObject*> released;
  {
    std::lock_guard<std::mutex> lock(g_released_mutex);
    released.swap(g_released);
    g_released_pending.store(false, std::memory_order_release);
  }
  for (PyObject* object : released) Py_DECREF(object);
}

RequestResult handle_request(Application& app, Exchange& exchange, const Peer& peer, bool keep_environ,
                             bool keep_response_headers) {
  drop_released_bytes();
  RequestResult outcome;
  py::Ref input = new_input(&exchange);
  py::Ref start_response = new_start_response(&exchange);
  if (!input || !start_response) {
    log_app_error(exchange, "Error preparing request");
    fail(exchange, outcome);
    return outcome;
  }
  std::string bad_request;
  py::Ref environ = app.environ.build(exchange.head(), peer, input.get(), &bad_request);
  if (!environ) {
    if (!bad_request.empty()) {
      std::string response = http::error_response(400, bad_request);
      py::GilRelease nogil;
      if (exchange.write_raw(response) == 0) outcome.status = 400;
    } else {
      log_app_error(exchange, "Error building the environ for");
      fail(exchange, outcome);
    }
    end_exchange(exchange, input.get(), start_response.get());
    return outcome;
  }

  if (keep_environ) outcome.environ = environ;
  PyObject* args[2] = {environ.get(), start_response.get()};
  py::Ref result = py::Ref::steal(PyObject_Vectorcall(app.callable.get(), args, 2, nullptr));
  Step step = Step::AppError;
  if (result) {
    step = write_result(app, start_response.get(), exchange, result.get());
    if (step == Step::Ok && !exchange.head_sent()) {
      if (!start_response_state(start_response.get())->called) {
        PyErr_SetString(PyExc_AssertionError, "the application did not call start_response()");
        step = Step::AppError;
      } else if (!prepare_head(start_response.get(), 0)) {
        step = Step::AppError;
      }
    }
    if (step == Step::Ok) {
      py::GilRelease nogil;
      if (exchange.finish() != 0) step = Step::IoError;
    }
  }
  if (step == Step::AppError) {
    report_failure(exchange);
    fail(exchange, outcome);
  }
  if (result) {
    py::ErrorSaver saved;
    call_close(result.get(), exchange);
  }
  end_exchange(exchange, input.get(), start_response.get());
  if (exchange.head_sent()) {
    // What went out — also when the app failed or the client left after the head (the access
    // log says so, as gunicorn's does with resp.status and resp.sent).
    outcome.status = start_response_state(start_response.get())->status_code;
    outcome.body_bytes = exchange.body_bytes_sent();
    if (keep_response_headers) outcome.response_headers = start_response_state(start_response.get())->headers;
  }
  if (step != Step::Ok) {
    outcome.keep_alive = false;
    if (step == Step::IoError) log::logger().debug("client went away while sending the response");
    return outcome;
  }
  outcome.keep_alive = exchange.framing().keep_alive && exchange.body_framing_complete();
  return outcome;
}

}  // namespace narwhal::wsgi
