// The server side of the WebSocket opening handshake (RFC 6455 §4.2) and the permessage-deflate
// offer (RFC 7692 §5, §7.1). Rules and statuses: docs/http.md "WebSocket".
#include <openssl/evp.h>

#include <optional>

#include "http/text.h"
#include "http/websocket.h"

namespace narwhal::http::ws {
namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";  // RFC 6455 §1.3

// Sec-WebSocket-Accept = base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2 item 5.4).
std::string accept_value(std::string_view key) {
  std::string input;
  input.reserve(key.size() + kGuid.size());
  input.append(key).append(kGuid);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_length = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &digest_length, EVP_sha1(), nullptr) != 1)
    return {};
  unsigned char encoded[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  const int n = EVP_EncodeBlock(encoded, digest, static_cast<int>(digest_length));
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<size_t>(n));
}

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// RFC 6455 §4.1/§11.3.1: the key is a base64-encoded 16-byte value: 22 characters, then "==".
// The last character before the padding carries only 2 bits, so it must be one of AQgw.
bool is_valid_key(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  for (size_t i = 0; i < 22; ++i)
    if (!is_base64_char(key[i])) return false;
  return std::string_view("AQgw").find(key[21]) != std::string_view::npos;
}

// Splits `s` at `separator` outside quoted-strings (RFC 9110 §5.6.4); calls fn(trimmed piece).
// False when a quoted-string is not terminated.
template <typename Fn>
bool split_outside_quotes(std::string_view s, char separator, Fn&& fn) {
  size_t start = 0;
  bool quoted = false;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i < s.size() && quoted) {
      if (s[i] == '\\') ++i;
      else if (s[i] == '"') quoted = false;
      continue;
    }
    if (i < s.size() && s[i] == '"') {
      quoted = true;
    } else if (i == s.size() || s[i] == separator) {
      fn(chars::trim_ows(s.substr(start, i - start)));
      start = i + 1;
    }
  }
  return !quoted;
}

// An extension parameter value: token or quoted-string whose content is a token (RFC 6455
// §9.1). Returns nullopt when malformed.
std::optional<std::string> parameter_value(std::string_view raw) {
  if (raw.size() >= 2 && raw.front() == '"' && raw.back() == '"') {
    std::string value;
    for (size_t i = 1; i + 1 < raw.size(); ++i) {
      if (raw[i] == '\\' && i + 2 < raw.size()) ++i;
      value.push_back(raw[i]);
    }
    if (!is_token(value)) return std::nullopt;
    return value;
  }
  if (!is_token(raw)) return std::nullopt;
  return std::string(raw);
}

// RFC 7692 §7.1.2: a window-bits value is a decimal 8–15 without leading zeros.
int window_bits(const std::string& value) {
  if (value.size() == 1 && value[0] == '8') return 8;
  if (value.size() == 1 && value[0] == '9') return 9;
  if (value.size() == 2 && value[0] == '1' && value[1] >= '0' && value[1] <= '5')
    return 10 + (value[1] - '0');
  return 0;
}

// One permessage-deflate offer's parameters (RFC 7692 §7.1). nullopt: the offer must be
// declined (unknown or repeated parameter, bad value — §7 "MUST decline"), or it asks for a
// window of 8 bits from our compressor, which zlib's raw deflate cannot honour.
std::optional<DeflateParams> parse_deflate_offer(const std::vector<std::string_view>& parameters) {
  DeflateParams params;
  bool seen[4] = {false, false, false, false};
  for (std::string_view parameter : parameters) {
    const size_t equals = parameter.find('=');
    const std::string_view name = chars::trim_ows(parameter.substr(0, equals));
    std::optional<std::string> value;
    if (equals != std::string_view::npos) {
      value = parameter_value(chars::trim_ows(parameter.substr(equals + 1)));
      if (!value) return std::nullopt;
    }
    int index;
    if (equals_ignore_case(name, "server_no_context_takeover")) index = 0;
    else if (equals_ignore_case(name, "client_no_context_takeover")) index = 1;
    else if (equals_ignore_case(name, "server_max_window_bits")) index = 2;
    else if (equals_ignore_case(name, "client_max_window_bits")) index = 3;
    else return std::nullopt;
    if (seen[index]) return std::nullopt;
    seen[index] = true;
    switch (index) {
      case 0:
      case 1:
        if (value) return std::nullopt;  // §7.1.1: these have no value
        (index == 0 ? params.server_no_context_takeover : params.client_no_context_takeover) = true;
        break;
      case 2: {  // §7.1.2.1: a value is required
        const int bits = value ? window_bits(*value) : 0;
        if (bits == 0 || bits == 8) return std::nullopt;
        params.server_max_window_bits = bits;
        params.server_max_window_bits_offered = true;
        break;
      }
      case 3:  // §7.1.2.2: the value is optional ("the client supports it")
        if (value) {
          const int bits = window_bits(*value);
          if (bits == 0) return std::nullopt;
          params.client_max_window_bits = bits;
        }
        break;
    }
  }
  return params;
}

