// Field-line syntax and header-section semantics. Every rule cites the RFC it implements.
#include "http/fields.h"

#include <cstdint>
#include <vector>

#include "http/chars.h"
#include "http/text.h"
#include "http/uri.h"

namespace narwhal::http {
namespace {

enum class Known { Other, Host, ContentLength, TransferEncoding, Connection, Expect, ContentType, Upgrade };

Known classify(std::string_view name) {
  switch (name.size()) {  // dispatch on length first: most fields match nothing
    case 4: return equals_ignore_case(name, "host") ? Known::Host : Known::Other;
    case 6: return equals_ignore_case(name, "expect") ? Known::Expect : Known::Other;
    case 7: return equals_ignore_case(name, "upgrade") ? Known::Upgrade : Known::Other;
    case 10: return equals_ignore_case(name, "connection") ? Known::Connection : Known::Other;
    case 12: return equals_ignore_case(name, "content-type") ? Known::ContentType : Known::Other;
    case 14: return equals_ignore_case(name, "content-length") ? Known::ContentLength : Known::Other;
    case 17:
      return equals_ignore_case(name, "transfer-encoding") ? Known::TransferEncoding : Known::Other;
    default: return Known::Other;
  }
}

// Content-Length = 1*DIGIT (RFC 9110 §8.6). No sign, no list form, no whitespace inside.
bool parse_content_length(std::string_view v, uint64_t* out) {
  if (v.empty()) return false;
  uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    const uint64_t digit = uint64_t(c - '0');
    if (n > (UINT64_MAX - digit) / 10) return false;  // overflow
    n = n * 10 + digit;
  }
  *out = n;
  return true;
}

struct TransferCodings {
  int chunked = 0;          // how many times "chunked" appears
  bool last_chunked = false;
  bool other = false;       // a coding narwhal does not implement
  bool malformed = false;
  int count = 0;
};

// transfer-coding = token *( OWS ";" OWS transfer-parameter )  (RFC 9112 §7)
void add_codings(std::string_view value, TransferCodings& tc) {
  for_each_list_element(value, [&](std::string_view element) {
    const size_t semicolon = element.find(';');
    const std::string_view name = chars::trim_ows(element.substr(0, semicolon));
    if (!is_token(name)) tc.malformed = true;
    const bool chunked = equals_ignore_case(name, "chunked");
    if (chunked && semicolon != std::string_view::npos) tc.malformed = true;  // no parameters
    tc.chunked += chunked;
    tc.other |= !chunked;
    tc.last_chunked = chunked;
    ++tc.count;
  });
}

// RFC 9112 §6.1 / §6.3: the framing rules that stop request smuggling. With
// tolerate_dangerous_framing the two cases §6.1 lets a server process (by Transfer-Encoding
// alone) are processed, and *close is set: §6.1 then requires closing the connection.
LineVerdict check_transfer_encoding(const RequestHead& head, const TransferCodings& tc,
                                    int content_lengths, bool tolerate, bool* close) {
  if (head.version_minor == 0) {  // §6.1: TE in HTTP/1.0 means faulty framing
    if (!tolerate) return {400, "Transfer-Encoding in an HTTP/1.0 request"};
    *close = true;  // §6.1: "close the connection after processing the message"
  }
  if (content_lengths > 0) {  // §6.1: a server MAY reject CL + TE; it is a smuggling attempt
    if (!tolerate) return {400, "Content-Length together with Transfer-Encoding"};
    *close = true;  // §6.1: "MAY ... process ... in accordance with the Transfer-Encoding alone.
                    // Regardless, the server MUST close the connection after responding"
  }
  if (tc.malformed || tc.count == 0) return {400, "malformed Transfer-Encoding"};
  if (tc.chunked > 1) return {400, "chunked applied more than once"};  // §7: MUST NOT twice
  if (!tc.last_chunked)  // §6.3: final coding not chunked in a request → 400
    return {400, "chunked is not the final transfer coding"};
  if (tc.other)  // §6.1: a coding the server does not understand SHOULD get 501
    return {501, "transfer coding not implemented"};
  return {};
}

struct Seen {
  int hosts = 0, content_lengths = 0, transfer_encodings = 0, content_types = 0;
  std::string_view host;
  bool bad_content_length = false;
  bool close = false, keep_alive = false, connection_upgrade = false;
  bool upgrade_field = false, expect_continue = false;
  TransferCodings codings;
};

void collect(const Header& h, Seen& s, RequestHead& head) {
  switch (classify(h.name)) {
    case Known::Host: ++s.hosts; s.host = h.value; break;
    case Known::ContentLength:
      ++s.content_lengths;
      if (!parse_content_length(h.value, &head.content_length)) s.bad_content_length = true;
      break;
    case Known::TransferEncoding: ++s.transfer_encodings; add_codings(h.value, s.codings); break;
    case Known::Connection:  // RFC 9110 §7.6.1: a list of connection options
      for_each_list_element(h.value, [&](std::string_view option) {
        s.close |= equals_ignore_case(option, "close");
        s.keep_alive |= equals_ignore_case(option, "keep-alive");
        s.connection_upgrade |= equals_ignore_case(option, "upgrade");
      });
      break;
    case Known::Expect: s.expect_continue |= equals_ignore_case(h.value, "100-continue"); break;
    case Known::ContentType: ++s.content_types; break;
    case Known::Upgrade: s.upgrade_field = true; break;
    case Known::Other: break;
  }
}

}  // namespace

