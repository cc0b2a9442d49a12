// Helpers for the WebSocket tests: client frames built by hand (masked, RFC 6455 §5.2), the
// server's output split into frames, zlib raw deflate/inflate for permessage-deflate.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/websocket.h"

namespace narwhal::http::ws::testing {

struct FrameSpec {
  bool fin = true;
  bool rsv1 = false;
  bool mask = true;
};

// One client→server frame with opcode and payload.
inline std::string frame(uint8_t opcode, std::string_view payload, FrameSpec spec = {}) {
  std::string out;
  out.push_back(static_cast<char>((spec.fin ? 0x80 : 0) | (spec.rsv1 ? 0x40 : 0) | opcode));
  const uint8_t mask_bit = spec.mask ? 0x80 : 0;
  const uint64_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<char>(mask_bit | n));
  } else if (n <= 0xffff) {
    out.push_back(static_cast<char>(mask_bit | 126));
    for (int s = 8; s >= 0; s -= 8) out.push_back(static_cast<char>(n >> s));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<char>(n >> s));
  }
  const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  if (spec.mask) out.append(reinterpret_cast<const char*>(key), 4);
  for (size_t i = 0; i < payload.size(); ++i)
    out.push_back(spec.mask ? static_cast<char>(payload[i] ^ key[i % 4]) : payload[i]);
  return out;
}

inline std::string text(std::string_view payload, FrameSpec spec = {}) { return frame(0x1, payload, spec); }
inline std::string binary(std::string_view payload, FrameSpec spec = {}) { return frame(0x2, payload, spec); }
inline std::string continuation(std::string_view payload, FrameSpec spec = {}) {
  return frame(0x0, payload, spec);
}
inline std::string ping(std::string_view payload) { return frame(0x9, payload); }
inline std::string close_frame(int code, std::string_view reason = {}) {
  std::string body;
  body.push_back(static_cast<char>(code >> 8));
  body.push_back(static_cast<char>(code & 0xff));
  body.append(reason);
  return frame(0x8, body);
}

struct ServerFrame {
  bool fin;
  bool rsv1;
  int opcode;
  std::string payload;
  int close_code() const {
    return payload.size() >= 2 ? (uint8_t(payload[0]) << 8 | uint8_t(payload[1])) : 1005;
  }
};

// Splits server output into frames; *ok = false when it is not a sequence of complete, unmasked,
// well-formed frames.
inline std::vector<ServerFrame> parse_output(std::string_view out, bool* ok) {
  std::vector<ServerFrame> frames;
  *ok = true;
  size_t i = 0;
  while (i < out.size()) {
    if (out.size() - i < 2) return *ok = false, frames;
    const uint8_t b0 = out[i], b1 = out[i + 1];
    if ((b1 & 0x80) || (b0 & 0x30)) return *ok = false, frames;  // masked, RSV2/3
    uint64_t n = b1 & 0x7f;
    size_t header = 2;
    if (n == 126 || n == 127) {
      const size_t ext = n == 126 ? 2 : 8;
      if (out.size() - i < 2 + ext) return *ok = false, frames;
      n = 0;
      for (size_t k = 0; k < ext; ++k) n = (n << 8) | uint8_t(out[i + 2 + k]);
      header += ext;
    }
    if (out.size() - i - header < n) return *ok = false, frames;
    frames.push_back({(b0 & 0x80) != 0, (b0 & 0x40) != 0, b0 & 0x0f,
                      std::string(out.substr(i + header, n))});
    i += header + n;
  }
  return frames;
}

// Raw deflate as a client would (RFC 7692 §7.2.1): sync flush, 00 00 ff ff removed.
class ClientDeflater {
 public:
  explicit ClientDeflater(int window_bits = 15) {
    deflateInit2(&z_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -window_bits, 8, Z_DEFAULT_STRATEGY);
  }
  ~ClientDeflater() { deflateEnd(&z_); }
  ClientDeflater(const ClientDeflater&) = delete;
  ClientDeflater& operator=(const ClientDeflater&) = delete;
  std::string compress(std::string_view in, int flush = Z_SYNC_FLUSH) {
    std::string out(in.size() + 1024, '\0');
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    z_.next_out = reinterpret_cast<Bytef*>(out.data());
    z_.avail_out = static_cast<uInt>(out.size());
    deflate(&z_, flush);
    out.resize(out.size() - z_.avail_out);
    if (flush == Z_SYNC_FLUSH && out.size() >= 4 && out.substr(out.size() - 4) == std::string("\0\0\xff\xff", 4))
      out.resize(out.size() - 4);
    if (flush == Z_FINISH) deflateReset(&z_);
    return out;
  }

 private:
  z_stream z_{};
};

class ClientInflater {
 public:
  ClientInflater() { inflateInit2(&z_, -15); }
  ~ClientInflater() { inflateEnd(&z_); }
  ClientInflater(const ClientInflater&) = delete;
  ClientInflater& operator=(const ClientInflater&) = delete;
  void reset() { inflateReset(&z_); }
  // Inflates one message's payload (the tail appended, RFC 7692 §7.2.2); *ok = false on error.
  std::string inflate(std::string payload, bool* ok) {
    payload.append("\0\0\xff\xff", 4);
    std::string out;
    z_.next_in = reinterpret_cast<Bytef*>(payload.data());
    z_.avail_in = static_cast<uInt>(payload.size());
    *ok = true;
    char buffer[4096];
    do {
      z_.next_out = reinterpret_cast<Bytef*>(buffer);
      z_.avail_out = sizeof buffer;
      const int rc = ::inflate(&z_, Z_SYNC_FLUSH);
      if (rc != Z_OK && rc != Z_BUF_ERROR) *ok = false;
      out.append(buffer, sizeof buffer - z_.avail_out);
      if (rc != Z_OK) break;
    } while (z_.avail_in > 0 || z_.avail_out == 0);
    return out;
  }

 private:
  z_stream z_{};
};

}  // namespace narwhal::http::ws::testing
