#include "http/uwsgi_packet.h"

namespace narwhal::http {
namespace {

size_t little_endian_16(const char* bytes) {
  return static_cast<size_t>(static_cast<unsigned char>(bytes[0])) |
         (static_cast<size_t>(static_cast<unsigned char>(bytes[1])) << 8);
}

UwsgiStatus fail(int* status, const char** reason, int code, const char* why) {
  *status = code;
  *reason = why;
  return UwsgiStatus::Error;
}

}  // namespace

size_t uwsgi_packet_length(const char* header) { return kUwsgiHeaderSize + little_endian_16(header + 1); }

UwsgiStatus parse_uwsgi_packet(std::string_view data, UwsgiPacket* packet, int* status, const char** reason) {
  if (data.empty()) return UwsgiStatus::NeedMore;
  // modifier1 0 is a WSGI request; gunicorn answers any other (UnsupportedModifier) with 501.
  if (data[0] != 0) return fail(status, reason, 501, "unsupported uwsgi modifier1");
  if (data.size() < kUwsgiHeaderSize) return UwsgiStatus::NeedMore;
  const size_t length = uwsgi_packet_length(data.data());
  if (data.size() < length) return UwsgiStatus::NeedMore;
  packet->modifier1 = 0;
  packet->modifier2 = static_cast<unsigned char>(data[3]);
  packet->length = length;
  packet->vars.clear();
  const char* block = data.data() + kUwsgiHeaderSize;
  const size_t size = length - kUwsgiHeaderSize;
  for (size_t offset = 0; offset < size;) {
    if (packet->vars.size() >= kUwsgiMaxVars) return fail(status, reason, 431, "too many uwsgi variables");
    if (size - offset < 2) return fail(status, reason, 400, "truncated uwsgi key size");
    const size_t key_size = little_endian_16(block + offset);
    offset += 2;
    if (size - offset < key_size) return fail(status, reason, 400, "truncated uwsgi key");
    const std::string_view key(block + offset, key_size);
    offset += key_size;
    if (size - offset < 2) return fail(status, reason, 400, "truncated uwsgi value size");
    const size_t value_size = little_endian_16(block + offset);
    offset += 2;
    if (size - offset < value_size) return fail(status, reason, 400, "truncated uwsgi value");
    packet->vars.push_back({key, std::string_view(block + offset, value_size)});
    offset += value_size;
  }
  return UwsgiStatus::Complete;
}

}  // namespace narwhal::http
