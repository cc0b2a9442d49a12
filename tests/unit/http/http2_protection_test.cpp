// HTTP/2 session against abusive clients: rapid reset, CONTINUATION floods, SETTINGS/PING floods
// from a client that does not read, HPACK bombs, concurrency, frame size, window overflow,
// zero-window stalls, empty frames. Frames are built by hand where no client library sends them.
#include <gtest/gtest.h>

#include "http/http2_session.h"
#include "http2_test_util.h"

namespace narwhal::http::h2 {
namespace {

using testing::Client;
using testing::Encoder;
using testing::Fields;
using testing::frame;
using testing::get;
using testing::preface;
using testing::pump;
using testing::rst_frame;
using testing::settings_ack;
using testing::settings_frame;

size_t count(Session& server, EventType type) {
  size_t n = 0;
  Event event;
  while (server.next_event(&event)) n += event.type == type;
  return n;
}

std::string headers_frame(Encoder& encoder, int32_t stream_id, const Fields& fields,
                          uint8_t flags = NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM) {
  return frame(NGHTTP2_HEADERS, flags, stream_id, encoder.block(fields));
}

// The GOAWAY the server sent, if any: its error code.
int goaway_code(const std::string& output) {
  size_t at = 0;
  int code = -1;
  while (at + 9 <= output.size()) {
    const size_t length = (uint8_t(output[at]) << 16) | (uint8_t(output[at + 1]) << 8) | uint8_t(output[at + 2]);
    if (uint8_t(output[at + 3]) == NGHTTP2_GOAWAY && at + 9 + 8 <= output.size()) {
      const unsigned char* p = reinterpret_cast<const unsigned char*>(output.data()) + at + 9 + 4;
      code = (p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
    }
    at += 9 + length;
  }
  return code;
}

// CVE-2023-44487: requests reset in the same read are never handed to the application.
TEST(Http2Protection, RapidResetInOneReadNeverReachesTheApp) {
  Session server({});
  Encoder encoder;
  std::string bytes = preface();
  for (int32_t id = 1; id < 2 * 500; id += 2)
    bytes += headers_frame(encoder, id, get()) + rst_frame(id, NGHTTP2_CANCEL);
  EXPECT_TRUE(server.receive(bytes.data(), bytes.size()));
  EXPECT_EQ(count(server, EventType::Request), 0u);
  EXPECT_EQ(server.open_streams(), 0u);
  EXPECT_EQ(server.resets_received(), 500u);
}

// nghttp2's token bucket (backported to Debian's 1.52): past the burst, GOAWAY.
TEST(Http2Protection, ResetRateLimited) {
  SessionOptions options;
  options.reset_burst = 50;
  options.reset_rate = 1;
  Session server(options);
  Encoder encoder;
  std::string bytes = preface();
  for (int32_t id = 1; id < 2 * 200; id += 2)
    bytes += headers_frame(encoder, id, get()) + rst_frame(id, NGHTTP2_CANCEL);
  server.receive(bytes.data(), bytes.size());
  const std::string out = server.take_output();
  EXPECT_EQ(goaway_code(out), NGHTTP2_INTERNAL_ERROR);  // what nghttp2's limiter sends
  EXPECT_FALSE(server.want_read());
  EXPECT_EQ(count(server, EventType::Request), 0u);
  // No new stream is processed after it.
  const std::string more = headers_frame(encoder, 1001, get());
  server.receive(more.data(), more.size());
  EXPECT_EQ(count(server, EventType::Request), 0u);
}

// Resets of streams the app already runs are reported, with by_peer.
TEST(Http2Protection, ResetAfterDeliveryIsReported) {
  Session server({});
  Client client;
  const int32_t id = client.request(get(), false);
  auto events = pump(server, client);
  client.reset(id, NGHTTP2_CANCEL);
  events = pump(server, client);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, EventType::StreamClosed);
  EXPECT_TRUE(events[0].by_peer);
  EXPECT_EQ(events[0].error_code, uint32_t(NGHTTP2_CANCEL));
}

// CVE-2024-28182: a header block split over endless CONTINUATION frames.
TEST(Http2Protection, ContinuationFloodBounded) {
  Session server({});
  std::string bytes = preface();
  bytes += frame(NGHTTP2_HEADERS, 0, 1, Encoder().block(get()));
  for (int i = 0; i < 1000; ++i) bytes += frame(NGHTTP2_CONTINUATION, 0, 1, std::string(100, '\0'));
  EXPECT_FALSE(server.receive(bytes.data(), bytes.size()));
  EXPECT_FALSE(server.want_read());
  EXPECT_EQ(count(server, EventType::Request), 0u);
}

// CONTINUATION frames that stay within the count still obey the header list size.
TEST(Http2Protection, ContinuationWithinCountHeaderListLimited) {
  SessionOptions options;
  options.max_header_list_size = 8192;
  Session server(options);
  Fields fields = get();
  for (int i = 0; i < 10; ++i) fields.push_back({"x" + std::to_string(i), std::string(1000, 'v')});
  const std::string block = Encoder().block(fields);
  std::string bytes = preface();
  const size_t piece = block.size() / 4 + 1;
  bytes += frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM, 1, block.substr(0, piece));
  for (size_t at = piece; at < block.size(); at += piece)
    bytes += frame(NGHTTP2_CONTINUATION, at + piece >= block.size() ? NGHTTP2_FLAG_END_HEADERS : 0, 1,
                   block.substr(at, piece));
  EXPECT_TRUE(server.receive(bytes.data(), bytes.size()));
  EXPECT_EQ(count(server, EventType::Request), 0u);
  const std::string out = server.take_output();
  EXPECT_NE(out.find("431"), std::string::npos);  // ":status: 431" as a literal in HPACK
}

// A client that never reads makes the server queue SETTINGS/PING ACKs: bounded, then closed.
TEST(Http2Protection, SettingsFloodWithoutReading) {
  SessionOptions options;
  options.max_outbound_ack = 100;
  Session server(options);
  std::string bytes = preface();
  for (int i = 0; i < 5000; ++i) bytes += settings_frame();
  EXPECT_FALSE(server.receive(bytes.data(), bytes.size()));
  EXPECT_EQ(server.error_code(), uint32_t(kEnhanceYourCalm));
  EXPECT_LE(server.pending_bytes(), options.output_chunk + 16384);
}

TEST(Http2Protection, PingFloodWithoutReading) {
  SessionOptions options;
  options.max_outbound_ack = 100;
  options.output_chunk = 1024;
  Session server(options);
  std::string bytes = preface();
  for (int i = 0; i < 5000; ++i) bytes += testing::ping_frame();
  EXPECT_FALSE(server.receive(bytes.data(), bytes.size()));
  EXPECT_LE(server.pending_bytes(), 2048u);
}

// A client that reads may ping as much as it likes: every PING is answered.
TEST(Http2Protection, PingsAnsweredWhenRead) {
  Session server({});
  std::string bytes = preface() + settings_ack();
  ASSERT_TRUE(server.receive(bytes.data(), bytes.size()));
  server.take_output();
  for (int round = 0; round < 50; ++round) {
    std::string pings;
    for (int i = 0; i < 50; ++i) pings += testing::ping_frame();
    ASSERT_TRUE(server.receive(pings.data(), pings.size()));
    EXPECT_EQ(server.take_output().size(), 50u * 17u);
  }
}

TEST(Http2Protection, TooManySettingsEntries) {
  Session server({});
  std::vector<std::pair<uint16_t, uint32_t>> entries(100, {NGHTTP2_SETTINGS_ENABLE_PUSH, 0});
  std::string bytes = preface() + settings_frame(entries);
  server.receive(bytes.data(), bytes.size());
  EXPECT_FALSE(server.want_read());
}

// HPACK bomb: one large literal added to the dynamic table, then referenced by one-byte
// indexes. The decoded list stops being stored at the limit and the request gets 431.
TEST(Http2Protection, HpackBombStopsAtHeaderListLimit) {
  Session server({});  // max_header_list_size 65536, field size 8190
  std::string block = Encoder().block(get());
  // Literal with incremental indexing, new name (RFC 7541 §6.2.1): 0x40, name, value.
  const std::string name = "x-bomb", value(4000, 'b');
  block += '\x40';
  block += static_cast<char>(name.size());
  block += name;
  block += static_cast<char>(0x7f);  // value length 4000 = 127 + 3873 (7-bit prefix integer)
  uint32_t rest = 4000 - 127;
  while (rest >= 128) {
    block += static_cast<char>(0x80 | (rest & 0x7f));
    rest >>= 7;
  }
  block += static_cast<char>(rest);
  block += value;
  // Indexed field (RFC 7541 §6.1): dynamic index 62 is the entry just added.
  block.append(1000, static_cast<char>(0x80 | 62));
  std::string bytes = preface() + frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, 1, block);
  EXPECT_TRUE(server.receive(bytes.data(), bytes.size()));
  EXPECT_EQ(count(server, EventType::Request), 0u);
  const std::string out = server.take_output();
  EXPECT_NE(out.find("431"), std::string::npos);
  EXPECT_TRUE(server.want_read());  // a stream error: the connection goes on
}

