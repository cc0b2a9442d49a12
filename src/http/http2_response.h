// Internal: an application's response head → the HTTP/2 field list (RFC 9113 §8.3.2, §8.2.2),
// validated like the HTTP/1 head (src/http/response.h). Pure: no nghttp2.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "http/http2_session.h"

namespace narwhal::http::h2 {

struct ResponseHead {
  int status = 0;
  int64_t content_length = -1;  // the app's Content-Length (-1 = none)
  bool no_body = false;         // HEAD, 204, 304: HEADERS carries END_STREAM
  // ":status" first, then the app's fields (names lower-cased, hop-by-hop ones dropped), then
  // date and server when the app gave none. Names and the status text live in `storage`; the
  // app's values are referenced, so the list is valid while the caller's fields are.
  std::vector<ResponseField> fields;
  std::string storage;
};

// Returns null, or why the head cannot be sent (bad status, 1xx/101, invalid field,
// contradicting Content-Length values).
const char* build_response_head(std::string_view status, std::span<const ResponseField> fields,
                                bool head_method, ResponseHead* out);

}  // namespace narwhal::http::h2
