// Incremental UTF-8 validation (RFC 3629 §4: no overlong forms, no surrogates, nothing above
// U+10FFFF). A sequence may be split across feed() calls (WebSocket fragments, inflate output).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace narwhal::http {

class Utf8Validator {
 public:
  // False once the bytes seen so far cannot start a valid UTF-8 text.
  bool feed(const void* data, size_t length) {
    const auto* p = static_cast<const uint8_t*>(data);
    const uint8_t* const end = p + length;
    if (invalid_) return false;
    while (p < end) {
      if (need_ == 0) {
        // ASCII fast path, 8 bytes at a time.
        while (end - p >= 8) {
          uint64_t word;
          std::memcpy(&word, p, 8);
          if (word & 0x8080808080808080ull) break;
          p += 8;
        }
        if (p == end) break;
        const uint8_t b = *p++;
        if (b < 0x80) continue;
        lower_ = 0x80;
        upper_ = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) {
          need_ = 1;
        } else if (b >= 0xE0 && b <= 0xEF) {
          need_ = 2;
          if (b == 0xE0) lower_ = 0xA0;  // overlong
          if (b == 0xED) upper_ = 0x9F;  // surrogates U+D800..DFFF
        } else if (b >= 0xF0 && b <= 0xF4) {
          need_ = 3;
          if (b == 0xF0) lower_ = 0x90;  // overlong
          if (b == 0xF4) upper_ = 0x8F;  // above U+10FFFF
        } else {
          return fail();  // 0x80–0xC1 (continuation / overlong lead), 0xF5–0xFF
        }
      } else {
        const uint8_t b = *p++;
        if (b < lower_ || b > upper_) return fail();
        lower_ = 0x80;
        upper_ = 0xBF;
        --need_;
      }
    }
    return true;
  }
  bool complete() const { return !invalid_ && need_ == 0; }  // ends on a character boundary
  void reset() { *this = Utf8Validator(); }

 private:
  bool fail() {
    invalid_ = true;
    return false;
  }
  uint8_t need_ = 0;  // continuation bytes still expected
  uint8_t lower_ = 0x80, upper_ = 0xBF;
  bool invalid_ = false;
};

inline bool is_valid_utf8(const void* data, size_t length) {
  Utf8Validator v;
  return v.feed(data, length) && v.complete();
}

}  // namespace narwhal::http
