// Follows the frame boundaries of a client's byte stream ahead of wslay (RFC 6455 §5.2), for
// what wslay 1.1.1 gets wrong (docs/http.md "WebSocket"):
//  * header-level violations its frame layer answers with an EMPTY close frame (control frame
//    over 125 bytes or fragmented, non-minimal or 64-bit-top-bit lengths) or accepts (a 1-byte
//    close body): the scanner stops before them, the session sends 1002;
//  * the close frame: wslay validates its reason's UTF-8 from byte 2 of every chunk it reads, so
//    a close split across reads is misjudged (valid reasons refused, invalid ones passed). The
//    close frame never reaches wslay: the scanner collects it and the session handles it.
// Internal to src/http (websocket_session.cpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace narwhal::http::ws {

class FrameScanner {
 public:
  struct Result {
    size_t to_wslay = 0;          // leading bytes of the input that go to wslay
    bool violation = false;       // the frame after them breaks a header rule (1002)
    bool close_complete = false;  // close_frame() holds a whole close frame
  };

  // Nothing may be scanned after a violation or a complete close frame.
  Result scan(const uint8_t* data, size_t length) {
    Result result;
    result.to_wslay = in_close_ ? 0 : length;
    size_t i = 0;
    while (i < length) {
      if (payload_left_ > 0) {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(payload_left_, length - i));
        if (in_close_) close_.append(reinterpret_cast<const char*>(data + i), take);
        i += take;
        payload_left_ -= take;
        if (in_close_ && payload_left_ == 0) return result.close_complete = true, result;
        continue;
      }
      const uint8_t byte = data[i];
      header_[have_++] = byte;
      if (have_ == 1 && (byte & 0x0f) == 0x8) {  // a close frame starts: from here on it is ours
        in_close_ = true;
        result.to_wslay = i;
      }
      if (!header_byte_ok()) {
        if (!in_close_) result.to_wslay = i;
        result.violation = true;
        return result;
      }
      if (in_close_) close_.push_back(static_cast<char>(byte));
      ++i;
      if (have_ >= 2 && have_ == header_size()) {
        payload_left_ = payload_length();
        have_ = 0;
        if (in_close_ && payload_left_ == 0) return result.close_complete = true, result;
      }
    }
    return result;
  }

  std::string_view close_frame() const { return close_; }  // header + (masked) payload

 private:
  bool control() const { return (header_[0] & 0x08) != 0; }
  size_t extended_length_size() const {
    const uint8_t length7 = header_[1] & 0x7f;
    return length7 == 126 ? 2 : length7 == 127 ? 8 : 0;
  }
  size_t header_size() const { return 2 + extended_length_size() + ((header_[1] & 0x80) ? 4 : 0); }
  uint64_t extended_length() const {
    uint64_t value = 0;
    for (size_t k = 0; k < extended_length_size(); ++k) value = (value << 8) | header_[2 + k];
    return value;
  }
  uint64_t payload_length() const {
    return extended_length_size() ? extended_length() : (header_[1] & 0x7f);
  }
  bool header_byte_ok() const {
    if (have_ == 1) return !control() || (header_[0] & 0x80);  // §5.5: control frames not fragmented
    if (have_ == 2) {
      const uint8_t length7 = header_[1] & 0x7f;
      if (control() && length7 > 125) return false;  // §5.5: control payload ≤ 125
      // §5.5.1: a close body starts with a 2-byte code, so 1 byte is malformed.
      return !((header_[0] & 0x0f) == 0x8 && length7 == 1);
    }
    if (extended_length_size() > 0 && have_ == 2 + extended_length_size()) {
      // §5.2: the minimal number of bytes MUST be used; the 64-bit form's top bit MUST be 0.
      const uint64_t value = extended_length();
      if (extended_length_size() == 2) return value >= 126;
      return value >= 65536 && (value >> 63) == 0;
    }
    return true;
  }

  uint8_t header_[14] = {};
  size_t have_ = 0;  // header bytes of the current frame seen so far (0: between frames/payload)
  uint64_t payload_left_ = 0;
  bool in_close_ = false;
  std::string close_;
};

}  // namespace narwhal::http::ws
