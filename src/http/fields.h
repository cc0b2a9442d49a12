// Internal: field lines (RFC 9112 §5, RFC 9110 §5) and the request semantics derived from the
// completed header section (framing, persistence, expectations).
#pragma once

#include <string_view>

#include "http/request_line.h"
#include "http/request_parser.h"

namespace narwhal::http {

// Parses one field line without its CRLF: field-name ":" OWS field-value OWS.
// Returns null on success (value trimmed of SP/HTAB), otherwise the reason (status 400).
const char* parse_field_line(std::string_view line, std::string_view* name,
                             std::string_view* value);

// Validates the header section of a complete head (Host, Content-Length, Transfer-Encoding,
// ...) and fills head.{keep_alive, chunked, has_content_length, content_length,
// expect_continue, upgrade}. Returns status 0 or 400/413/501.
LineVerdict analyze_head(RequestHead& head, const ParserOptions& options, uint64_t body_limit);

// RFC 9110 §6.5.1: fields that must not be sent in a trailer section (framing, routing,
// request modifiers, authentication, connection options). narwhal rejects them with 400.
bool forbidden_trailer(std::string_view name);

}  // namespace narwhal::http
