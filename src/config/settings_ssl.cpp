// Settings: SSL.
#include "config/table_rows.h"

namespace narwhal::config {

namespace {

Setting ssl_file(std::string name, std::string flag, std::string short_doc) {
  return {
      .name = std::move(name),
      .section = "SSL",
      .flags = {std::move(flag)},
      .metavar = "FILE",
      .type = Type::OptionalString,
      .action = Action::Store,
      .default_value = std::monostate{},
      .default_text = "",
      .validate = validate_optional_string(),
      .short_doc = std::move(short_doc),
      .doc = "",
  };
}

Setting ssl_flag(std::string name, std::string flag, bool default_value, std::string short_doc) {
  return {
      .name = std::move(name),
      .section = "SSL",
      .flags = {std::move(flag)},
      .metavar = "",
      .type = Type::Bool,
      .action = Action::StoreTrue,
      .default_value = default_value,
      .default_text = "",
      .validate = validate_bool(),
      .short_doc = std::move(short_doc),
      .doc = "",
  };
}

}  // namespace

void add_ssl_settings(std::vector<Setting>& rows) {
  Setting keyfile = ssl_file("keyfile", "--keyfile", "SSL key file.");
  keyfile.doc = "Not needed when *certfile* holds the key too.";
  rows.push_back(keyfile);
  Setting certfile = ssl_file("certfile", "--certfile", "SSL certificate file.");
  certfile.doc = "Setting it turns TLS on for every listener (docs/tls.md): the handshake runs in the "
                 "worker's event loop, never in an app slot, bounded by *header_timeout*.";
  rows.push_back(certfile);
  rows.push_back({
      .name = "ssl_version",
      .section = "SSL",
      .flags = {"--ssl-version"},
      .metavar = "",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{2},  // ssl.PROTOCOL_TLS
      .default_text = "2 (ssl.PROTOCOL_TLS)",
      .validate = validate_ssl_version(),
      .short_doc = "SSL version to use (deprecated, use *ssl_context*).",
      .doc = "Accepts an `ssl.PROTOCOL_*` name (`TLS`, `SSLv23`, `TLSv1`, `TLSv1_1`, `TLSv1_2`, "
             "`TLS_SERVER`) or number, and is stored as the number. The highest version both sides "
             "support is negotiated. gunicorn since 21.0 ignores this setting; narwhal reads "
             "`TLSv1`, `TLSv1_1` and `TLSv1_2` as the *minimum* version "
             "(`SSLContext.minimum_version`) and the others as no constraint.",
  });
  rows.push_back({
      .name = "cert_reqs",
      .section = "SSL",
      .flags = {"--cert-reqs"},
      .metavar = "",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{0},  // ssl.CERT_NONE
      .default_text = "",
      .validate = validate_pos_int(),
      .short_doc = "Whether client certificate is required (see stdlib ssl module's).",
      .doc = "| Value | Meaning |\n|---|---|\n| `0` | no client verification (ssl.CERT_NONE) |\n"
             "| `1` | ssl.CERT_OPTIONAL |\n| `2` | ssl.CERT_REQUIRED |",
      .cli_value = Setting::CliValue::Int,
  });
  rows.push_back(ssl_file("ca_certs", "--ca-certs", "CA certificates file."));
  rows.push_back(ssl_flag("suppress_ragged_eofs", "--suppress-ragged-eofs", true,
                          "Suppress ragged EOFs (see stdlib ssl module's)."));
  Setting handshake = ssl_flag("do_handshake_on_connect", "--do-handshake-on-connect", false,
                               "Whether to perform SSL handshake on socket connect (see stdlib ssl "
                               "module's).");
  handshake.doc = "No effect in narwhal: the handshake always runs in the worker's event loop as soon as "
                  "the connection is accepted, without blocking, before the first request is read (what "
                  "either value amounts to in gunicorn, minus the blocking).";
  rows.push_back(handshake);
  rows.push_back({
      .name = "ciphers",
      .section = "SSL",
      .flags = {"--ciphers"},
      .metavar = "",
      .type = Type::OptionalString,
      .action = Action::Store,
      .default_value = std::monostate{},
      .default_text = "",
      .validate = validate_optional_string(),
      .short_doc = "SSL Cipher suite to use, in the format of an OpenSSL cipher list.",
      .doc = "By default Python's `ssl.create_default_context` list is used (OpenSSL's secure "
             "defaults). TLS 1.3 suites are not affected (OpenSSL configures them separately).",
  });
}

}  // namespace narwhal::config
