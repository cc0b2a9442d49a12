// WebSocket session (RFC 6455 §5–§8 via wslay, plus narwhal's checks) and permessage-deflate
// (RFC 7692). Client frames are built by hand (masked). Handshake: websocket_handshake_test.cpp.
#include "http/websocket.h"

#include <gtest/gtest.h>

#include <random>

#include "websocket_test_util.h"

namespace narwhal::http::ws {
namespace {

using namespace narwhal::http::ws::testing;

// ---------------------------------------------------------------- session

struct SessionRun {
  std::vector<Event> events;
  std::string output;
  bool failed = false;
  int error_code = 0;
};

SessionRun feed_in_pieces(std::string_view input, const SessionOptions& options, size_t piece) {
  Session session(options);
  SessionRun run;
  for (size_t i = 0; i < input.size(); i += piece) {
    session.feed(input.data() + i, std::min(piece, input.size() - i));
    Event event;
    while (session.next_event(&event)) run.events.push_back(std::move(event));
  }
  run.output = session.output();
  run.failed = session.failed();
  run.error_code = session.error_code();
  return run;
}

// Feeds whole, byte by byte and in 7-byte pieces; all must give the same events and output.
SessionRun feed(std::string_view input, const SessionOptions& options = {}) {
  const SessionRun whole = feed_in_pieces(input, options, std::max<size_t>(input.size(), 1));
  for (size_t piece : {size_t(1), size_t(7)}) {
    if (input.size() > (1u << 20)) break;
    const SessionRun other = feed_in_pieces(input, options, piece);
    EXPECT_TRUE(other.events == whole.events) << "pieces of " << piece;
    EXPECT_EQ(other.output, whole.output) << "pieces of " << piece;
    EXPECT_EQ(other.error_code, whole.error_code) << "pieces of " << piece;
  }
  return whole;
}

std::vector<ServerFrame> frames_of(const std::string& output) {
  bool ok = false;
  std::vector<ServerFrame> frames = parse_output(output, &ok);
  EXPECT_TRUE(ok) << "malformed server output";
  return frames;
}

SessionOptions deflate_options(DeflateParams params = {}) {
  SessionOptions options;
  options.deflate = true;
  options.deflate_params = params;
  return options;
}

// The run failed with `code`, and the output ends with a close frame carrying it.
void expect_failure(const SessionRun& run, int code) {
  EXPECT_TRUE(run.failed);
  EXPECT_EQ(run.error_code, code);
  const std::vector<ServerFrame> frames = frames_of(run.output);
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.back().opcode, 0x8);
  EXPECT_EQ(frames.back().close_code(), code);
}

TEST(WebSocketSession, TextAndBinaryRoundTrip) {
  const std::string bytes("\x00\x01\xff\xfe binary", 11);
  const SessionRun run = feed(text("Hello, \xe2\x82\xac!") + binary(bytes));
  ASSERT_EQ(run.events.size(), 2u);
  EXPECT_EQ(run.events[0].type, EventType::Text);
  EXPECT_EQ(run.events[0].data, "Hello, \xe2\x82\xac!");
  EXPECT_EQ(run.events[1].type, EventType::Binary);
  EXPECT_EQ(run.events[1].data, bytes);
  EXPECT_FALSE(run.failed);
  EXPECT_TRUE(run.output.empty());

  Session session({});
  session.send_message(true, "Hello");
  session.send_message(false, bytes);
  session.send_message(false, std::string(300, 'x'));  // 16-bit length
  EXPECT_EQ(session.output().substr(0, 7), "\x81\x05Hello");
  const std::vector<ServerFrame> frames = frames_of(session.output());
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[1].opcode, 0x2);
  EXPECT_EQ(frames[1].payload, bytes);
  EXPECT_EQ(frames[2].payload.size(), 300u);
  EXPECT_EQ(uint8_t(session.output()[7 + 13 + 1]), 126);
}

TEST(WebSocketSession, ThreeMebibyteMessage) {
  std::string payload(3u << 20, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7 + i / 4096);
  const SessionRun run = feed_in_pieces(binary(payload), {}, 65536);
  ASSERT_EQ(run.events.size(), 1u);
  EXPECT_TRUE(run.events[0].data == payload);
  Session session({});
  session.send_message(false, payload);
  const std::vector<ServerFrame> frames = frames_of(session.output());
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_TRUE(frames[0].payload == payload);
  EXPECT_EQ(uint8_t(session.output()[1]), 127);  // 64-bit length
}

