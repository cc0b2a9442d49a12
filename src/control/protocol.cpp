#include "control/protocol.h"

#include "config/config.h"

namespace narwhal::control {

FrameReader::Result FrameReader::next(std::string* payload, uint32_t* length, uint32_t limit) {
  const size_t available = buffer_.size() - start_;
  if (available < 4) return Result::NeedMore;
  const auto* bytes = reinterpret_cast<const unsigned char*>(buffer_.data() + start_);
  const uint32_t size = (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) | bytes[3];
  *length = size;
  if (size > limit) return Result::TooLarge;
  if (available - 4 < size) return Result::NeedMore;
  payload->assign(buffer_, start_ + 4, size);
  start_ += 4 + size;
  if (start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  } else if (start_ > 4096) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  return Result::Frame;
}

std::string dump_json(const nlohmann::json& value, int indent) {
  return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string encode_frame(const nlohmann::json& message) {
  const std::string payload = dump_json(message);
  const auto size = static_cast<uint32_t>(payload.size());
  std::string frame;
  frame.reserve(4 + payload.size());
  frame.push_back(static_cast<char>(size >> 24));
  frame.push_back(static_cast<char>(size >> 16));
  frame.push_back(static_cast<char>(size >> 8));
  frame.push_back(static_cast<char>(size));
  frame += payload;
  return frame;
}

namespace {

// Python's str() of a JSON value, for args: gunicorn does `str(a) for a in args`.
std::string python_str(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "True" : "False";
  if (value.is_null()) return "None";
  return dump_json(value);
}

}  // namespace

std::optional<Request> parse_request(std::string_view payload, nlohmann::json* id, std::string* error) {
  *id = nullptr;
  nlohmann::json message = nlohmann::json::parse(payload, nullptr, false);
  if (message.is_discarded()) {
    *error = "Invalid JSON";
    return std::nullopt;
  }
  if (!message.is_object()) {
    *error = "Invalid message: expected a JSON object";
    return std::nullopt;
  }
  Request request;
  if (auto it = message.find("id"); it != message.end()) request.id = *it;
  *id = request.id;
  std::string command;
  if (auto it = message.find("command"); it != message.end()) {
    if (!it->is_string()) {
      *error = "Invalid message: command must be a string";
      return std::nullopt;
    }
    command = it->get<std::string>();
  }
  std::optional<std::vector<std::string>> words = config::split_shell_words(command);
  if (!words) {
    *error = "Invalid argument: No closing quotation";
    return std::nullopt;
  }
  request.words = std::move(*words);
  if (request.words.empty()) {
    *error = "Empty command";
    return std::nullopt;
  }
  if (auto it = message.find("args"); it != message.end() && !it->is_null()) {
    if (!it->is_array()) {
      *error = "Invalid message: args must be a list";
      return std::nullopt;
    }
    for (const nlohmann::json& arg : *it) request.words.push_back(python_str(arg));
  }
  return request;
}

nlohmann::json ok_reply(const nlohmann::json& id, nlohmann::json data) {
  if (data.is_null()) data = nlohmann::json::object();
  return {{"id", id}, {"status", "ok"}, {"data", std::move(data)}};
}

nlohmann::json error_reply(const nlohmann::json& id, std::string error) {
  return {{"id", id}, {"status", "error"}, {"error", std::move(error)}};
}

}  // namespace narwhal::control
