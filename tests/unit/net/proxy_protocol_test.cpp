// The PROXY protocol parser (net/proxy_protocol.h): v1 and v2 headers as HAProxy sends them,
// every malformed form refused, every truncation answered NeedMore (never Complete, never a
// different error), oversize headers refused, and results independent of the mode's detection.
#include "net/proxy_protocol.h"

#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace narwhal::net {
namespace {

struct Parsed {
  ProxyStatus status;
  ProxyHeader header;
  std::string error;
};

Parsed parse(std::string_view data, ProxyMode mode = ProxyMode::Auto) {
  Parsed out;
  out.status = parse_proxy_header(data, mode, &out.header, &out.error);
  return out;
}

std::string be16(unsigned value) {
  return {static_cast<char>((value >> 8) & 0xFF), static_cast<char>(value & 0xFF)};
}

// A v2 header: signature, version/command, family/transport, length, then `block`.
std::string v2(unsigned version_command, unsigned family_transport, const std::string& block) {
  return std::string(kProxyV2Signature) + static_cast<char>(version_command) +
         static_cast<char>(family_transport) + be16(static_cast<unsigned>(block.size())) + block;
}

std::string ipv4_block(const char a[4], const char b[4], unsigned source_port, unsigned destination_port) {
  return std::string(a, 4) + std::string(b, 4) + be16(source_port) + be16(destination_port);
}

std::string tlv(unsigned type, const std::string& value) {
  return static_cast<char>(type) + be16(static_cast<unsigned>(value.size())) + value;
}

const std::string kRequest = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

// Every strict prefix of a complete header is NeedMore (and consumes nothing).
void expect_needs_more_at_every_prefix(const std::string& header, ProxyMode mode = ProxyMode::Auto) {
  for (size_t n = 0; n < header.size(); ++n) {
    Parsed parsed = parse(std::string_view(header).substr(0, n), mode);
    EXPECT_EQ(parsed.status, ProxyStatus::NeedMore) << "prefix " << n << " of " << header.size();
  }
}

TEST(ProxyV1, Tcp4) {
  const std::string header = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
  Parsed parsed = parse(header + kRequest);
  ASSERT_EQ(parsed.status, ProxyStatus::Complete) << parsed.error;
  EXPECT_EQ(parsed.header.version, 1);
  EXPECT_EQ(parsed.header.protocol, "TCP4");
  EXPECT_TRUE(parsed.header.has_source);
  EXPECT_EQ(parsed.header.source_host, "192.0.2.1");
  EXPECT_EQ(parsed.header.source_port, 56324);
  EXPECT_EQ(parsed.header.destination_host, "198.51.100.2");
  EXPECT_EQ(parsed.header.destination_port, 443);
  EXPECT_EQ(parsed.header.length, header.size());
  expect_needs_more_at_every_prefix(header);
  expect_needs_more_at_every_prefix(header, ProxyMode::V1);
}

TEST(ProxyV1, Tcp6IsCanonicalised) {
  const std::string header = "PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 65535 0\r\n";
  Parsed parsed = parse(header, ProxyMode::V1);
  ASSERT_EQ(parsed.status, ProxyStatus::Complete) << parsed.error;
  EXPECT_EQ(parsed.header.protocol, "TCP6");
  EXPECT_EQ(parsed.header.source_host, "2001:db8::1");
  EXPECT_EQ(parsed.header.source_port, 65535);
  EXPECT_EQ(parsed.header.destination_host, "::1");
  EXPECT_EQ(parsed.header.destination_port, 0);
}

TEST(ProxyV1, Unknown) {
  for (std::string header : {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"}) {
    Parsed parsed = parse(header + kRequest);
    ASSERT_EQ(parsed.status, ProxyStatus::Complete) << header;
    EXPECT_EQ(parsed.header.protocol, "UNKNOWN");
    EXPECT_FALSE(parsed.header.has_source);
    EXPECT_EQ(parsed.header.length, header.size());
  }
}

TEST(ProxyV1, LongestLineIsAccepted) {
  // The longest TCP6 line (104 bytes), and §2.1's worst case: 107 bytes (UNKNOWN + filler).
  const std::string header =
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
  EXPECT_EQ(parse(header).status, ProxyStatus::Complete);
  // A line that reaches 107 bytes without its LF is refused (UNKNOWN allows any filler).
  EXPECT_EQ(parse("PROXY UNKNOWN " + std::string(93, 'x') + "\r\n").status, ProxyStatus::Error);
  EXPECT_EQ(parse("PROXY UNKNOWN " + std::string(91, 'x') + "\r\n").status, ProxyStatus::Complete);
  EXPECT_EQ(parse("PROXY UNKNOWN " + std::string(200, 'x')).status, ProxyStatus::Error);
}

TEST(ProxyV1, MalformedLines) {
  const char* malformed[] = {
      "PROXY TCP4 192.168.0.1 192.16...\r\n",              // corpus invalid/pp_01
      "PROXY TCP4 192.168.0.1 192.168.0.11 65iii 100000\r\n",  // corpus invalid/pp_02
      "PROXY TCP4 not-an-ip 192.168.0.11 56324 443\r\n",  // corpus invalid/pp_03
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\n",    // LF without CR
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\rX\n",
      "PROXY TCP4 192.0.2.1  198.51.100.2 56324 443\r\n",  // two spaces
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 \r\n",  // trailing space
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n",       // 5 fields
      "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 1\r\n",  // 7 fields
      "PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n",   // port out of range
      "PROXY TCP4 192.0.2.1 198.51.100.2 056324 443\r\n",  // leading zero
      "PROXY TCP4 192.0.2.1 198.51.100.2 -1 443\r\n",
      "PROXY TCP4 ::1 198.51.100.2 1 443\r\n",             // IPv6 in TCP4
      "PROXY TCP6 192.0.2.1 ::1 1 443\r\n",                // IPv4 in TCP6
      "PROXY TCP4 192.000.2.1 198.51.100.2 1 443\r\n",     // not canonical
      "PROXY UDP4 192.0.2.1 198.51.100.2 1 443\r\n",       // unknown protocol
      "PROXY tcp4 192.0.2.1 198.51.100.2 1 443\r\n",       // case matters
      "PROXY \r\n",
      "PROXY  TCP4 192.0.2.1 198.51.100.2 1 443\r\n",
      "PROXY TCP4 192.0.2.1 198.51.100.2 1 443\x01\r\n",   // control byte
      "PROXY UNKNOWN\xff\r\n",
  };
  for (const char* line : malformed) {
    Parsed parsed = parse(line, ProxyMode::V1);
    EXPECT_EQ(parsed.status, ProxyStatus::Error) << line;
    EXPECT_FALSE(parsed.error.empty()) << line;
    EXPECT_EQ(parse(line, ProxyMode::Auto).status, ProxyStatus::Error) << line;
  }
  EXPECT_EQ(parse(std::string("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n", 32), ProxyMode::V1).status, ProxyStatus::Error);
}

TEST(ProxyV2, Tcp4WithTlvs) {
  const std::string block = ipv4_block("\xc0\xa8\x01\x0a", "\xc0\xa8\x01\x01", 12345, 443) +
                            tlv(0x01, "h2") + tlv(0x02, "example.com") + tlv(0x04, "") +
                            tlv(0x20, std::string("\x07\0\0\0\0", 5));
  const std::string header = v2(0x21, 0x11, block);
  Parsed parsed = parse(header + kRequest);
  ASSERT_EQ(parsed.status, ProxyStatus::Complete) << parsed.error;
  EXPECT_EQ(parsed.header.version, 2);
  EXPECT_EQ(parsed.header.protocol, "TCP4");
  EXPECT_EQ(parsed.header.source_host, "192.168.1.10");
  EXPECT_EQ(parsed.header.source_port, 12345);
  EXPECT_EQ(parsed.header.destination_host, "192.168.1.1");
  EXPECT_EQ(parsed.header.destination_port, 443);
  EXPECT_EQ(parsed.header.length, header.size());
  expect_needs_more_at_every_prefix(header);
  expect_needs_more_at_every_prefix(header, ProxyMode::V2);
}

TEST(ProxyV2, Tcp6) {
  std::string source(16, '\0'), destination(16, '\0');
  source[0] = 0x20, source[1] = 0x01, source[2] = 0x0d, source[3] = static_cast<char>(0xb8), source[15] = 1;
  destination[15] = 1;
  const std::string header = v2(0x21, 0x21, source + destination + be16(40000) + be16(8443));
  Parsed parsed = parse(header, ProxyMode::V2);
  ASSERT_EQ(parsed.status, ProxyStatus::Complete) << parsed.error;
  EXPECT_EQ(parsed.header.protocol, "TCP6");
  EXPECT_EQ(parsed.header.source_host, "2001:db8::1");
  EXPECT_EQ(parsed.header.source_port, 40000);
  EXPECT_EQ(parsed.header.destination_host, "::1");
  EXPECT_EQ(parsed.header.destination_port, 8443);
}

TEST(ProxyV2, Unix) {
  std::string source = "/run/client.sock", destination = "/run/narwhal.sock";
  source.resize(108, '\0');
  destination.resize(108, '\0');
  Parsed parsed = parse(v2(0x21, 0x31, source + destination), ProxyMode::V2);
  ASSERT_EQ(parsed.status, ProxyStatus::Complete) << parsed.error;
  EXPECT_EQ(parsed.header.protocol, "UNIX");
  EXPECT_EQ(parsed.header.source_host, "/run/client.sock");
  EXPECT_EQ(parsed.header.source_port, -1);
  EXPECT_EQ(parsed.header.destination_host, "/run/narwhal.sock");
}

TEST(ProxyV2, LocalAndUnspecKeepTheConnectionAddress) {
  // LOCAL: whatever the address block holds is ignored.
  for (const std::string& header : {v2(0x20, 0x00, ""), v2(0x20, 0x11, ipv4_block("\1\2\3\4", "\5\6\7\10", 1, 2)),
                                     v2(0x20, 0xff, "junk")}) {
    Parsed parsed = parse(header + kRequest);
    ASSERT_EQ(parsed.status, ProxyStatus::Complete) << parsed.error;
    EXPECT_EQ(parsed.header.protocol, "LOCAL");
    EXPECT_FALSE(parsed.header.has_source);
    EXPECT_EQ(parsed.header.length, header.size());
  }
  Parsed unspec = parse(v2(0x21, 0x00, "whatever"));
  ASSERT_EQ(unspec.status, ProxyStatus::Complete);
  EXPECT_EQ(unspec.header.protocol, "UNSPEC");
  EXPECT_FALSE(unspec.header.has_source);
}

TEST(ProxyV2, MalformedHeaders) {
  const std::string ipv4 = ipv4_block("\1\2\3\4", "\5\6\7\10", 1, 2);
  const std::vector<std::string> malformed = {
      v2(0x11, 0x11, ipv4),             // version 1 in a v2 header
      v2(0x31, 0x11, ipv4),             // version 3
      v2(0x22, 0x11, ipv4),             // command 2
      v2(0x21, 0x12, ipv4),             // DGRAM
      v2(0x21, 0x10, ipv4),             // transport unspecified
      v2(0x21, 0x41, ipv4),             // family 4
      v2(0x21, 0x11, ipv4.substr(0, 11)),  // short IPv4 block
      v2(0x21, 0x21, std::string(35, '\0')),  // short IPv6 block
      v2(0x21, 0x31, std::string(215, '\0')),  // short UNIX block
      v2(0x21, 0x11, ipv4 + "\x01"),     // TLV without its length
      v2(0x21, 0x11, ipv4 + "\x01\x00"),
      v2(0x21, 0x11, ipv4 + tlv(1, "ab").substr(0, 4)),  // TLV longer than the header
      v2(0x21, 0x11, ipv4 + tlv(1, "ab") + "\x02\x00\x05xy"),
  };
  for (size_t i = 0; i < malformed.size(); ++i) {
    Parsed parsed = parse(malformed[i], ProxyMode::V2);
    EXPECT_EQ(parsed.status, ProxyStatus::Error) << i;
    EXPECT_FALSE(parsed.error.empty()) << i;
  }
}

TEST(ProxyV2, Oversize) {
  const std::string ipv4 = ipv4_block("\1\2\3\4", "\5\6\7\10", 1, 2);
  const std::string largest = ipv4 + tlv(0xE0, std::string(kProxyV2MaxLength - 16 - 12 - 3, 'x'));
  EXPECT_EQ(parse(v2(0x21, 0x11, largest)).status, ProxyStatus::Complete);
  // One byte more is refused as soon as the length field says so, before the bytes arrive.
  const std::string too_long = v2(0x21, 0x11, largest + "x");
  EXPECT_EQ(parse(std::string_view(too_long).substr(0, 16)).status, ProxyStatus::Error);
  const std::string biggest = std::string(kProxyV2Signature) + "\x21\x11\xff\xff";
  EXPECT_EQ(parse(biggest).status, ProxyStatus::Error);
}

TEST(ProxyDetection, PlainHttpIsAbsent) {
  for (ProxyMode mode : {ProxyMode::V1, ProxyMode::V2, ProxyMode::Auto}) {
    EXPECT_EQ(parse(kRequest, mode).status, ProxyStatus::Absent);
    EXPECT_EQ(parse("PROPFIND / HTTP/1.1\r\n", mode).status, ProxyStatus::Absent);
    EXPECT_EQ(parse("\r\nGET / HTTP/1.1\r\n", mode).status, ProxyStatus::Absent);
    EXPECT_EQ(parse("", mode).status, ProxyStatus::NeedMore);
  }
  EXPECT_EQ(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", ProxyMode::Off).status, ProxyStatus::Absent);
  // Each mode recognises only its own version.
  EXPECT_EQ(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", ProxyMode::V2).status, ProxyStatus::Absent);
  EXPECT_EQ(parse(v2(0x20, 0, ""), ProxyMode::V1).status, ProxyStatus::Absent);
  // "PROX" may still become "PROXY " (or "PROXYFIND"): wait; "PROXY" + not a space: absent.
  EXPECT_EQ(parse("PROX", ProxyMode::V1).status, ProxyStatus::NeedMore);
  EXPECT_EQ(parse("PROXYX", ProxyMode::V1).status, ProxyStatus::Absent);
  EXPECT_EQ(parse("\r\n\r\n", ProxyMode::Auto).status, ProxyStatus::NeedMore);
  EXPECT_EQ(parse("\r\n\r\nX", ProxyMode::Auto).status, ProxyStatus::Absent);
}

TEST(ProxyMode, FromText) {
  EXPECT_EQ(proxy_mode_from_text("v1"), ProxyMode::V1);
  EXPECT_EQ(proxy_mode_from_text("v2"), ProxyMode::V2);
  EXPECT_EQ(proxy_mode_from_text("auto"), ProxyMode::Auto);
  EXPECT_EQ(proxy_mode_from_text("off"), ProxyMode::Off);
}

// Every truncation of every malformed header is either NeedMore or the same kind of answer
// (never Complete): errors never depend on where a read ended.
TEST(ProxyTruncation, MalformedPrefixesNeverComplete) {
  const std::vector<std::string> inputs = {
      "PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n",
      v2(0x21, 0x12, ipv4_block("\1\2\3\4", "\5\6\7\10", 1, 2)),
      v2(0x21, 0x11, ipv4_block("\1\2\3\4", "\5\6\7\10", 1, 2) + "\x01\x00"),
  };
  for (const std::string& input : inputs) {
    for (size_t n = 0; n <= input.size(); ++n) {
      ProxyStatus status = parse(std::string_view(input).substr(0, n)).status;
      EXPECT_NE(status, ProxyStatus::Complete) << n;
      EXPECT_NE(status, ProxyStatus::Absent) << n;
    }
  }
}

}  // namespace
}  // namespace narwhal::net
