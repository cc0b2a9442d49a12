// RFC 7692 permessage-deflate, server side of one connection: inflates the client's compressed
// messages (streamed, frame chunk by frame chunk) and deflates ours. zlib raw deflate.
// The zlib streams are created on first use: a connection that never sends a compressed message
// pays nothing for the inflater (≈ 44 KiB), one that never receives one nothing for the
// deflater (≈ 256 KiB at window 15, memLevel 8).
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/websocket.h"

namespace narwhal::http::ws {

class PerMessageDeflate {
 public:
  enum class Result { Ok, TooBig, Corrupt };

  explicit PerMessageDeflate(const DeflateParams& params) : params_(params) {}
  ~PerMessageDeflate();
  PerMessageDeflate(const PerMessageDeflate&) = delete;
  PerMessageDeflate& operator=(const PerMessageDeflate&) = delete;

  // Inflates more of the current message's compressed payload, appending to *out, which must
  // not grow beyond `limit` bytes (TooBig: *out holds the first `limit` bytes). Corrupt: not a
  // valid deflate stream (*out holds what came before the error).
  Result inflate(const uint8_t* data, size_t length, std::string* out, size_t limit);
  // End of the message: RFC 7692 §7.2.2 appends 00 00 ff ff before the last inflate.
  Result finish_message(std::string* out, size_t limit);

  // Replaces *out with the compressed payload of one message (RFC 7692 §7.2.1: sync flush, the
  // trailing 00 00 ff ff removed). False only when zlib fails (out of memory).
  bool compress(std::string_view payload, std::string* out);

 private:
  bool ensure_inflater();
  bool ensure_deflater();

  DeflateParams params_;
  z_stream inflater_{};
  z_stream deflater_{};
  bool inflater_ready_ = false;
  bool deflater_ready_ = false;
  bool stream_ended_ = false;  // the message had a final block (BFINAL): ignore its rest
};

}  // namespace narwhal::http::ws
