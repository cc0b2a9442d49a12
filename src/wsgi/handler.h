// Calls the WSGI application for one parsed request and writes its response (PEP 3333).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "http/response.h"
#include "python/pyref.h"
#include "wsgi/environ.h"
#include "wsgi/exchange.h"

namespace narwhal::wsgi {

struct Application {
  py::Ref callable;
  EnvironBuilder environ;
  bool use_sendfile = true;
};

struct RequestResult {
  bool keep_alive = false;  // the connection may serve another request
  int status = 0;           // for the access log; 0 = nothing sent
  uint64_t body_bytes = 0;
  py::Ref environ;  // kept only when asked for (post_request hook)
  py::Ref response_headers;  // start_response's list, kept only when asked for (access log {name}o)
};

// Runs with the GIL held; releases it around socket I/O.
RequestResult handle_request(Application& app, Exchange& exchange, const Peer& peer,
                             bool keep_environ = false, bool keep_response_headers = false);

// Lets output queues drop the Python references send_body gave them (once per process).
void install_output_release();
// With the GIL: drops the references a queue released on a thread without it.
void drop_released_bytes();

// A complete error response (status line, Connection: close, small text body); kept for the
// workers, the builder is http::error_response.
inline std::string error_response(int status, std::string_view detail) {
  return http::error_response(status, detail);
}

}  // namespace narwhal::wsgi
