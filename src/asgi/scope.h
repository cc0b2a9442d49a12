// ASGI connection scopes (ASGI 3, HTTP and WebSocket spec 2.4) built from a parsed request head:
// type, asgi, http_version, method, scheme, path (percent-decoded UTF-8), raw_path, query_string,
// root_path, headers (lowercased names, in order, duplicates kept), client, server, state.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "http/request_parser.h"
#include "python/pyref.h"

namespace narwhal::asgi {

struct ScopeSettings {
  std::string root_path;
};

class ScopeBuilder {
 public:
  bool init(const ScopeSettings& settings);  // GIL held; false with a Python error

  // `client`/`server`: address tuples (address_tuple); `state`: the lifespan state (copied
  // into the scope) or null; `https`: the request came over TLS or a trusted proxy said so.
  // `http2`: the request came as an HTTP/2 stream (http_version "2").
  py::Ref http(const http::RequestHead& head, PyObject* client, PyObject* server, PyObject* state, bool https,
               bool http2 = false);
  py::Ref websocket(const http::RequestHead& head, PyObject* client, PyObject* server, PyObject* state,
                    bool https, const std::vector<std::string>& subprotocols);

  // (host, port); a unix socket's path as (path, None); null host → None.
  static py::Ref address_tuple(std::string_view host, int port, bool is_unix);

 private:
  py::Ref common(const http::RequestHead& head, PyObject* type, PyObject* scheme, PyObject* client,
                 PyObject* server, PyObject* state);
  PyObject* header_name(std::string_view name);  // borrowed, cached lowercased bytes
  PyObject* method(std::string_view method);     // new reference

  ScopeSettings settings_;
  py::Ref root_path_;
  py::Ref asgi_http_;  // {"version": "3.0", "spec_version": "2.4"} (copied per scope)
  py::Ref http10_, http11_;
  py::Ref type_http_, type_websocket_;
  py::Ref scheme_http_, scheme_https_, scheme_ws_, scheme_wss_;
  std::unordered_map<std::string, py::Ref> header_names_;
  std::vector<std::pair<std::string, py::Ref>> methods_;
  py::Ref scratch_name_;  // an uncached header name while its pair is built
  std::string lowered_;
  std::string decoded_;
  struct Keys {
    PyObject *type, *asgi, *http_version, *method, *scheme, *path, *raw_path, *query_string, *root_path,
        *headers, *client, *server, *state, *subprotocols, *extensions;
  } keys_{};
};

}  // namespace narwhal::asgi
