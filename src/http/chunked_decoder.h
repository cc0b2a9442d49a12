// Internal: incremental decoder for the chunked transfer coding (RFC 9112 §7.1), up to and
// including the last-chunk line. The trailer section that follows is field lines and is read by
// the request parser with the same code as the header section.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace narwhal::http {

class ChunkedDecoder {
 public:
  enum class Result { NeedMore, LastChunk, Error };

  // body_limit: max decoded bytes (0 = unlimited) → 413. line_limit: max bytes of one
  // chunk-size line including extensions and CRLF → 400.
  void reset(uint64_t body_limit, size_t line_limit);

  // Decodes data[0, len): appends chunk data to *body (discarded when null). On LastChunk,
  // *consumed stops right after the last-chunk's CRLF.
  Result feed(const char* data, size_t len, size_t* consumed, std::string* body);

  int error_status() const { return error_status_; }
  const char* error_reason() const { return error_reason_; }

 private:
  enum class State : uint8_t {
    Size, SizeBws, ExtNameStart, ExtName, ExtNameBws, ExtValueStart, ExtToken, ExtQuoted,
    ExtQuotedPair, ExtValueEnd, ExtValueBws, SizeLf, Data, DataCr, DataLf
  };
  bool size_line_byte(char c);  // false on error
  bool end_size_line();
  Result fail(int status, const char* reason);

  State state_ = State::Size;
  uint64_t size_ = 0;
  unsigned digits_ = 0;
  uint64_t remaining_ = 0;
  uint64_t total_ = 0;
  uint64_t body_limit_ = 0;
  size_t line_length_ = 0;
  size_t line_limit_ = 0;
  bool last_ = false;
  int error_status_ = 0;
  const char* error_reason_ = nullptr;
};

}  // namespace narwhal::http
