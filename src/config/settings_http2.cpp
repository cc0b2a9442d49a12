// Settings: HTTP/2 (gunicorn 25+'s names, flags and defaults; http2_cleartext from 26.2), served
// by the engine's HTTP/2 bridge (docs/http2.md). The sync worker and the Upgrade: h2c path are
// refused at start-up (src/module/settings_check.cpp).
#include <algorithm>
#include <cctype>

#include "config/table_rows.h"

namespace narwhal::config {

namespace {


// An integer in [minimum, maximum]; out-of-range values are errors (RFC 9113 §6.5.2 bounds),
// not clamped.
Validator validate_int_range(int64_t minimum, int64_t maximum) {
  return [=](const Setting& setting, const Value& raw, Value& out) -> std::optional<std::string> {
    const std::string form =
        "an integer from " + std::to_string(minimum) + " to " + std::to_string(maximum);
    Value number;
    if (validate_pos_int()(setting, raw, number)) return form;
    const int64_t value = std::get<int64_t>(number);
    if (value < minimum || value > maximum) return form;
    out = value;
    return std::nullopt;
  };
}

// gunicorn's validate_http_protocols: "h2, h1" → ["h2", "h1"], in order of preference (ALPN).
Validator validate_http_protocols() {
  return [](const Setting& setting, const Value& raw, Value& out) -> std::optional<std::string> {
    const char* form = "a comma-separated list of h1 and h2 (e.g. 'h2,h1')";
    Value list;
    if (validate_comma_list()(setting, raw, list)) return form;
    StringList protocols;
    for (std::string protocol : std::get<StringList>(list)) {
      for (char& c : protocol) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (protocol != "h1" && protocol != "h2") return form;
      if (std::find(protocols.begin(), protocols.end(), protocol) == protocols.end())
        protocols.push_back(protocol);
    }
    if (protocols.empty()) return form;
    out = protocols;
    return std::nullopt;
  };
}

Setting http2_int(std::string name, std::string flag, int64_t default_value, int64_t minimum,
                  int64_t maximum, std::string short_doc, std::string doc) {
  return {
      .name = std::move(name),
      .section = "HTTP/2",
      .flags = {std::move(flag)},
      .metavar = "INT",
      .type = Type::Int,
      .action = Action::Store,
      .default_value = default_value,
      .default_text = "",
      .validate = validate_int_range(minimum, maximum),
      .short_doc = std::move(short_doc),
      .doc = std::move(doc),
      .cli_value = Setting::CliValue::Int,
  };
}

}  // namespace

void add_http2_settings(std::vector<Setting>& rows) {
  rows.push_back(Setting{
          .name = "http_protocols",
          .section = "HTTP/2",
          .flags = {"--http-protocols"},
          .metavar = "STRING",
          .type = Type::StringList,
          .action = Action::Store,
          .default_value = StringList{"h1"},
          .default_text = "'h1'",
          .validate = validate_http_protocols(),
          .short_doc = "HTTP protocols to serve, in order of preference (comma-separated).",
          .doc = "`h1` is HTTP/1.1 (and 1.0); `h2` is HTTP/2 (RFC 9113), negotiated by TLS ALPN in "
                 "this order, so list `h1` after `h2` for clients without HTTP/2 (`'h2,h1'`). "
                 "Without TLS, HTTP/2 needs *http2_cleartext*. The sync worker serves one request "
                 "at a time and cannot serve HTTP/2's concurrent streams: listing `h2` with it "
                 "stops the start-up (use gthread, gevent or asgi).",
      });
  rows.push_back(Setting{
          .name = "http2_cleartext",
          .section = "HTTP/2",
          .flags = {"--http2-cleartext"},
          .metavar = "STRING",
          .type = Type::String,
          .action = Action::Store,
          .default_value = std::string("off"),
          .default_text = "",
          .validate = validate_choice({"off", "prior-knowledge", "upgrade", "both"}),
          .short_doc = "Cleartext HTTP/2 (h2c) for trusted front-ends: off, prior-knowledge, "
                       "upgrade or both.",
          .doc = "`prior-knowledge` serves a connection that opens with the HTTP/2 preface; "
                 "`upgrade` honours an HTTP/1.1 `Upgrade: h2c` request (RFC 7540 §3.2); `both` "
                 "enables the two. As in gunicorn 26.2, only peers in *forwarded_allow_ips* are "
                 "considered: every other client is served HTTP/1.x as if this were `off`. For a "
                 "proxy that terminates TLS and speaks HTTP/2 to narwhal; never expose a cleartext "
                 "HTTP/2 port to the internet. narwhal serves `prior-knowledge` only: `upgrade` and "
                 "`both` stop the start-up (RFC 9113 §3.1 deprecated the Upgrade to h2c).",
      });
  rows.push_back(
      http2_int("http2_max_concurrent_streams", "--http2-max-concurrent-streams", 100, 1,
                0x7fffffff, "Maximum concurrent streams per HTTP/2 connection.",
                "Sent as SETTINGS_MAX_CONCURRENT_STREAMS. A client that opens more before it has "
                "acknowledged our SETTINGS gets RST_STREAM(REFUSED_STREAM) for the extra streams; "
                "after it, the connection is closed (PROTOCOL_ERROR)."));
  rows.push_back(
      http2_int("http2_initial_window_size", "--http2-initial-window-size", 65535, 0, 0x7fffffff,
                "Initial HTTP/2 flow-control window of each stream (bytes).",
                "Sent as SETTINGS_INITIAL_WINDOW_SIZE: how much of a request body a client may "
                "send before the application reads it. The window reopens as the application "
                "reads the body, so it is also the most body a stream can make narwhal buffer."));
  rows.push_back(
      http2_int("http2_max_frame_size", "--http2-max-frame-size", 16384, 16384, 16777215,
                "Largest HTTP/2 frame payload narwhal accepts (bytes).",
                "Sent as SETTINGS_MAX_FRAME_SIZE (RFC 9113 §6.5.2: 16384 to 16777215). A larger "
                "frame from the client closes the connection (FRAME_SIZE_ERROR)."));
  rows.push_back(
      http2_int("http2_max_header_list_size", "--http2-max-header-list-size", 65536, 0,
                0xffffffff, "Largest HTTP/2 header list narwhal accepts (bytes after HPACK).",
                "Sent as SETTINGS_MAX_HEADER_LIST_SIZE and enforced: the decoded names and values "
                "plus 32 bytes per field (RFC 9113 §6.5.2). A larger request is answered `431`. "
                "`0` advertises no limit (narwhal still applies *limit_request_fields* and "
                "*limit_request_field_size* to HTTP/2 requests)."));
}

}  // namespace narwhal::config
