// Request-line = method SP request-target SP HTTP-version (RFC 9112 §3). Exactly one SP between
// the parts: RFC 9112 §3 lets a recipient accept other whitespace, but doing so is a known
// request-smuggling vector between parsers that disagree, so narwhal does not.
#include "http/request_line.h"

#include "http/chars.h"
#include "http/uri.h"

namespace narwhal::http {
namespace {

LineVerdict bad(const char* reason) { return {400, reason}; }

// HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3). Well-formed versions other than 1.0
// and 1.1 get 505 (RFC 9110 §15.6.6); anything else is not a request-line at all → 400.
// permit_unconventional_http_version accepts HTTP/1.2–1.9, which RFC 9110 §2.5 says to process
// as the highest minor version implemented (1.1: the rest of the parser treats minor ≥ 1 as
// 1.1). Other major versions stay 505 even then: HTTP/2 and HTTP/3 never send a text
// request-line (the HTTP/2 preface is the only one) and an HTTP/0.9 request has no version, so
// such a line has no framing a server could agree on with anyone (docs/http.md).
LineVerdict parse_version(std::string_view v, const ParserOptions& options, RequestLine* out) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
      v[7] < '0' || v[7] > '9')
    return bad("malformed HTTP version");
  out->version_major = v[5] - '0';
  out->version_minor = v[7] - '0';
  if (out->version_major != 1) return {505, "unsupported HTTP version"};
  if (out->version_minor > 1 && !options.permit_unconventional_http_version)
    return {505, "unsupported HTTP version"};
  return {};
}

// RFC 9112 §3.2: which target forms a method may use.
LineVerdict check_target(std::string_view method, std::string_view target, RequestLine* out) {
  if (target.empty()) return bad("empty request-target");
  for (char c : target)
    if (!chars::is(chars::kTarget, c)) {
      if (c == '#') return bad("fragment in request-target");
      return bad("invalid character in request-target");
    }
  if (target == "*") {  // §3.2.4: asterisk-form only for a server-wide OPTIONS
    if (method != "OPTIONS") return bad("asterisk-form request-target for a method other than OPTIONS");
    out->target_form = TargetForm::Asterisk;
    return {};
  }
  if (method == "CONNECT") {  // §3.2.3: CONNECT takes authority-form and nothing else
    if (const char* why = check_authority(target, {.require_host = true, .require_port = true}))
      return bad(why);
    out->target_form = TargetForm::Authority;
    return {};
  }
  if (target[0] == '/') {  // §3.2.1 origin-form
    out->target_form = TargetForm::Origin;
    return {};
  }
  // §3.2.2 absolute-form: scheme "://" authority path-abempty [ "?" query ]
  const size_t prefix = scheme_prefix_length(target);
  if (prefix == 0) return bad("request-target is not origin-form or absolute-form");
  const std::string_view rest = target.substr(prefix);
  const size_t end = rest.find_first_of("/?");
  if (const char* why = check_authority(rest.substr(0, end), {}))
    return bad(why);
  out->target_form = TargetForm::Absolute;
  return {};
}

}  // namespace

bool conventional_method(std::string_view method) {
  if (method.size() < 3 || method.size() > 20) return false;
  for (char c : method)
    if ((c >= 'a' && c <= 'z') || c == '#') return false;
  return true;
}

LineVerdict parse_request_line(char* line, size_t length, const ParserOptions& options,
                               RequestLine* out) {
  const std::string_view text(line, length);
  // method = token (RFC 9110 §9.1), ended by the first SP. The parser's early check on an
  // incomplete line applies this same rule, so both report the same error for any split.
  size_t sp1 = 0;
  while (sp1 < length && chars::is_token(line[sp1])) ++sp1;
  if (sp1 == length) return bad("malformed request line");
  if (sp1 == 0 || line[sp1] != ' ') return bad("invalid method");
  if (!options.permit_unconventional_http_method && !conventional_method(text.substr(0, sp1)))
    return bad("unconventional method");
  if (options.casefold_http_method)
    for (size_t i = 0; i < sp1; ++i) line[i] = chars::to_upper(line[i]);
  out->method = text.substr(0, sp1);

  // The version is checked before the target so that an HTTP/2 connection preface
  // ("PRI * HTTP/2.0") is answered 505 rather than 400 for its asterisk-form.
  const size_t sp2 = text.rfind(' ');
  if (sp2 == sp1) return bad("malformed request line");
  if (LineVerdict v = parse_version(text.substr(sp2 + 1), options, out); v.status != 0)
    return v;

  out->target = text.substr(sp1 + 1, sp2 - sp1 - 1);
  return check_target(out->method, out->target, out);
}

}  // namespace narwhal::http
