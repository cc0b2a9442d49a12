// Request-line rules (RFC 9112 §3, gunicorn method policy).
#include "http/request_line.h"

#include "test_util.h"

namespace narwhal::http::testing {
namespace {

ParserOptions permissive() {
  ParserOptions o;
  o.permit_unconventional_http_method = true;
  return o;
}
ParserOptions casefold() {
  ParserOptions o = permissive();
  o.casefold_http_method = true;
  return o;
}
std::string line(std::string_view request_line) {
  return std::string(request_line) + "\r\nHost: example.com\r\n\r\n";
}

INSTANTIATE_TEST_SUITE_P(
    Method, StatusTest,
    ::testing::Values(
        StatusCase{"known_method", line("GET / HTTP/1.1"), 0},
        StatusCase{"unknown_token_method", line("-BLARGH /foo HTTP/1.1"), 0},
        StatusCase{"method_too_short", line("-bl /foo HTTP/1.1"), 400},
        StatusCase{"method_3_chars", line("PUT / HTTP/1.1"), 0},
        StatusCase{"method_20_chars", line("ABCDEFGHIJKLMNOPQRST / HTTP/1.1"), 0},
        StatusCase{"method_21_chars", line("ABCDEFGHIJKLMNOPQRSTU / HTTP/1.1"), 400},
        StatusCase{"lowercase_method", line("get / HTTP/1.1"), 400},
        StatusCase{"hash_in_method", line("GE#T / HTTP/1.1"), 400},
        StatusCase{"hash_in_method_permitted", line("GE#T / HTTP/1.1"), 0, permissive()},
        StatusCase{"lowercase_permitted", line("-blargh /foo HTTP/1.1"), 0, permissive()},
        StatusCase{"short_permitted", line("-b /foo HTTP/1.1"), 0, permissive()},
        StatusCase{"colon_in_method", line("bla:rgh /foo HTTP/1.1"), 400, permissive()},
        StatusCase{"nul_in_method", line(std::string("GET\0 /foo HTTP/1.1", 18)), 400},
        StatusCase{"nul_prefix_proxy", line(std::string("GET\0PROXY /foo HTTP/1.1", 23)), 400},
        StatusCase{"non_ascii_method", line("GET\xc3\x9f / HTTP/1.1"), 400, permissive()},
        StatusCase{"empty_method", line(" / HTTP/1.1"), 400},
        StatusCase{"method_with_colon", line("GET: /stuff HTTP/1.1"), 400},
        StatusCase{"tls_client_hello", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11), 400}),
    case_name);

INSTANTIATE_TEST_SUITE_P(
    Target, StatusTest,
    ::testing::Values(
        StatusCase{"origin_form", line("GET /a/b?c=d HTTP/1.1"), 0},
        StatusCase{"origin_keeps_slashes", line("GET ///x HTTP/1.1"), 0},
        StatusCase{"pipes_and_braces_allowed", line("GET /a|b{c}^ HTTP/1.1"), 0},
        StatusCase{"control_byte", line("GET /a\x01 HTTP/1.1"), 400},
        StatusCase{"del_byte", line("GET /a\x7f HTTP/1.1"), 400},
        StatusCase{"htab", line("GET /a\tb HTTP/1.1"), 400},
        StatusCase{"bare_cr", line("GET /a\rb HTTP/1.1"), 400},
        StatusCase{"nul", line(std::string("GET /a\0b HTTP/1.1", 17)), 400},
        StatusCase{"raw_space", line("GET /a b HTTP/1.1"), 400},
        StatusCase{"double_space_before_target", line("GET  / HTTP/1.1"), 400},
        StatusCase{"double_space_before_version", line("GET /  HTTP/1.1"), 400},
        StatusCase{"fragment", line("GET /a#frag HTTP/1.1"), 400},
        StatusCase{"double_quote", line("GET /with_\"quotes\" HTTP/1.1"), 400},
        StatusCase{"non_ascii", line("GET /\xc3\xa0 HTTP/1.1"), 400},
        StatusCase{"asterisk_options", line("OPTIONS * HTTP/1.1"), 0},
        StatusCase{"asterisk_get", line("GET * HTTP/1.1"), 400},
        StatusCase{"authority_connect", line("CONNECT example.com:443 HTTP/1.1"), 0},
        StatusCase{"authority_connect_ipv6", line("CONNECT [::1]:443 HTTP/1.1"), 0},
        StatusCase{"authority_connect_no_port", line("CONNECT example.com HTTP/1.1"), 400},
        StatusCase{"authority_connect_userinfo", line("CONNECT u@example.com:443 HTTP/1.1"), 400},
        StatusCase{"connect_origin_form", line("CONNECT /x HTTP/1.1"), 400},
        StatusCase{"authority_get", line("GET example.com:443 HTTP/1.1"), 400},
        StatusCase{"relative", line("GET foo/bar HTTP/1.1"), 400},
        StatusCase{"absolute", line("GET http://example.com/foo?q=1 HTTP/1.1"), 0},
        StatusCase{"absolute_no_path", line("GET http://example.com HTTP/1.1"), 0},
        StatusCase{"absolute_ipv6", line("GET http://[::1]:8080/foo HTTP/1.1"), 0},
        StatusCase{"absolute_userinfo", line("GET http://user:pass@example.com/ HTTP/1.1"), 400},
        StatusCase{"absolute_bad_host", line("PUT s://]ufd/: HTTP/1.1"), 400},
        StatusCase{"absolute_empty_host", line("GET http:///x HTTP/1.1"), 400},
        StatusCase{"absolute_bad_port", line("GET http://h:8x/ HTTP/1.1"), 400}),
    case_name);

INSTANTIATE_TEST_SUITE_P(
    Version, StatusTest,
    ::testing::Values(
        StatusCase{"http10", "GET / HTTP/1.0\r\n\r\n", 0},
        StatusCase{"http11", line("GET / HTTP/1.1"), 0},
        StatusCase{"http12", line("GET / HTTP/1.2"), 505},
        StatusCase{"http19", line("GET / HTTP/1.9"), 505},
        StatusCase{"http20", line("GET /foo HTTP/2.0"), 505},
        StatusCase{"http09", line("GET / HTTP/0.9"), 505},
        StatusCase{"http099", line("GET /foo HTTP/0.99"), 400},
        StatusCase{"http110", line("GET / HTTP/1.10"), 400},
        StatusCase{"lowercase_http", line("GET / http/1.1"), 400},
        StatusCase{"http111", line("GET /test HTTP/111"), 400},
        StatusCase{"ftp", line("GET /foo FTP/1.1"), 400},
        StatusCase{"long_version", line("GET / HTTP/11111111111111111111111.1"), 400},
        StatusCase{"no_version", line("GET /"), 400},
        StatusCase{"no_target", line("GET HTTP/1.1"), 400},
        StatusCase{"h2_preface", std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505},
        StatusCase{"h2_preface_start_only", std::string("PRI * HTTP/2.0\r\n"), 505},
        StatusCase{"bare_lf_request_line", "GET / HTTP/1.0\n\r\n", 400},
        StatusCase{"lf_separated", "GET\n/\nHTTP/1.1\r\n\r\n", 400},
        StatusCase{"trailing_space", line("GET / HTTP/1.1 "), 400},
        // Fuzz regressions: the error (status and reason) must not depend on the split.
        StatusCase{"fuzz_nul_line_after_empty_lines", std::string("\r\n\r\n\0\r\nQUIT\n", 12), 400},
        StatusCase{"method_only_line", "GET\r\n\r\n", 400},
        StatusCase{"method_then_bare_cr", "GE\rT / HTTP/1.1\r\n\r\n", 400}),
    case_name);

TEST(RequestLine, ParsesParts) {
  const ParseRun run = parse_all(line("GET http://example.com/p?q HTTP/1.1"));
  ASSERT_EQ(run.requests.size(), 1u);
  EXPECT_EQ(run.requests[0].method, "GET");
  EXPECT_EQ(run.requests[0].target, "http://example.com/p?q");
  EXPECT_EQ(run.requests[0].version_minor, 1);
  EXPECT_EQ(run.requests[0].target_form, TargetForm::Absolute);
}

TEST(RequestLine, TargetForms) {
  EXPECT_EQ(parse_all(line("OPTIONS * HTTP/1.1")).requests.at(0).target_form, TargetForm::Asterisk);
  EXPECT_EQ(parse_all(line("CONNECT h:1 HTTP/1.1")).requests.at(0).target_form,
            TargetForm::Authority);
  EXPECT_EQ(parse_all(line("GET /x HTTP/1.1")).requests.at(0).target_form, TargetForm::Origin);
}

TEST(RequestLine, CasefoldUppercasesMethod) {
  const ParseRun run = parse_all(line("-blargh /foo HTTP/1.1"), casefold());
  ASSERT_EQ(run.requests.size(), 1u);
  EXPECT_EQ(run.requests[0].method, "-BLARGH");
  EXPECT_EQ(parse_all(line("-blargh /foo HTTP/1.1"), permissive()).requests.at(0).method,
            "-blargh");
}

TEST(RequestLine, ConventionalMethodPolicy) {
  EXPECT_TRUE(conventional_method("GET"));
  EXPECT_TRUE(conventional_method("-BLARGH"));
  EXPECT_FALSE(conventional_method("GE"));
  EXPECT_FALSE(conventional_method("Get"));
}

TEST(RequestLine, LeadingEmptyLinesIgnored) {
  RequestParser parser({});
  size_t consumed = 0;
  EXPECT_EQ(parser.feed("\r\n\r\n", 4, &consumed, nullptr), ParseResult::NeedMore);
  EXPECT_EQ(consumed, 4u);
  EXPECT_FALSE(parser.head_started());
  EXPECT_EQ(parser.finish(), ParseResult::NeedMore);  // clean close
  const ParseRun run = parse_all("\r\n" + line("GET / HTTP/1.1"));
  EXPECT_EQ(run.requests.size(), 1u);
}

TEST(RequestLine, GarbageRejectedWithoutWaitingForLimit) {
  RequestParser parser({});
  size_t consumed = 0;
  EXPECT_EQ(parser.feed("\x16\x03", 2, &consumed, nullptr), ParseResult::Error);
  EXPECT_EQ(parser.error_status(), 400);
}

TEST(RequestLine, Http2PrefaceNeverWaitsForever) {
  RequestParser parser({});
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  size_t consumed = 0;
  EXPECT_EQ(parser.feed(preface.data(), preface.size(), &consumed, nullptr), ParseResult::Error);
  EXPECT_EQ(parser.error_status(), 505);
}

}  // namespace
}  // namespace narwhal::http::testing
