// What a worker reports to the embedding layer (gunicorn's per-request server hooks and worker
// lifecycle hooks). Implemented in src/module (Python hooks); every member may be empty, and
// the worker never calls an empty one, so the hot path pays one branch per unused hook.
#pragma once

#include <functional>

#include "http/request_parser.h"
#include "python/pyref.h"

namespace narwhal::workers {

// One finished request for a Python logger (logconfig*, logger_class: src/module/python_log.h).
struct AccessEntry {
  const http::RequestHead* head = nullptr;
  std::string_view remote_addr;         // REMOTE_ADDR, for an environ built when there is none
  int status = 0;
  uint64_t body_bytes = 0;              // resp.sent
  int64_t duration_us = 0;              // request_time
  int64_t queue_us = -1;                // narwhal's Q atom (-1: not measured)
  PyObject* environ = nullptr;          // the WSGI environ (null under asgi: one is built)
  PyObject* response_headers = nullptr;  // start_response's list, or ASGI's (bytes, bytes) pairs
};

struct WorkerHooks {
  // gunicorn pre_request(worker, req): called with the GIL held, after the head is parsed and
  // before the app is called. Returns the req object, which travels with the request (on
  // its thread) to post_request.
  std::function<py::Ref(const http::RequestHead& head)> pre_request;
  // gunicorn post_request(worker, req, environ, resp): after the response was written.
  // `request` is pre_request's req (null: made anew); `environ` may be null when the request
  // never reached the app.
  std::function<void(const http::RequestHead& head, const py::Ref& request, PyObject* environ, int status)> post_request;
  // The access log through Python logging (gunicorn's log.access(resp, req, environ,
  // request_time)), with the GIL held; replaces the C++ access line. Empty (the C++ path, no
  // Python call per request) unless the user asked for Python logging.
  std::function<void(const AccessEntry& entry)> access;
  // gunicorn worker_exit(server, worker) when the loop ends.
  std::function<void()> worker_exit;
  // INT/QUIT are handled by Python-level handlers the module installed (they run worker_int and
  // worker_exit, then exit — inside the app if a request is running, like gunicorn): the worker
  // must not replace them with its own quick-exit handler.
  bool quit_in_python = false;
};

}  // namespace narwhal::workers