TEST(WebSocketSession, FragmentedMessageWithPingBetween) {
  const SessionRun run = feed(text("Hel", {.fin = false}) + ping("are you there") +
                       continuation("l", {.fin = false}) + continuation("o"));
  ASSERT_EQ(run.events.size(), 1u);
  EXPECT_EQ(run.events[0].data, "Hello");
  const std::vector<ServerFrame> frames = frames_of(run.output);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].opcode, 0xA);  // pong with the ping's payload (RFC 6455 §5.5.3)
  EXPECT_EQ(frames[0].payload, "are you there");
  EXPECT_FALSE(run.failed);
}

TEST(WebSocketSession, ByteByByteGivesTheSameEvents) {
  std::string input = text("one") + binary(std::string(200, 'b'), {.fin = false}) + ping("") +
                      continuation(std::string(70000, 'c')) + text("\xc3\xa9", {.fin = false}) +
                      continuation("\xe2\x82", {.fin = false}) + continuation("\xac") +
                      close_frame(1001, "going");
  const SessionRun run = feed(input);  // also byte by byte and in 7-byte pieces
  ASSERT_EQ(run.events.size(), 4u);
  EXPECT_EQ(run.events[1].data.size(), 70200u);
  EXPECT_EQ(run.events[2].data, "\xc3\xa9\xe2\x82\xac");
  EXPECT_EQ(run.events[3].type, EventType::Close);
  EXPECT_EQ(run.events[3].code, 1001);
  // Random splits too.
  std::mt19937 random(42);
  for (int round = 0; round < 20; ++round) {
    Session session({});
    std::vector<Event> events;
    for (size_t i = 0; i < input.size();) {
      const size_t n = std::min<size_t>(input.size() - i, random() % 5000 + 1);
      session.feed(input.data() + i, n);
      i += n;
      Event event;
      while (session.next_event(&event)) events.push_back(std::move(event));
    }
    EXPECT_TRUE(events == run.events);
    EXPECT_EQ(session.output(), run.output);
  }
}

TEST(WebSocketSession, UnmaskedClientFrameIs1002) {  // RFC 6455 §5.1
  expect_failure(feed(text("hi", {.mask = false})), 1002);
}

TEST(WebSocketSession, HeaderViolationsAre1002) {
  expect_failure(feed(frame(0x9, std::string(126, 'p'))), 1002);      // control > 125 (§5.5)
  expect_failure(feed(frame(0x9, "p", {.fin = false})), 1002);        // fragmented control
  expect_failure(feed(frame(0x8, "x")), 1002);                        // 1-byte close body
  expect_failure(feed(std::string("\x81\xfe\x00\x05" "abcd" "hello", 13)), 1002);  // not minimal
  expect_failure(feed(std::string("\x82\xff\x80\0\0\0\0\0\0\0abcd", 14)), 1002);   // top bit set
  expect_failure(feed(frame(0x3, "")), 1002);                         // reserved opcode
  expect_failure(feed(continuation("x")), 1002);                      // nothing to continue
  expect_failure(feed(text("a", {.fin = false}) + text("b")), 1002);  // new message mid-way
  expect_failure(feed(text("a", {.rsv1 = true})), 1002);              // RSV1 not negotiated
  // A violation after good frames: the good ones are still reported.
  const SessionRun run = feed(text("ok") + frame(0x9, std::string(126, 'p')) + text("ignored"));
  expect_failure(run, 1002);
  ASSERT_EQ(run.events.size(), 1u);
  EXPECT_EQ(run.events[0].data, "ok");
}

