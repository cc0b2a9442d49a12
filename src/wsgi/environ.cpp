#include "wsgi/environ.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "http/text.h"

namespace narwhal::wsgi {
namespace {

// Interned keys and common values, created once per process.
struct Names {
  PyObject *request_method, *script_name, *path_info, *query_string, *raw_uri, *content_type,
      *content_length, *server_name, *server_port, *server_protocol, *remote_addr, *remote_port,
      *wsgi_input, *wsgi_url_scheme, *http, *https, *http_1_0, *http_1_1, *empty, *http_host, *gunicorn_socket, *http_2;
};

Names& names() {
  static Names n = [] {
    Names v{};
    v.request_method = PyUnicode_InternFromString("REQUEST_METHOD");
    v.script_name = PyUnicode_InternFromString("SCRIPT_NAME");
    v.path_info = PyUnicode_InternFromString("PATH_INFO");
    v.query_string = PyUnicode_InternFromString("QUERY_STRING");
    v.raw_uri = PyUnicode_InternFromString("RAW_URI");
    v.content_type = PyUnicode_InternFromString("CONTENT_TYPE");
    v.content_length = PyUnicode_InternFromString("CONTENT_LENGTH");
    v.server_name = PyUnicode_InternFromString("SERVER_NAME");
    v.server_port = PyUnicode_InternFromString("SERVER_PORT");
    v.server_protocol = PyUnicode_InternFromString("SERVER_PROTOCOL");
    v.remote_addr = PyUnicode_InternFromString("REMOTE_ADDR");
    v.remote_port = PyUnicode_InternFromString("REMOTE_PORT");
    v.wsgi_input = PyUnicode_InternFromString("wsgi.input");
    v.wsgi_url_scheme = PyUnicode_InternFromString("wsgi.url_scheme");
    v.http = PyUnicode_InternFromString("http");
    v.https = PyUnicode_InternFromString("https");
    v.http_1_0 = PyUnicode_InternFromString("HTTP/1.0");
    v.http_1_1 = PyUnicode_InternFromString("HTTP/1.1");
    v.empty = PyUnicode_InternFromString("");
    v.http_host = PyUnicode_InternFromString("HTTP_HOST");
    v.gunicorn_socket = PyUnicode_InternFromString("gunicorn.socket");
    v.http_2 = PyUnicode_InternFromString("HTTP/2");
    return v;
  }();
  return n;
}

py::Ref latin1(std::string_view text) {
  return py::Ref::steal(PyUnicode_DecodeLatin1(text.data(), static_cast<Py_ssize_t>(text.size()), nullptr));
}

bool set_item(PyObject* dict, PyObject* key, py::Ref value) {
  return value && PyDict_SetItem(dict, key, value.get()) == 0;
}

// Methods are nearly always one of a few: reuse their str objects.
PyObject* method_object(std::string_view method) {
  static PyObject* cached[] = {PyUnicode_InternFromString("GET"), PyUnicode_InternFromString("POST"),
                               PyUnicode_InternFromString("HEAD"), PyUnicode_InternFromString("PUT"),
                               PyUnicode_InternFromString("DELETE"), PyUnicode_InternFromString("OPTIONS"),
                               PyUnicode_InternFromString("PATCH")};
  for (PyObject* candidate : cached) {
    if (PyUnicode_GET_LENGTH(candidate) == static_cast<Py_ssize_t>(method.size()) &&
        std::string_view(reinterpret_cast<const char*>(PyUnicode_1BYTE_DATA(candidate)), method.size()) == method) {
      Py_INCREF(candidate);
      return candidate;
    }
  }
  return latin1(method).release();
}

py::Ref decimal(int value) {
  char text[16];
  const auto end = std::to_chars(text, text + sizeof text, value).ptr;
  return latin1(std::string_view(text, static_cast<size_t>(end - text)));
}

}  // namespace

bool EnvironBuilder::init(const EnvironSettings& settings, PyObject* file_wrapper_type, PyObject* errors) {
  settings_ = settings;
  for (auto& [name, value] : settings_.secure_scheme_headers) {
    std::transform(name.begin(), name.end(), name.begin(), http::chars::to_upper);
  }
  trusted_peers_.assign(settings_.forwarded_allow_ips);
  servers_.clear();
  names();
  template_ = py::Ref::steal(PyDict_New());
  if (!template_) return false;
  PyObject* dict = template_.get();
  py::Ref version = py::Ref::steal(Py_BuildValue("(ii)", 1, 0));
  return PyDict_SetItemString(dict, "wsgi.version", version.get()) == 0 &&
         PyDict_SetItemString(dict, "wsgi.errors", errors) == 0 &&
         PyDict_SetItemString(dict, "wsgi.multithread", settings.multithread ? Py_True : Py_False) == 0 &&
         PyDict_SetItemString(dict, "wsgi.multiprocess", settings.multiprocess ? Py_True : Py_False) == 0 &&
         PyDict_SetItemString(dict, "wsgi.run_once", Py_False) == 0 &&
         PyDict_SetItemString(dict, "wsgi.file_wrapper", file_wrapper_type) == 0 &&
         PyDict_SetItemString(dict, "wsgi.input_terminated", Py_True) == 0 &&
         set_item(dict, PyUnicode_InternFromString("SERVER_SOFTWARE"), latin1(settings.server_software)) &&
         set_item(dict, names().script_name, latin1(settings.script_name)) &&
         set_item(dict, names().wsgi_url_scheme, py::Ref::borrow(settings.is_ssl ? names().https : names().http));
}

// gunicorn trusts forwarding headers from unix-socket peers and from forwarded_allow_ips
// (addresses, and since gunicorn 24.1 CIDR networks).
bool EnvironBuilder::trusted(const std::string& remote_host, bool is_unix) const {
  return trusted_peers_.allows(remote_host, is_unix);
}

bool EnvironBuilder::parses_underscore_names(const std::string& remote_host, bool is_unix) const {
  return settings_.header_map != http::HeaderMap::Dangerous && !settings_.forwarder_headers.empty() &&
         trusted(remote_host, is_unix);
}

Peer EnvironBuilder::make_peer(const std::string& remote_host, int remote_port,
                               const std::string& server_host, int server_port, bool is_unix,
                               const ProxiedFrom* proxied) {
  Peer peer;
  peer.is_unix = is_unix;
  peer.remote_text = remote_host;
  peer.remote_addr = latin1(remote_host);
  // A PROXY header's TCP client has a port even on a unix listener; its UNIX client has none.
  if (proxied ? remote_port >= 0 : !is_unix) peer.remote_port = decimal(remote_port);
  if (proxied) {
    // gunicorn (http/wsgi.py proxy_environ): PROXY_ADDR/PROXY_PORT are the header's destination.
    peer.proxy_protocol = latin1(proxied->protocol);
    if (!proxied->destination_host.empty()) peer.proxy_addr = latin1(proxied->destination_host);
    if (proxied->destination_port >= 0) peer.proxy_port = decimal(proxied->destination_port);
  }
  auto server = std::find_if(servers_.begin(), servers_.end(), [&](const ServerStrings& known) {
    return known.port == server_port && known.host == server_host;
  });
  if (server == servers_.end()) {
    server = servers_.insert(servers_.end(), {server_host, server_port, latin1(server_host),
                                              is_unix ? latin1("") : decimal(server_port)});
  }
  peer.server_name = server->name;
  peer.server_port = server->port_text;
  // gunicorn decides forwarded_allow_ips on the socket's peer, the proxy, not the header's client.
  peer.trusted = proxied ? trusted(proxied->socket_host, proxied->socket_is_unix) : trusted(remote_host, is_unix);
  if (peer.trusted && settings_.header_map != http::HeaderMap::Dangerous && !settings_.forwarder_headers.empty()) {
    peer.parse_underscore_names = true;
    peer.filter_underscore_names =
        std::find(settings_.forwarder_headers.begin(), settings_.forwarder_headers.end(), "*") ==
        settings_.forwarder_headers.end();
  }
  return peer;
}

// gunicorn: `name.upper() in forwarder_headers` (the list's entries are compared as written).
bool EnvironBuilder::forwarder_listed(std::string_view name) const {
  for (const std::string& listed : settings_.forwarder_headers) {
    if (listed.size() == name.size() &&
        std::equal(name.begin(), name.end(), listed.begin(),
                   [](char x, char y) { return http::chars::to_upper(x) == y; })) {
      return true;
    }
  }
  return false;
}

ForwarderVerdict EnvironBuilder::forwarded_head(const http::RequestHead& head, const Peer& peer,
                                                http::RequestHead* filtered) const {
  if (!peer.filter_underscore_names) return ForwarderVerdict::Unchanged;
  auto unlisted = [this](const http::Header& header) {
    return header.name.find('_') != std::string_view::npos && !forwarder_listed(header.name);
  };
  if (std::none_of(head.headers.begin(), head.headers.end(), unlisted)) return ForwarderVerdict::Unchanged;
  if (settings_.header_map == http::HeaderMap::Refuse) return ForwarderVerdict::Refused;
  *filtered = head;
  filtered->headers.clear();
  for (const http::Header& header : head.headers) {
    if (!unlisted(header)) filtered->headers.push_back(header);
  }
  return ForwarderVerdict::Filtered;
}

py::Ref EnvironBuilder::header_key(std::string_view name) {
  auto found = header_keys_.find(name);
  if (found != header_keys_.end()) return found->second;
  scratch_.assign("HTTP_");
  for (char c : name) scratch_.push_back(c == '-' ? '_' : http::chars::to_upper(c));
  PyObject* raw = PyUnicode_DecodeLatin1(scratch_.data(), static_cast<Py_ssize_t>(scratch_.size()), nullptr);
  if (!raw) return {};
  PyUnicode_InternInPlace(&raw);
  py::Ref key = py::Ref::steal(raw);
  // Bounded: a client sending random names must not grow the cache without limit.
  if (header_keys_.size() < 512) header_keys_.emplace(std::string(name), key);
  return key;
}

// Duplicate fields are joined with ", " (RFC 9110 §5.3).
bool EnvironBuilder::add_header(PyObject* environ, PyObject* key, std::string_view value) {
  PyObject* existing = PyDict_GetItemWithError(environ, key);
  if (existing) {
    py::Ref tail = latin1(value);
    if (!tail) return false;
    return set_item(environ, key, py::Ref::steal(PyUnicode_FromFormat("%U, %U", existing, tail.get())));
  }
  if (PyErr_Occurred()) return false;
  return set_item(environ, key, latin1(value));
}

// gunicorn (http/wsgi.py create): a unix socket has no host and port for SERVER_NAME and
// SERVER_PORT, so they come from the Host header, the port defaulting to the scheme's (Django's
// get_port() and build_absolute_uri() rely on it); without Host they stay the socket path and "".
bool EnvironBuilder::set_server_from_host(PyObject* environ, std::string_view host, bool https) {
  if (host.empty()) return true;
  std::string_view name = host;
  std::string_view port = https ? "443" : "80";
  // host = uri-host [ ":" port ], uri-host may be an IP literal in brackets (RFC 3986 §3.2.2).
  const size_t bracket = host.rfind(']');
  const size_t colon = host.rfind(':');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
    name = host.substr(0, colon);
    port = host.substr(colon + 1);
  }
  const Names& n = names();
  return set_item(environ, n.server_name, latin1(name)) && set_item(environ, n.server_port, latin1(port));
}

