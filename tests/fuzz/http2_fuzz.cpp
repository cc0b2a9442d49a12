// libFuzzer target for the HTTP/2 session (src/http/http2_session.cpp, on nghttp2).
//
// Input: byte 0 = flags (bit 0: raw client bytes instead of a frame program; bit 1: small
// limits — 1000-byte windows, 3 streams, 2 KiB header list, 100-byte bodies; bit 2: the server
// never takes its output (a client that does not read); bit 3: HEAD/204 responses), byte 1 =
// split seed, the rest = raw client bytes after the connection preface, or a frame program: ops
// that build frames (any type, flags, small stream ids, payload bytes), HEADERS whose block is
// HPACK-encoded from a dictionary of valid and invalid fields, and server actions (respond,
// send data, reset, shutdown, consume). Checks, beyond "no crash, leak or UB":
//  1. the server's output is a sequence of whole frames after its SETTINGS, none larger than
//     the client's (default) max frame size, and after a GOAWAY carrying an error only frames
//     of streams up to its last stream id (RFC 9113 §6.8; nghttp2's reset limiter lets streams
//     in flight finish);
//  2. events name only streams the session reported, in order (Request first, StreamClosed
//     last), request(id) is valid between them and every Request has :authority as Host;
//  3. buffered memory stays bounded: pending_bytes() within what the program queued plus one
//     output chunk, and, with a non-reading client, the output buffer within one chunk + frame;
//  4. after receive() returns false it keeps returning false, and want_read() is false.
#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "http/http2_session.h"
#include "http2_test_util.h"