TEST(WebSocketSession, InvalidUtf8Is1007) {  // RFC 6455 §8.1
  expect_failure(feed(text("\xc3\x28")), 1007);
  expect_failure(feed(text("\xed\xa0\x80")), 1007);  // surrogate
  expect_failure(feed(text("\xc0\xaf")), 1007);      // overlong
  expect_failure(feed(text("ab\xe2\x82", {.fin = false}) + continuation("(")), 1007);
  expect_failure(feed(text("ab\xe2\x82", {.fin = false}) + continuation("")), 1007);  // cut short
  expect_failure(feed(close_frame(1000, "\xff")), 1007);  // the close reason too (§5.5.1)
  // Valid multi-byte characters split across fragments pass.
  const SessionRun run = feed(text("\xf0\x9f", {.fin = false}) + continuation("\x98\x80\xe2", {.fin = false}) +
                       continuation("\x82\xac"));
  EXPECT_FALSE(run.failed);
  ASSERT_EQ(run.events.size(), 1u);
  EXPECT_EQ(run.events[0].data, "\xf0\x9f\x98\x80\xe2\x82\xac");
  // Binary messages are not UTF-8.
  EXPECT_FALSE(feed(binary("\xc3\x28")).failed);
}

TEST(WebSocketSession, OversizeIs1009) {
  SessionOptions options;
  options.max_message_size = 1000;
  EXPECT_FALSE(feed(binary(std::string(1000, 'x')), options).failed);
  expect_failure(feed(binary(std::string(1001, 'x')), options), 1009);
  // The whole message counts, not one frame.
  expect_failure(feed(binary(std::string(600, 'x'), {.fin = false}) +
                          continuation(std::string(600, 'x')), options),
                 1009);
}

TEST(WebSocketSession, ZeroLimitMeansNoLimit) {
  SessionOptions options;
  options.max_message_size = 0;
  const SessionRun run = feed_in_pieces(binary(std::string(20u << 20, 'u')), options, 1u << 20);
  EXPECT_FALSE(run.failed);
  ASSERT_EQ(run.events.size(), 1u);
  EXPECT_EQ(run.events[0].data.size(), 20u << 20);
}

TEST(WebSocketSession, ViolationAfterOurCloseIsStillAFailure) {
  Session session({});
  session.send_close(1001, "going away");
  const size_t sent = session.output().size();
  const std::string bad = text("\xc3\x28");
  EXPECT_FALSE(session.feed(bad.data(), bad.size()));
  EXPECT_TRUE(session.failed());
  EXPECT_EQ(session.error_code(), 1002);  // wslay cannot say which rule once our close is out
  EXPECT_EQ(session.output().size(), sent);  // no second close
}

TEST(WebSocketSession, PeerCloseIsReportedAndItsCodeEchoed) {
  const SessionRun run = feed(close_frame(1000, "bye") + text("after close: ignored"));
  ASSERT_EQ(run.events.size(), 1u);
  EXPECT_EQ(run.events[0].type, EventType::Close);
  EXPECT_EQ(run.events[0].code, 1000);
  EXPECT_EQ(run.events[0].reason, "bye");
  EXPECT_FALSE(run.failed);
  // RFC 6455 §5.5.1: the answer echoes the code (narwhal's, not wslay's: no reason).
  EXPECT_EQ(run.output, std::string("\x88\x02\x03\xe8", 4));
  // A close arriving in pieces (regression: wslay 1.1.1 checks a reason's UTF-8 from byte 2 of
  // each read, refusing this valid one when split after the code's first byte).
  const SessionRun split = feed(close_frame(1000, "\xc3\xa9t\xc3\xa9"));
  EXPECT_FALSE(split.failed);
  ASSERT_EQ(split.events.size(), 1u);
  EXPECT_EQ(split.events[0].reason, "\xc3\xa9t\xc3\xa9");
  // A close between the fragments of a message: the message is dropped.
  const SessionRun mid = feed(text("part", {.fin = false}) + close_frame(1001));
  ASSERT_EQ(mid.events.size(), 1u);
  EXPECT_EQ(mid.events[0].type, EventType::Close);
  // Unmasked or with RSV1: 1002.
  expect_failure(feed(frame(0x8, "\x03\xe8", {.mask = false})), 1002);
  expect_failure(feed(frame(0x8, "\x03\xe8", {.rsv1 = true}), deflate_options()), 1002);

  Session session({});
  const std::string empty_close = frame(0x8, "");
  session.feed(empty_close.data(), empty_close.size());
  Event event;
  ASSERT_TRUE(session.next_event(&event));
  EXPECT_EQ(event.code, 1005);  // §7.1.5: no status code
  EXPECT_TRUE(session.close_received());
  EXPECT_TRUE(session.close_sent());
  EXPECT_EQ(session.output(), std::string("\x88\x00", 2));
  session.send_message(true, "too late");
  EXPECT_EQ(session.output().size(), 2u);
}

