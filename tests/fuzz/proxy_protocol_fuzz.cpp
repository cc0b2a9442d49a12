// libFuzzer target for the PROXY protocol parser (net/proxy_protocol.h).
//
// Input: byte 0 = mode (v1, v2, auto), the rest = the first bytes of a connection. Checks,
// beyond "no crash/UB": a Complete header lies within the input; the verdict on a prefix is
// consistent with the verdict on the whole (a complete header is NeedMore one byte short and
// the same header at its exact length; an error or an absent header stays so with more bytes);
// a header's source is an address its protocol allows.
#include <arpa/inet.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "net/proxy_protocol.h"

namespace {

using narwhal::net::ProxyHeader;
using narwhal::net::ProxyMode;
using narwhal::net::ProxyStatus;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "FUZZ FAILURE: %s\n", what);
  std::abort();
}

ProxyStatus parse(std::string_view data, ProxyMode mode, ProxyHeader* header) {
  std::string error;
  ProxyStatus status = narwhal::net::parse_proxy_header(data, mode, header, &error);
  if (status == ProxyStatus::Error && error.empty()) fail("an error without a reason");
  return status;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const ProxyMode mode = data[0] % 3 == 0 ? ProxyMode::V1 : data[0] % 3 == 1 ? ProxyMode::V2 : ProxyMode::Auto;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  ProxyHeader header;
  const ProxyStatus status = parse(input, mode, &header);
  if (status == ProxyStatus::Complete) {
    if (header.length == 0 || header.length > input.size()) fail("header length outside the input");
    ProxyHeader exact, short_one;
    if (parse(input.substr(0, header.length), mode, &exact) != ProxyStatus::Complete) fail("exact length not complete");
    if (exact.protocol != header.protocol || exact.source_host != header.source_host ||
        exact.source_port != header.source_port || exact.length != header.length) {
      fail("exact length parsed differently");
    }
    if (parse(input.substr(0, header.length - 1), mode, &short_one) != ProxyStatus::NeedMore) {
      fail("one byte short is not NeedMore");
    }
    if (header.has_source && header.protocol != "UNIX") {
      unsigned char bytes[16];
      const int family = header.protocol == "TCP4" ? AF_INET : AF_INET6;
      if (inet_pton(family, header.source_host.c_str(), bytes) != 1) fail("source is not an address");
      if (header.source_port < 0 || header.source_port > 65535) fail("source port out of range");
    }
  } else if (status != ProxyStatus::NeedMore) {
    // Errors and absence are decided on bytes already seen: every longer input agrees.
    for (size_t n = input.size(); n > 0 && n + 16 > input.size(); --n) {
      ProxyHeader prefix;
      const ProxyStatus shorter = parse(input.substr(0, n), mode, &prefix);
      if (shorter == ProxyStatus::Complete) fail("a prefix completed but the whole did not");
      if (shorter != ProxyStatus::NeedMore && shorter != status) fail("a prefix gave another verdict");
    }
  }
  return 0;
}
