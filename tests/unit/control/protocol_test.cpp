#include "control/protocol.h"

#include <gtest/gtest.h>

namespace narwhal::control {
namespace {

std::string frame_of(std::string_view payload) {
  std::string frame;
  const auto size = static_cast<uint32_t>(payload.size());
  frame.push_back(static_cast<char>(size >> 24));
  frame.push_back(static_cast<char>(size >> 16));
  frame.push_back(static_cast<char>(size >> 8));
  frame.push_back(static_cast<char>(size));
  frame += payload;
  return frame;
}

TEST(FrameReader, SplitsFramesArrivingInAnyPieces) {
  const std::string stream = frame_of(R"({"id":1})") + frame_of(R"({"id":2})");
  FrameReader reader;
  std::string payload;
  uint32_t length = 0;
  std::vector<std::string> payloads;
  for (char byte : stream) {  // one byte at a time
    reader.append(std::string_view(&byte, 1));
    while (reader.next(&payload, &length) == FrameReader::Result::Frame) payloads.push_back(payload);
  }
  EXPECT_EQ(payloads, (std::vector<std::string>{R"({"id":1})", R"({"id":2})"}));
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(FrameReader, TruncatedFrameNeedsMore) {
  FrameReader reader;
  reader.append(frame_of("{\"id\": 1}").substr(0, 7));
  std::string payload;
  uint32_t length = 0;
  EXPECT_EQ(reader.next(&payload, &length), FrameReader::Result::NeedMore);
  reader.append(std::string_view("\0\0", 2));  // only 2 bytes of the length so far
  EXPECT_EQ(reader.next(&payload, &length), FrameReader::Result::NeedMore);
}

TEST(FrameReader, OversizedLengthIsRefusedBeforeBuffering) {
  FrameReader reader;
  reader.append(std::string("\xff\xff\xff\xff", 4));
  std::string payload;
  uint32_t length = 0;
  EXPECT_EQ(reader.next(&payload, &length), FrameReader::Result::TooLarge);
  EXPECT_EQ(length, 0xffffffffu);
  FrameReader limit;
  limit.append(frame_of(std::string(kMaxRequestBytes + 1, 'x')).substr(0, 4));
  EXPECT_EQ(limit.next(&payload, &length), FrameReader::Result::TooLarge);
}

TEST(EncodeFrame, BigEndianLengthThenJson) {
  const std::string frame = encode_frame({{"id", 7}, {"status", "ok"}});
  ASSERT_GE(frame.size(), 4u);
  const std::string payload = frame.substr(4);
  EXPECT_EQ(frame.substr(0, 4), frame_of(payload).substr(0, 4));
  EXPECT_EQ(nlohmann::json::parse(payload), (nlohmann::json{{"id", 7}, {"status", "ok"}}));
}

TEST(EncodeFrame, InvalidUtf8IsReplacedNotThrown) {
  const std::string frame = encode_frame({{"path", std::string("/a\xff")}});
  EXPECT_NE(frame.find("/a\xEF\xBF\xBD"), std::string::npos);
}

TEST(ParseRequest, CommandWordsThenArgsAsPythonStr) {
  nlohmann::json id;
  std::string error;
  auto request = parse_request(R"({"id": 3, "command": "worker add", "args": [2, "x y", true]})", &id, &error);
  ASSERT_TRUE(request) << error;
  EXPECT_EQ(request->id, 3);
  EXPECT_EQ(request->words, (std::vector<std::string>{"worker", "add", "2", "x y", "True"}));
}

TEST(ParseRequest, ShlexQuoting) {
  nlohmann::json id;
  std::string error;
  auto request = parse_request(R"({"id": 1, "command": "show 'a b'"})", &id, &error);
  ASSERT_TRUE(request);
  EXPECT_EQ(request->words, (std::vector<std::string>{"show", "a b"}));
  EXPECT_FALSE(parse_request(R"({"id": 1, "command": "show 'a"})", &id, &error));
  EXPECT_EQ(error, "Invalid argument: No closing quotation");
}

TEST(ParseRequest, Errors) {
  nlohmann::json id;
  std::string error;
  EXPECT_FALSE(parse_request("not json", &id, &error));
  EXPECT_EQ(error, "Invalid JSON");
  EXPECT_TRUE(id.is_null());
  EXPECT_FALSE(parse_request("[1, 2]", &id, &error));
  EXPECT_FALSE(parse_request(R"({"id": 9, "command": "   "})", &id, &error));
  EXPECT_EQ(error, "Empty command");
  EXPECT_EQ(id, 9);  // the reply still names the request
  EXPECT_FALSE(parse_request(R"({"id": 9})", &id, &error));
  EXPECT_EQ(error, "Empty command");
  EXPECT_FALSE(parse_request(R"({"id": 9, "command": 5})", &id, &error));
  EXPECT_FALSE(parse_request(R"({"id": 9, "command": "show", "args": "workers"})", &id, &error));
  EXPECT_FALSE(parse_request(std::string("{\"command\": \"\xff\"}"), &id, &error));  // not UTF-8
}

TEST(Replies, GunicornShapes) {
  EXPECT_EQ(ok_reply(1, nullptr), (nlohmann::json{{"id", 1}, {"status", "ok"}, {"data", nlohmann::json::object()}}));
  EXPECT_EQ(error_reply(2, "bad"), (nlohmann::json{{"id", 2}, {"status", "error"}, {"error", "bad"}}));
}

}  // namespace
}  // namespace narwhal::control
