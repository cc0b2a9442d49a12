// The master's TLS context (docs/tls.md): narwhal/_tls.py builds the ssl.SSLContext the way
// gunicorn does (create_default_context from the SSL settings, then the ssl_context hook) and
// the core adopts its OpenSSL SSL_CTX — built once at start-up and again on HUP, inherited by
// every worker forked after.
#pragma once

#include <memory>
#include <string>

#include "config/config.h"
#include "python/pyref.h"
#include "tls/context.h"

namespace narwhal::module {

struct TlsState {
  py::Ref python_context;  // keeps the SSL_CTX's Python owner (and its callbacks' data) alive
  std::shared_ptr<tls::Context> context;
};

// With the GIL, in the master. `server` is the hooks' Python server object (its .cfg is what
// the hook receives). false: *error says why (the settings named, OpenSSL's or the hook's words).
bool build_tls(PyObject* server, const config::Config& cfg, TlsState* state, std::string* error);

}  // namespace narwhal::module
