// RFC 7692 permessage-deflate with zlib (see permessage_deflate.h).
#include "http/permessage_deflate.h"

#include <algorithm>
#include <climits>

namespace narwhal::http::ws {
namespace {

constexpr uint8_t kTail[4] = {0x00, 0x00, 0xff, 0xff};  // RFC 7692 §7.2.1 / §7.2.2
constexpr int kMemLevel = 8;                           // zlib's default

}  // namespace

PerMessageDeflate::~PerMessageDeflate() {
  if (inflater_ready_) inflateEnd(&inflater_);
  if (deflater_ready_) deflateEnd(&deflater_);
}

bool PerMessageDeflate::ensure_inflater() {
  // Window 15 whatever client_max_window_bits says: a decoder with a larger window reads any
  // stream made with a smaller one (RFC 7692 §7.1.2.2 only limits the client's compressor).
  if (!inflater_ready_) inflater_ready_ = inflateInit2(&inflater_, -15) == Z_OK;
  return inflater_ready_;
}

bool PerMessageDeflate::ensure_deflater() {
  // The window is what we promised (server_max_window_bits, 9–15: handshake declines 8, which
  // zlib's raw deflate does not support).
  const int bits = std::clamp(params_.server_max_window_bits, 9, 15);
  if (!deflater_ready_)
    deflater_ready_ =
        deflateInit2(&deflater_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -bits, kMemLevel,
                     Z_DEFAULT_STRATEGY) == Z_OK;
  return deflater_ready_;
}

PerMessageDeflate::Result PerMessageDeflate::inflate(const uint8_t* data, size_t length,
                                                     std::string* out, size_t limit) {
  if (!ensure_inflater()) return Result::Corrupt;
  if (stream_ended_) return Result::Ok;
  z_stream& z = inflater_;
  unsigned char buffer[16384];
  while (true) {
    if (z.avail_in == 0 && length > 0) {
      const size_t piece = std::min<size_t>(length, UINT_MAX);
      z.next_in = const_cast<Bytef*>(data);
      z.avail_in = static_cast<uInt>(piece);
      data += piece;
      length -= piece;
    }
    z.next_out = buffer;
    z.avail_out = sizeof buffer;
    const int rc = ::inflate(&z, Z_SYNC_FLUSH);
    const size_t produced = sizeof buffer - z.avail_out;
    if (produced > 0) {
      // Over the limit: the bytes up to it are still appended, so that the caller checks them
      // (UTF-8) the same way however the input was split.
      const size_t room = limit - std::min(limit, out->size());
      out->append(reinterpret_cast<const char*>(buffer), std::min(produced, room));
      if (produced > room) return Result::TooBig;
    }
    if (rc == Z_STREAM_END) {
      // A final block (BFINAL=1) ends the deflate stream: the rest of the message (at least the
      // appended tail) is not deflate data; the next message starts a new stream.
      stream_ended_ = true;
      break;
    } else if (rc == Z_BUF_ERROR) {
      // No progress: either all input is used (the rest comes with the next chunk) or …
      if (z.avail_in == 0) {
        if (length == 0) break;
        continue;
      }
      if (z.avail_out != 0) return Result::Corrupt;  // … input left and room left: stuck
    } else if (rc != Z_OK) {
      return Result::Corrupt;  // Z_DATA_ERROR, Z_NEED_DICT (a zlib header), Z_MEM_ERROR
    }
    if (z.avail_in == 0 && length == 0 && z.avail_out != 0) break;
  }
  z.next_in = nullptr;  // input left after a final block is dropped
  z.avail_in = 0;
  return Result::Ok;
}

PerMessageDeflate::Result PerMessageDeflate::finish_message(std::string* out, size_t limit) {
  const Result result = inflate(kTail, sizeof kTail, out, limit);
  // client_no_context_takeover: the client starts each message with an empty window (§7.1.1.2),
  // so ours may start empty too.
  if (result == Result::Ok && (stream_ended_ || params_.client_no_context_takeover))
    inflateReset(&inflater_);
  stream_ended_ = false;
  return result;
}

bool PerMessageDeflate::compress(std::string_view payload, std::string* out) {
  if (!ensure_deflater()) return false;
  z_stream& z = deflater_;
  out->clear();
  size_t used = 0;
  size_t left = payload.size();
  const char* next = payload.data();
  out->resize(deflateBound(&z, std::min<size_t>(left, UINT_MAX)) + 16);
  while (true) {
    if (z.avail_in == 0 && left > 0) {
      const size_t piece = std::min<size_t>(left, UINT_MAX);
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(next));
      z.avail_in = static_cast<uInt>(piece);
      next += piece;
      left -= piece;
    }
    const size_t room = std::min<size_t>(out->size() - used, UINT_MAX);
    z.next_out = reinterpret_cast<Bytef*>(out->data() + used);
    z.avail_out = static_cast<uInt>(room);
    const int rc = deflate(&z, Z_SYNC_FLUSH);
    used += room - z.avail_out;
    if (rc != Z_OK && rc != Z_BUF_ERROR) return false;
    // With a flush, deflate has emitted everything once it returns with output space left.
    if (z.avail_out != 0 && z.avail_in == 0 && left == 0) break;
    if (z.avail_out == 0) out->resize(out->size() * 2);
  }
  z.next_in = nullptr;
  out->resize(used);
  if (used >= sizeof kTail && std::equal(kTail, kTail + 4, out->end() - 4,
                                         [](uint8_t a, char b) { return a == uint8_t(b); }))
    out->resize(used - sizeof kTail);
  // Nothing new since the last flush gives no output at all, but a compressed payload is never
  // empty (§7.2.1: it ends in an empty stored block's header): §7.2.3.6's single 00 byte.
  if (out->empty()) out->push_back('\0');
  // server_no_context_takeover: the client may drop its window after each message (§7.1.1.1).
  if (params_.server_no_context_takeover) deflateReset(&z);
  return true;
}

}  // namespace narwhal::http::ws
