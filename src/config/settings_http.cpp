// Settings: Server Mechanics — proxies, paste, and HTTP parsing leniency.
#include "config/table_rows.h"

namespace narwhal::config {

namespace {

Setting mechanics_flag(std::string name, std::string flag, std::string short_doc, std::string doc) {
  return {
      .name = std::move(name),
      .section = "Server Mechanics",
      .flags = {std::move(flag)},
      .metavar = "",
      .type = Type::Bool,
      .action = Action::StoreTrue,
      .default_value = false,
      .default_text = "",
      .validate = validate_bool(),
      .short_doc = std::move(short_doc),
      .doc = std::move(doc),
  };
}

const char* kTrustNote =
    "Set to `*` to disable checking of front-end IPs, when you have ensured by other means that "
    "only your authorized front-ends can reach narwhal. Connections without an IP address (unix "
    "sockets) are always allowed.";

}  // namespace

void add_http_settings(std::vector<Setting>& rows) {
  rows.push_back({
      .name = "secure_scheme_headers",
      .section = "Server Mechanics",
      .flags = {},
      .metavar = "",
      .type = Type::StringMap,
      .action = Action::Store,
      .default_value = StringMap{{"X-FORWARDED-PROTOCOL", "ssl"}, {"X-FORWARDED-PROTO", "https"},
                                 {"X-FORWARDED-SSL", "on"}},
      .default_text = "",
      .validate = validate_dict(),
      .short_doc = "A dictionary containing headers and values that the front-end proxy uses to "
                   "indicate HTTPS requests.",
      .doc = "If the source IP is permitted by *forwarded_allow_ips* and at least one request header "
             "matches a key-value pair listed here, `wsgi.url_scheme` is set to `https`. If listed "
             "headers are present but disagree, the request is refused.\n\nKeys are upper-case "
             "header names; values are compared case-sensitively. Make sure your front-end proxy "
             "strips these headers from client requests.",
  });
  rows.push_back({
      .name = "forwarded_allow_ips",
      .section = "Server Mechanics",
      .flags = {"--forwarded-allow-ips"},
      .metavar = "STRING",
      .type = Type::StringList,
      .action = Action::Store,
      .default_value = StringList{"127.0.0.1", "::1"},
      .default_text = "'127.0.0.1,::1' ($FORWARDED_ALLOW_IPS when set)",
      .validate = validate_address_list(),
      .short_doc = "Front-end's IP addresses or networks from which allowed to handle set secure "
                   "headers (comma separated).",
      .doc = std::string("Individual addresses (`192.168.1.1`) and CIDR networks (`192.168.0.0/16`) "
                         "are supported; the value is stored as a list.\n\n") +
             kTrustNote +
             "\n\nBy default, the value of the `FORWARDED_ALLOW_IPS` environment variable, else "
             "`'127.0.0.1,::1'`.",
      .computed_default = from_environment("FORWARDED_ALLOW_IPS"),
  });
  rows.push_back({
      .name = "pythonpath",
      .section = "Server Mechanics",
      .flags = {"--pythonpath"},
      .metavar = "STRING",
      .type = Type::OptionalString,
      .action = Action::Store,
      .default_value = std::monostate{},
      .default_text = "",
      .validate = validate_optional_string(),
      .short_doc = "A comma-separated list of directories to add to the Python path.",
      .doc = "e.g. `'/home/djangoprojects/myproject,/home/python/mylibrary'`.",
  });
  rows.push_back({
      .name = "paste",
      .section = "Server Mechanics",
      .flags = {"--paste", "--paster"},
      .metavar = "STRING",
      .type = Type::OptionalString,
      .action = Action::Store,
      .default_value = std::monostate{},
      .default_text = "",
      .validate = validate_optional_string(),
      .short_doc = "Load a PasteDeploy config file.",
      .doc = "The argument may contain a `#` symbol followed by the name of an app section from the "
             "config file, e.g. `production.ini#admin`.\n\nThe app is loaded with PasteDeploy's "
             "`loadapp` (Debian: python3-pastedeploy) in the master with *preload_app*, else in "
             "each worker, with the *raw_paste_global_conf* variables as its `global_conf`. A "
             "relative path is relative to the directory narwhal starts in. As in gunicorn, the "
             "file's server sections are not read (control the server with the command line or a "
             "config file, or serve the file with `use = egg:narwhal#main`: docs/migration.md); "
             "an APP_MODULE given as well is ignored, with a warning; the process name is the "
             "file's path; a file with a `[loggers]` section sets *logconfig* to the file.",
  });
  rows.push_back({
      .name = "proxy_protocol",
      .section = "Server Mechanics",
      .flags = {"--proxy-protocol"},
      .metavar = "MODE",
      .type = Type::String,
      .action = Action::StoreOptional,
      .default_value = std::string("off"),
      .default_text = "'off'",
      .validate = validate_proxy_protocol(),
      .short_doc = "Enable PROXY protocol support.",
      .doc = "Accepts the PROXY protocol header (HAProxy's proxy-protocol.txt) that a TCP proxy "
             "(HAProxy `send-proxy`/`send-proxy-v2`, stunnel `protocol = proxy`, AWS NLB, …) sends "
             "before the HTTP bytes; `REMOTE_ADDR`/`REMOTE_PORT`, the access log's `h` and the "
             "ASGI scope's `client` then name the client it relays.\n\n"
             "* `off` - disabled (the default)\n"
             "* `v1` - PROXY protocol v1 only (text: TCP4, TCP6, UNKNOWN)\n"
             "* `v2` - PROXY protocol v2 only (binary: PROXY and LOCAL commands; TCP4, TCP6, "
             "UNIX, UNSPEC; TLVs are skipped)\n"
             "* `auto` - either version, detected per connection\n\n"
             "`--proxy-protocol` without a value means `auto`, as in gunicorn 24.1; a boolean "
             "(an older config file's `proxy_protocol = True`) means `auto` (true) or `off`.\n\n"
             "Only peers in *proxy_allow_ips* may send the header; a header from another peer, "
             "a malformed header, or (with `v1`/`v2`) an allowed peer's connection without the "
             "header is answered `400` (`403` for a disallowed peer, like gunicorn) and closed; "
             "the application never sees it. With `auto` the header is optional, as in "
             "gunicorn. The header must arrive within *header_timeout*. See docs/proxies.md.",
      .cli_const = "auto",
  });
  rows.push_back({
      .name = "proxy_allow_ips",
      .section = "Server Mechanics",
      .flags = {"--proxy-allow-from"},
      .metavar = "",
      .type = Type::StringList,
      .action = Action::Store,
      .default_value = StringList{"127.0.0.1", "::1"},
      .default_text = "'127.0.0.1,::1'",
      .validate = validate_address_list(),
      .short_doc = "Front-end's IP addresses or networks from which allowed accept proxy requests "
                   "(comma separated).",
      .doc = std::string("Individual addresses (`192.168.1.1`) and CIDR networks (`192.168.0.0/16`) "
                         "are supported. Only these peers may send a PROXY protocol header (see "
                         "*proxy_protocol*).\n\n") +
             kTrustNote,
  });
  rows.push_back({
      .name = "protocol",
      .section = "Server Mechanics",
      .flags = {"--protocol"},
      .metavar = "STRING",
      .type = Type::String,
      .action = Action::Store,
      .default_value = std::string("http"),
      .default_text = "",
      .validate = validate_choice({"http", "uwsgi"}),
      .short_doc = "The protocol for incoming connections.",
      .doc = "* `http` - HTTP/1.x (the default)\n"
             "* `uwsgi` - the uwsgi binary protocol, as nginx's `uwsgi_pass` sends it (modifier1 "
             "0 packets; the environ is built from the packet's variables like gunicorn 24 "
             "does)\n\n"
             "Only peers in *uwsgi_allow_ips* may connect with `uwsgi`; others are answered `403` "
             "and closed. Every worker type speaks it (asgi too: the scope's `scheme` follows the "
             "packet). Malformed packets and the request limits are answered like HTTP requests. "
             "See docs/proxies.md for what reaches the environ and the deviations from gunicorn.",
  });
  rows.push_back({
      .name = "uwsgi_allow_ips",
      .section = "Server Mechanics",
      .flags = {"--uwsgi-allow-from"},
      .metavar = "",
      .type = Type::StringList,
      .action = Action::Store,
      .default_value = StringList{"127.0.0.1", "::1"},
      .default_text = "'127.0.0.1,::1'",
      .validate = validate_address_list(),
      .short_doc = "IPs allowed to send uWSGI protocol requests (comma separated).",
      .doc = std::string("Individual addresses and CIDR networks are supported (gunicorn compares "
                         "addresses only).\n\n") +
             kTrustNote,
  });
  rows.push_back({
      .name = "raw_paste_global_conf",
      .section = "Server Mechanics",
      .flags = {"--paste-global"},
      .metavar = "CONF",
      .type = Type::StringList,
      .action = Action::Append,
      .default_value = StringList{},
      .default_text = "",
      .validate = validate_paste_global_conf(),
      .short_doc = "Set a PasteDeploy global config variable in `key=value` form.",
      .doc = "The option can be specified multiple times.\n\nThe variables are passed to the "
             "PasteDeploy entrypoint. Example: `narwhal -b 127.0.0.1:8000 --paste development.ini "
             "--paste-global FOO=1 --paste-global BAR=2`. The first `=` not written `\\=` "
             "separates the key from the value.",
  });
  rows.push_back(mechanics_flag("permit_obsolete_folding", "--permit-obsolete-folding",
                                "Permit requests employing obsolete HTTP line folding mechanism.",
                                "Each fold is replaced with one space (RFC 9112 §5.2); the field "
                                "size limit counts every line of a folded field. A folded "
                                "Content-Length or Transfer-Encoding is still refused (400), and the "
                                "connection is closed after a request whose header section has a "
                                "fold. Folding was deprecated by RFC 7230 §3.2.4 and is not sent by "
                                "standards-compliant clients. Use with care and only if necessary."));
  rows.push_back(mechanics_flag("strip_header_spaces", "--strip-header-spaces",
                                "Strip spaces present between the header name and the `:`.",
                                "Content-Length and Transfer-Encoding are still refused (400) with "
                                "such whitespace, and the connection is closed after the response. "
                                "This is known to induce vulnerabilities (request smuggling) and is "
                                "not compliant with HTTP/1.1 (RFC 9112 §5.1). Use with care and only "
                                "if necessary."));
  rows.push_back(mechanics_flag("permit_unconventional_http_method", "--permit-unconventional-http-method",
                                "Permit HTTP methods not matching conventions, such as IANA "
                                "registration guidelines.",
                                "Permits methods shorter than 3 or longer than 20 characters, with "
                                "lowercase characters, or containing `#`. Use with care and only if "
                                "necessary."));
  rows.push_back(mechanics_flag("permit_unconventional_http_version", "--permit-unconventional-http-version",
                                "Permit HTTP version not matching conventions of 2023.",
                                "Accepts HTTP/1.2 to HTTP/1.9 and processes them as HTTP/1.1 (RFC "
                                "9110 §2.5) instead of answering 505. Other major versions (HTTP/0.x, "
                                "HTTP/2 and later) are still answered 505. Use with care and only if "
                                "necessary."));
  rows.push_back(mechanics_flag("casefold_http_method", "--casefold-http-method",
                                "Transform received HTTP methods to uppercase.",
                                "HTTP methods are case sensitive by definition and merely uppercase "
                                "by convention; older gunicorn versions upper-cased them."));
  rows.push_back({
      .name = "forwarder_headers",
      .section = "Server Mechanics",
      .flags = {"--forwarder-headers"},
      .metavar = "",
      .type = Type::StringList,
      .action = Action::Store,
      .default_value = StringList{"SCRIPT_NAME", "PATH_INFO"},
      .default_text = "'SCRIPT_NAME,PATH_INFO'",
      .validate = validate_comma_list(),
      .short_doc = "A list containing upper-case header field names that the front-end proxy (see "
                   "*forwarded_allow_ips*) sets, to be used in WSGI environment.",
      .doc = "Has no effect for headers not present in the request. A listed header whose name "
             "contains `_` reaches the environ (as `HTTP_<NAME>`) only from a peer trusted by "
             "*forwarded_allow_ips*, whatever *header_map* says; `*` lists every name. A "
             "`SCRIPT_NAME` header also sets `SCRIPT_NAME` (and is cut off `PATH_INFO`); "
             "`PATH_INFO` and `REMOTE_USER` headers only appear as `HTTP_PATH_INFO` and "
             "`HTTP_REMOTE_USER`, as in gunicorn 23. Make sure your front-end proxy strips these "
             "headers from client requests.",
  });
  rows.push_back({
      .name = "header_map",
      .section = "Server Mechanics",
      .flags = {"--header-map"},
      .metavar = "",
      .type = Type::String,
      .action = Action::Store,
      .default_value = std::string("drop"),
      .default_text = "",
      .validate = validate_choice({"drop", "refuse", "dangerous"}),
      .short_doc = "Configure how header field names are mapped into environ.",
      .doc = "Header names containing underscores would map to the same environ key as their "
             "dashed twins. `drop` (the default) silently drops such headers, `refuse` answers "
             "`400` to any request containing one, and `dangerous` maps them anyway (the old, "
             "unsafe behaviour). Headers listed in *forwarder_headers* from a trusted front-end "
             "are always mapped.",
  });
  rows.push_back({
      .name = "http_parser",
      .section = "Server Mechanics",
      .flags = {"--http-parser"},
      .metavar = "STRING",
      .type = Type::String,
      .action = Action::Store,
      .default_value = std::string("auto"),
      .default_text = "",
      .validate = validate_choice({"auto", "python", "fast"}),
      .short_doc = "The HTTP/1.x request parser to use.",
      .doc = "gunicorn's values are accepted (case-insensitive): `auto` (the default), `python` "
             "and `fast`. gunicorn chooses between its pure-Python parser and the optional C "
             "parser gunicorn_h1c with it; narwhal has exactly one parser, its own C++ parser "
             "(strict RFC 9112, see docs/http.md), which serves every request whatever the value. "
             "Other values are refused at start-up.",
  });
  rows.push_back(mechanics_flag("tolerate_dangerous_framing", "--tolerate-dangerous-framing",
                                "Process requests with both Transfer-Encoding and Content-Length.",
                                "Such a request (and one with Transfer-Encoding in HTTP/1.0) is read "
                                "as chunked; its Content-Length field is removed before the "
                                "application sees it, and the connection is closed after the "
                                "response (RFC 9112 §6.1). This is known to induce vulnerabilities "
                                "(request smuggling); gunicorn 23 removed the setting. Use with care "
                                "and only if necessary."));
}

}  // namespace narwhal::config
