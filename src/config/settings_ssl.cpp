// Settings: SSL.
#include "config/table_rows.h"

namespace narwhal::config {

// Why rows below are ignored or refused (Setting::support).
constexpr const char* kNoTls = "TLS is not implemented yet";
constexpr const char* kRefusedTls = "TLS is not implemented yet; terminate TLS in a proxy in front of narwhal";
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
  rows.push_back(refused(ssl_file("keyfile", "--keyfile", "SSL key file."), kRefusedTls));
  rows.push_back(refused(ssl_file("certfile", "--certfile", "SSL certificate file."), kRefusedTls));
  rows.push_back(ignored({
      .name = "ssl_version",
      .section = "SSL",
      .flags = {"--ssl-version"},
      .metavar = "",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{2},  // ssl.PROTOCOL_TLS
      .default_text = "2 (ssl.PROTOCOL_TLS)",
      .validate = validate_ssl_version(),
      .short_doc = "SSL version to use (deprecated and ignored, use *ssl_context*).",
      .doc = "Accepts an `ssl.PROTOCOL_*` name (`TLS`, `SSLv23`, `TLSv1`, `TLSv1_1`, `TLSv1_2`, "
             "`TLS_SERVER`) or number, and is stored as the number. Like gunicorn since 21.0, "
             "narwhal negotiates the highest version both sides support.",
  }, kNoTls));
  rows.push_back(ignored({
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
  }, kNoTls));
  rows.push_back(ignored(ssl_file("ca_certs", "--ca-certs", "CA certificates file."), kNoTls));
  rows.push_back(ignored(ssl_flag("suppress_ragged_eofs", "--suppress-ragged-eofs", true,
                          "Suppress ragged EOFs (see stdlib ssl module's)."), kNoTls));
  rows.push_back(ignored(ssl_flag("do_handshake_on_connect", "--do-handshake-on-connect", false,
                          "Whether to perform SSL handshake on socket connect (see stdlib ssl "
                          "module's)."), kNoTls));
  rows.push_back(ignored({
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
      .doc = "By default the OpenSSL default cipher list is used, which contains ciphers considered "
             "strong when the library was released.",
  }, kNoTls));
}

}  // namespace narwhal::config