TEST(WebSocketSession, InvalidCloseCodesAre1002) {  // RFC 6455 §7.4
  for (int code : {999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000})
    expect_failure(feed(close_frame(code)), 1002);
  for (int code : {1000, 1001, 1003, 1007, 1011, 1012, 1014, 3000, 4999})
    EXPECT_FALSE(feed(close_frame(code)).failed) << code;
}

TEST(WebSocketSession, NothingAfterFailure) {
  Session session({});
  const std::string bad = text("hi", {.mask = false});
  EXPECT_FALSE(session.feed(bad.data(), bad.size()));
  const std::string out = session.output();
  const std::string good = text("ignored");
  EXPECT_FALSE(session.feed(good.data(), good.size()));
  session.send_message(true, "x");
  session.send_ping("x");
  session.send_close(1000, "");
  Event event;
  EXPECT_FALSE(session.next_event(&event));
  EXPECT_EQ(session.output(), out);
  EXPECT_TRUE(session.close_sent());
}

TEST(WebSocketSession, ServerCloseAndPing) {
  Session session({});
  session.send_ping("hb");
  EXPECT_EQ(session.output(), "\x89\x02hb");
  session.output().clear();
  std::string reason;
  for (int i = 0; i < 100; ++i) reason += "\xc3\xa9";  // 200 bytes of "é"
  session.send_close(1000, reason);
  const std::vector<ServerFrame> frames = frames_of(session.output());
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].close_code(), 1000);
  EXPECT_EQ(frames[0].payload.size(), 2u + 122u);  // cut at a character boundary ≤ 123
  EXPECT_TRUE(session.close_sent());
  EXPECT_FALSE(session.close_received());
  session.send_close(1001, "twice");
  session.send_message(true, "after");
  EXPECT_EQ(frames_of(session.output()).size(), 1u);
  // The peer's answer completes the handshake; no second close is sent.
  const std::string answer = close_frame(1000);
  EXPECT_TRUE(session.feed(answer.data(), answer.size()));
  EXPECT_TRUE(session.close_received());
  EXPECT_EQ(frames_of(session.output()).size(), 1u);

  Session unsendable({});
  unsendable.send_close(1005, "no");
  EXPECT_EQ(unsendable.output(), std::string("\x88\x00", 2));
}

// ---------------------------------------------------------------- permessage-deflate

TEST(WebSocketDeflate, CompressedClientMessageDecodes) {
  ClientDeflater client;
  const std::string message = "Hello, permessage-deflate! Hello, permessage-deflate!";
  const SessionRun run = feed(text(client.compress(message), {.rsv1 = true}), deflate_options());
  ASSERT_EQ(run.events.size(), 1u);
  EXPECT_EQ(run.events[0].data, message);
  // Fragmented: RSV1 on the first frame only (RFC 7692 §6.1), a ping between.
  ClientDeflater client2;
  const std::string compressed = client2.compress(message);
  const SessionRun fragmented = feed(text(compressed.substr(0, 5), {.fin = false, .rsv1 = true}) + ping("") +
                                  continuation(compressed.substr(5)),
                              deflate_options());
  ASSERT_EQ(fragmented.events.size(), 1u);
  EXPECT_EQ(fragmented.events[0].data, message);
  // An empty message is one 0x00 byte (§7.2.3.6); a final block (BFINAL) also decodes.
  ClientDeflater client3;
  const std::string final_block = client3.compress("final", Z_FINISH);
  const std::string after_final = client3.compress("after final");
  const SessionRun others = feed(binary(std::string(1, '\0'), {.rsv1 = true}) +
                                     binary(final_block, {.rsv1 = true}) +
                                     binary(after_final, {.rsv1 = true}),
                                 deflate_options());
  ASSERT_EQ(others.events.size(), 3u);
  EXPECT_EQ(others.events[0].data, "");
  EXPECT_EQ(others.events[1].data, "final");
  EXPECT_EQ(others.events[2].data, "after final");
  // Uncompressed messages stay allowed.
  EXPECT_EQ(feed(text("plain"), deflate_options()).events.at(0).data, "plain");
}

