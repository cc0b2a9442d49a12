// Internal: syntax checks for URI pieces used by the request-line and Host validation.
#pragma once

#include <string_view>

namespace narwhal::http {

struct AuthorityRules {
  bool require_host = true;  // Host header may be empty (RFC 9110 §7.2), URI authorities not
  bool require_port = false;  // authority-form (CONNECT) needs host ":" port (RFC 9112 §3.2.3)
};

// authority = host [ ":" port ] (RFC 3986 §3.2) without userinfo: RFC 9110 §4.2.4 says a
// recipient SHOULD treat userinfo in an http(s) URI as an error. Returns null when valid,
// otherwise a reason.
const char* check_authority(std::string_view authority, AuthorityRules rules);

// Length of a valid "scheme" followed by "://" at the start of `target` (RFC 3986 §3.1),
// or 0 when `target` does not start that way.
size_t scheme_prefix_length(std::string_view target);

}  // namespace narwhal::http
