// What a worker reports to the embedding layer (gunicorn's per-request server hooks and worker
// lifecycle hooks). Implemented in src/module (Python hooks); every member may be empty, and
// the worker never calls an empty one, so the hot path pays one branch per unused hook.
#pragma once

#include <functional>

#include "http/request_parser.h"
#include "python/pyref.h"

namespace narwhal::workers {

struct WorkerHooks {
  // gunicorn pre_request(worker, req): called with the GIL held, after the head is parsed and
  // before the app is called. Returns the req object, which travels with the request (on
  // its thread) to post_request.
  std::function<py::Ref(const http::RequestHead& head)> pre_request;
  // gunicorn post_request(worker, req, environ, resp): after the response was written.
  // `request` is pre_request's req (null: made anew); `environ` may be null when the request
  // never reached the app.
  std::function<void(const http::RequestHead& head, const py::Ref& request, PyObject* environ, int status)> post_request;
  // gunicorn worker_exit(server, worker) when the loop ends.
  std::function<void()> worker_exit;
  // INT/QUIT are handled by Python-level handlers the module installed (they run worker_int and
  // worker_exit, then exit — inside the app if a request is running, like gunicorn): the worker
  // must not replace them with its own quick-exit handler.
  bool quit_in_python = false;
};

}  // namespace narwhal::workers
