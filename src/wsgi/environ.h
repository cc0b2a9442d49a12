// Builds the PEP 3333 environ for a request: a copy of a per-worker template dict holding the
// constant entries, plus the per-request keys under interned names.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "http/request_parser.h"
#include "python/pyref.h"

namespace narwhal::wsgi {

struct EnvironSettings {
  bool multiprocess = false;
  bool multithread = false;
  std::string script_name;                                          // SCRIPT_NAME (process env)
  std::vector<std::pair<std::string, std::string>> secure_scheme_headers;  // NAME → value
  std::vector<std::string> forwarded_allow_ips;                     // "*" trusts everyone
  bool is_ssl = false;
};

// What stays the same for every request on one connection (built once per connection).
struct Peer {
  py::Ref remote_addr;  // REMOTE_ADDR
  py::Ref remote_port;  // REMOTE_PORT (null for unix sockets)
  py::Ref server_name;  // SERVER_NAME from the listener address (gunicorn does the same)
  py::Ref server_port;
  bool is_unix = false;
  bool trusted = false;  // may set wsgi.url_scheme through secure_scheme_headers
  std::string remote_text;  // for the access log
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};

class EnvironBuilder {
 public:
  bool init(const EnvironSettings& settings, PyObject* file_wrapper_type, PyObject* errors);
  Peer make_peer(const std::string& remote_host, int remote_port, const std::string& server_host,
                 int server_port, bool is_unix) const;

  // Returns a new environ, or null with *error_reason set when the request must get a 400
  // (contradicting secure scheme headers), or null with a Python error set.
  py::Ref build(const http::RequestHead& head, const Peer& peer, PyObject* input,
                std::string* error_reason);

 private:
  py::Ref header_key(std::string_view name);
  bool add_header(PyObject* environ, PyObject* key, std::string_view value);

  EnvironSettings settings_;
  py::Ref template_;
  std::unordered_map<std::string, py::Ref, StringHash, std::equal_to<>> header_keys_;  // raw header name → "HTTP_..." key
  std::string scratch_;
};

}  // namespace narwhal::wsgi