// A dynamic table larger than our SETTINGS_HEADER_TABLE_SIZE: COMPRESSION_ERROR.
TEST(Http2Protection, DynamicTableSizeAboveSetting) {
  Session server({});
  std::string block;
  block += '\x3f';  // dynamic table size update (RFC 7541 §6.3), 5-bit prefix: 31 + …
  uint32_t rest = 1 << 20;
  rest -= 31;
  while (rest >= 128) {
    block += static_cast<char>(0x80 | (rest & 0x7f));
    rest >>= 7;
  }
  block += static_cast<char>(rest);
  block += Encoder().block(get());
  std::string bytes = preface() + frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, 1, block);
  server.receive(bytes.data(), bytes.size());
  EXPECT_EQ(goaway_code(server.take_output()), NGHTTP2_COMPRESSION_ERROR);
  EXPECT_FALSE(server.want_read());
}

// SETTINGS_MAX_CONCURRENT_STREAMS: before our SETTINGS is acknowledged, extra streams are
// refused (REFUSED_STREAM: the client may retry them); after it, nghttp2 ends the connection.
TEST(Http2Protection, MaxConcurrentStreams) {
  SessionOptions options;
  options.max_concurrent_streams = 3;
  {
    Session server(options);
    Client client;
    for (int i = 0; i < 5; ++i) client.request(get(), false);  // the client ignores the limit …
    const std::string bytes = client.output();                 // … sent before it learns it
    server.receive(bytes.data(), bytes.size());
    EXPECT_EQ(count(server, EventType::Request), 3u);
    client.feed(server.take_output());
    int refused = 0;
    for (auto& [id, response] : client.responses) refused += response.close_code == NGHTTP2_REFUSED_STREAM;
    EXPECT_EQ(refused, 2);
    EXPECT_EQ(server.open_streams(), 3u);
  }
  {
    Session server(options);
    Encoder encoder;
    std::string bytes = preface() + settings_ack();
    for (int32_t id = 1; id <= 9; id += 2)
      bytes += headers_frame(encoder, id, get(), NGHTTP2_FLAG_END_HEADERS);
    server.receive(bytes.data(), bytes.size());
    EXPECT_EQ(count(server, EventType::Request), 3u);
    EXPECT_EQ(goaway_code(server.take_output()), NGHTTP2_PROTOCOL_ERROR);
  }
}

