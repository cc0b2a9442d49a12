// Header-section rules (RFC 9112 §5, RFC 9110 §5, §7.2, §7.6, §7.8, §10.1.1; gunicorn header_map).
#include "test_util.h"

namespace narwhal::http::testing {
namespace {

ParserOptions header_map(HeaderMap m) {
  ParserOptions o;
  o.header_map = m;
  return o;
}
ParserOptions no_host_check() {
  ParserOptions o;
  o.require_host = false;
  return o;
}

INSTANTIATE_TEST_SUITE_P(
    FieldSyntax, StatusTest,
    ::testing::Values(
        StatusCase{"plain", get("/", "X-A: b\r\n"), 0},
        StatusCase{"special_name_chars", get("/", "X.Custom|Pipe: ok\r\n"), 0},
        StatusCase{"space_before_colon", get("/", "Content-Length : 3\r\n"), 400},
        StatusCase{"tab_before_colon", get("/", "X\t: 3\r\n"), 400},
        StatusCase{"obs_fold", get("/", "Long: one\r\n two\r\n"), 400},
        StatusCase{"obs_fold_tab", get("/", "Long: one\r\n\ttwo\r\n"), 400},
        StatusCase{"bare_cr_in_value", get("/", "X: a\rb\r\n"), 400},
        StatusCase{"bare_cr_in_name", get("/", "X\rY: a\r\n"), 400},
        StatusCase{"bare_lf_line_end", get("/", "X: a\nY: b\r\n"), 400},
        StatusCase{"bare_lf_end_of_head", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400},
        StatusCase{"nul_in_value", get("/", std::string("X: a\0b\r\n", 8)), 400},
        StatusCase{"nul_in_name", get("/", std::string("ba\0z: bar\r\n", 11)), 400},
        StatusCase{"bel_in_value", get("/", "X: plain\x07injected\r\n"), 400},
        StatusCase{"del_in_value", get("/", "X: plain\x7finjected\r\n"), 400},
        StatusCase{"esc_in_value", get("/", "X: a\x1b[0m\r\n"), 400},
        StatusCase{"htab_in_value", get("/", "X: a\tb\r\n"), 0},
        StatusCase{"obs_text_in_value", get("/", "X: caf\xc3\xa9\r\n"), 0},
        StatusCase{"non_ascii_name", get("/", "Content-Length\xc3\x9f: 3\r\n"), 400},
        StatusCase{"empty_name", get("/", ": x\r\n"), 400},
        StatusCase{"no_colon", get("/", "NoColon\r\n"), 400},
        StatusCase{"empty_value", get("/", "X:\r\n"), 0},
        StatusCase{"missing_host_http11", "GET / HTTP/1.1\r\n\r\n", 400},
        StatusCase{"missing_host_allowed", "GET / HTTP/1.1\r\n\r\n", 0, no_host_check()},
        StatusCase{"missing_host_http10", "GET / HTTP/1.0\r\n\r\n", 0},
        StatusCase{"duplicate_host", get("/", "Host: evil.example.com\r\n"), 400},
        StatusCase{"duplicate_host_http10", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        StatusCase{"duplicate_host_no_check", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400,
                   no_host_check()},
        StatusCase{"empty_host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", 0},
        StatusCase{"host_with_port", "GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n", 0},
        StatusCase{"host_ipv6", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 0},
        StatusCase{"host_with_space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
        StatusCase{"host_userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400},
        StatusCase{"host_bad_port", "GET / HTTP/1.1\r\nHost: a:x\r\n\r\n", 400},
        StatusCase{"duplicate_content_type",
                   get("/", "Content-Type: application/json\r\nContent-Type: text/html\r\n"), 400},
        StatusCase{"underscore_refused", get("/", "X_Y: 1\r\n"), 400, header_map(HeaderMap::Refuse)},
        StatusCase{"underscore_dropped", get("/", "X_Y: 1\r\n"), 0},
        StatusCase{"underscore_dangerous", get("/", "X_Y: 1\r\n"), 0,
                   header_map(HeaderMap::Dangerous)}),
    case_name);

TEST(Fields, OrderCaseAndTrimming) {
  const ParseRun run = parse_all(get("/", "X-Value:\tabc\t\r\nName: \t value \t \r\nx-value: 2\r\n"));
  ASSERT_EQ(run.requests.size(), 1u);
  const Fields expected = {
      {"Host", "example.com"}, {"X-Value", "abc"}, {"Name", "value"}, {"x-value", "2"}};
  EXPECT_EQ(run.requests[0].headers, expected);
}

TEST(Fields, InnerWhitespaceKept) {
  const ParseRun run = parse_all(get("/", "X: a  b\tc\r\n"));
  EXPECT_EQ(run.requests.at(0).headers.at(1).second, "a  b\tc");
}

TEST(Fields, UnderscoreHeaderMap) {
  const std::string input =
      "GET / HTTP/1.0\r\nTransfer_Encoding: tricked\r\nContent-Length: 7\r\n"
      "Content_Length: -1E23\r\n\r\ntricked";
  const ParseRun dropped = parse_all(input);
  ASSERT_EQ(dropped.requests.size(), 1u);
  EXPECT_EQ(dropped.requests[0].headers, (Fields{{"Content-Length", "7"}}));
  EXPECT_EQ(dropped.requests[0].body, "tricked");

  const ParseRun kept = parse_all(input, header_map(HeaderMap::Dangerous));
  ASSERT_EQ(kept.requests.size(), 1u);
  EXPECT_EQ(kept.requests[0].headers.size(), 3u);
  EXPECT_EQ(kept.requests[0].body, "tricked");  // '_' names never affect framing

  EXPECT_EQ(parse_all(input, header_map(HeaderMap::Refuse)).error_status, 400);
}

struct KeepAliveCase {
  std::string version, connection;
  bool keep_alive;
};

TEST(Fields, KeepAlivePerRfc9112Section9_3) {
  const KeepAliveCase cases[] = {
      {"1.1", "", true},          {"1.1", "close", false},
      {"1.1", "Close", false},    {"1.1", "keep-alive", true},
      {"1.1", "foo, close", false}, {"1.0", "", false},
      {"1.0", "keep-alive", true}, {"1.0", "Keep-Alive", true},
      {"1.0", "keep-alive, close", false},
  };
  for (const KeepAliveCase& c : cases) {
    std::string input = "GET / HTTP/" + c.version + "\r\nHost: a\r\n";
    if (!c.connection.empty()) input += "Connection: " + c.connection + "\r\n";
    input += "\r\n";
    const ParseRun run = parse_all(input);
    ASSERT_EQ(run.requests.size(), 1u) << input;
    EXPECT_EQ(run.requests[0].keep_alive, c.keep_alive) << input;
  }
}

TEST(Fields, ExpectContinue) {
  EXPECT_TRUE(parse_all(get("/", "Expect: 100-continue\r\n")).requests.at(0).expect_continue);
  EXPECT_TRUE(parse_all(get("/", "Expect: 100-Continue\r\n")).requests.at(0).expect_continue);
  EXPECT_FALSE(parse_all(get("/", "Expect: foo\r\n")).requests.at(0).expect_continue);
  EXPECT_FALSE(parse_all(get("/")).requests.at(0).expect_continue);
  // RFC 9110 §10.1.1: ignored in HTTP/1.0.
  EXPECT_FALSE(parse_all("GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n")
                   .requests.at(0)
                   .expect_continue);
}

TEST(Fields, Upgrade) {
  const ParseRun ws = parse_all(get("/", "Connection: Upgrade\r\nUpgrade: websocket\r\n"));
  EXPECT_TRUE(ws.requests.at(0).upgrade);
  EXPECT_FALSE(parse_all(get("/", "Upgrade: websocket\r\n")).requests.at(0).upgrade);
  EXPECT_FALSE(parse_all("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n")
                   .requests.at(0)
                   .upgrade);
  EXPECT_TRUE(parse_all("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n").requests.at(0).upgrade);
}

}  // namespace
}  // namespace narwhal::http::testing
