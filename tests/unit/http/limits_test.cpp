// Size limits (ParserOptions.limits): 414, 431, 413 and the safety caps.
#include "test_util.h"

namespace narwhal::http::testing {
namespace {

ParserOptions limits(size_t request_line, size_t fields, size_t field_size, uint64_t body = 0) {
  ParserOptions o;
  o.limits = {request_line, fields, field_size, body};
  return o;
}
// A request line of exactly `n` bytes (without CRLF).
std::string request_line_of(size_t n) {
  const std::string fixed = "GET / HTTP/1.1";
  return "GET /" + std::string(n - fixed.size(), 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n";
}
// A field line of exactly `n` bytes including CRLF.
std::string field_line_of(size_t n) { return get("/", "X: " + std::string(n - 5, 'v') + "\r\n"); }

TEST(Limits, EffectiveLimits) {
  const EffectiveLimits d = effective_limits({});
  EXPECT_EQ(d.request_line, 4094u);
  EXPECT_EQ(d.fields, 100u);
  EXPECT_EQ(d.field_line, 8190u);
  EXPECT_EQ(d.body, 0u);
  const EffectiveLimits zero = effective_limits({0, 0, 0, 0});
  EXPECT_EQ(zero.request_line, kMaxRequestLine);
  EXPECT_EQ(zero.fields, kMaxFields);
  EXPECT_EQ(zero.field_line, kMaxFieldLine);
  const EffectiveLimits big = effective_limits({100000, 100000, 100000, 5});
  EXPECT_EQ(big.request_line, kMaxRequestLine);  // capped like gunicorn
  EXPECT_EQ(big.fields, kMaxFields);
  EXPECT_EQ(big.field_line, 100000u);  // explicit field sizes are honoured (gunicorn)
}

TEST(Limits, RequestLine) {
  EXPECT_EQ(status_of(request_line_of(4094)), 0);
  EXPECT_EQ(status_of(request_line_of(4095)), 414);
  EXPECT_EQ(status_of(request_line_of(100), limits(100, 100, 8190)), 0);
  EXPECT_EQ(status_of(request_line_of(101), limits(100, 100, 8190)), 414);
  EXPECT_EQ(status_of(request_line_of(8190), limits(0, 100, 8190)), 0);
  EXPECT_EQ(status_of(request_line_of(8191), limits(0, 100, 8190)), 414);
  EXPECT_EQ(status_of(request_line_of(8189), limits(8200, 100, 8190)), 0);
  EXPECT_EQ(status_of(request_line_of(8191), limits(8200, 100, 8190)), 414);
}

TEST(Limits, RequestLineRefusedBeforeItEnds) {
  RequestParser parser(limits(100, 100, 8190));
  const std::string prefix = "GET /" + std::string(200, 'a');
  size_t consumed = 0;
  EXPECT_EQ(parser.feed(prefix.data(), prefix.size(), &consumed, nullptr), ParseResult::Error);
  EXPECT_EQ(parser.error_status(), 414);
}

TEST(Limits, FieldSize) {
  EXPECT_EQ(status_of(field_line_of(8190)), 0);
  EXPECT_EQ(status_of(field_line_of(8191)), 431);
  EXPECT_EQ(status_of(field_line_of(8190), limits(4094, 100, 0)), 0);  // 0 → 8190
  EXPECT_EQ(status_of(field_line_of(8191), limits(4094, 100, 0)), 431);
  EXPECT_EQ(status_of(field_line_of(8206), limits(4094, 100, 8210)), 0);
  EXPECT_EQ(status_of(get("/", "Accept: */*\r\n"), limits(4094, 100, 10)), 431);
  // The Host line of get() is 19 bytes.
  EXPECT_EQ(status_of(field_line_of(19), limits(4094, 100, 19)), 0);
  EXPECT_EQ(status_of(field_line_of(20), limits(4094, 100, 19)), 431);
}

TEST(Limits, FieldSizeRefusedBeforeLineEnds) {
  RequestParser parser(limits(4094, 100, 50));
  const std::string prefix = "GET / HTTP/1.1\r\nX: " + std::string(100, 'v');
  size_t consumed = 0;
  EXPECT_EQ(parser.feed(prefix.data(), prefix.size(), &consumed, nullptr), ParseResult::Error);
  EXPECT_EQ(parser.error_status(), 431);
}

TEST(Limits, FieldCount) {
  auto with_fields = [](int n) {
    std::string fields;
    for (int i = 1; i < n; ++i) fields += "X" + std::to_string(i) + ": v\r\n";
    return get("/", fields);  // plus Host
  };
  EXPECT_EQ(status_of(with_fields(100)), 0);
  EXPECT_EQ(status_of(with_fields(101)), 431);
  EXPECT_EQ(status_of(with_fields(2), limits(4094, 2, 8190)), 0);
  EXPECT_EQ(status_of(with_fields(3), limits(4094, 2, 8190)), 431);
  EXPECT_EQ(status_of(with_fields(300), limits(4094, 0, 8190)), 0);  // 0 → 32768
}

TEST(Limits, DroppedFieldsStillCount) {
  EXPECT_EQ(status_of(get("/", "A_B: 1\r\nC_D: 2\r\n"), limits(4094, 2, 8190)), 431);
}

TEST(Limits, ContentLengthBody) {
  const std::string five = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
  EXPECT_EQ(status_of(five, limits(4094, 100, 8190, 5)), 0);
  EXPECT_EQ(status_of(five, limits(4094, 100, 8190, 4)), 413);
  EXPECT_EQ(status_of(five, limits(4094, 100, 8190, 0)), 0);
  // 413 is known at head time: no body byte is needed.
  RequestParser parser(limits(4094, 100, 8190, 4));
  const std::string head = five.substr(0, five.size() - 5);
  size_t consumed = 0;
  EXPECT_EQ(parser.feed(head.data(), head.size(), &consumed, nullptr), ParseResult::Error);
  EXPECT_EQ(parser.error_status(), 413);
}

TEST(Limits, ChunkedBody) {
  const std::string body = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  EXPECT_EQ(status_of(body, limits(4094, 100, 8190, 11)), 0);
  EXPECT_EQ(status_of(body, limits(4094, 100, 8190, 10)), 413);
  EXPECT_EQ(status_of(body, limits(4094, 100, 8190, 0)), 0);
}

}  // namespace
}  // namespace narwhal::http::testing
