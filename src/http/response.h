// HTTP/1 response heads: reason phrases, the Date cache, validation of what an application
// gives as status and header fields, serialisation of the head, and the framing decision
// (no body / Content-Length / chunked / close-delimited) with the keep-alive decision
// (RFC 9110 §5.5, §6.4, §8.6, §15; RFC 9112 §4, §6, §9). No Python, no sockets.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace narwhal::http {

// The reason phrase of a status code (RFC 9110 §15 and the other codes registered with IANA),
// e.g. "Not Found"; empty for a code without one.
std::string_view reason_phrase(int status);

// The current time as an IMF-fixdate (RFC 9110 §5.6.7), formatted once per second per thread.
std::string_view http_date();

// A complete error response: status line, Connection: close, a small text/plain body with the
// reason phrase and `detail`. For errors the server answers itself (400, 408, 500, ...).
std::string error_response(int status, std::string_view detail);

// How a response body is delimited (RFC 9112 §6.3) and whether the connection is reused.
struct ResponseFraming {
  bool no_body = false;         // HEAD, 1xx, 204, 304: nothing after the head
  bool chunked = false;         // Transfer-Encoding: chunked (HTTP/1.1 only)
  int64_t content_length = -1;  // -1 = not given (chunked or close-delimited)
  bool keep_alive = true;       // false: close the connection after the response
};

// What the head builder needs to know about the request being answered.
struct ResponseRequest {
  bool head_method = false;  // HEAD: the head is sent as for GET, never a body (RFC 9110 §9.3.2)
  int version_major = 1;
  int version_minor = 1;
  // The connection may be reused as far as the request (its Connection field and version) and
  // the server (keepalive setting, max_requests, shutdown) are concerned.
  bool keep_alive = true;
};

// ---- validation: what an application may give (each returns null or why it is refused) ----

// status = 3DIGIT [SP reason-phrase] with reason-phrase = *( HTAB / SP / VCHAR / obs-text )
// (RFC 9112 §4). An interim status (1xx) cannot be the final one, except 101 (the connection
// is closed after it). Sets *code.
const char* check_status(std::string_view status, int* code);

// field-name = token; field-value without CR, LF, NUL or any other control character but
// HTAB (RFC 9110 §5.1, §5.5).
const char* check_field(std::string_view name, std::string_view value);

// Connection, Keep-Alive, Transfer-Encoding, TE, Trailer(s), Upgrade, Proxy-Authenticate,
// Proxy-Authorization: what the server owns and drops from an application's response (PEP 3333;
// RFC 9113 §8.2.2 for HTTP/2, which also drops Proxy-Connection).
bool is_hop_by_hop_field(std::string_view name);

// Content-Length = 1*DIGIT (RFC 9110 §8.6), at most 18 digits; -1 when invalid.
int64_t parse_content_length(std::string_view value);

// The checks that span fields, fed one field at a time: every field is checked with
// check_field, and several Content-Length fields must agree (RFC 9110 §8.6).
class ResponseFieldCheck {
 public:
  const char* add(std::string_view name, std::string_view value);
  // True when the last field added repeats a Content-Length already seen (same value).
  bool last_was_duplicate() const { return last_duplicate_; }
  int64_t content_length() const { return content_length_; }  // -1 = none

 private:
  int64_t content_length_ = -1;
  bool last_duplicate_ = false;
};

// Serialises a response head into `out` (cleared first; reuse it across responses so that
// a request allocates nothing) and decides its framing:
//   builder.status("200 OK"); builder.field(name, value)...; framing = builder.finish(length);
// Every step validates; after an error `out` holds nothing to send (it is cleared).
// - hop-by-hop fields of the app (Connection, Keep-Alive, Transfer-Encoding, TE, Trailer,
//   Upgrade, Proxy-*) are dropped: the server frames the message (PEP 3333); an app's
//   "Connection: close" is honoured. In a 101 response Upgrade and Connection are kept.
// - Date and "Server: narwhal" are added when the app gave none.
// - Content-Length from the app, else the server-known length, else chunked (HTTP/1.1) or
//   close-delimited (HTTP/1.0); "Connection: close" / "Connection: keep-alive" (HTTP/1.0).
class ResponseHeadBuilder {
 public:
  ResponseHeadBuilder(std::string& out, const ResponseRequest& request) : out_(out), request_(request) {}

  const char* status(std::string_view status);
  const char* field(std::string_view name, std::string_view value);
  // `known_length`: the body size when the server knows it (e.g. a list of bytes), else -1.
  ResponseFraming finish(int64_t known_length);

  int status_code() const { return code_; }

 private:
  const char* fail(const char* reason);

  std::string& out_;
  ResponseRequest request_;
  ResponseFieldCheck check_;
  int code_ = 0;
  bool has_server_ = false;
  bool has_date_ = false;
  bool app_close_ = false;  // the app said "Connection: close"
};

}  // namespace narwhal::http
