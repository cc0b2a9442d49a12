// Byte classes of the HTTP grammar as 256-entry tables (no locale, no branches per class).
// RFC 9110 §5.6.2 (tchar), §5.5 (field-vchar / obs-text), RFC 3986 §2-3 (URI characters).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace narwhal::http::chars {

enum : uint8_t {
  kToken = 1 << 0,       // tchar
  kFieldValue = 1 << 1,  // field-vchar / obs-text / SP / HTAB
  kTarget = 1 << 2,      // bytes narwhal accepts in a request-target
  kRegName = 1 << 3,     // unreserved / pct-encoded '%' / sub-delims (RFC 3986 §3.2.2)
  kHex = 1 << 4,
  kQdText = 1 << 5,      // qdtext (RFC 9110 §5.6.4)
};

constexpr std::array<uint8_t, 256> make_table() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    uint8_t v = 0;
    if (alpha || digit || std::string_view("!#$%&'*+-.^_`|~").find(char(c)) != std::string_view::npos)
      v |= kToken;
    // RFC 9110 §5.5: field-value = *field-content; CTLs (except HTAB) and DEL are invalid.
    if (c == '\t' || (c >= 0x20 && c != 0x7f)) v |= kFieldValue;
    // RFC 3986: visible ASCII only; '#' starts a fragment (never sent, RFC 9112 §3.2) and '"'
    // is not a URI character. The other RFC 3986-excluded bytes (<>\^`{|}) are accepted because
    // real clients send them unencoded and gunicorn accepts them (see docs/http.md).
    if (c > 0x20 && c < 0x7f && c != '#' && c != '"') v |= kTarget;
    if (alpha || digit || std::string_view("-._~%!$&'()*+,;=").find(char(c)) != std::string_view::npos)
      v |= kRegName;
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) v |= kHex;
    if (c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) ||
        c >= 0x80)
      v |= kQdText;
    t[c] = v;
  }
  return t;
}

inline constexpr std::array<uint8_t, 256> kTable = make_table();

inline bool is(uint8_t cls, char c) { return (kTable[static_cast<uint8_t>(c)] & cls) != 0; }
inline bool is_token(char c) { return is(kToken, c); }
inline bool is_hex(char c) { return is(kHex, c); }
inline bool is_ows(char c) { return c == ' ' || c == '\t'; }

// True when every byte of `s` is in class `cls` (empty → true).
inline bool all_of(uint8_t cls, std::string_view s) {
  for (char c : s)
    if (!is(cls, c)) return false;
  return true;
}

inline char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c + 32) : c; }
inline char to_upper(char c) { return (c >= 'a' && c <= 'z') ? char(c - 32) : c; }

inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Removes leading and trailing SP/HTAB (OWS, RFC 9110 §5.6.3).
inline std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace narwhal::http::chars
