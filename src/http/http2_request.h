// Internal: assembles one HTTP/2 request's header section (fields as nghttp2 decoded and
// checked them) into the RequestHead the environ builder takes, applying narwhal's request
// policy on top of nghttp2's RFC 9113 §8 checks (docs/http.md "HTTP/2"). Pure: no nghttp2.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/http2_session.h"
#include "http/request_parser.h"

namespace narwhal::http::h2 {

// finish_head()'s answer for a request RFC 9113 §8.1.1 calls malformed: the stream is reset
// with PROTOCOL_ERROR, no response.
inline constexpr int kMalformed = -1;

class RequestBuilder {
 public:
  RequestBuilder(const ParserOptions& options, uint32_t max_header_list_size);

  // One decoded field of the request's header section (pseudo-header fields included), or of
  // its trailer section. After a rejection further fields are counted, never stored.
  void add(std::string_view name, std::string_view value);
  void add_trailer(std::string_view name, std::string_view value);
  // End of the header section: the pseudo-header fields become the head. Returns the status to
  // answer instead of dispatching (400, 413, 414, 431, 501), kMalformed, or 0.
  int finish_head();
  // End of the trailer section: 0, or 400 for a field that must not be a trailer.
  int finish_trailers();

  int status() const { return status_; }
  const char* reason() const { return reason_; }
  const Request& request() const { return request_; }
  bool head_method() const { return head_method_; }
  bool has_content_length() const { return request_.head.has_content_length; }
  uint64_t content_length() const { return request_.head.content_length; }
  size_t memory() const { return arena_.capacity() + trailer_arena_.capacity(); }

 private:
  struct Span {
    uint32_t offset = 0;
    uint32_t length = 0;
  };
  struct Field {
    Span name, value;
  };
  void reject(int status, const char* reason);
  Span store(std::string& arena, std::string_view text);
  std::string_view view(const std::string& arena, Span span) const {
    return std::string_view(arena).substr(span.offset, span.length);
  }
  bool within_list_size(std::string_view name, std::string_view value);

  ParserOptions options_;
  EffectiveLimits limits_;
  uint32_t max_header_list_size_;
  uint64_t list_size_ = 0;
  int status_ = 0;
  const char* reason_ = nullptr;

  std::string arena_;  // every stored name and value of the header section
  std::vector<Field> fields_;
  std::vector<Span> cookies_;
  Span method_, scheme_, authority_, path_, host_;
  bool has_method_ = false, has_scheme_ = false, has_authority_ = false, has_path_ = false;
  int hosts_ = 0;
  size_t field_count_ = 0;
  int content_types_ = 0;
  int cookie_position_ = -1;  // index in fields_ where the joined cookie goes
  bool head_method_ = false;

  std::string trailer_arena_;
  std::vector<Field> trailers_;
  uint64_t trailer_list_size_ = 0;

  Request request_;
};

}  // namespace narwhal::http::h2
