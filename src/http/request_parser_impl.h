// Internal: the request parser's state (request_parser.cpp for HTTP/1.1,
// request_parser_uwsgi.cpp for uwsgi packets). Not for use outside src/http.
#pragma once

#include <string>
#include <vector>

#include "http/chunked_decoder.h"
#include "http/request_parser.h"
#include "http/uwsgi_packet.h"

namespace narwhal::http {

namespace parser_detail {

enum class Phase : uint8_t {
  Idle,         // between requests: nothing but optional empty lines seen
  RequestLine,  // reading the request line
  Fields,       // reading the header section
  NoBody,       // head reported; the message has no body (MessageComplete on next feed)
  Body,         // reading a Content-Length body
  Chunked,      // decoding chunks
  Trailers,     // reading the trailer section of a chunked body
  Complete,
  Error,
};

enum class Scan { NeedMore, Done, Error };

struct Span {
  size_t offset = 0;
  size_t length = 0;
};
struct FieldSpan {
  Span name, value;
};

// The field line an obs-fold would continue (permit_obsolete_folding).
enum class LastField : uint8_t {
  None,     // no field line yet in this section: a fold here continues nothing
  Kept,     // the last entry of `fields` / `trailers`
  Dropped,  // a field removed by header_map=drop: its continuation lines are dropped too
};

inline Span span_in(const std::string& buffer, std::string_view view) {
  return {size_t(view.data() - buffer.data()), view.size()};
}
inline std::string_view view_of(const std::string& buffer, Span s) {
  return {buffer.data() + s.offset, s.length};
}

// A connection that once sent a huge head should not pin that memory for its whole life.
inline constexpr size_t kArenaKeepCapacity = 64 * 1024;

inline void reset_buffer(std::string& s) {
  if (s.capacity() > kArenaKeepCapacity) std::string().swap(s);
  s.clear();
}

}  // namespace parser_detail

using namespace parser_detail;  // NOLINT: internal header, one translation unit each

struct RequestParser::Impl {
  // Nothing is reserved up front: an idle keep-alive connection should cost a few hundred bytes
  // (10,000 of them in one worker); buffers grow to fit on the first request and are reused.
  explicit Impl(const ParserOptions& o) : options(o), limits(effective_limits(o.limits)) {}

  ParserOptions options;
  EffectiveLimits limits;
  Phase phase = Phase::Idle;
  std::string arena;          // request line + header section, as received
  std::string trailer_arena;  // trailer section of a chunked body
  size_t line_start = 0;      // offset of the current incomplete line in the active buffer
  size_t field_lines = 0;     // field lines in the current section (limit: limits.fields)
  LastField last_field = LastField::None;
  size_t folded_length = 0;   // bytes of the last field's lines, folds included (field limit)
  bool relaxed_syntax = false;  // the header section needed a relaxation: close after it
  bool method_ended = false;  // a SP was seen in the request line (early method check)
  Span method, target;
  std::vector<FieldSpan> fields, trailers;
  RequestHead head;
  uint64_t body_remaining = 0;
  ChunkedDecoder chunked;
  int status = 0;
  const char* reason = "";

  ParseResult fail(int s, const char* r) {
    phase = Phase::Error;
    status = s;
    reason = r;
    return ParseResult::Error;
  }
  Scan scan_error(int s, const char* r) {
    fail(s, r);
    return Scan::Error;
  }

  ParseResult feed(const char* data, size_t len, size_t* consumed, std::string* body);
  ParseResult feed_head(const char* data, size_t len, size_t* consumed);
  ParseResult feed_content(const char* data, size_t len, size_t* consumed, std::string* body);
  ParseResult feed_chunked(const char* data, size_t len, size_t* consumed, std::string* body);
  Scan scan_lines(const char* data, size_t len, size_t* pos);
  bool method_prefix_ok(const char* p, size_t n);
  Scan on_request_line(size_t start, size_t end);
  Scan on_field_line(std::string& buffer, size_t start, size_t end);
  Scan on_continuation_line(std::string& buffer, size_t start, size_t total);
  void start_section() {
    field_lines = 0;
    last_field = LastField::None;
    folded_length = 0;
  }
  ParseResult finish_head();
  ParseResult feed_uwsgi_head(const char* data, size_t len, size_t* consumed);  // request_parser_uwsgi.cpp
  ParseResult finish_uwsgi_head();
  void reset();
  // uwsgi: the packet's variables (views into `arena`) and what the head needs that the packet
  // does not hold as such (method default, the target, HTTP header names).
  UwsgiPacket packet;
  std::string synthesized;
};

}  // namespace narwhal::http
