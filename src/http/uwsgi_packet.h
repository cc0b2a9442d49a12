// The uwsgi protocol's request packet (uwsgi-docs "The uwsgi Protocol"), as nginx's uwsgi_pass
// sends it: a 4-byte header — modifier1 (0: a WSGI request), a little-endian 16-bit datasize,
// modifier2 — then `datasize` bytes of variables, each a little-endian 16-bit key size, the
// key, a 16-bit value size, the value. The request body (CONTENT_LENGTH bytes) follows.
// A pure parser: bytes in, views into those bytes out; no I/O. RequestParser's uwsgi mode
// (ParserOptions::uwsgi) turns the variables into a RequestHead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace narwhal::http {

inline constexpr size_t kUwsgiHeaderSize = 4;
// gunicorn (uwsgi/message.py MAX_UWSGI_VARS): more variables than this is refused.
inline constexpr size_t kUwsgiMaxVars = 1000;

struct UwsgiVar {
  std::string_view key;
  std::string_view value;
};

struct UwsgiPacket {
  unsigned modifier1 = 0;
  unsigned modifier2 = 0;
  size_t length = 0;  // header + variables: where the body starts
  std::vector<UwsgiVar> vars;  // in packet order (views into the parsed bytes)
};

enum class UwsgiStatus { NeedMore, Complete, Error };

// Bytes a packet whose first kUwsgiHeaderSize bytes are `header` occupies (header included).
size_t uwsgi_packet_length(const char* header);

// Parses the packet at the start of `data`. NeedMore: fewer bytes than the packet needs.
// Error: *status (400 malformed, 501 a modifier1 other than 0, 431 too many variables) and
// *reason. The verdict does not depend on how the bytes were split between reads.
UwsgiStatus parse_uwsgi_packet(std::string_view data, UwsgiPacket* packet, int* status, const char** reason);

}  // namespace narwhal::http
