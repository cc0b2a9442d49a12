// The uwsgi packet parser (http/uwsgi_packet.h) and RequestParser's uwsgi mode: packets as
// nginx's uwsgi_pass sends them, every malformed form, every truncation, the limits, and
// results independent of how the bytes are split.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "http/uwsgi_packet.h"
#include "parse_driver.h"

namespace narwhal::http {
namespace {

using testing::ParseRun;
using testing::run_parser;
using testing::standard_splits;
using Vars = std::vector<std::pair<std::string, std::string>>;

std::string le16(size_t value) { return {static_cast<char>(value & 0xFF), static_cast<char>((value >> 8) & 0xFF)}; }

std::string packet(const Vars& vars, unsigned modifier1 = 0, unsigned modifier2 = 0) {
  std::string block;
  for (const auto& [key, value] : vars) block += le16(key.size()) + key + le16(value.size()) + value;
  return static_cast<char>(modifier1) + le16(block.size()) + static_cast<char>(modifier2) + block;
}

ParserOptions uwsgi_options() {
  ParserOptions options;
  options.uwsgi = true;
  return options;
}

ParseRun parse_all(const std::string& input, ParserOptions options = uwsgi_options()) {
  return run_parser(input, options, {input.size()});
}

const Vars kNginx = {{"QUERY_STRING", "a=1"},   {"REQUEST_METHOD", "POST"}, {"CONTENT_TYPE", "text/plain"},
                     {"CONTENT_LENGTH", "5"},    {"REQUEST_URI", "/p/x?a=1"}, {"PATH_INFO", "/p/x"},
                     {"SERVER_PROTOCOL", "HTTP/1.1"}, {"HTTPS", "on"}, {"REMOTE_ADDR", "10.1.1.1"},
                     {"HTTP_HOST", "example.com"}, {"HTTP_X_FORWARDED_FOR", "1.2.3.4"}};

TEST(UwsgiPacket, ParsesVariablesInOrder) {
  const std::string data = packet({{"A", "1"}, {"", ""}, {"KEY", std::string(300, 'v')}}, 0, 7) + "BODY";
  UwsgiPacket parsed;
  int status = 0;
  const char* reason = "";
  ASSERT_EQ(parse_uwsgi_packet(data, &parsed, &status, &reason), UwsgiStatus::Complete);
  EXPECT_EQ(parsed.modifier2, 7u);
  EXPECT_EQ(parsed.length, data.size() - 4);
  ASSERT_EQ(parsed.vars.size(), 3u);
  EXPECT_EQ(parsed.vars[0].key, "A");
  EXPECT_EQ(parsed.vars[0].value, "1");
  EXPECT_EQ(parsed.vars[1].key, "");
  EXPECT_EQ(parsed.vars[2].value.size(), 300u);
}

TEST(UwsgiPacket, EveryTruncationNeedsMore) {
  const std::string data = packet(kNginx);
  for (size_t n = 0; n < data.size(); ++n) {
    UwsgiPacket parsed;
    int status = 0;
    const char* reason = "";
    EXPECT_EQ(parse_uwsgi_packet(std::string_view(data).substr(0, n), &parsed, &status, &reason),
              UwsgiStatus::NeedMore) << n;
  }
}

TEST(UwsgiPacket, Malformed) {
  struct Case {
    std::string data;
    int status;
  };
  const std::vector<Case> cases = {
      {packet(kNginx, 1), 501},
      {std::string("\x05", 1), 501},  // modifier1 is refused from the first byte
      {std::string("\0\x01\0\0x", 5), 400},  // 1 byte: no room for a key size
      {std::string("\0\x05\0\0\x03\0ab\0", 9), 400},  // key longer than the block
      {std::string("\0\x03\0\0\x01\0a", 7), 400},  // value size missing
      {std::string("\0\x05\0\0\x01\0a\x05\0", 9), 400},  // value longer than the block
  };
  for (const Case& c : cases) {
    UwsgiPacket parsed;
    int status = 0;
    const char* reason = "";
    EXPECT_EQ(parse_uwsgi_packet(c.data, &parsed, &status, &reason), UwsgiStatus::Error) << c.data.size();
    EXPECT_EQ(status, c.status);
    EXPECT_STRNE(reason, "");
  }
  Vars many;
  for (int i = 0; i < 1001; ++i) many.emplace_back("K", "");
  UwsgiPacket parsed;
  int status = 0;
  const char* reason = "";
  EXPECT_EQ(parse_uwsgi_packet(packet(many), &parsed, &status, &reason), UwsgiStatus::Error);
  EXPECT_EQ(status, 431);
  many.pop_back();
  EXPECT_EQ(parse_uwsgi_packet(packet(many), &parsed, &status, &reason), UwsgiStatus::Complete);
}

TEST(UwsgiRequest, HeadFromNginxVariables) {
  const std::string input = packet(kNginx) + "hello";
  for (const auto& split : standard_splits(input.size())) {
    ParseRun run = run_parser(input, uwsgi_options(), split.sizes);
    ASSERT_TRUE(run.violation.empty()) << run.violation << " " << split.name;
    ASSERT_EQ(run.error_status, 0) << run.error_reason;
    ASSERT_EQ(run.requests.size(), 1u) << split.name;
    const auto& request = run.requests[0];
    EXPECT_EQ(request.method, "POST");
    EXPECT_EQ(request.target, "/p/x?a=1");
    EXPECT_EQ(request.version_minor, 1);
    EXPECT_EQ(request.body, "hello");
    EXPECT_TRUE(request.keep_alive);
    testing::Fields expected = {{"CONTENT-TYPE", "text/plain"}, {"CONTENT-LENGTH", "5"},
                                {"HOST", "example.com"}, {"X-FORWARDED-FOR", "1.2.3.4"}};
    EXPECT_EQ(request.headers, expected);
  }
}

TEST(UwsgiRequest, SchemeDefaultsAndPipelining) {
  RequestParser parser(uwsgi_options());
  const std::string input = packet({{"PATH_INFO", "/a"}, {"HTTPS", "off"}}) +
                            packet({{"UWSGI_SCHEME", "https"}, {"REQUEST_METHOD", "HEAD"}}) +
                            packet({{"HTTP_CONNECTION", "Close"}});
  size_t offset = 0, consumed = 0;
  std::vector<std::string> seen;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(parser.feed(input.data() + offset, input.size() - offset, &consumed, nullptr), ParseResult::HeadComplete);
    offset += consumed;
    const RequestHead& head = parser.head();
    seen.push_back(std::string(head.method) + " " + std::string(head.target) + " " + std::string(head.scheme) +
                   (head.keep_alive ? " keep" : " close"));
    ASSERT_EQ(parser.feed(input.data() + offset, input.size() - offset, &consumed, nullptr), ParseResult::MessageComplete);
    parser.next_request();
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"GET /a http keep", "HEAD / https keep", "GET / http close"}));
}