namespace {

using namespace narwhal::http;
using namespace narwhal::http::h2;
using namespace narwhal::http::h2::testing;

#define CHECK(condition)                                                                   \
  do {                                                                                     \
    if (!(condition)) {                                                                    \
      std::fprintf(stderr, "http2_fuzz: check failed: %s (line %d)\n", #condition, __LINE__); \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)

// Fields a frame program can pick from (by index), valid and invalid.
const std::pair<const char*, const char*> kDictionary[] = {
    {":method", "GET"},         {":method", "POST"},        {":method", "HEAD"},
    {":method", "CONNECT"},     {":method", "OPTIONS"},     {":scheme", "https"},
    {":scheme", "http"},        {":path", "/"},             {":path", "/a?b=c"},
    {":path", "*"},             {":authority", "example.com"}, {":authority", "u@h"},
    {"host", "example.com"},    {"host", "other"},          {"content-length", "5"},
    {"content-length", "0"},    {"content-length", "x"},    {"cookie", "a=1"},
    {"cookie", "b=2"},          {"te", "trailers"},         {"te", "gzip"},
    {"connection", "close"},    {"x_under", "1"},           {"X-Upper", "1"},
    {"x-space", " v"},          {":status", "200"},         {":protocol", "websocket"},
    {"content-type", "a/b"},    {"accept", "*/*"},          {"x-long", "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"},
    {"trailer-x", "1"},         {"authorization", "t"},
};
constexpr size_t kDictionarySize = sizeof(kDictionary) / sizeof(kDictionary[0]);

// Checks 1: the server's frames.
struct OutputChecker {
  std::string buffer;
  bool settings_seen = false;
  bool error_goaway = false;
  uint32_t goaway_last_stream = 0;
  void add(std::string_view bytes) {
    buffer.append(bytes);
    size_t at = 0;
    while (at + 9 <= buffer.size()) {
      const size_t length = (uint8_t(buffer[at]) << 16) | (uint8_t(buffer[at + 1]) << 8) |
                            uint8_t(buffer[at + 2]);
      const uint8_t type = uint8_t(buffer[at + 3]);
      if (std::getenv("HTTP2_FUZZ_TRACE"))
        std::fprintf(stderr, "server frame type %u flags %u stream %u length %zu\n", type,
                     uint8_t(buffer[at + 4]), uint8_t(buffer[at + 8]), length);
      CHECK(length <= 16384);  // the client's SETTINGS_MAX_FRAME_SIZE is the default
      if (at + 9 + length > buffer.size()) break;
      if (!settings_seen) CHECK(type == NGHTTP2_SETTINGS);  // RFC 9113 §3.4: the server preface
      settings_seen = true;
      const unsigned char* bytes = reinterpret_cast<const unsigned char*>(buffer.data()) + at;
      const uint32_t stream = ((bytes[5] & 0x7fu) << 24) | (bytes[6] << 16) | (bytes[7] << 8) | bytes[8];
      // RFC 9113 §6.8: after our GOAWAY only streams up to its last stream id go on.
      CHECK(!error_goaway || stream <= goaway_last_stream);
      if (type == NGHTTP2_GOAWAY && length >= 8) {
        const unsigned char* p = bytes + 9;
        const uint32_t last = ((p[0] & 0x7fu) << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
        if ((p[4] | p[5] | p[6] | p[7]) != 0 && !error_goaway) {
          error_goaway = true;
          goaway_last_stream = last;
        }
        if (error_goaway) goaway_last_stream = std::min(goaway_last_stream, last);
      }
      at += 9 + length;
    }
    buffer.erase(0, at);
  }
};

struct Driver {
  Driver(Session& session, bool not_reading, bool empty)
      : server(session), no_read(not_reading), empty_responses(empty) {}
  Session& server;
  OutputChecker checker;
  bool no_read;
  bool empty_responses;
  size_t queued = 0;  // body bytes the program queued
  bool failed = false;
  std::map<int32_t, int> state;  // 1 = request seen, 2 = closed
  std::vector<int32_t> live;

  void feed(const std::string& bytes, std::mt19937& random) {
    size_t at = 0;
    while (at < bytes.size()) {
      const size_t piece = std::min<size_t>(bytes.size() - at, 1 + random() % 200);
      const bool ok = server.receive(bytes.data() + at, piece);
      if (failed) CHECK(!ok);
      if (!ok) {
        failed = true;
        CHECK(!server.want_read());
      }
      at += piece;
      drain();
    }
  }
  void drain() {
    Event event;
    while (server.next_event(&event)) {
      const int32_t id = event.stream_id;
      switch (event.type) {
        case EventType::Request: {
          CHECK(state[id] == 0);
          state[id] = 1;
          live.push_back(id);
          const Request* request = server.request(id);
          CHECK(request != nullptr);
          CHECK(!request->head.headers.empty() && request->head.headers[0].name == "host");
          CHECK(request->head.headers[0].value == request->authority);
          break;
        }
        case EventType::Data:
        case EventType::EndStream:
          CHECK(state[id] == 1);
          CHECK(server.request(id) != nullptr);
          break;
        case EventType::StreamClosed:
          CHECK(state[id] == 1);
          state[id] = 2;
          CHECK(server.request(id) == nullptr);
          break;
        case EventType::GoAway: break;
      }
    }
    if (!no_read) {
      const std::string_view out = server.pending_output();
      checker.add(out);
      server.discard_output(out.size());
    } else {
      (void)server.pending_output();
    }
    // Check 3: bounded buffering.
    CHECK(server.pending_bytes() <= queued + 64 * 1024 + 16384 + 64);
  }
  int32_t pick(uint8_t selector) const {
    if (live.empty()) return 1;
    return live[selector % live.size()];
  }
  void act(uint8_t op, uint8_t argument) {
    const int32_t id = pick(argument);
    if (std::getenv("HTTP2_FUZZ_TRACE")) std::fprintf(stderr, "act %u on %d\n", op % 6, id);
    switch (op % 6) {
      case 0: {
        const ResponseField fields[] = {{"content-type", "text/plain"}, {"x-a", "b"}};
        server.submit_response(id, empty_responses ? "204 No Content" : "200 OK", fields,
                               (argument & 0x80) != 0);
        break;
      }
      case 1: {
        const std::string body(static_cast<size_t>(argument) * 40, 'r');
        if (server.submit_data(id, body, (argument & 1) != 0) == nullptr) queued += body.size();
        break;
      }
      case 2: server.reset_stream(id, argument % 14); break;
      case 3: server.consume(id, static_cast<size_t>(argument) * 100); break;
      case 4: if (argument < 16) server.shutdown(); break;
      case 5: if (argument < 4) server.terminate(kEnhanceYourCalm); break;
    }
    drain();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t flags = data[0];
  std::mt19937 random(data[1]);
  data += 2;
  size -= 2;

  SessionOptions options;
  if (flags & 2) {
    options.initial_window_size = 1000;
    options.max_concurrent_streams = 3;
    options.max_header_list_size = 2048;
    options.request.limits.body = 100;
    options.reset_burst = 20;
    options.max_outbound_ack = 50;
  }
  Session server(options);
  Driver driver(server, (flags & 4) != 0, (flags & 8) != 0);
  std::string client = std::string(kPreface);

  if (flags & 1) {
    client.append(reinterpret_cast<const char*>(data), size);
    driver.feed(client, random);
  } else {
    Encoder encoder;
    client += settings_frame();
    size_t i = 0;
    while (i + 3 <= size) {
      const uint8_t op = data[i], a = data[i + 1], b = data[i + 2];
      i += 3;
      const int32_t stream = (a & 0x0f) * 2 + 1;  // small odd ids, so frames meet streams
      const size_t available = std::min<size_t>(b, size - i);
      const std::string payload(reinterpret_cast<const char*>(data + i), available);
      switch (op % 5) {
        case 0:  // any frame
          client += frame(static_cast<uint8_t>(op >> 3) % 11, a >> 4 | ((a & 0x10) ? 0x20 : 0),
                          stream, payload);
          i += available;
          break;
        case 1: {  // HEADERS from the dictionary; payload bytes pick the fields
          Fields fields;
          for (char c : payload) {
            const auto& [name, value] = kDictionary[uint8_t(c) % kDictionarySize];
            fields.emplace_back(name, value);
          }
          i += available;
          uint8_t frame_flags = NGHTTP2_FLAG_END_HEADERS;
          if (op & 0x40) frame_flags |= NGHTTP2_FLAG_END_STREAM;
          std::string block = encoder.block(fields);
          if ((op & 0x80) && block.size() > 2) {  // split into CONTINUATION frames
            const size_t half = block.size() / 2;
            client += frame(NGHTTP2_HEADERS, frame_flags & ~NGHTTP2_FLAG_END_HEADERS, stream,
                            block.substr(0, half));
            client += frame(NGHTTP2_CONTINUATION, NGHTTP2_FLAG_END_HEADERS, stream, block.substr(half));
          } else {
            client += frame(NGHTTP2_HEADERS, frame_flags, stream, block);
          }
          break;
        }
        case 2:  // DATA of `b` bytes
          client += frame(NGHTTP2_DATA, (op & 0x40) ? NGHTTP2_FLAG_END_STREAM : 0, stream,
                          std::string(b, 'd'));
          break;
        case 3:  // deliver what the client has so far, then a server action
          driver.feed(client, random);
          client.clear();
          driver.act(static_cast<uint8_t>(op >> 3), b);
          break;
        case 4:  // control frames a flood is made of
          switch (b % 4) {
            case 0: client += settings_frame({{uint16_t(a % 10), uint32_t(b) << 8}}); break;
            case 1: client += ping_frame(); break;
            case 2: client += rst_frame(stream, b % 14); break;
            case 3: client += window_update((a & 0x80) ? 0 : stream, uint32_t(b) * 1000); break;
          }
          break;
      }
    }
    driver.feed(client, random);
  }
  if (driver.no_read) {
    // Check 3: a client that never reads holds at most one chunk (and a frame) in our buffer.
    CHECK(server.pending_output().size() <= options.output_chunk + 16384 + 64);
  }
  (void)server.take_output();
  return 0;
}
