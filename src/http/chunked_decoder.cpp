// chunked-body = *chunk last-chunk trailer-section CRLF                       (RFC 9112 §7.1)
// chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
// chunk-ext    = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )  (§7.1.1)
// Everything else (whitespace after the size without ';', signs, bare LF, a bare CR, missing
// CRLF after the data) is an error: lenient chunk parsing is a classic smuggling vector.
#include "http/chunked_decoder.h"

#include <algorithm>

#include "http/chars.h"

namespace narwhal::http {

void ChunkedDecoder::reset(uint64_t body_limit, size_t line_limit) {
  *this = ChunkedDecoder();
  body_limit_ = body_limit;
  line_limit_ = line_limit;
}

ChunkedDecoder::Result ChunkedDecoder::fail(int status, const char* reason) {
  error_status_ = status;
  error_reason_ = reason;
  return Result::Error;
}

bool ChunkedDecoder::size_line_byte(char c) {
  const bool ows = chars::is_ows(c);
  switch (state_) {
    case State::Size: {
      const int v = chars::hex_value(c);
      if (v >= 0) {
        if (size_ > (UINT64_MAX >> 4)) return false;  // overflow
        size_ = size_ * 16 + uint64_t(v);
        ++digits_;
        return true;
      }
      if (digits_ == 0) return false;
      if (c == ';') state_ = State::ExtNameStart;
      else if (ows) state_ = State::SizeBws;  // only valid if a ';' follows
      else if (c == '\r') state_ = State::SizeLf;
      else return false;
      return true;
    }
    case State::SizeBws:
    case State::ExtNameBws:
    case State::ExtValueBws:
      if (ows) return true;
      if (c == ';') { state_ = State::ExtNameStart; return true; }
      if (c == '=' && state_ == State::ExtNameBws) { state_ = State::ExtValueStart; return true; }
      return false;
    case State::ExtNameStart:
      if (ows) return true;
      if (!chars::is_token(c)) return false;
      state_ = State::ExtName;
      return true;
    case State::ExtName:
    case State::ExtToken:
      if (chars::is_token(c)) return true;
      if (c == ';') state_ = State::ExtNameStart;
      else if (c == '=' && state_ == State::ExtName) state_ = State::ExtValueStart;
      else if (ows) state_ = state_ == State::ExtName ? State::ExtNameBws : State::ExtValueBws;
      else if (c == '\r') state_ = State::SizeLf;
      else return false;
      return true;
    case State::ExtValueStart:
      if (ows) return true;
      if (c == '"') state_ = State::ExtQuoted;
      else if (chars::is_token(c)) state_ = State::ExtToken;
      else return false;
      return true;
    case State::ExtQuoted:  // quoted-string (RFC 9110 §5.6.4)
      if (c == '"') state_ = State::ExtValueEnd;
      else if (c == '\\') state_ = State::ExtQuotedPair;
      else if (!chars::is(chars::kQdText, c)) return false;
      return true;
    case State::ExtQuotedPair:  // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
      if (c != '\t' && (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)) return false;
      state_ = State::ExtQuoted;
      return true;
    case State::ExtValueEnd:
      if (c == ';') state_ = State::ExtNameStart;
      else if (ows) state_ = State::ExtValueBws;
      else if (c == '\r') state_ = State::SizeLf;
      else return false;
      return true;
    case State::SizeLf:
      return c == '\n' && end_size_line();
    default:
      return false;
  }
}

bool ChunkedDecoder::end_size_line() {
  line_length_ = 0;
  if (size_ == 0) {
    last_ = true;
    return true;
  }
  // Checked when the chunk is announced: the limit is exceeded no matter how it arrives.
  total_ += size_;
  if (body_limit_ != 0 && total_ > body_limit_) return false;
  remaining_ = size_;
  state_ = State::Data;
  return true;
}

ChunkedDecoder::Result ChunkedDecoder::feed(const char* data, size_t len, size_t* consumed,
                                            std::string* body) {
  size_t pos = 0;
  *consumed = 0;
  while (pos < len) {
    if (state_ == State::Data) {
      const size_t n = size_t(std::min<uint64_t>(remaining_, len - pos));
      if (body != nullptr) body->append(data + pos, n);
      pos += n;
      remaining_ -= n;
      if (remaining_ == 0) state_ = State::DataCr;
      continue;
    }
    const char c = data[pos++];
    if (state_ == State::DataCr || state_ == State::DataLf) {
      if (c != (state_ == State::DataCr ? '\r' : '\n'))
        return fail(400, "missing CRLF after chunk data");
      if (state_ == State::DataLf) { state_ = State::Size; size_ = 0; digits_ = 0; }
      else state_ = State::DataLf;
      continue;
    }
    if (++line_length_ > line_limit_) return fail(400, "chunk-size line too long");
    if (!size_line_byte(c)) {
      if (body_limit_ != 0 && total_ > body_limit_) return fail(413, "chunked body exceeds the body limit");
      if (state_ == State::SizeLf) return fail(400, "CR without LF in chunk-size line");
      if (state_ == State::SizeBws) return fail(400, "whitespace after chunk size");
      if (digits_ == 0 || state_ == State::Size) return fail(400, "invalid chunk size");
      return fail(400, "invalid chunk extension");
    }
    if (last_) {
      *consumed = pos;
      return Result::LastChunk;
    }
  }
  *consumed = pos;
  return Result::NeedMore;
}

}  // namespace narwhal::http