TEST(UwsgiRequest, PathInfoIsEncodedIntoTheTarget) {
  ParseRun run = parse_all(packet({{"PATH_INFO", "/a b%?#\xe9"}, {"QUERY_STRING", "q=%20"}}));
  ASSERT_EQ(run.requests.size(), 1u) << run.error_reason;
  EXPECT_EQ(run.requests[0].target, "/a%20b%25%3F%23%E9?q=%20");
  TargetParts parts = split_target(run.requests[0].target);
  std::string decoded;
  percent_decode(parts.path, decoded);
  EXPECT_EQ(decoded, "/a b%?#\xe9");
  EXPECT_EQ(parts.query, "q=%20");
}

TEST(UwsgiRequest, ContentLengthForms) {
  EXPECT_EQ(parse_all(packet({{"CONTENT_LENGTH", ""}})).requests.size(), 1u);  // nginx: no body
  EXPECT_EQ(parse_all(packet({{"CONTENT_LENGTH", "0"}})).requests.size(), 1u);
  for (const char* bad : {"x", "-1", "+1", " 1", "1 ", "99999999999999999999"}) {
    EXPECT_EQ(parse_all(packet({{"CONTENT_LENGTH", bad}})).error_status, 400) << bad;
  }
  // A body cut short by the peer's close is an error, never dispatched.
  ParseRun cut = parse_all(packet({{"CONTENT_LENGTH", "10"}}) + "abc");
  EXPECT_TRUE(cut.requests.empty());
  EXPECT_EQ(cut.error_status, 400);
  EXPECT_TRUE(cut.error_at_eof);
}

TEST(UwsgiRequest, Limits) {
  ParserOptions options = uwsgi_options();
  options.limits.fields = 3;
  options.limits.field_size = 100;
  options.limits.request_line = 50;
  options.limits.body = 10;
  EXPECT_EQ(parse_all(packet({{"HTTP_A", "1"}, {"HTTP_B", "2"}, {"CONTENT_TYPE", "x"}}), options).requests.size(), 1u);
  EXPECT_EQ(parse_all(packet({{"HTTP_A", "1"}, {"HTTP_B", "2"}, {"HTTP_C", "3"}, {"HTTP_D", "4"}}), options).error_status, 431);
  EXPECT_EQ(parse_all(packet({{"HTTP_A", std::string(96, 'v')}}), options).error_status, 431);
  EXPECT_EQ(parse_all(packet({{"HTTP_A", std::string(95, 'v')}}), options).requests.size(), 1u);
  EXPECT_EQ(parse_all(packet({{"PATH_INFO", "/" + std::string(60, 'p')}}), options).error_status, 414);
  EXPECT_EQ(parse_all(packet({{"CONTENT_LENGTH", "11"}}), options).error_status, 413);
  EXPECT_EQ(parse_all(packet({{"REQUEST_METHOD", "G T"}}), options).error_status, 400);
  EXPECT_EQ(parse_all(packet({{"REQUEST_METHOD", ""}}), options).error_status, 400);
  EXPECT_EQ(parse_all(packet({{"HTTP_X", "a\nb"}}), options).error_status, 400);
  // The largest packet the 16-bit size allows.
  Vars big = {{"PATH_INFO", "/"}};
  for (int i = 0; i < 10; ++i) big.emplace_back("PAD" + std::to_string(i), std::string(6500, 'p'));
  const std::string largest = packet(big);
  EXPECT_GT(largest.size(), 65000u);
  EXPECT_EQ(parse_all(largest).requests.size(), 1u);
}

TEST(UwsgiRequest, HttpBytesAreRefused) {
  EXPECT_EQ(parse_all("GET / HTTP/1.1\r\nHost: x\r\n\r\n").error_status, 501);
}

TEST(UwsgiRequest, EveryTruncationOfAStreamIsConsistent) {
  const std::string input = packet(kNginx) + "hello" + packet({{"PATH_INFO", "/2"}});
  const ParseRun whole = parse_all(input);
  ASSERT_EQ(whole.requests.size(), 2u);
  for (size_t n = 0; n < input.size(); ++n) {
    ParseRun partial = run_parser(input.substr(0, n), uwsgi_options(), {n});
    EXPECT_TRUE(partial.violation.empty()) << n;
    EXPECT_LE(partial.requests.size(), 1u) << n;
    // Cut inside a packet: an error at the close, never a different request.
    if (!partial.requests.empty()) {
      EXPECT_EQ(partial.requests[0], whole.requests[0]) << n;
    }
  }
}

}  // namespace
}  // namespace narwhal::http
