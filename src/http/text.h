// Small text helpers of the HTTP grammar shared by every layer that reads or writes fields
// (http, wsgi, log): ASCII case-insensitive comparison, token checks and #list element search.
// Header-only, locale-free, no allocation.
#pragma once

#include <string_view>

#include "http/chars.h"

namespace narwhal::http {

// ASCII case-insensitive equality (field names, connection options; RFC 9110 §5.1).
inline bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (chars::to_lower(a[i]) != chars::to_lower(b[i])) return false;
  return true;
}

// token = 1*tchar (RFC 9110 §5.6.2); one tchar: chars::is_token.
inline bool is_token(std::string_view s) { return !s.empty() && chars::all_of(chars::kToken, s); }

// Calls fn(element) for each non-empty element of a #list (RFC 9110 §5.6.1: empty elements
// are allowed and ignored). Elements are trimmed of OWS.
template <typename Fn>
void for_each_list_element(std::string_view list, Fn&& fn) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view element = chars::trim_ows(list.substr(0, comma));
    if (!element.empty()) fn(element);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// True when the #list `list` has an element equal to `token`, ignoring case
// (e.g. contains_token("keep-alive, Close", "close")).
inline bool contains_token(std::string_view list, std::string_view token) {
  bool found = false;
  for_each_list_element(list, [&](std::string_view element) {
    found = found || equals_ignore_case(element, token);
  });
  return found;
}

}  // namespace narwhal::http
