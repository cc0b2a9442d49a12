// Settings: Security (request size limits).
//
// gunicorn clamps out-of-range limits silently in its HTTP layer (http/message.py:
// MAX_REQUEST_LINE = 8190, MAX_HEADERS = 32768). Here the clamp lives in the validator, so the
// stored value is the effective one and the http layer needs no constants of its own.
#include "config/table_rows.h"

namespace narwhal::config {

void add_security_settings(std::vector<Setting>& rows) {
  rows.push_back({
      .name = "limit_request_line",
      .section = "Security",
      .flags = {"--limit-request-line"},
      .metavar = "INT",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{4094},
      .default_text = "",
      .validate = validate_pos_int(8190),
      .short_doc = "The maximum size of HTTP request line in bytes.",
      .doc = "Limits the request line (method, URI and protocol version), and so the length of a "
             "request URI including its query string. Value is a number from 0 (unlimited) to 8190; "
             "larger values are treated as 8190, like gunicorn. A request over the limit gets "
             "`414 URI Too Long` (RFC 9112 §3; gunicorn answers 400).\n\nThis parameter helps against denial-of-service attacks.",
      .cli_value = Setting::CliValue::Int,
  });
  rows.push_back({
      .name = "limit_request_fields",
      .section = "Security",
      .flags = {"--limit-request-fields"},
      .metavar = "INT",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{100},
      .default_text = "",
      .validate = validate_pos_int(32768, true),
      .short_doc = "Limit the number of HTTP headers fields in a request.",
      .doc = "Used with *limit_request_field_size* to protect against denial-of-service attacks. "
             "The value cannot be larger than 32768: larger values and 0 are treated as 32768, "
             "like gunicorn.",
      .cli_value = Setting::CliValue::Int,
  });
  rows.push_back({
      .name = "limit_request_field_size",
      .section = "Security",
      // gunicorn spells the flag with an underscore; the all-dashes spelling is a narwhal alias.
      .flags = {"--limit-request-field_size", "--limit-request-field-size"},
      .metavar = "INT",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{8190},
      .default_text = "",
      .validate = validate_pos_int(),
      .short_doc = "Limit the allowed size of an HTTP request header field.",
      .doc = "Value is a positive number or 0; 0 allows header fields of unlimited size.\n\n"
             "**Warning:** very high or unlimited values make denial-of-service attacks easier.",
      .cli_value = Setting::CliValue::Int,
  });
  rows.push_back(Setting{
      .name = "body_buffer_size",
      .section = "Security",
      .flags = {"--body-buffer-size"},
      .metavar = "INT",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{65536},
      .default_text = "",
      .validate = validate_pos_int(),
      .short_doc = "Bytes of a request body the worker reads before calling the app (narwhal only).",
      .doc = "A request body up to this size is read by the worker's event loop before the "
             "application is called, so a client trickling a small upload holds no app slot "
             "(sync) or thread (gthread). Larger bodies stream through `wsgi.input` in the sync "
             "worker (a stall longer than `body_timeout`, or waiting past `timeout`, ends in 408); "
             "the gthread worker reads the whole body first, spooling beyond this size to an "
             "unlinked temporary file in $TMPDIR. Also the most response bytes a slow client may "
             "leave queued in memory before the writer waits, and the most of an unread body the "
             "worker discards to keep a connection alive. gunicorn has no such setting.",
      .cli_value = Setting::CliValue::Int,
  });
  rows.push_back(Setting{
      .name = "head_buffer_limit",
      .section = "Security",
      .flags = {"--head-buffer-limit"},
      .metavar = "INT",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{33554432},
      .default_text = "",
      .validate = validate_pos_int(),
      .short_doc = "Bytes all incomplete request heads of a worker may hold together (narwhal only).",
      .doc = "Each connection may send a head up to *limit_request_fields* × "
             "*limit_request_field_size* bytes, and a worker holds up to *worker_connections* of "
             "them. When the heads still arriving hold more than this many bytes together, the "
             "connections holding the most are answered `431` and closed until the worker is "
             "under the limit again. gunicorn has no such setting (its sync worker reads one head "
             "at a time).",
      .cli_value = Setting::CliValue::Int,
  });
  rows.push_back({
      .name = "limit_request_body",
      .section = "Security",
      .flags = {"--limit-request-body"},
      .metavar = "INT",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{0},
      .default_text = "",
      .validate = validate_pos_int(),
      .short_doc = "Limit the size of a request body in bytes (narwhal only).",
      .doc = "Requests whose `Content-Length`, or whose chunked body as it is read, exceeds this "
             "many bytes are refused with `413 Content Too Large`. 0 (the default) means unlimited, "
             "which is gunicorn's behaviour; gunicorn has no such setting.",
      .cli_value = Setting::CliValue::Int,
  });
  rows.push_back(Setting{
      .name = "header_timeout",
      .section = "Security",
      .flags = {"--header-timeout"},
      .metavar = "INT",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{10},
      .default_text = "",
      .validate = validate_pos_int(),
      .short_doc = "Seconds a client has to send a complete request head (narwhal only).",
      .doc = "Counted from the connection's accept, or from the first byte of a later request on a keep-alive connection, to the end of the header section. A client that is slower (slowloris: one header byte per second) is disconnected; the application never sees it, because heads are read in C++ before the app is called. 0 disables the limit (not recommended). gunicorn has no such setting: its sync worker blocks on such a client for `timeout` seconds, holding the worker.",
      .cli_value = Setting::CliValue::Int,
  });
  rows.push_back(Setting{
      .name = "body_timeout",
      .section = "Security",
      .flags = {"--body-timeout"},
      .metavar = "INT",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{30},
      .default_text = "",
      .validate = validate_pos_int(),
      .short_doc = "Seconds wsgi.input may wait for more request-body bytes (narwhal only).",
      .doc = "The longest stall while the application reads the request body. When it passes, `wsgi.input` raises `OSError` (which the application may catch) and the connection is closed. 0 falls back to `timeout`.",
      .cli_value = Setting::CliValue::Int,
  });
  rows.push_back(Setting{
      .name = "write_timeout",
      .section = "Security",
      .flags = {"--write-timeout"},
      .metavar = "INT",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = int64_t{30},
      .default_text = "",
      .validate = validate_pos_int(),
      .short_doc = "Seconds a response write may wait for the client to read (narwhal only).",
      .doc = "A client that stops reading the response (its socket buffer stays full) is disconnected after this many seconds without progress, so it cannot hold the worker. 0 falls back to `timeout`.",
      .cli_value = Setting::CliValue::Int,
  });
}

}  // namespace narwhal::config
