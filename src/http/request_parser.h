// Incremental, strict HTTP/1.1 request parser (RFC 9110 / RFC 9112; rules in docs/http.md).
// Bytes in, views out; no I/O.
//
// Usage (one parser per connection, reused for every request on it):
//   ParseResult r = parser.feed(data, len, &consumed, &body);
//   - HeadComplete: head() is valid until next_request(); the body (if any) follows.
//   - Body bytes (de-chunked) are APPENDED to *body (may be null while only the head is expected;
//     then feed stops right after the head).
//   - MessageComplete: the request (head + body) is done; bytes after it are NOT consumed
//     (pipelining): call next_request() and feed the rest.
//   - Error: error_status()/error_reason(); the connection must be closed after answering.
//     After an error every feed() returns Error again and consumes nothing.
//   - NeedMore: every byte given was consumed (head bytes are copied into the parser).
// Results do not depend on how the bytes are split between feed() calls.
// When `body` is null after HeadComplete, body bytes are consumed and discarded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace narwhal::http {

struct Limits {
  size_t request_line = 4094;   // bytes of the request line without CRLF; 0 = safety cap
  size_t fields = 100;          // number of header fields
  size_t field_size = 8190;     // bytes of one field line including CRLF; 0 = safety cap
  uint64_t body = 0;            // 0 = unlimited
};

enum class HeaderMap { Drop, Refuse, Dangerous };  // names containing '_' (gunicorn header_map)

// RFC 9112 §3.2: the four forms of request-target.
enum class TargetForm { Origin, Absolute, Authority, Asterisk };

struct ParserOptions {
  Limits limits;
  HeaderMap header_map = HeaderMap::Drop;
  bool permit_unconventional_http_method = false;
  bool casefold_http_method = false;
  bool require_host = true;  // RFC 9112 §3.2: HTTP/1.1 request without exactly one Host → 400
  // gunicorn's relaxations (docs/http.md "Relaxations"); each one that lets a message through
  // whose framing another parser could read differently also makes keep_alive false.
  bool permit_obsolete_folding = false;  // unfold obs-fold (RFC 9112 §5.2) instead of 400
  bool strip_header_spaces = false;      // "Name : v" → "Name" instead of 400 (RFC 9112 §5.1)
  bool permit_unconventional_http_version = false;  // HTTP/1.2–1.9 as HTTP/1.1 instead of 505
  bool tolerate_dangerous_framing = false;  // CL + TE, TE in HTTP/1.0: chunked, then close
  // protocol = uwsgi: each request is a uwsgi packet (http/uwsgi_packet.h) whose variables
  // become the head, as gunicorn 24 reads them (docs/proxies.md); the body is CONTENT_LENGTH.
  bool uwsgi = false;
};

struct Header {
  std::string_view name;   // as sent (case preserved)
  std::string_view value;  // leading/trailing SP/HTAB removed; obs-folds unfolded to one SP
};

struct RequestHead {
  std::string_view method;
  std::string_view target;  // request-target exactly as sent
  TargetForm target_form = TargetForm::Origin;
  int version_major = 1;
  int version_minor = 1;         // as sent; 2–9 only with permit_unconventional_http_version
  std::vector<Header> headers;   // in wire order, '_' names handled per header_map
  std::vector<Header> trailers;  // valid once MessageComplete
  bool keep_alive = true;        // per version + Connection header; false after a relaxation
  bool chunked = false;
  bool has_content_length = false;
  uint64_t content_length = 0;
  bool expect_continue = false;  // Expect: 100-continue
  bool upgrade = false;          // Upgrade/CONNECT (body handling left to the caller)
  // uwsgi only: the scheme the packet names (HTTPS on/1/true: "https"; else its
  // wsgi.url_scheme or UWSGI_SCHEME variable; else "http"). Empty for HTTP requests.
  std::string_view scheme;
};

enum class ParseResult { NeedMore, HeadComplete, MessageComplete, Error };

class RequestParser {
 public:
  explicit RequestParser(const ParserOptions& options);
  ~RequestParser();
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  ParseResult feed(const char* data, size_t length, size_t* consumed, std::string* body);

  // Input ended (peer closed). Returns MessageComplete if that legitimately ends the message,
  // NeedMore if nothing was in progress (clean close between requests), Error otherwise.
  ParseResult finish();

  const RequestHead& head() const;
  bool head_started() const;  // some bytes of a new request have been seen
  // True once the whole message (head + body) has been parsed, including a body-less request
  // right after HeadComplete (before feed() reports MessageComplete).
  bool message_complete() const;

  int error_status() const;             // 400, 413, 414, 431, 501, 505 (0 while no error)
  std::string_view error_reason() const;  // short human text for logs

  void next_request();  // after MessageComplete: reset for the next request on the connection

  // Memory the parser holds for the current head (its copy of the head bytes and the field
  // tables): what a worker counts against its budget for incomplete heads.
  size_t buffered_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Splits a request-target into path, query and fragment (no '?' / '#').
// Absolute-form ("http://host/p?q") yields its path ("/p") and query.
struct TargetParts {
  std::string_view path;
  std::string_view query;
  std::string_view fragment;
  std::string_view authority;  // non-empty for absolute-form and authority-form
};
TargetParts split_target(std::string_view target);

// Percent-decodes `in` into `out` (appends). Invalid escapes are kept as-is (like urllib.unquote).
void percent_decode(std::string_view in, std::string& out);

// The limits actually enforced for `limits` (0 and out-of-range values replaced by the safety
// caps documented in docs/http.md).
struct EffectiveLimits {
  size_t request_line;  // max bytes of the request line without CRLF
  size_t field_line;    // max bytes of one field line including CRLF
  size_t fields;        // max number of field lines (header section; trailers separately)
  uint64_t body;        // 0 = unlimited
};
EffectiveLimits effective_limits(const Limits& limits);
inline constexpr size_t kMaxRequestLine = 8190;  // gunicorn MAX_REQUEST_LINE
inline constexpr size_t kMaxFieldLine = 8190;    // gunicorn DEFAULT_MAX_HEADERFIELD_SIZE
inline constexpr size_t kMaxFields = 32768;      // gunicorn MAX_HEADERS

}  // namespace narwhal::http
