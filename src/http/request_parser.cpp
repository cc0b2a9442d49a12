// The request parser: a byte-order state machine over one connection's input.
//
// Head bytes (request line + header section) are copied, line by line, into one arena owned by
// the parser, so head() views survive the caller reusing its read buffer. Views are built only
// when the head is complete (the arena stops growing then); until that, fields are recorded as
// offsets. An obs-fold (permit_obsolete_folding) is unfolded in place: the continuation line is
// moved back over the fold, so a field value is always one contiguous span of the arena. Every
// check is made at a byte position that does not depend on how the input was split between
// feed() calls, so results are identical for any split.
#include "http/request_parser.h"

#include <algorithm>
#include <cstring>

#include "http/chars.h"
#include "http/chunked_decoder.h"
#include "http/fields.h"
#include "http/request_line.h"
#include "http/request_parser_impl.h"

namespace narwhal::http {

EffectiveLimits effective_limits(const Limits& l) {
  EffectiveLimits e{};
  // gunicorn: limit_request_line 0 means "no limit", values above 8190 are capped at 8190;
  // narwhal caps both at 8190 so the head buffer is always bounded.
  e.request_line =
      (l.request_line == 0 || l.request_line > kMaxRequestLine) ? kMaxRequestLine : l.request_line;
  // gunicorn: limit_request_field_size 0 means 8190; larger explicit values are honoured. A
  // field line is at least its CRLF.
  e.field_line = l.field_size == 0 ? kMaxFieldLine : std::max<size_t>(l.field_size, 2);
  e.fields = (l.fields == 0 || l.fields > kMaxFields) ? kMaxFields : l.fields;
  e.body = l.body;
  return e;
}

ParseResult RequestParser::Impl::feed(const char* data, size_t len, size_t* consumed,
                                      std::string* body) {
  *consumed = 0;
  switch (phase) {
    case Phase::Idle:
    case Phase::RequestLine:
    case Phase::Fields: return options.uwsgi ? feed_uwsgi_head(data, len, consumed) : feed_head(data, len, consumed);
    case Phase::NoBody: phase = Phase::Complete; return ParseResult::MessageComplete;
    case Phase::Body: return feed_content(data, len, consumed, body);
    case Phase::Chunked:
    case Phase::Trailers: return feed_chunked(data, len, consumed, body);
    case Phase::Complete: return ParseResult::MessageComplete;
    case Phase::Error: break;
  }
  return ParseResult::Error;
}

ParseResult RequestParser::Impl::feed_head(const char* data, size_t len, size_t* consumed) {
  size_t pos = 0;
  if (phase == Phase::Idle) {
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request-line
    // (some clients send an extra CRLF after a POST body).
    while (pos < len && (data[pos] == '\r' || data[pos] == '\n')) ++pos;
    if (pos == len) {
      *consumed = len;
      return ParseResult::NeedMore;
    }
    phase = Phase::RequestLine;
  }
  const Scan scan = scan_lines(data, len, &pos);
  *consumed = pos;
  if (scan == Scan::Error) return ParseResult::Error;
  if (scan == Scan::NeedMore) return ParseResult::NeedMore;
  return finish_head();
}

// Copies complete lines into the active buffer and handles each one. A line longer than its
// limit is refused as soon as the limit is passed, so buffering is bounded.
Scan RequestParser::Impl::scan_lines(const char* data, size_t len, size_t* pos) {
  std::string& buffer = phase == Phase::Trailers ? trailer_arena : arena;
  while (*pos < len) {
    const bool request_line = phase == Phase::RequestLine;
    // Request line limit excludes CRLF (gunicorn, RFC 9112 §3 414); field limit includes it.
    const size_t max_line = request_line ? limits.request_line + 2 : limits.field_line;
    const size_t room = max_line - (buffer.size() - line_start);  // >= 1 by construction
    const char* p = data + *pos;
    const size_t n = std::min(len - *pos, room);
    const void* lf = std::memchr(p, '\n', n);
    if (lf == nullptr) {
      if (request_line && !method_prefix_ok(p, n)) return scan_error(400, "invalid method");
      buffer.append(p, n);
      *pos += n;
      if (n == room)
        return request_line ? scan_error(414, "request line too long")
                            : scan_error(431, "field line too long");
      continue;
    }
    const size_t k = size_t(static_cast<const char*>(lf) - p) + 1;
    buffer.append(p, k);
    *pos += k;
    const size_t start = line_start;
    line_start = buffer.size();
    const Scan scan = request_line ? on_request_line(start, buffer.size())
                                   : on_field_line(buffer, start, buffer.size());
    if (scan != Scan::NeedMore) return scan;
  }
  return Scan::NeedMore;
}

// Rejects non-token bytes in the method while the request line is still incomplete, so that
// non-HTTP input (e.g. a TLS ClientHello) is refused at once instead of after 8 KiB. It checks
// exactly what parse_request_line checks first, so the answer does not depend on the split.
bool RequestParser::Impl::method_prefix_ok(const char* p, size_t n) {
  for (size_t i = 0; i < n && !method_ended; ++i) {
    // A CR may be the line's own terminator ("GET\r\n" is "malformed", not "invalid
    // method"): leave the verdict on such a line to parse_request_line.
    if (p[i] == ' ' || p[i] == '\r') method_ended = true;
    else if (!chars::is_token(p[i])) return false;
  }
  return true;
}

Scan RequestParser::Impl::on_request_line(size_t start, size_t end) {
  size_t length = end - start - 1;  // without LF
  const bool has_cr = length > 0 && arena[start + length - 1] == '\r';
  if (has_cr) --length;
  RequestLine line;
  const LineVerdict verdict = parse_request_line(arena.data() + start, length, options, &line);
  if (verdict.status != 0) return scan_error(verdict.status, verdict.reason);
  if (!has_cr) return scan_error(400, "request line not terminated by CRLF");  // RFC 9112 §2.2
  method = span_in(arena, line.method);
  target = span_in(arena, line.target);
  head.version_major = line.version_major;
  head.version_minor = line.version_minor;
  head.target_form = line.target_form;
  phase = Phase::Fields;
  start_section();
  return Scan::NeedMore;
}

Scan RequestParser::Impl::on_field_line(std::string& buffer, size_t start, size_t end) {
  const char* line = buffer.data() + start;
  const size_t total = end - start;  // including LF
  if (total == 2 && line[0] == '\r') return Scan::Done;  // empty line ends the section
  // RFC 9112 §2.2: narwhal does not accept a bare LF as a line terminator, and a bare CR
  // elsewhere is rejected as an invalid field character.
  if (total < 2 || line[total - 2] != '\r') return scan_error(400, "line not terminated by CRLF");
  if (chars::is_ows(line[0])) return on_continuation_line(buffer, start, total);
  if (++field_lines > limits.fields) return scan_error(431, "too many header fields");
  std::string_view name, value;
  bool stripped = false;
  if (const char* why = parse_field_line({line, total - 2}, options.strip_header_spaces, &name,
                                         &value, &stripped))
    return scan_error(400, why);
  if (stripped) {
    // strip_header_spaces. RFC 9112 §5.1 forbids this whitespace because parsers disagree
    // about it: an intermediary that ignores "Content-Length :" frames the request otherwise,
    // and the bytes one of them takes for a body become a request (or another client's request
    // becomes a body) for the other. So a framing field is still refused, and any other
    // request is answered and the connection closed.
    if (is_framing_field(name)) return scan_error(400, "whitespace before ':' in a framing field");
    if (phase == Phase::Fields) relaxed_syntax = true;
  }
  folded_length = total;
  if (name.find('_') != std::string_view::npos) {
    // gunicorn header_map: '_' and '-' both become '_' in a WSGI environ key, so a
    // "Content_Length" could shadow "Content-Length" for the application.
    if (options.header_map == HeaderMap::Refuse) return scan_error(400, "'_' in field name");
    if (options.header_map == HeaderMap::Drop) {
      last_field = LastField::Dropped;
      return Scan::NeedMore;
    }
  }
  if (phase == Phase::Trailers) {
    if (forbidden_trailer(name)) return scan_error(400, "field not allowed in trailers");
    trailers.push_back({span_in(buffer, name), span_in(buffer, value)});
  } else {
    fields.push_back({span_in(buffer, name), span_in(buffer, value)});
  }
  last_field = LastField::Kept;
  return Scan::NeedMore;
}

// obs-fold (RFC 9112 §5.2): a field line starting with SP/HTAB continues the previous field's
// value. Refused (400, which §5.2 allows) unless permit_obsolete_folding; then the fold
// (OWS CRLF RWS) is replaced with one SP, as §5.2 allows and gunicorn does.
Scan RequestParser::Impl::on_continuation_line(std::string& buffer, size_t start, size_t total) {
  if (!options.permit_obsolete_folding) return scan_error(400, "obsolete line folding");
  // RFC 9112 §2.2: whitespace before the first field line MAY be rejected; it continues nothing.
  if (last_field == LastField::None)
    return scan_error(400, "obsolete line folding before any field");
  // The field-line limit bounds the whole folded field, every line with its CRLF (gunicorn).
  folded_length += total;
  if (folded_length > limits.field_line) return scan_error(431, "field line too long");
  const std::string_view content = chars::trim_ows({buffer.data() + start, total - 2});
  if (!chars::all_of(chars::kFieldValue, content))
    return scan_error(400, "invalid character in field value");
  if (last_field == LastField::Dropped) return Scan::NeedMore;  // part of a dropped field
  FieldSpan& field = phase == Phase::Trailers ? trailers.back() : fields.back();
  // A folded Content-Length or Transfer-Encoding is never legitimate, and a parser that does
  // not unfold reads another value: refused like whitespace before the colon.
  if (is_framing_field(view_of(buffer, field.name)))
    return scan_error(400, "obsolete line folding in a framing field");
  // A parser that takes the continuation for a field of its own ("X: a\r\n Content-Length: 5")
  // frames the request otherwise: the connection is closed after this request.
  if (phase == Phase::Fields) relaxed_syntax = true;
  // The field's value is the last thing in the buffer before its trailing OWS, the CRLF and
  // this line: move the content back over them.
  size_t write = field.value.offset + field.value.length;
  if (!content.empty()) {
    if (field.value.length > 0) buffer[write++] = ' ';
    std::memmove(buffer.data() + write, content.data(), content.size());
    write += content.size();
    field.value.length = write - field.value.offset;
  }
  buffer.resize(write);
  line_start = write;
  return Scan::NeedMore;
}

ParseResult RequestParser::Impl::finish_head() {
  head.method = view_of(arena, method);
  head.target = view_of(arena, target);
  for (const FieldSpan& f : fields)
    head.headers.push_back({view_of(arena, f.name), view_of(arena, f.value)});
  const LineVerdict verdict = analyze_head(head, options, limits.body, relaxed_syntax);
  if (verdict.status != 0) return fail(verdict.status, verdict.reason);
  if (head.chunked) {
    chunked.reset(limits.body, limits.field_line);
    phase = Phase::Chunked;
  } else if (head.content_length > 0) {
    body_remaining = head.content_length;
    phase = Phase::Body;
  } else {
    phase = Phase::NoBody;
  }
  return ParseResult::HeadComplete;
}

ParseResult RequestParser::Impl::feed_content(const char* data, size_t len, size_t* consumed,
                                              std::string* body) {
  const size_t n = size_t(std::min<uint64_t>(len, body_remaining));
  if (body != nullptr) body->append(data, n);
  *consumed = n;
  body_remaining -= n;
  if (body_remaining != 0) return ParseResult::NeedMore;
  phase = Phase::Complete;
  return ParseResult::MessageComplete;
}

ParseResult RequestParser::Impl::feed_chunked(const char* data, size_t len, size_t* consumed,
                                              std::string* body) {
  size_t pos = 0;
  if (phase == Phase::Chunked) {
    const ChunkedDecoder::Result r = chunked.feed(data, len, &pos, body);
    *consumed = pos;
    if (r == ChunkedDecoder::Result::Error) return fail(chunked.error_status(), chunked.error_reason());
    if (r == ChunkedDecoder::Result::NeedMore) return ParseResult::NeedMore;
    // Trailers obey the header limits (count and line size), counted separately.
    phase = Phase::Trailers;
    line_start = 0;
    start_section();
  }
  const Scan scan = scan_lines(data, len, &pos);
  *consumed = pos;
  if (scan == Scan::Error) return ParseResult::Error;
  if (scan == Scan::NeedMore) return ParseResult::NeedMore;
  for (const FieldSpan& f : trailers)
    head.trailers.push_back({view_of(trailer_arena, f.name), view_of(trailer_arena, f.value)});
  phase = Phase::Complete;
  return ParseResult::MessageComplete;
}

void RequestParser::Impl::reset() {
  phase = Phase::Idle;
  status = 0;
  reason = "";
  reset_buffer(arena);
  reset_buffer(trailer_arena);
  reset_buffer(synthesized);
  packet.vars.clear();
  line_start = 0;
  start_section();
  relaxed_syntax = false;
  method_ended = false;
  fields.clear();
  trailers.clear();
  body_remaining = 0;
  std::vector<Header> headers = std::move(head.headers);
  std::vector<Header> trailer_views = std::move(head.trailers);
  headers.clear();
  trailer_views.clear();
  head = RequestHead();  // keeps the vectors' capacity: they are moved back below
  head.headers = std::move(headers);
  head.trailers = std::move(trailer_views);
}

RequestParser::RequestParser(const ParserOptions& options)
    : impl_(std::make_unique<Impl>(options)) {}
RequestParser::~RequestParser() = default;

ParseResult RequestParser::feed(const char* data, size_t length, size_t* consumed,
                                std::string* body) {
  return impl_->feed(data, length, consumed, body);
}

ParseResult RequestParser::finish() {
  switch (impl_->phase) {
    case Phase::Idle: return ParseResult::NeedMore;  // clean close between requests
    case Phase::NoBody:
    case Phase::Complete: impl_->phase = Phase::Complete; return ParseResult::MessageComplete;
    case Phase::Error: return ParseResult::Error;
    default:  // RFC 9112 §8: an incomplete message is an error, never dispatched
      return impl_->fail(400, "connection closed before the request was complete");
  }
}

const RequestHead& RequestParser::head() const { return impl_->head; }
bool RequestParser::head_started() const { return impl_->phase != Phase::Idle; }
bool RequestParser::message_complete() const {
  return impl_->phase == Phase::Complete || impl_->phase == Phase::NoBody;
}
int RequestParser::error_status() const { return impl_->status; }
std::string_view RequestParser::error_reason() const { return impl_->reason; }
void RequestParser::next_request() { impl_->reset(); }

size_t RequestParser::buffered_bytes() const {
  const Impl& impl = *impl_;
  return impl.arena.capacity() + impl.trailer_arena.capacity() +
         (impl.fields.capacity() + impl.trailers.capacity()) * sizeof(impl.fields[0]) +
         (impl.head.headers.capacity() + impl.head.trailers.capacity()) * sizeof(Header);
}

}  // namespace narwhal::http
