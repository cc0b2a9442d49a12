// Internal: parsing and validation of the request-line (RFC 9112 §3).
#pragma once

#include <cstddef>
#include <string_view>

#include "http/request_parser.h"

namespace narwhal::http {

struct RequestLine {
  std::string_view method;
  std::string_view target;
  int version_major = 1;
  int version_minor = 1;
  TargetForm target_form = TargetForm::Origin;
};

struct LineVerdict {
  int status = 0;  // 0 = valid, otherwise the status to answer (400 or 505)
  const char* reason = nullptr;
};

// `line` is the request-line without its CRLF. It is mutable because casefold_http_method
// upper-cases the method in place (the bytes are the parser's own copy).
LineVerdict parse_request_line(char* line, size_t length, const ParserOptions& options,
                               RequestLine* out);

// The gunicorn method policy applied unless permit_unconventional_http_method: 3-20 bytes,
// no lower case, no '#'. Exposed for tests.
bool conventional_method(std::string_view method);

}  // namespace narwhal::http
