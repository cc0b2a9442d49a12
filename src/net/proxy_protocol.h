// The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2): the header a TCP proxy
// (HAProxy, stunnel, AWS NLB, …) sends before the client's bytes, naming the client it relays.
// A pure parser: bytes in, a verdict out; no I/O, no allocation beyond the result's strings.
// The engine's connection preamble (src/workers/engine_preamble.cpp) drives it; docs/proxies.md.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace narwhal::net {

// gunicorn's proxy_protocol values.
enum class ProxyMode { Off, V1, V2, Auto };

// "off", "v1", "v2", "auto" (the settings table has validated it); anything else is Off.
ProxyMode proxy_mode_from_text(std::string_view text);

// proxy-protocol.txt §2.1: a v1 line is at most 107 bytes, "PROXY" to CRLF included.
inline constexpr size_t kProxyV1MaxLength = 107;
// §2.2 allows 16 + 65535 bytes; the address block is at most 216 bytes (AF_UNIX) and the TLVs
// real proxies send (ALPN, authority, SSL, AWS/Azure/GCP ids, CRC) are far below this. A
// longer header is refused rather than buffered.
inline constexpr size_t kProxyV2MaxLength = 16 + 4096;
// The 12-byte v2 signature.
inline constexpr std::string_view kProxyV2Signature{"\r\n\r\n\0\r\nQUIT\n", 12};

struct ProxyHeader {
  int version = 0;  // 1 or 2
  // "TCP4", "TCP6", "UNIX" (v2), or — when the header carries no address and the connection's
  // own addresses stand — "UNKNOWN" (v1), "LOCAL" (v2 LOCAL command), "UNSPEC" (v2 AF_UNSPEC).
  std::string protocol;
  bool has_source = false;   // false: UNKNOWN, LOCAL, UNSPEC — keep the real peer address
  std::string source_host;   // the client: an IP in canonical text form, or a unix path
  int source_port = -1;      // -1 for UNIX
  std::string destination_host;  // the address the client connected to (on the proxy)
  int destination_port = -1;
  size_t length = 0;  // bytes of the header; the HTTP request starts right after them
};

enum class ProxyStatus {
  NeedMore,  // a header (or what may yet become one) is incomplete: read more
  Complete,  // *header is filled; header->length bytes belong to it
  Absent,    // the bytes do not start with a header this mode accepts (nothing consumed)
  Error,     // a malformed or unsupported header: *error says why
};

// Looks for a PROXY header at the start of `data` (all the bytes received so far). Results do
// not depend on how the bytes were split between reads. `mode` chooses which versions are
// recognised (Off: always Absent); whether an Absent header is acceptable is the caller's call.
ProxyStatus parse_proxy_header(std::string_view data, ProxyMode mode, ProxyHeader* header,
                               std::string* error);

}  // namespace narwhal::net