TEST(Http2Protection, FrameLargerThanMaxFrameSize) {
  Session server({});
  Encoder encoder;
  std::string bytes = preface() + headers_frame(encoder, 1, get(), NGHTTP2_FLAG_END_HEADERS);
  bytes += frame(NGHTTP2_DATA, 0, 1, std::string(20000, 'd'));
  server.receive(bytes.data(), bytes.size());
  EXPECT_EQ(goaway_code(server.take_output()), NGHTTP2_FRAME_SIZE_ERROR);
  EXPECT_FALSE(server.want_read());
}

TEST(Http2Protection, WindowOverflow) {
  {
    Session server({});
    std::string bytes = preface() + testing::window_update(0, 0x7fffffff);
    server.receive(bytes.data(), bytes.size());
    EXPECT_EQ(goaway_code(server.take_output()), NGHTTP2_FLOW_CONTROL_ERROR);
  }
  {
    Session server({});
    Client client;
    const int32_t id = client.request(get(), false);
    pump(server, client);
    std::string bytes = testing::window_update(id, 0x7fffffff);
    server.receive(bytes.data(), bytes.size());
    client.feed(server.take_output());
    EXPECT_EQ(client.responses[id].close_code, uint32_t(NGHTTP2_FLOW_CONTROL_ERROR));
    Event event;
    bool closed = false;
    while (server.next_event(&event)) closed |= event.type == EventType::StreamClosed;
    EXPECT_TRUE(closed);
  }
}

// Sending DATA beyond the window we gave: FLOW_CONTROL_ERROR, not unbounded buffering.
TEST(Http2Protection, ClientIgnoresOurWindow) {
  SessionOptions options;
  options.initial_window_size = 1000;
  Session server(options);
  Encoder encoder;
  std::string bytes = preface() + settings_ack() + headers_frame(encoder, 1, get(), NGHTTP2_FLAG_END_HEADERS);
  bytes += frame(NGHTTP2_DATA, 0, 1, std::string(900, 'd'));
  bytes += frame(NGHTTP2_DATA, 0, 1, std::string(900, 'd'));
  server.receive(bytes.data(), bytes.size());
  EXPECT_NE(server.take_output().find(rst_frame(1, NGHTTP2_FLOW_CONTROL_ERROR).substr(3)), std::string::npos);
}

