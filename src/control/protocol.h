// gunicorn 25's control protocol (gunicorn/ctl/protocol.py), as a pure codec: no sockets.
//
//   frame    = length (4 bytes, big-endian) + payload (UTF-8 JSON)
//   request  = {"id": 1, "command": "show", "args": ["workers"]}   (command may hold the args too)
//   reply    = {"id": 1, "status": "ok", "data": {...}}
//            | {"id": 1, "status": "error", "error": "message"}
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace narwhal::control {

// The longest request payload the master buffers. gunicorn allows 16 MiB; a command is a few
// bytes, and the master keeps one buffer per client, so narwhal refuses far less.
inline constexpr uint32_t kMaxRequestBytes = 64 * 1024;

// Splits a byte stream into frames. Bytes are appended as they arrive (any split).
class FrameReader {
 public:
  enum class Result { NeedMore, Frame, TooLarge };
  void append(std::string_view bytes) { buffer_.append(bytes.data(), bytes.size()); }
  // Frame: `payload` holds the next frame's payload (removed from the buffer). TooLarge: the
  // length prefix exceeds `limit` (`length` says how large); the stream cannot be resynced.
  Result next(std::string* payload, uint32_t* length, uint32_t limit = kMaxRequestBytes);
  size_t buffered() const { return buffer_.size(); }

 private:
  std::string buffer_;
  size_t start_ = 0;  // consumed bytes at the front, dropped in batches
};

std::string encode_frame(const nlohmann::json& message);

// A request payload, parsed. `words`: the command split like shlex.split, then the args (as
// str() in Python: strings as they are, numbers in decimal), as gunicorn's server does.
struct Request {
  nlohmann::json id = 0;  // echoed in the reply (gunicorn: message.get("id", 0))
  std::vector<std::string> words;
};
// nullopt with `error` set when the payload is not a request; `id` gets the id when readable.
std::optional<Request> parse_request(std::string_view payload, nlohmann::json* id, std::string* error);

nlohmann::json ok_reply(const nlohmann::json& id, nlohmann::json data);
nlohmann::json error_reply(const nlohmann::json& id, std::string error);

// Text for JSON output: invalid UTF-8 (a request path, a stack dump) becomes U+FFFD, never an
// exception.
std::string dump_json(const nlohmann::json& value, int indent = -1);

}  // namespace narwhal::control