void read_extensions(std::string_view field, Handshake* h) {
  if (h->deflate_offered) return;
  split_outside_quotes(field, ',', [&](std::string_view element) {
    if (h->deflate_offered || element.empty()) return;
    std::vector<std::string_view> pieces;
    if (!split_outside_quotes(element, ';', [&](std::string_view p) { pieces.push_back(p); }))
      return;
    if (pieces.empty() || !equals_ignore_case(pieces[0], "permessage-deflate")) return;
    pieces.erase(pieces.begin());
    if (std::optional<DeflateParams> params = parse_deflate_offer(pieces)) {
      h->deflate_offered = true;
      h->deflate = *params;
    }
  });
}

Handshake refuse(Handshake h, int status, std::string_view reason) {
  h.status = status;
  h.reason = reason;
  h.accept.clear();
  return h;
}

}  // namespace

Handshake check_handshake(const RequestHead& head) {
  Handshake h;
  bool upgrade_websocket = false, connection_upgrade = false;
  int key_count = 0, version_count = 0;
  std::string_view key, version;
  for (const Header& field : head.headers) {
    const std::string_view name = field.name;
    if (equals_ignore_case(name, "Upgrade")) {
      upgrade_websocket = upgrade_websocket || contains_token(field.value, "websocket");
    } else if (equals_ignore_case(name, "Connection")) {
      connection_upgrade = connection_upgrade || contains_token(field.value, "upgrade");
    } else if (equals_ignore_case(name, "Sec-WebSocket-Key")) {
      ++key_count;
      key = field.value;
    } else if (equals_ignore_case(name, "Sec-WebSocket-Version")) {
      ++version_count;
      version = field.value;
    } else if (equals_ignore_case(name, "Sec-WebSocket-Protocol")) {
      for_each_list_element(field.value,
                            [&](std::string_view p) { h.subprotocols.emplace_back(p); });
    } else if (equals_ignore_case(name, "Sec-WebSocket-Extensions")) {
      read_extensions(field.value, &h);
    }
  }
  h.is_websocket = upgrade_websocket && connection_upgrade;
  if (!h.is_websocket) return h;
  // RFC 6455 §4.2.1: "an HTTP/1.1 or higher GET request"; otherwise §4.2.2: 400.
  if (head.method != "GET") return refuse(std::move(h), 400, "websocket handshake: method is not GET");
  if (head.version_major != 1 || head.version_minor < 1)
    return refuse(std::move(h), 400, "websocket handshake: HTTP/1.0");
  // §4.2.2 item 4 / §4.4: a version we do not speak → 426 with Sec-WebSocket-Version: 13.
  // Checked before the key so that an old-draft client learns which version to use.
  if (version_count != 1 || version != "13")
    return refuse(std::move(h), 426, "websocket handshake: Sec-WebSocket-Version is not 13");
  if (key_count != 1 || !is_valid_key(key))
    return refuse(std::move(h), 400, "websocket handshake: bad or missing Sec-WebSocket-Key");
  h.accept = accept_value(key);
  return h;
}

std::string deflate_extension_header(const DeflateParams& params) {
  std::string value = "permessage-deflate";
  // §7.1.1.1: a server_no_context_takeover offer must be answered with it.
  if (params.server_no_context_takeover) value += "; server_no_context_takeover";
  // §7.1.1.2: the server may tell the client it need not keep its window.
  if (params.client_no_context_takeover) value += "; client_no_context_takeover";
  if (params.server_max_window_bits_offered || params.server_max_window_bits < 15)
    value += "; server_max_window_bits=" + std::to_string(params.server_max_window_bits);
  if (params.client_max_window_bits < 15)
    value += "; client_max_window_bits=" + std::to_string(params.client_max_window_bits);
  return value;
}

}  // namespace narwhal::http::ws
