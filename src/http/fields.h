// Internal: field lines (RFC 9112 §5, RFC 9110 §5) and the request semantics derived from the
// completed header section (framing, persistence, expectations).
#pragma once

#include <string_view>

#include "http/request_line.h"
#include "http/request_parser.h"

namespace narwhal::http {

// Parses one field line without its CRLF: field-name ":" OWS field-value OWS.
// Returns null on success (value trimmed of SP/HTAB), otherwise the reason (status 400).
// With `strip_spaces` (strip_header_spaces) SP/HTAB between the name and the colon is removed
// instead of refused, and *stripped tells whether there was any.
const char* parse_field_line(std::string_view line, bool strip_spaces, std::string_view* name,
                             std::string_view* value, bool* stripped);

// Content-Length or Transfer-Encoding: the fields that decide where a request ends.
bool is_framing_field(std::string_view name);

// Validates the header section of a complete head (Host, Content-Length, Transfer-Encoding,
// ...) and fills head.{keep_alive, chunked, has_content_length, content_length,
// expect_continue, upgrade}. Returns status 0 or 400/413/501. `must_close`: the header
// section used a relaxation (obs-fold, whitespace before ':') that another parser may read
// differently, so the connection is not kept alive.
LineVerdict analyze_head(RequestHead& head, const ParserOptions& options, uint64_t body_limit,
                         bool must_close);

// RFC 9110 §6.5.1: fields that must not be sent in a trailer section (framing, routing,
// request modifiers, authentication, connection options). narwhal rejects them with 400.
bool forbidden_trailer(std::string_view name);

}  // namespace narwhal::http
