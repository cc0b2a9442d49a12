// RequestParser's uwsgi mode (ParserOptions::uwsgi, protocol = uwsgi): a uwsgi packet becomes
// the same RequestHead an HTTP request head does, so the engine, the environ builder, the
// access log and every worker type serve it unchanged. What the head holds follows gunicorn 24
// (uwsgi/message.py _extract_request_info); docs/proxies.md lists the deviations.
#include <algorithm>

#include "http/chars.h"
#include "http/request_parser_impl.h"
#include "http/text.h"

namespace narwhal::http {
namespace {

struct HeaderSpans {
  Span name;
  std::string_view value;
};

bool truthy_https(std::string_view value) {
  // gunicorn: HTTPS.lower() in ('on', '1', 'true').
  return equals_ignore_case(value, "on") || value == "1" || equals_ignore_case(value, "true");
}

// PATH_INFO arrives decoded (nginx's $document_uri). The target carries it percent-encoded
// where a decoded byte would change the target's meaning ('%', '?', '#') or break the request
// line (controls, SP, non-ASCII), so the environ's PATH_INFO — the target's path decoded —
// is the variable exactly.
void append_encoded_path(std::string_view path, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : path) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '%' || c == '?' || c == '#' || byte <= 0x20 || byte >= 0x7F) {
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0x0F]);
    } else {
      out.push_back(c);
    }
  }
}

}  // namespace

// Copies the packet into the arena: its 4-byte header, then as many bytes as the header says.
ParseResult RequestParser::Impl::feed_uwsgi_head(const char* data, size_t len, size_t* consumed) {
  size_t pos = 0;
  for (;;) {
    const size_t want = arena.size() < kUwsgiHeaderSize ? kUwsgiHeaderSize : uwsgi_packet_length(arena.data());
    const size_t n = std::min(len - pos, want - arena.size());
    arena.append(data + pos, n);
    pos += n;
    *consumed = pos;
    if (arena.empty()) return ParseResult::NeedMore;
    phase = Phase::RequestLine;  // head_started(): a packet is under way
    // modifier1 is known with the first byte: refuse anything but a request at once.
    if (arena[0] != 0) return fail(501, "unsupported uwsgi modifier1");
    if (arena.size() < want) return ParseResult::NeedMore;
    if (want == kUwsgiHeaderSize && uwsgi_packet_length(arena.data()) > kUwsgiHeaderSize) continue;
    break;
  }
  int status = 0;
  const char* reason = "";
  if (parse_uwsgi_packet(arena, &packet, &status, &reason) != UwsgiStatus::Complete) return fail(status, reason);
  return finish_uwsgi_head();
}

ParseResult RequestParser::Impl::finish_uwsgi_head() {
  // gunicorn: REQUEST_METHOD (default GET), PATH_INFO (default /), QUERY_STRING; the last of a
  // variable given twice wins. (A header given twice stays twice: the environ joins them.)
  std::string_view method = "GET", path = "/", query, scheme = "http", content_length;
  bool https = false, has_content_length = false;
  std::string_view connection;
  size_t header_count = 0;
  for (const UwsgiVar& var : packet.vars) {
    const std::string_view key = var.key;
    if (key == "REQUEST_METHOD") method = var.value;
    else if (key == "PATH_INFO") path = var.value;
    else if (key == "QUERY_STRING") query = var.value;
    else if (key == "HTTPS") https = truthy_https(var.value);
    // gunicorn reads wsgi.url_scheme; uWSGI's own name for it is UWSGI_SCHEME.
    else if (key == "wsgi.url_scheme" || key == "UWSGI_SCHEME") scheme = var.value;
    else if (key == "CONTENT_LENGTH") {
      content_length = var.value;
      has_content_length = true;
    }
    if (key == "HTTP_CONNECTION") connection = var.value;
    if (key.starts_with("HTTP_") || key == "CONTENT_TYPE" || key == "CONTENT_LENGTH") ++header_count;
  }
  if (https) scheme = "https";
  // The limits of an HTTP head apply to what the packet carries (docs/proxies.md).
  if (header_count > limits.fields) return fail(431, "too many header fields");
  if (path.size() + 1 + query.size() > limits.request_line) return fail(414, "request target too long");
  if (method.empty() || !chars::all_of(chars::kToken, method)) return fail(400, "invalid REQUEST_METHOD");
  // Body framing: CONTENT_LENGTH digits, or empty / absent for none. gunicorn reads anything
  // else as 0, which would leave a body's bytes to be read as the next packet: refused.
  uint64_t length = 0;
  if (content_length.size() > 19 || !std::all_of(content_length.begin(), content_length.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return fail(400, "invalid CONTENT_LENGTH");
  }
  for (char c : content_length) length = length * 10 + static_cast<uint64_t>(c - '0');
  if (limits.body > 0 && length > limits.body) return fail(413, "request body too large");

  // Names and the target are made in `synthesized`; views are taken once it stops growing.
  synthesized.clear();
  synthesized.append(method);
  const Span method_span{0, method.size()};
  const size_t target_start = synthesized.size();
  append_encoded_path(path, synthesized);
  if (!query.empty()) synthesized.append("?").append(query);
  const Span target_span{target_start, synthesized.size() - target_start};
  const size_t scheme_start = synthesized.size();
  synthesized.append(scheme);
  const Span scheme_span{scheme_start, scheme.size()};
  std::vector<HeaderSpans> headers;
  headers.reserve(header_count);
  for (const UwsgiVar& var : packet.vars) {
    std::string_view name;
    if (var.key.starts_with("HTTP_")) name = var.key.substr(5);
    else if (var.key == "CONTENT_TYPE" || var.key == "CONTENT_LENGTH") name = var.key;
    else continue;
    // gunicorn: HTTP_X_FORWARDED_FOR is the field X-FORWARDED-FOR ('_' → '-').
    if (name.size() + var.value.size() + 4 > limits.field_line) return fail(431, "field line too long");
    if (!chars::all_of(chars::kFieldValue, var.value)) return fail(400, "invalid character in field value");
    const size_t start = synthesized.size();
    for (char c : name) synthesized.push_back(c == '_' ? '-' : c);
    headers.push_back({Span{start, name.size()}, var.value});
  }
  head.method = view_of(synthesized, method_span);
  head.target = view_of(synthesized, target_span);
  head.scheme = view_of(synthesized, scheme_span);
  head.target_form = TargetForm::Origin;
  head.version_major = 1;
  head.version_minor = 1;  // gunicorn: a uwsgi request is HTTP/1.1
  for (const HeaderSpans& header : headers) head.headers.push_back({view_of(synthesized, header.name), header.value});
  // gunicorn: the connection stays open unless HTTP_CONNECTION says close.
  head.keep_alive = !equals_ignore_case(connection, "close");
  head.has_content_length = has_content_length && !content_length.empty();
  head.content_length = length;
  if (length > 0) {
    body_remaining = length;
    phase = Phase::Body;
  } else {
    phase = Phase::NoBody;
  }
  return ParseResult::HeadComplete;
}

}  // namespace narwhal::http
