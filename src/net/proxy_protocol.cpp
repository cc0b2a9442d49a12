#include "net/proxy_protocol.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>

namespace narwhal::net {
namespace {

constexpr std::string_view kV1Prefix = "PROXY ";

// `data` is `pattern` so far (it may still become it) / it is not.
bool may_become(std::string_view data, std::string_view pattern) {
  const size_t n = std::min(data.size(), pattern.size());
  return data.substr(0, n) == pattern.substr(0, n);
}

uint16_t big_endian_16(const char* bytes) {
  return static_cast<uint16_t>((static_cast<unsigned char>(bytes[0]) << 8) | static_cast<unsigned char>(bytes[1]));
}

std::string address_text(int family, const void* bytes) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, bytes, text, sizeof text);
  return text;
}

ProxyStatus fail(std::string* error, const char* reason) {
  *error = reason;
  return ProxyStatus::Error;
}

// proxy-protocol.txt §2.1: a port is a decimal number 0..65535 without leading zeroes.
bool parse_port(std::string_view text, int* port) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) return false;
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  if (value > 65535) return false;
  *port = value;
  return true;
}

// §2.1: an address in the family's canonical form (inet_pton's strict syntax; IPv4 without
// leading zeroes), re-formatted so REMOTE_ADDR has one spelling per address.
bool parse_address(std::string_view text, int family, std::string* out) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return false;
  char copy[INET6_ADDRSTRLEN];
  std::memcpy(copy, text.data(), text.size());
  copy[text.size()] = '\0';
  unsigned char bytes[16];
  if (inet_pton(family, copy, bytes) != 1) return false;
  *out = address_text(family, bytes);
  return true;
}

// "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n", "PROXY UNKNOWN[ anything]\r\n".
ProxyStatus parse_v1(std::string_view data, ProxyHeader* header, std::string* error) {
  const size_t limit = std::min(data.size(), kProxyV1MaxLength);
  size_t newline = std::string_view::npos;
  for (size_t i = kV1Prefix.size(); i < limit; ++i) {
    const char c = data[i];
    if (c == '\n') {
      newline = i;
      break;
    }
    // Only printable US-ASCII and the CR of the final CRLF belong in the line.
    if (c == '\r' ? (i + 1 < data.size() && data[i + 1] != '\n') : (c < 0x20 || c > 0x7e)) {
      return fail(error, "invalid character in PROXY v1 line");
    }
  }
  if (newline == std::string_view::npos) {
    if (data.size() >= kProxyV1MaxLength) return fail(error, "PROXY v1 line longer than 107 bytes");
    return ProxyStatus::NeedMore;
  }
  if (data[newline - 1] != '\r') return fail(error, "PROXY v1 line not ended by CRLF");
  std::string_view line = data.substr(kV1Prefix.size(), newline - 1 - kV1Prefix.size());
  header->version = 1;
  header->length = newline + 1;
  // "UNKNOWN" may be followed by anything up to the CRLF (§2.1): the receiver ignores it and
  // uses the connection's own addresses.
  if (line == "UNKNOWN" || line.starts_with("UNKNOWN ")) {
    header->protocol = "UNKNOWN";
    header->has_source = false;
    return ProxyStatus::Complete;
  }
  // Otherwise exactly five fields after "PROXY", separated by single spaces.
  std::string_view fields[5];
  size_t count = 0;
  for (std::string_view rest = line;;) {
    const size_t space = rest.find(' ');
    if (count == 5) return fail(error, "PROXY v1 line needs exactly 6 fields");
    fields[count++] = rest.substr(0, space);
    if (fields[count - 1].empty()) return fail(error, "PROXY v1 fields must be separated by single spaces");
    if (space == std::string_view::npos) break;
    rest.remove_prefix(space + 1);
  }
  const int family = fields[0] == "TCP4" ? AF_INET : fields[0] == "TCP6" ? AF_INET6 : 0;
  if (family == 0) return fail(error, "unsupported PROXY v1 protocol");
  if (count != 5) return fail(error, "PROXY v1 line needs exactly 6 fields");
  header->protocol = std::string(fields[0]);
  if (!parse_address(fields[1], family, &header->source_host) ||
      !parse_address(fields[2], family, &header->destination_host)) {
    return fail(error, "invalid address in PROXY v1 line");
  }
  if (!parse_port(fields[3], &header->source_port) || !parse_port(fields[4], &header->destination_port)) {
    return fail(error, "invalid port in PROXY v1 line");
  }
  header->has_source = true;
  return ProxyStatus::Complete;
}

