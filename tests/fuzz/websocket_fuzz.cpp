// libFuzzer target for the WebSocket session (src/http/websocket_session.cpp, on wslay).
//
// Input: byte 0 = flags (bit 0: raw bytes instead of a frame program; bit 1: permessage-deflate;
// bits 2–3: server/client_no_context_takeover; bit 4: 300-byte message limit; bits 5–7: our
// window bits), byte 1 = split seed, the rest = the client's bytes (raw) or a frame program (ops
// that build masked client frames — deflated by a client-side zlib when asked — raw bytes, and
// server actions: send_message, send_ping, send_close). Checks, beyond "no crash/UB":
//  1. the same events, output and error code whole, byte by byte and in seeded random pieces;
//  2. output is only complete, valid server frames: unmasked, no RSV2/3, RSV1 only on data frames
//     and with deflate, known opcodes, control ≤ 125 bytes, close bodies with a valid code and
//     UTF-8 reason, nothing after the close; compressed frames inflate to what was sent;
//  3. after failed() the output never grows, and the failure's close carries error_code();
//  4. text events are UTF-8, messages within the limit.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "http/utf8.h"
#include "http/websocket.h"
#include "websocket_test_util.h"

namespace {

using namespace narwhal::http::ws;
using namespace narwhal::http::ws::testing;

#define CHECK(condition)                                                       \
  do {                                                                         \
    if (!(condition)) {                                                        \
      std::fprintf(stderr, "websocket_fuzz: check failed: %s (line %d)\n", #condition, __LINE__); \
      std::abort();                                                            \
    }                                                                          \
  } while (0)

enum class Action { Feed, SendText, SendBinary, Ping, Close };
struct Step {
  Action action;
  std::string bytes;  // client bytes (Feed) or the server action's payload
};

// Turns the frame program into steps (client bytes between server actions).
std::vector<Step> build_program(const uint8_t* data, size_t size, bool raw, int window_bits) {
  std::vector<Step> steps;
  if (raw) {
    steps.push_back({Action::Feed, std::string(reinterpret_cast<const char*>(data), size)});
    return steps;
  }
  ClientDeflater deflater(window_bits);
  std::string client;
  size_t i = 0;
  while (i + 2 <= size) {
    const uint8_t op = data[i], length_byte = data[i + 1];
    i += 2;
    const size_t available = std::min<size_t>(length_byte & 0x7f, size - i);
    std::string payload(reinterpret_cast<const char*>(data + i), available);
    i += available;
    if ((length_byte & 0x80) && !payload.empty()) {  // a long payload: the bytes repeated
      std::string long_payload;
      while (long_payload.size() < payload.size() * 512) long_payload += payload;
      payload = std::move(long_payload);
    }
    const FrameSpec spec = {.fin = (op & 0x10) != 0, .rsv1 = (op & 0x20) != 0, .mask = !(op & 0x40)};
    const bool compress = (op & 0x80) != 0;
    switch (op & 7) {
      case 0:
      case 1: {
        const uint8_t opcode = (op & 7) == 1 ? 0x0 : (op & 0x08) ? 0x2 : 0x1;
        client += frame(opcode, compress ? deflater.compress(payload) : payload, spec);
        break;
      }
      case 2: {
        // bits 3 and 7 pick close, ping, pong or a reserved control opcode; payloads of 126+
        // bytes (length 126, 127 or long) break §5.5.
        static constexpr uint8_t kControl[4] = {0x8, 0x9, 0xA, 0xB};
        client += frame(kControl[((op >> 3) & 1) | ((op >> 6) & 2)], payload, spec);
        break;
      }
      case 3:
        client += payload;
        break;
      default: {
        if (!client.empty()) steps.push_back({Action::Feed, std::move(client)});
        client.clear();
        static constexpr Action kActions[4] = {Action::SendText, Action::SendBinary, Action::Ping,
                                               Action::Close};
        steps.push_back({kActions[(op & 7) - 4 + ((op & 7) == 4 && (op & 8) ? 1 : 0)], payload});
        break;
      }
    }
  }
  if (!client.empty()) steps.push_back({Action::Feed, std::move(client)});
  return steps;
}

struct Outcome {
  std::vector<Event> events;
  std::string output;
  int error_code = 0;
  bool failed_before_close = false;  // the failure's close frame is in the output
  std::vector<std::pair<bool, std::string>> sent;  // messages given to send_message
};

Outcome run(const std::vector<Step>& steps, const SessionOptions& options, int mode, uint32_t seed) {
  Session session(options);
  Outcome outcome;
  std::mt19937 random(seed);
  auto drain = [&] {
    Event event;
    while (session.next_event(&event)) outcome.events.push_back(std::move(event));
  };
  auto act = [&](auto&& call) {  // a call after failure must not add output
    const bool was_failed = session.failed();
    const bool was_close_sent = session.close_sent();
    const size_t before = session.output().size();
    call();
    if (was_failed) CHECK(session.output().size() == before);
    if (!was_failed && session.failed() && !was_close_sent) outcome.failed_before_close = true;
    drain();
  };
  for (const Step& step : steps) {
    switch (step.action) {
      case Action::Feed:
        for (size_t i = 0; i < step.bytes.size();) {
          const size_t left = step.bytes.size() - i;
          const size_t n = mode == 0 ? left : mode == 1 ? 1 : std::min<size_t>(left, random() % 300 + 1);
          act([&] { session.feed(step.bytes.data() + i, n); });
          i += n;
        }
        break;
      case Action::SendText:
      case Action::SendBinary: {
        const bool text = step.action == Action::SendText;
        // Text must be UTF-8 (the ASGI layer encodes a str): send only what is.
        if (text && !narwhal::http::is_valid_utf8(step.bytes.data(), step.bytes.size())) break;
        if (!session.failed() && !session.close_sent()) outcome.sent.emplace_back(text, step.bytes);
        act([&] { session.send_message(text, step.bytes); });
        break;
      }
      case Action::Ping:
        act([&] { session.send_ping(step.bytes); });
        break;
      case Action::Close: {
        const int code = step.bytes.size() >= 2 ? (uint8_t(step.bytes[0]) << 8 | uint8_t(step.bytes[1])) : 1000;
        act([&] { session.send_close(code, step.bytes.size() > 2 ? step.bytes.substr(2) : ""); });
        break;
      }
    }
  }
  outcome.output = session.output();
  outcome.error_code = session.error_code();
  CHECK(session.failed() == (outcome.error_code != 0));
  return outcome;
}

bool valid_close_code(int code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

void check_output(const Outcome& outcome, const SessionOptions& options) {
  bool ok = false;
  const std::vector<ServerFrame> frames = parse_output(outcome.output, &ok);
  CHECK(ok);
  ClientInflater inflater;
  size_t next_sent = 0;
  for (size_t k = 0; k < frames.size(); ++k) {
    const ServerFrame& f = frames[k];
    CHECK(f.fin);
    CHECK(f.opcode == 0x1 || f.opcode == 0x2 || f.opcode == 0x8 || f.opcode == 0x9 || f.opcode == 0xA);
    const bool control = f.opcode >= 0x8;
    CHECK(!f.rsv1 || (options.deflate && !control));
    if (control) CHECK(f.payload.size() <= 125);
    if (f.opcode == 0x8) {
      CHECK(k + 1 == frames.size());  // nothing after the close
      CHECK(f.payload.size() != 1);
      if (f.payload.size() >= 2) {
        CHECK(valid_close_code(f.close_code()));
        CHECK(narwhal::http::is_valid_utf8(f.payload.data() + 2, f.payload.size() - 2));
      }
      if (outcome.failed_before_close) CHECK(f.close_code() == outcome.error_code);
    }
    if (!control) {  // our messages, in order, intact
      CHECK(next_sent < outcome.sent.size());
      const auto& [text, payload] = outcome.sent[next_sent++];
      CHECK((f.opcode == 0x1) == text);
      if (f.rsv1) {
        bool inflated = false;
        CHECK(inflater.inflate(f.payload, &inflated) == payload);
        CHECK(inflated);
        if (options.deflate_params.server_no_context_takeover) inflater.reset();
      } else {
        CHECK(f.payload == payload);
      }
    }
  }
  CHECK(next_sent == outcome.sent.size());
  if (outcome.failed_before_close) CHECK(!frames.empty() && frames.back().opcode == 0x8);
  const size_t limit = options.max_message_size;
  for (const Event& e : outcome.events) {
    if (e.type == EventType::Text) CHECK(narwhal::http::is_valid_utf8(e.data.data(), e.data.size()));
    if (e.type != EventType::Close) CHECK(e.data.size() <= limit);
    if (e.type == EventType::Close) CHECK(&e == &outcome.events.back());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t flags = data[0];
  const uint32_t seed = data[1];
  SessionOptions options;
  options.deflate = flags & 2;
  options.deflate_params.server_no_context_takeover = flags & 4;
  options.deflate_params.client_no_context_takeover = flags & 8;
  options.max_message_size = (flags & 16) ? 300 : 1 << 20;
  const int bits = flags >> 5;
  options.deflate_params.server_max_window_bits = bits == 7 ? 15 : 9 + bits;
  const std::vector<Step> steps = build_program(data + 2, size - 2, flags & 1, 15);

  const Outcome whole = run(steps, options, 0, seed);
  check_output(whole, options);
  for (int mode = 1; mode <= 2; ++mode) {
    const Outcome other = run(steps, options, mode, seed);
    CHECK(other.events == whole.events);
    CHECK(other.output == whole.output);
    CHECK(other.error_code == whole.error_code);
  }
  return 0;
}