TEST(WebSocketDeflate, ContextTakeoverAcrossMessages) {
  ClientDeflater client;
  const std::string message(500, 'z');
  const std::string first = client.compress(message);
  const std::string second = client.compress(message);  // refers back into the first
  EXPECT_LT(second.size(), first.size());
  const SessionRun run = feed(binary(first, {.rsv1 = true}) + binary(second, {.rsv1 = true}),
                       deflate_options());
  ASSERT_EQ(run.events.size(), 2u);
  EXPECT_EQ(run.events[0].data, message);
  EXPECT_EQ(run.events[1].data, message);
}

TEST(WebSocketDeflate, ServerOutputIsCompressed) {
  const std::string message = "The quick brown fox jumps over the lazy dog. The quick brown fox.";
  Session session(deflate_options());
  session.send_message(true, message);
  session.send_message(true, message);
  session.send_message(false, "");
  session.send_ping("p");  // control frames are never compressed (§6.1)
  const std::vector<ServerFrame> frames = frames_of(session.output());
  ASSERT_EQ(frames.size(), 4u);
  ClientInflater client;
  bool ok = false;
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(frames[i].rsv1);
    EXPECT_EQ(client.inflate(frames[i].payload, &ok), message);
    EXPECT_TRUE(ok);
  }
  EXPECT_LT(frames[1].payload.size(), frames[0].payload.size());  // context kept
  EXPECT_EQ(frames[2].payload, std::string(1, '\0'));  // §7.2.3.6
  EXPECT_EQ(client.inflate(frames[2].payload, &ok), "");
  // Regression (fuzz): an empty message right after another flush compressed to nothing.
  session.output().clear();
  session.send_message(false, "");
  session.send_message(false, "after two empty messages");
  const std::vector<ServerFrame> more = frames_of(session.output());
  ASSERT_EQ(more.size(), 2u);
  EXPECT_EQ(more[0].payload, std::string(1, '\0'));
  EXPECT_EQ(client.inflate(more[0].payload, &ok), "");
  EXPECT_EQ(client.inflate(more[1].payload, &ok), "after two empty messages");
  EXPECT_TRUE(ok);
  EXPECT_FALSE(frames[3].rsv1);
  // server_no_context_takeover: every message decodes with a fresh inflater.
  DeflateParams params;
  params.server_no_context_takeover = true;
  params.server_max_window_bits = 9;
  Session reset(deflate_options(params));
  reset.send_message(true, message);
  reset.send_message(true, message);
  const std::vector<ServerFrame> reset_frames = frames_of(reset.output());
  ASSERT_EQ(reset_frames.size(), 2u);
  EXPECT_EQ(reset_frames[0].payload, reset_frames[1].payload);
  ClientInflater fresh;
  EXPECT_EQ(fresh.inflate(reset_frames[1].payload, &ok), message);
  EXPECT_TRUE(ok);
}

TEST(WebSocketDeflate, Violations) {
  ClientDeflater a, b, c;
  expect_failure(feed(text(a.compress("\xc3\x28 not utf-8"), {.rsv1 = true}), deflate_options()), 1007);
  expect_failure(feed(text(std::string("\xff\xff\xff\xff", 4), {.rsv1 = true}), deflate_options()), 1007);
  expect_failure(feed(binary("", {.rsv1 = true}), deflate_options()), 1007);  // §7.2.1: ≥ 1 byte
  SessionOptions small = deflate_options();
  small.max_message_size = 1000;
  const std::string bomb = b.compress(std::string(1 << 20, '\0'));
  EXPECT_LT(bomb.size(), 2000u);
  expect_failure(feed(binary(bomb, {.rsv1 = true}), small), 1009);
  // Regression (fuzz): bad UTF-8 before the limit is 1007 however the input is split (whole,
  // one inflate call produced more than the limit at once and gave 1009).
  ClientDeflater d;
  expect_failure(feed(text(d.compress("ab\x93" + std::string(5000, 'a')), {.rsv1 = true}), small), 1007);
  // RSV1 on a continuation frame (§6.1) and on a control frame.
  const std::string z = c.compress("abc");
  expect_failure(feed(text(z, {.fin = false}) + continuation("", {.rsv1 = true}), deflate_options()), 1002);
  expect_failure(feed(frame(0x9, "", {.rsv1 = true}), deflate_options()), 1002);
}

}  // namespace
}  // namespace narwhal::http::ws