// A client that never opens its window: the stream is reported blocked so the caller's
// deadline can reset it.
TEST(Http2Protection, ZeroWindowStallVisible) {
  int64_t now = 100;
  SessionOptions options;
  options.clock = [&now] { return now; };
  Session server(options);
  Client client({{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0}});
  const int32_t id = client.request(get());
  pump(server, client);
  ASSERT_EQ(server.submit_response(id, "200 OK", {}, false), nullptr);
  ASSERT_EQ(server.submit_data(id, std::string(5000, 'z'), true), nullptr);
  now = 200;
  pump(server, client);
  EXPECT_EQ(client.responses[id].status, 200);
  EXPECT_EQ(client.responses[id].body, "");
  EXPECT_EQ(server.blocked_since(id), 200);
  EXPECT_EQ(server.stream_pending(id), 5000u);
  now = 60000;
  pump(server, client);
  EXPECT_EQ(server.blocked_since(id), 200);  // still since then
  server.reset_stream(id, kCancel);
  auto events = pump(server, client);
  EXPECT_EQ(client.responses[id].close_code, uint32_t(NGHTTP2_CANCEL));
  EXPECT_EQ(server.pending_bytes(), 0u);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type, EventType::StreamClosed);
  EXPECT_FALSE(events.back().by_peer);
}

TEST(Http2Protection, WindowOpensUnblocks) {
  int64_t now = 100;
  SessionOptions options;
  options.clock = [&now] { return now; };
  Session server(options);
  Client client({{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0}});
  const int32_t id = client.request(get());
  pump(server, client);
  ASSERT_EQ(server.submit_response(id, "200 OK", {}, false), nullptr);
  ASSERT_EQ(server.submit_data(id, "abc", true), nullptr);
  pump(server, client);
  EXPECT_EQ(server.blocked_since(id), 100);
  nghttp2_submit_window_update(client.session(), NGHTTP2_FLAG_NONE, id, 10);
  pump(server, client);
  EXPECT_EQ(client.responses[id].body, "abc");
  EXPECT_EQ(client.responses[id].close_code, 0u);
}

TEST(Http2Protection, EmptyDataFlood) {
  Session server({});
  Encoder encoder;
  std::string bytes = preface() + headers_frame(encoder, 1, get(), NGHTTP2_FLAG_END_HEADERS);
  for (int i = 0; i < 1000; ++i) bytes += frame(NGHTTP2_DATA, 0, 1, "");
  EXPECT_FALSE(server.receive(bytes.data(), bytes.size()));
  EXPECT_EQ(goaway_code(server.take_output()), NGHTTP2_ENHANCE_YOUR_CALM);
  EXPECT_FALSE(server.want_read());
  EXPECT_EQ(server.error_code(), uint32_t(kEnhanceYourCalm));
}

// Regression (http2_fuzz): terminating the session from inside nghttp2's frame callback made
// nghttp2 1.52 fail an assertion on the frames after the flood in the same read.
TEST(Http2Protection, EmptyDataFloodFollowedByMoreFrames) {
  Session server({});
  Encoder encoder;
  std::string bytes = preface() + headers_frame(encoder, 1, get(), NGHTTP2_FLAG_END_HEADERS);
  for (int i = 0; i < 100; ++i) bytes += frame(NGHTTP2_DATA, 0, 1, "");
  bytes += frame(NGHTTP2_DATA, 0, 1, std::string(40, 'x')) + testing::ping_frame();
  bytes += headers_frame(encoder, 3, get());
  EXPECT_FALSE(server.receive(bytes.data(), bytes.size()));
  EXPECT_EQ(goaway_code(server.take_output()), NGHTTP2_ENHANCE_YOUR_CALM);
  const std::string more = testing::ping_frame();
  EXPECT_FALSE(server.receive(more.data(), more.size()));
  EXPECT_TRUE(server.finished());
}

// Unread body bytes of a closed stream are given back to the connection window.
TEST(Http2Protection, ClosedStreamReturnsConnectionWindow) {
  SessionOptions options;
  options.connection_window_size = 65535;
  options.initial_window_size = 65535;
  Session server(options);
  Client client;
  for (int round = 0; round < 5; ++round) {
    Fields fields = get();
    fields[0].second = "POST";
    const int32_t id = client.request(fields, false);
    client.send_data(id, std::string(40000, 'x'), false);
    pump(server, client);  // never consumed by the "app"
    server.reset_stream(id, kCancel);
    pump(server, client);
  }
  // 200 KB went through a 64 KiB connection window: credit came back each time.
  Fields fields = get();
  fields[0].second = "POST";
  const int32_t id = client.request(fields, false);
  client.send_data(id, std::string(30000, 'y'), true);
  auto events = pump(server, client);
  size_t received = 0;
  for (const Event& e : events)
    if (e.type == EventType::Data) received += e.data.size();
  EXPECT_EQ(received, 30000u);
}

}  // namespace
}  // namespace narwhal::http::h2