// §2.2: the 16-byte header, then `length` bytes: the address block, then TLVs.
ProxyStatus parse_v2(std::string_view data, ProxyHeader* header, std::string* error) {
  if (data.size() < 16) return ProxyStatus::NeedMore;
  const auto version_command = static_cast<unsigned char>(data[12]);
  const auto family_transport = static_cast<unsigned char>(data[13]);
  const size_t length = big_endian_16(data.data() + 14);
  if ((version_command >> 4) != 2) return fail(error, "unsupported PROXY v2 version");
  const int command = version_command & 0x0F;
  if (command > 1) return fail(error, "unsupported PROXY v2 command");
  if (16 + length > kProxyV2MaxLength) return fail(error, "PROXY v2 header too long");
  if (data.size() < 16 + length) return ProxyStatus::NeedMore;
  header->version = 2;
  header->length = 16 + length;
  const char* block = data.data() + 16;
  if (command == 0) {
    // LOCAL: the proxy's own connection (a health check); the address block is ignored.
    header->protocol = "LOCAL";
    header->has_source = false;
    return ProxyStatus::Complete;
  }
  const int family = family_transport >> 4;
  const int transport = family_transport & 0x0F;
  if (family == 0) {
    // AF_UNSPEC: the sender could not tell; the connection's own addresses stand.
    header->protocol = "UNSPEC";
    header->has_source = false;
    return ProxyStatus::Complete;
  }
  if (family > 3) return fail(error, "unsupported PROXY v2 address family");
  // An HTTP server is behind a stream: UDP (DGRAM) or an unspecified transport is refused.
  if (transport != 1) return fail(error, "unsupported PROXY v2 transport (not STREAM)");
  size_t address_length = 0;
  if (family == 1) {
    address_length = 12;
    if (length < address_length) return fail(error, "PROXY v2 address block too short for IPv4");
    header->protocol = "TCP4";
    header->source_host = address_text(AF_INET, block);
    header->destination_host = address_text(AF_INET, block + 4);
    header->source_port = big_endian_16(block + 8);
    header->destination_port = big_endian_16(block + 10);
  } else if (family == 2) {
    address_length = 36;
    if (length < address_length) return fail(error, "PROXY v2 address block too short for IPv6");
    header->protocol = "TCP6";
    header->source_host = address_text(AF_INET6, block);
    header->destination_host = address_text(AF_INET6, block + 16);
    header->source_port = big_endian_16(block + 32);
    header->destination_port = big_endian_16(block + 34);
  } else {
    address_length = 216;  // two 108-byte NUL-padded paths
    if (length < address_length) return fail(error, "PROXY v2 address block too short for UNIX");
    header->protocol = "UNIX";
    header->source_host.assign(block, strnlen(block, 108));
    header->destination_host.assign(block + 108, strnlen(block + 108, 108));
    header->source_port = -1;
    header->destination_port = -1;
  }
  // §2.2.7: TLVs (type, 16-bit length, value) fill the rest; they are skipped, but each must
  // fit in the header.
  for (size_t offset = address_length; offset < length;) {
    if (length - offset < 3) return fail(error, "truncated PROXY v2 TLV");
    const size_t value_length = big_endian_16(block + offset + 1);
    if (length - offset - 3 < value_length) return fail(error, "truncated PROXY v2 TLV");
    offset += 3 + value_length;
  }
  header->has_source = true;
  return ProxyStatus::Complete;
}

}  // namespace

ProxyMode proxy_mode_from_text(std::string_view text) {
  if (text == "v1") return ProxyMode::V1;
  if (text == "v2") return ProxyMode::V2;
  if (text == "auto") return ProxyMode::Auto;
  return ProxyMode::Off;
}

ProxyStatus parse_proxy_header(std::string_view data, ProxyMode mode, ProxyHeader* header, std::string* error) {
  if (mode == ProxyMode::Off) return ProxyStatus::Absent;
  *header = ProxyHeader{};
  const bool v1 = mode != ProxyMode::V2 && may_become(data, kV1Prefix);
  const bool v2 = mode != ProxyMode::V1 && may_become(data, kProxyV2Signature);
  if (!v1 && !v2) return ProxyStatus::Absent;
  if (v1 && data.size() >= kV1Prefix.size()) return parse_v1(data, header, error);
  if (v2 && data.size() >= kProxyV2Signature.size()) return parse_v2(data, header, error);
  return ProxyStatus::NeedMore;
}

}  // namespace narwhal::net
