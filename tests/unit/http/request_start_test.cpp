// X-Request-Start as proxies send it (nginx `t=${msec}`, integer ms/µs forms).
#include "http/request_start.h"

#include <gtest/gtest.h>

namespace narwhal::http {
namespace {

TEST(RequestStart, NginxMsecIsSecondsWithMilliseconds) {
  EXPECT_EQ(parse_request_start("t=1764763200.123"), int64_t{1764763200123000});
  EXPECT_EQ(parse_request_start(" t=1764763200.5 "), int64_t{1764763200500000});
  EXPECT_EQ(parse_request_start("T=1764763200.1234567"), int64_t{1764763200123456});  // µs kept
  EXPECT_EQ(parse_request_start("1764763200.000001"), int64_t{1764763200000001});
}

TEST(RequestStart, IntegersAreReadByMagnitude) {
  EXPECT_EQ(parse_request_start("t=1764763200"), int64_t{1764763200000000});         // seconds
  EXPECT_EQ(parse_request_start("t=1764763200123"), int64_t{1764763200123000});      // ms
  EXPECT_EQ(parse_request_start("1764763200123456"), int64_t{1764763200123456});     // µs
  EXPECT_EQ(parse_request_start("1764763200123456789"), int64_t{1764763200123456});  // ns
}

TEST(RequestStart, GarbageIsIgnored) {
  for (const char* text : {"", "t=", "t=abc", "t=12x", "t=1.2.3", "t=1.", "t=-5", "0", "t=0", "x=1764763200",
                           "t=99999999999999999999", "t=1764763200123.5"}) {
    EXPECT_EQ(parse_request_start(text), std::nullopt) << text;
  }
}

TEST(RequestStart, FoundByNameIgnoringCase) {
  RequestHead head;
  head.headers = {{"Host", "x"}, {"x-request-start", "t=1764763200.250"}, {"X-Request-Start", "t=1"}};
  EXPECT_EQ(request_start_us(head), int64_t{1764763200250000});
  head.headers.resize(1);
  EXPECT_EQ(request_start_us(head), std::nullopt);
}

}  // namespace
}  // namespace narwhal::http