const char* parse_field_line(std::string_view line, bool strip_spaces, std::string_view* name,
                             std::string_view* value, bool* stripped) {
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return "field line without ':'";
  *name = line.substr(0, colon);
  // field-name = token (RFC 9110 §5.1); this also rejects whitespace before the colon, which
  // RFC 9112 §5.1 says MUST be answered with 400 — unless strip_header_spaces (gunicorn:
  // name.rstrip(" \t")); the caller decides what a stripped name may be.
  *stripped = false;
  if (strip_spaces) {
    while (!name->empty() && chars::is_ows(name->back())) {
      name->remove_suffix(1);
      *stripped = true;
    }
  }
  if (name->empty()) return "empty field name";
  if (!chars::all_of(chars::kToken, *name)) return "invalid character in field name";
  *value = chars::trim_ows(line.substr(colon + 1));
  // RFC 9110 §5.5: NUL, CR, LF and other CTLs (except HTAB) and DEL are invalid in values.
  if (!chars::all_of(chars::kFieldValue, *value)) return "invalid character in field value";
  return nullptr;
}

bool is_framing_field(std::string_view name) {
  const Known k = classify(name);
  return k == Known::ContentLength || k == Known::TransferEncoding;
}

LineVerdict analyze_head(RequestHead& head, const ParserOptions& options, uint64_t body_limit,
                         bool must_close) {
  Seen s;
  for (const Header& h : head.headers) collect(h, s, head);
  // HTTP/1.2–1.9 (permit_unconventional_http_version) have HTTP/1.1 semantics (RFC 9110 §2.5).
  const bool http11 = head.version_minor >= 1;

  // RFC 9112 §3.2: exactly one Host in HTTP/1.1; never more than one; a valid value.
  if (s.hosts > 1) return {400, "duplicate Host"};
  if (s.hosts == 0 && http11 && options.require_host) return {400, "missing Host"};
  if (s.hosts == 1 && check_authority(s.host, {.require_host = false}) != nullptr)
    return {400, "invalid Host"};
  // gunicorn policy: Content-Type is a singleton field (RFC 9110 §5.3), a repeat is ambiguous.
  if (s.content_types > 1) return {400, "duplicate Content-Type"};
  if (s.bad_content_length) return {400, "invalid Content-Length"};
  // RFC 9110 §8.6 allows folding identical values; narwhal rejects every repeat instead, so no
  // two parsers can disagree about which one counts.
  if (s.content_lengths > 1) return {400, "multiple Content-Length"};
  head.has_content_length = s.content_lengths == 1;
  bool close = must_close;
  if (s.transfer_encodings > 0) {
    if (LineVerdict v = check_transfer_encoding(head, s.codings, s.content_lengths,
                                                options.tolerate_dangerous_framing, &close);
        v.status)
      return v;
    head.chunked = true;
    if (head.has_content_length) {
      // Tolerated CL + TE: the body is chunked (RFC 9112 §6.3 item 3: Transfer-Encoding
      // overrides Content-Length). The field is removed so that the application never sees a
      // CONTENT_LENGTH that is not the body's length (§6.3: an intermediary MUST remove it
      // before forwarding; gunicorn 22 passed it on).
      std::erase_if(head.headers, [](const Header& h) {
        return classify(h.name) == Known::ContentLength;
      });
      head.has_content_length = false;
      head.content_length = 0;
    }
  }
  const bool connect = head.method == "CONNECT";
  // RFC 9110 §9.3.6: CONNECT content has no defined semantics; after the head the
  // connection is a tunnel, so announcing a body is refused rather than guessed at.
  if (connect && (head.chunked || head.content_length > 0))
    return {400, "CONNECT with a body"};
  if (head.has_content_length && body_limit != 0 && head.content_length > body_limit)
    return {413, "Content-Length exceeds the body limit"};

  // RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive". A
  // relaxed request is never followed by another on the same connection: whatever an
  // intermediary made of its framing, no bytes after it are parsed as a request.
  head.keep_alive = !close && !s.close && (http11 || s.keep_alive);
  // RFC 9110 §10.1.1: a 100-continue expectation in an HTTP/1.0 request MUST be ignored.
  head.expect_continue = http11 && s.expect_continue;
  // RFC 9110 §7.8: Upgrade needs "Connection: upgrade" and is ignored in HTTP/1.0. A relaxed
  // request is not switched to another protocol either: it is answered, then closed.
  head.upgrade = !close && (connect || (http11 && s.upgrade_field && s.connection_upgrade));
  return {};
}

bool forbidden_trailer(std::string_view name) {
  // Framing, routing, request modifiers, authentication and connection options. Content-Type
  // and other content metadata are allowed: gunicorn accepts them (corpus valid/012) and
  // narwhal never merges trailers into the header section.
  static constexpr std::string_view kForbidden[] = {
      "authorization", "cache-control", "connection", "content-length", "cookie", "expect",
      "host", "if-match", "if-modified-since", "if-none-match", "if-range",
      "if-unmodified-since", "keep-alive", "max-forwards", "pragma", "proxy-authorization",
      "proxy-connection", "range", "te", "trailer", "transfer-encoding", "upgrade"};
  for (std::string_view f : kForbidden)
    if (equals_ignore_case(name, f)) return true;
  return false;
}

}  // namespace narwhal::http