py::Ref EnvironBuilder::build(const http::RequestHead& head, const Peer& peer, PyObject* input,
                              std::string* error_reason) {
  const Names& n = names();
  py::Ref environ_ref = py::Ref::steal(PyDict_Copy(template_.get()));
  if (!environ_ref) return {};
  PyObject* environ = environ_ref.get();

  http::TargetParts target = http::split_target(head.target);
  bool ok = set_item(environ, n.request_method, py::Ref::steal(method_object(head.method))) &&
            set_item(environ, n.query_string, latin1(target.query)) &&
            set_item(environ, n.raw_uri, latin1(head.target)) &&
            set_item(environ, n.server_protocol,
                     py::Ref::borrow(peer.http2 ? n.http_2 : head.version_minor == 0 ? n.http_1_0 : n.http_1_1)) &&
            PyDict_SetItem(environ, n.wsgi_input, input) == 0 &&
            PyDict_SetItem(environ, n.remote_addr, peer.remote_addr.get()) == 0 &&
            (!peer.remote_port || PyDict_SetItem(environ, n.remote_port, peer.remote_port.get()) == 0) &&
            PyDict_SetItem(environ, n.server_name, peer.server_name.get()) == 0 &&
            PyDict_SetItem(environ, n.server_port, peer.server_port.get()) == 0 &&
            (!peer.tls_socket || PyDict_SetItem(environ, n.gunicorn_socket, peer.tls_socket.get()) == 0) &&
            (!peer.proxy_protocol || PyDict_SetItemString(environ, "PROXY_PROTOCOL", peer.proxy_protocol.get()) == 0) &&
            (!peer.proxy_addr || PyDict_SetItemString(environ, "PROXY_ADDR", peer.proxy_addr.get()) == 0) &&
            (!peer.proxy_port || PyDict_SetItemString(environ, "PROXY_PORT", peer.proxy_port.get()) == 0);
  if (!ok) return {};

  int scheme = 0;  // 0 = not set by a header, 1 = http, 2 = https
  // gunicorn (http/wsgi.py create): a SCRIPT_NAME header that got through (forwarder_headers
  // from a trusted peer, or header_map dangerous) replaces $SCRIPT_NAME; the last one wins, and
  // it is still mapped to HTTP_SCRIPT_NAME like any other field.
  std::string_view script_name = settings_.script_name;
  bool script_name_from_header = false;
  std::string_view host;  // the request's host: Host (the parser allows at most one) …
  for (const http::Header& header : head.headers) {
    if (header.name.size() == 11 && http::equals_ignore_case(header.name, "script_name")) {
      script_name = header.value;
      script_name_from_header = true;
    } else if (header.name.size() == 4 && http::equals_ignore_case(header.name, "host")) {
      host = header.value;
    }
    py::Ref key;
    if (http::equals_ignore_case(header.name, "content-type")) key = py::Ref::borrow(n.content_type);
    else if (http::equals_ignore_case(header.name, "content-length")) key = py::Ref::borrow(n.content_length);
    else key = header_key(header.name);
    if (!key || !add_header(environ, key.get(), header.value)) return {};
    if (peer.trusted && head.scheme.empty()) {  // a uwsgi packet names its scheme itself
      for (const auto& [name, secure_value] : settings_.secure_scheme_headers) {
        if (!http::equals_ignore_case(header.name, name)) continue;
        int this_scheme = header.value == secure_value ? 2 : 1;
        if (scheme != 0 && scheme != this_scheme) {
          *error_reason = "Contradictory scheme headers";
          return {};
        }
        scheme = this_scheme;
      }
    }
  }
  if (!head.scheme.empty()) {
    // uwsgi (gunicorn uwsgi/message.py): HTTPS on/1/true, else the packet's wsgi.url_scheme.
    scheme = head.scheme == "https" ? 2 : 1;
    PyObject* known = head.scheme == "https" ? n.https : head.scheme == "http" ? n.http : nullptr;
    if (!set_item(environ, n.wsgi_url_scheme, known ? py::Ref::borrow(known) : latin1(head.scheme))) return {};
  } else if (scheme != 0 && !set_item(environ, n.wsgi_url_scheme, py::Ref::borrow(scheme == 2 ? n.https : n.http))) {
    return {};
  }
  // … unless an absolute-form target names it: RFC 9112 §3.2.2, its authority replaces the Host
  // field (a proxy-style request).
  const bool absolute_form = !target.authority.empty() && head.method != "CONNECT";
  if (absolute_form) {
    host = target.authority;
    if (const size_t at = host.rfind('@'); at != std::string_view::npos) host.remove_prefix(at + 1);
    if (!set_item(environ, n.http_host, latin1(host))) return {};
  }
  // SERVER_NAME/SERVER_PORT: the listener's (gunicorn), but the request's host behind a unix
  // socket (gunicorn too) and for an absolute-form target, which names the server it is for.
  if ((peer.is_unix || absolute_form) && !set_server_from_host(environ, host, scheme == 2)) return {};

  // PATH_INFO: the path after SCRIPT_NAME, percent-decoded. gunicorn answers 500 when the path
  // does not start with SCRIPT_NAME; narwhal leaves PATH_INFO whole (docs/architecture.md).
  std::string_view path = target.path;
  if (!script_name.empty() && path.substr(0, script_name.size()) == script_name) {
    path.remove_prefix(script_name.size());
  }
  scratch_.clear();
  http::percent_decode(path, scratch_);
  if (!set_item(environ, n.path_info, latin1(scratch_))) return {};
  if (script_name_from_header && !set_item(environ, n.script_name, latin1(script_name))) return {};
  return environ_ref;
}

}  // namespace narwhal::wsgi
