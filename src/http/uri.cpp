// URI helpers: authority syntax, split_target and percent_decode (RFC 3986, RFC 9112 §3.2).
#include "http/uri.h"

#include "http/chars.h"
#include "http/request_parser.h"

namespace narwhal::http {

const char* check_authority(std::string_view a, AuthorityRules rules) {
  if (a.find('@') != std::string_view::npos) return "userinfo in authority";
  size_t i = 0;
  if (!a.empty() && a[0] == '[') {
    // IP-literal: IPv6address / IPvFuture. Only the character set is checked; the address
    // itself is not interpreted by the server.
    const size_t close = a.find(']');
    if (close == std::string_view::npos || close == 1) return "invalid IP literal";
    for (char c : a.substr(1, close - 1))
      if (!chars::is(chars::kRegName, c) && c != ':') return "invalid IP literal";
    i = close + 1;
  } else {
    while (i < a.size() && a[i] != ':') {
      if (!chars::is(chars::kRegName, a[i])) return "invalid host";
      ++i;
    }
    if (i == 0 && rules.require_host) return "empty host";
  }
  if (i == a.size()) return rules.require_port ? "missing port" : nullptr;
  if (a[i] != ':') return "invalid host";
  const std::string_view port = a.substr(i + 1);
  if (port.empty() && rules.require_port) return "missing port";
  for (char c : port)
    if (c < '0' || c > '9') return "invalid port";
  return nullptr;
}

size_t scheme_prefix_length(std::string_view t) {
  // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
  if (t.empty() || !((t[0] >= 'a' && t[0] <= 'z') || (t[0] >= 'A' && t[0] <= 'Z'))) return 0;
  size_t i = 1;
  while (i < t.size()) {
    const char c = t[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '+' || c == '-' || c == '.';
    if (!ok) break;
    ++i;
  }
  if (t.substr(i, 3) != "://") return 0;
  return i + 3;
}

TargetParts split_target(std::string_view target) {
  TargetParts parts;
  if (target.empty()) return parts;
  if (target == "*") {
    parts.path = target;
    return parts;
  }
  std::string_view rest = target;
  if (target[0] != '/') {
    const size_t prefix = scheme_prefix_length(target);
    if (prefix == 0) {  // authority-form (CONNECT): no path
      parts.authority = target;
      return parts;
    }
    rest = target.substr(prefix);
    const size_t end = rest.find_first_of("/?#");
    parts.authority = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  }
  const size_t hash = rest.find('#');
  if (hash != std::string_view::npos) {
    parts.fragment = rest.substr(hash + 1);
    rest = rest.substr(0, hash);
  }
  const size_t question = rest.find('?');
  if (question != std::string_view::npos) {
    parts.query = rest.substr(question + 1);
    rest = rest.substr(0, question);
  }
  parts.path = rest;
  return parts;
}

void percent_decode(std::string_view in, std::string& out) {
  out.reserve(out.size() + in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      const int hi = chars::hex_value(in[i + 1]);
      const int lo = chars::hex_value(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(char(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(in[i]);
  }
}

}  // namespace narwhal::http
