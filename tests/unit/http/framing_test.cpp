// Message framing: Content-Length, Transfer-Encoding, chunked coding and trailers
// (RFC 9110 §8.6, RFC 9112 §6, §7).
#include "test_util.h"

namespace narwhal::http::testing {
namespace {

std::string post(std::string_view fields, std::string_view body, std::string_view version = "1.1") {
  return "POST /p HTTP/" + std::string(version) + "\r\nHost: a\r\n" + std::string(fields) + "\r\n" +
         std::string(body);
}
std::string chunked(std::string_view body) { return post("Transfer-Encoding: chunked\r\n", body); }

INSTANTIATE_TEST_SUITE_P(
    ContentLength, StatusTest,
    ::testing::Values(
        StatusCase{"cl_ok", post("Content-Length: 5\r\n", "hello"), 0},
        StatusCase{"cl_zero", post("Content-Length: 0\r\n", ""), 0},
        StatusCase{"cl_leading_zeros", post("Content-Length: 0005\r\n", "hello"), 0},
        StatusCase{"cl_negative", post("Content-Length: -1\r\n", ""), 400},
        StatusCase{"cl_minus_zero", post("Content-Length: -0\r\n", ""), 400},
        StatusCase{"cl_plus", post("Content-Length: +1\r\n", "x"), 400},
        StatusCase{"cl_underscore", post("Content-Length: 0_1\r\n", ""), 400},
        StatusCase{"cl_words", post("Content-Length: bla-bla\r\n", ""), 400},
        StatusCase{"cl_inner_space", post("Content-Length: 3 1\r\n", "xyz"), 400},
        StatusCase{"cl_exponent", post("Content-Length: 1e3\r\n", ""), 400},
        StatusCase{"cl_empty", post("Content-Length:\r\n", ""), 400},
        StatusCase{"cl_overflow", post("Content-Length: 99999999999999999999999\r\n", ""), 400},
        StatusCase{"cl_different", post("Content-Length: 3\r\nContent-Length: 2\r\n", "xyz"), 400},
        StatusCase{"cl_identical_duplicate", post("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"), 400},
        StatusCase{"cl_list_form", post("Content-Length: 5, 5\r\n", "hello"), 400},
        StatusCase{"connect_with_body", "CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\nContent-Length: 3\r\n\r\nabc", 400}),
    case_name);

INSTANTIATE_TEST_SUITE_P(
    TransferEncoding, StatusTest,
    ::testing::Values(
        StatusCase{"te_chunked", chunked("0\r\n\r\n"), 0},
        StatusCase{"te_chunked_case", post("Transfer-Encoding: ChUnKeD\r\n", "0\r\n\r\n"), 0},
        StatusCase{"te_and_cl", post("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), 400},
        StatusCase{"te_tab_and_cl", post("Content-Length: 12\r\nTransfer-Encoding: \tchunked\r\n", "0\r\n\r\n"), 400},
        StatusCase{"te_http10", post("Transfer-Encoding: chunked\r\n", "0\r\n\r\n", "1.0"), 400},
        StatusCase{"te_not_final", post("Transfer-Encoding: chunked, gzip\r\n", ""), 400},
        StatusCase{"te_not_final_two_fields", post("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", ""), 400},
        StatusCase{"te_gzip_only", post("Transfer-Encoding: gzip\r\n", ""), 400},
        StatusCase{"te_chunked_twice", post("Transfer-Encoding: chunked, chunked\r\n", ""), 400},
        StatusCase{"te_chunked_twice_fields", post("Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n", ""), 400},
        StatusCase{"te_gzip_chunked", post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"), 501},
        StatusCase{"te_gzip_chunked_fields", post("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), 501},
        StatusCase{"te_identity_chunked", post("Transfer-Encoding: identity, chunked\r\n", "0\r\n\r\n"), 501},
        StatusCase{"te_chunked_params", post("Transfer-Encoding: chunked;q=1\r\n", "0\r\n\r\n"), 400},
        StatusCase{"te_empty", post("Transfer-Encoding:\r\n", ""), 400},
        StatusCase{"te_empty_elements", post("Transfer-Encoding: ,chunked,\r\n", "0\r\n\r\n"), 0},
        StatusCase{"te_bad_token", post("Transfer-Encoding: chu\"nked\r\n", ""), 400}),
    case_name);

INSTANTIATE_TEST_SUITE_P(
    Chunked, StatusTest,
    ::testing::Values(
        StatusCase{"ext_bws", chunked("5; some; parameters=stuff\r\nhello\r\n6; blahblah; blah\r\n world\r\n0\r\n\r\n"), 0},
        StatusCase{"ext_bws_around_equals", chunked("5 ; a = b ;c\r\nhello\r\n0\r\n\r\n"), 0},
        StatusCase{"ext_quoted", chunked("5;foo=\"bar baz\"\r\nhello\r\n0\r\n\r\n"), 0},
        StatusCase{"ext_quoted_pair", chunked("5;foo=\"a\\\"b\"\r\nhello\r\n0\r\n\r\n"), 0},
        StatusCase{"ext_on_last_chunk", chunked("0;x=y\r\n\r\n"), 0},
        StatusCase{"ext_bare_cr", chunked("5;ext=val\rue\r\nhello\r\n0\r\n\r\n"), 400},
        StatusCase{"ext_unterminated_quote", chunked("5;a=\"b\r\nhello\r\n0\r\n\r\n"), 400},
        StatusCase{"ext_no_name", chunked("5;=x\r\nhello\r\n0\r\n\r\n"), 400},
        StatusCase{"ext_trailing_ws", chunked("5;a \r\nhello\r\n0\r\n\r\n"), 400},
        StatusCase{"ext_too_long", chunked("5;" + std::string(9000, 'a') + "\r\nhello\r\n0\r\n\r\n"), 400},
        StatusCase{"size_uppercase_hex", chunked("A\r\n0123456789\r\n0\r\n\r\n"), 0},
        StatusCase{"size_leading_zeros", chunked("0005\r\nhello\r\n000\r\n\r\n"), 0},
        StatusCase{"size_underscore", chunked("6_0\r\n world\r\n0\r\n\r\n"), 400},
        StatusCase{"size_trailing_space", chunked("5\r\nhello\r\n0 \r\n\r\n"), 400},
        StatusCase{"size_leading_space", chunked(" 0\r\n\r\n"), 400},
        StatusCase{"size_minus", chunked("-5\r\nhello\r\n0\r\n\r\n"), 400},
        StatusCase{"size_plus", chunked("+5\r\nhello\r\n0\r\n\r\n"), 400},
        StatusCase{"size_0x", chunked("0x5\r\nhello\r\n0\r\n\r\n"), 400},
        StatusCase{"size_missing", chunked("\r\nhello\r\n0\r\n\r\n"), 400},
        StatusCase{"size_missing_with_ext", chunked(" ;foo=bar\r\nhello\r\n0\r\n\r\n"), 400},
        StatusCase{"size_overflow", chunked("FFFFFFFFFFFFFFFFF\r\n"), 400},
        StatusCase{"size_bare_lf", chunked("5\n;\r\nhello\r\n0\r\n\r\n"), 400},
        StatusCase{"data_without_crlf", chunked("5\r\nhelloX\r\n0\r\n\r\n"), 400},
        StatusCase{"data_bare_lf", chunked("5\r\nhello\n0\r\n\r\n"), 400},
        StatusCase{"missing_final_crlf", chunked("0\r\n"), 400},
        StatusCase{"truncated_data", chunked("5\r\nhel"), 400},
        StatusCase{"trailer_ok", chunked("0\r\nVary: *\r\n\r\n"), 0},
        StatusCase{"trailer_obs_fold", chunked("0\r\nVary: *\r\n z\r\n\r\n"), 400},
        StatusCase{"trailer_bare_lf", chunked("0\r\nA: b\n\r\n"), 400},
        StatusCase{"trailer_bad_name", chunked("0\r\nA b: c\r\n\r\n"), 400},
        StatusCase{"trailer_ctl", chunked("0\r\nA: b\x01\r\n\r\n"), 400},
        StatusCase{"trailer_content_length", chunked("5\r\nhello\r\n0\r\nContent-Length: 99\r\n\r\n"), 400},
        StatusCase{"trailer_host", chunked("0\r\nHost: evil\r\n\r\n"), 400},
        StatusCase{"trailer_transfer_encoding", chunked("0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400}),
    case_name);

TEST(Framing, ContentLengthBody) {
  const ParseRun run = parse_all(post("Content-Length: 5\r\n", "helloGET"));
  ASSERT_EQ(run.requests.size(), 1u);
  EXPECT_EQ(run.requests[0].body, "hello");
  EXPECT_EQ(run.error_status, 400);  // "GET" then EOF: an incomplete second request
  EXPECT_TRUE(run.error_at_eof);
}

TEST(Framing, ChunkedBodyAndTrailers) {
  const ParseRun run = parse_all(chunked(
      "5\r\nhello\r\n6\r\n world\r\n0\r\nVary: *\r\nContent-MD5:  abc \r\nX_Y: dropped\r\n\r\n"));
  ASSERT_EQ(run.requests.size(), 1u);
  EXPECT_TRUE(run.requests[0].chunked);
  EXPECT_EQ(run.requests[0].body, "hello world");
  EXPECT_EQ(run.requests[0].trailers, (Fields{{"Vary", "*"}, {"Content-MD5", "abc"}}));
}

TEST(Framing, ChunkedWithExtensionsDecodes) {
  const ParseRun run = parse_all(chunked("5; some; p=\"q r\"\r\nhello\r\n0\r\n\r\n"));
  ASSERT_EQ(run.requests.size(), 1u);
  EXPECT_EQ(run.requests[0].body, "hello");
}

TEST(Framing, TrailerLimits) {
  ParserOptions o;
  o.limits.fields = 2;
  EXPECT_EQ(status_of(chunked("0\r\nA: 1\r\nB: 2\r\n\r\n"), o), 0);
  EXPECT_EQ(status_of(chunked("0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), o), 431);
  ParserOptions s;
  s.limits.field_size = 30;  // the head's longest line is 28 bytes
  EXPECT_EQ(status_of(chunked("0\r\nA: " + std::string(25, 'x') + "\r\n\r\n"), s), 0);
  EXPECT_EQ(status_of(chunked("0\r\nA: " + std::string(26, 'x') + "\r\n\r\n"), s), 431);
}

TEST(Framing, NothingParsedAfterError) {
  RequestParser parser({});
  const std::string input = chunked("5\r\nhelloX");
  size_t consumed = 0;
  std::string body;
  ASSERT_EQ(parser.feed(input.data(), input.size(), &consumed, nullptr), ParseResult::HeadComplete);
  const std::string rest = input.substr(consumed);
  EXPECT_EQ(parser.feed(rest.data(), rest.size(), &consumed, &body), ParseResult::Error);
  EXPECT_EQ(parser.error_status(), 400);
  const std::string more = "0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_EQ(parser.feed(more.data(), more.size(), &consumed, &body), ParseResult::Error);
  EXPECT_EQ(consumed, 0u);
  EXPECT_EQ(parser.finish(), ParseResult::Error);
}

}  // namespace
}  // namespace narwhal::http::testing
