// Builds the PEP 3333 environ for a request: a copy of a per-worker template dict holding the
// constant entries, plus the per-request keys under interned names.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "http/request_parser.h"
#include "net/allow_list.h"
#include "python/pyref.h"

namespace narwhal::wsgi {

struct EnvironSettings {
  bool multiprocess = false;
  bool multithread = false;
  std::string script_name;                                          // SCRIPT_NAME (process env)
  std::vector<std::pair<std::string, std::string>> secure_scheme_headers;  // NAME → value
  std::vector<std::string> forwarded_allow_ips;                     // "*" trusts everyone
  // gunicorn 23 (http/message.py parse_headers): a field name containing '_' reaches the
  // environ when the peer is trusted and the upper-cased name is listed here ("*": any name);
  // otherwise header_map decides (the parser's drop / refuse / dangerous).
  std::vector<std::string> forwarder_headers;
  http::HeaderMap header_map = http::HeaderMap::Drop;
  bool is_ssl = false;
  std::string server_software = "narwhal";  // SERVER_SOFTWARE: "narwhal/<version>" (gunicorn/<version>)
};

// What stays the same for every request on one connection (built once per connection).
struct Peer {
  py::Ref remote_addr;  // REMOTE_ADDR
  py::Ref remote_port;  // REMOTE_PORT (null for unix sockets)
  py::Ref server_name;  // SERVER_NAME from the listener address (unix sockets: from Host, as gunicorn)
  py::Ref server_port;
  bool is_unix = false;
  bool trusted = false;  // may set wsgi.url_scheme through secure_scheme_headers
  // Trusted, and forwarder_headers may let names with '_' through that header_map would drop
  // or refuse: this connection's parser keeps them all (HeaderMap::Dangerous) and each request
  // goes through EnvironBuilder::forwarded_head, which applies header_map to the unlisted ones.
  bool parse_underscore_names = false;
  bool filter_underscore_names = false;  // false when forwarder_headers holds "*"
  std::string remote_text;  // for the access log
  py::Ref tls_socket;  // TLS: environ['gunicorn.socket'] (narwhal._tls.PeerSocket), else null
  bool http2 = false;  // an HTTP/2 stream: SERVER_PROTOCOL "HTTP/2"
  py::Ref proxy_protocol, proxy_addr, proxy_port;  // PROXY_* (null: not proxied / not known)
};

// What forwarded_head decided for a request.
enum class ForwarderVerdict {
  Unchanged,  // use the parser's head as it is
  Filtered,   // use *filtered: the unlisted '_' names were dropped (header_map drop)
  Refused,    // an unlisted '_' name with header_map refuse: answer 400
};

// A connection that began with a PROXY protocol header (docs/proxies.md): REMOTE_ADDR and
// REMOTE_PORT are the header's client; the environ also gets gunicorn's PROXY_PROTOCOL,
// PROXY_ADDR and PROXY_PORT. forwarded_allow_ips is still decided on the socket's own peer (the
// proxy), as gunicorn does.
struct ProxiedFrom {
  std::string protocol;          // PROXY_PROTOCOL: TCP4, TCP6, UNIX, UNKNOWN, LOCAL, UNSPEC
  std::string destination_host;  // PROXY_ADDR ("" when the header has no addresses)
  int destination_port = -1;     // PROXY_PORT (-1: none)
  std::string socket_host;       // the proxy itself
  bool socket_is_unix = false;
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};

class EnvironBuilder {
 public:
  bool init(const EnvironSettings& settings, PyObject* file_wrapper_type, PyObject* errors);
  // `is_unix`: the connection is on a unix socket. `proxied`: it began with a PROXY header, and
  // remote_host/remote_port are the header's client (remote_port -1: no REMOTE_PORT).
  Peer make_peer(const std::string& remote_host, int remote_port, const std::string& server_host,
                 int server_port, bool is_unix, const ProxiedFrom* proxied = nullptr);
  // Whether the peer is in forwarded_allow_ips (h2c prior knowledge is only for those).
  bool trusts(const std::string& remote_host, bool is_unix) const { return trusted(remote_host, is_unix); }
  // make_peer(...).parse_underscore_names, without Python (the loop decides the parser at accept).
  bool parses_underscore_names(const std::string& remote_host, bool is_unix) const;

  // For a peer with parse_underscore_names: the verdict on the '_' names of `head` that
  // forwarder_headers does not list (see EnvironSettings::forwarder_headers).
  ForwarderVerdict forwarded_head(const http::RequestHead& head, const Peer& peer,
                                  http::RequestHead* filtered) const;

  // Returns a new environ, or null with *error_reason set when the request must get a 400
  // (contradicting secure scheme headers), or null with a Python error set.
  py::Ref build(const http::RequestHead& head, const Peer& peer, PyObject* input,
                std::string* error_reason);

 private:
  bool trusted(const std::string& remote_host, bool is_unix) const;
  bool set_server_from_host(PyObject* environ, std::string_view host, bool https);
  bool forwarder_listed(std::string_view name) const;
  py::Ref header_key(std::string_view name);
  bool add_header(PyObject* environ, PyObject* key, std::string_view value);

  EnvironSettings settings_;
  net::AllowList trusted_peers_;  // forwarded_allow_ips
  py::Ref template_;
  std::unordered_map<std::string, py::Ref, StringHash, std::equal_to<>> header_keys_;  // raw header name → "HTTP_..." key
  std::string scratch_;
  // SERVER_NAME/SERVER_PORT objects per listener address: made once, not per connection.
  struct ServerStrings {
    std::string host;
    int port;
    py::Ref name, port_text;
  };
  std::vector<ServerStrings> servers_;
};

}  // namespace narwhal::wsgi
