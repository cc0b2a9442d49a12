// gunicorn's parser relaxations (docs/http.md "Relaxations"): permit_obsolete_folding,
// strip_header_spaces, permit_unconventional_http_version, tolerate_dangerous_framing. Each is
// tested off (today's strict status) and on (the parsed result), under every split.
#include "test_util.h"

namespace narwhal::http::testing {
namespace {

ParserOptions folding() {
  ParserOptions o;
  o.permit_obsolete_folding = true;
  return o;
}
ParserOptions stripping() {
  ParserOptions o;
  o.strip_header_spaces = true;
  return o;
}
ParserOptions versions() {
  ParserOptions o;
  o.permit_unconventional_http_version = true;
  return o;
}
ParserOptions framing() {
  ParserOptions o;
  o.tolerate_dangerous_framing = true;
  return o;
}
ParserOptions all_relaxations() {
  ParserOptions o;
  o.permit_obsolete_folding = o.strip_header_spaces = true;
  o.permit_unconventional_http_version = o.tolerate_dangerous_framing = true;
  return o;
}

std::string line(std::string_view request_line) {
  return std::string(request_line) + "\r\nHost: a\r\n\r\n";
}
std::string post(std::string_view fields, std::string_view body, std::string_view version = "1.1") {
  return "POST /p HTTP/" + std::string(version) + "\r\nHost: a\r\n" + std::string(fields) + "\r\n" +
         std::string(body);
}
// "Content-Length: 3" together with the Transfer-Encoding `te`.
std::string cl_te(std::string_view te, std::string_view body = "0\r\n\r\n") {
  return post("Content-Length: 3\r\nTransfer-Encoding: " + std::string(te) + "\r\n", body);
}
const char* const kSmuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";

// The one request `input` must give, parsed under every split.
ParsedRequest one(std::string_view input, const ParserOptions& options) {
  const ParseRun run = parse_all(input, options);
  EXPECT_EQ(run.error_status, 0) << run.error_reason;
  EXPECT_EQ(run.requests.size(), 1u) << describe(run);
  return run.requests.empty() ? ParsedRequest{} : run.requests[0];
}

std::string field(const ParsedRequest& r, std::string_view name) {
  for (const auto& [n, v] : r.headers)
    if (n == name) return v;
  return "<absent>";
}

// --------------------------------------------------------------------------- statuses
INSTANTIATE_TEST_SUITE_P(
    Relaxations, StatusTest,
    ::testing::Values(
        // permit_obsolete_folding
        StatusCase{"fold_off", get("/", "Long: one\r\n two\r\n"), 400},
        StatusCase{"fold_on", get("/", "Long: one\r\n two\r\n"), 0, folding()},
        StatusCase{"fold_before_first_field", "GET / HTTP/1.1\r\n folded: x\r\nHost: a\r\n\r\n", 400,
                   folding()},
        StatusCase{"fold_content_length", post("Content-Length: 1\r\n 0\r\n", "0123456789"), 400,
                   folding()},
        StatusCase{"fold_content_length_empty", post("Content-Length:\r\n 3\r\n", "abc"), 400,
                   folding()},
        StatusCase{"fold_transfer_encoding", post("Transfer-Encoding: \r\n chunked\r\n", "0\r\n\r\n"),
                   400, folding()},
        StatusCase{"fold_bad_char", get("/", "Long: one\r\n t\x01wo\r\n"), 400, folding()},
        StatusCase{"fold_bare_lf", get("/", "Long: one\r\n two\n"), 400, folding()},
        // strip_header_spaces
        StatusCase{"strip_off", get("/", "X-Test : v\r\n"), 400},
        StatusCase{"strip_on", get("/", "X-Test : v\r\n"), 0, stripping()},
        StatusCase{"strip_not_token", get("/", "X Y : v\r\n"), 400, stripping()},
        StatusCase{"strip_content_length", post("Content-Length : 3\r\n", "abc"), 400, stripping()},
        StatusCase{"strip_transfer_encoding", post("Transfer-Encoding\t: chunked\r\n", "0\r\n\r\n"),
                   400, stripping()},
        StatusCase{"strip_leading_space_is_a_fold", "GET / HTTP/1.1\r\n Host : a\r\n\r\n", 400,
                   stripping()},
        // permit_unconventional_http_version
        StatusCase{"http12_off", line("GET / HTTP/1.2"), 505},
        StatusCase{"http12_on", line("GET / HTTP/1.2"), 0, versions()},
        StatusCase{"http19_on", line("GET / HTTP/1.9"), 0, versions()},
        StatusCase{"http12_needs_host", "GET / HTTP/1.2\r\n\r\n", 400, versions()},
        StatusCase{"http09_on", line("GET / HTTP/0.9"), 505, versions()},
        StatusCase{"http20_on", line("GET / HTTP/2.0"), 505, versions()},
        StatusCase{"http30_on", line("GET / HTTP/3.0"), 505, versions()},
        StatusCase{"h2_preface_on", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, versions()},
        StatusCase{"http110_on", line("GET / HTTP/1.10"), 400, versions()},
        // tolerate_dangerous_framing
        StatusCase{"cl_te_off", cl_te("chunked"), 400},
        StatusCase{"cl_te_on", cl_te("chunked"), 0, framing()},
        StatusCase{"te_http10_off", post("Transfer-Encoding: chunked\r\n", "0\r\n\r\n", "1.0"), 400},
        StatusCase{"te_http10_on", post("Transfer-Encoding: chunked\r\n", "0\r\n\r\n", "1.0"), 0,
                   framing()},
        // what stays refused with the setting: the TE list rules and every Content-Length rule
        StatusCase{"cl_te_not_final", cl_te("chunked, gzip", ""), 400, framing()},
        StatusCase{"cl_te_gzip", cl_te("gzip, chunked"), 501, framing()},
        StatusCase{"cl_te_twice", cl_te("chunked, chunked", ""), 400, framing()},
        StatusCase{"cl_te_empty", cl_te("", "abc"), 400, framing()},
        StatusCase{"cl_bad_te", post("Content-Length: x\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"),
                   400, framing()},
        StatusCase{"two_cl_te",
                   post("Content-Length: 3\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n",
                        "0\r\n\r\n"),
                   400, framing()},
        StatusCase{"connect_cl_te",
                   "CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\nContent-Length: 3\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n",
                   400, framing()}),
    case_name);

// --------------------------------------------------------------------------- permit_obsolete_folding
TEST(ObsoleteFolding, EachFoldBecomesOneSpace) {
  const ParsedRequest r = one(get("/", "Long: one  \r\n   two\t\r\n\t three four \r\nX: y\r\n"), folding());
  EXPECT_EQ(field(r, "Long"), "one two three four");
  EXPECT_EQ(field(r, "X"), "y");
  EXPECT_EQ(r.headers.size(), 3u);
  EXPECT_FALSE(r.keep_alive);  // a parser that does not unfold reads other fields
}

TEST(ObsoleteFolding, ValuesNeverStartOrEndWithWhitespace) {
  const ParsedRequest r = one(get("/", "Accept:\r\n */*\r\nEmpty:\r\n \r\nTail: a\r\n  \t\r\n"), folding());
  EXPECT_EQ(field(r, "Accept"), "*/*");
  EXPECT_EQ(field(r, "Empty"), "");
  EXPECT_EQ(field(r, "Tail"), "a");
}

TEST(ObsoleteFolding, WithoutAFoldNothingChanges) {
  const ParsedRequest r = one(get("/", "X: a b\r\n"), folding());
  EXPECT_EQ(field(r, "X"), "a b");
  EXPECT_TRUE(r.keep_alive);
}

TEST(ObsoleteFolding, NextRequestIsNotParsed) {
  const ParseRun run = parse_all(get("/", "Long: one\r\n two\r\n") + kSmuggled, folding());
  ASSERT_EQ(run.requests.size(), 1u) << describe(run);
  EXPECT_TRUE(run.stopped);
  EXPECT_EQ(run.requests[0].target, "/");
}

TEST(ObsoleteFolding, FoldAfterAKeepAliveRequest) {
  const ParseRun run = parse_all(get("/1") + get("/2", "Long: one\r\n two\r\n"), folding());
  ASSERT_EQ(run.requests.size(), 2u) << describe(run);
  EXPECT_TRUE(run.requests[0].keep_alive);
  EXPECT_EQ(field(run.requests[1], "Long"), "one two");
  EXPECT_FALSE(run.requests[1].keep_alive);
}

TEST(ObsoleteFolding, FieldSizeLimitCountsEveryLine) {
  // "Accept:\r\n" (9) + " */*\r\n" (6) = 15 bytes (gunicorn corpus invalid/013).
  ParserOptions o = folding();
  o.limits.field_size = 14;
  EXPECT_EQ(status_of("GET / HTTP/1.0\r\nAccept:\r\n */*\r\n\r\n", o), 431);
  o.limits.field_size = 15;
  EXPECT_EQ(field(one("GET / HTTP/1.0\r\nAccept:\r\n */*\r\n\r\n", o), "Accept"), "*/*");
}

TEST(ObsoleteFolding, ContinuationLinesAreNotFields) {
  ParserOptions o = folding();
  o.limits.fields = 2;
  const ParsedRequest r = one(get("/", "Long: a\r\n b\r\n c\r\n d\r\n"), o);
  EXPECT_EQ(field(r, "Long"), "a b c d");
  EXPECT_EQ(status_of(get("/", "Long: a\r\n b\r\nX: y\r\n"), o), 431);
}

TEST(ObsoleteFolding, DroppedFieldDropsItsContinuation) {
  const ParsedRequest r = one(get("/", "X: keep\r\nX_Y: drop\r\n folded\r\n"), folding());
  EXPECT_EQ(field(r, "X"), "keep");
  EXPECT_EQ(field(r, "X_Y"), "<absent>");
  EXPECT_EQ(r.headers.size(), 2u);
}

TEST(ObsoleteFolding, TrailersAreUnfoldedAndKeepTheConnection) {
  const ParseRun run =
      parse_all(post("Transfer-Encoding: chunked\r\n", "3\r\nabc\r\n0\r\nX-T: a\r\n b\r\n\r\n") + kSmuggled,
                folding());
  ASSERT_EQ(run.requests.size(), 2u) << describe(run);
  EXPECT_EQ(run.requests[0].body, "abc");
  EXPECT_EQ(run.requests[0].trailers, (Fields{{"X-T", "a b"}}));
  EXPECT_TRUE(run.requests[0].keep_alive);  // trailers never decide framing
  EXPECT_EQ(status_of(post("Transfer-Encoding: chunked\r\n", "0\r\nX-T: a\r\n b\r\n\r\n")), 400);
}

TEST(ObsoleteFolding, HeadViewsSurviveNextRequest) {
  // The arena is compacted in place; a later request on the same parser starts clean.
  RequestParser parser(folding());
  std::string body;
  size_t consumed = 0;
  const std::string first = get("/", "Long: one\r\n two\r\n");
  ASSERT_EQ(parser.feed(first.data(), first.size(), &consumed, nullptr), ParseResult::HeadComplete);
  EXPECT_EQ(parser.head().headers.at(1).value, "one two");
  EXPECT_EQ(parser.feed("", 0, &consumed, &body), ParseResult::MessageComplete);
  parser.next_request();
  const std::string second = get("/2", "Z: z\r\n");
  ASSERT_EQ(parser.feed(second.data(), second.size(), &consumed, nullptr), ParseResult::HeadComplete);
  EXPECT_EQ(parser.head().target, "/2");
  EXPECT_EQ(parser.head().headers.at(1).value, "z");
  EXPECT_TRUE(parser.head().keep_alive);
}

// --------------------------------------------------------------------------- strip_header_spaces
TEST(StripHeaderSpaces, NameIsStrippedAndConnectionClosed) {
  const ParsedRequest r = one(get("/", "X-Test \t : v\r\nOther: w\r\n"), stripping());
  EXPECT_EQ(r.headers, (Fields{{"Host", "example.com"}, {"X-Test", "v"}, {"Other", "w"}}));
  EXPECT_FALSE(r.keep_alive);
}

TEST(StripHeaderSpaces, NextRequestIsNotParsed) {
  const ParseRun run = parse_all(get("/", "X-Test : v\r\n") + kSmuggled, stripping());
  ASSERT_EQ(run.requests.size(), 1u) << describe(run);
  EXPECT_TRUE(run.stopped);
}

TEST(StripHeaderSpaces, WithoutWhitespaceTheConnectionPersists) {
  EXPECT_TRUE(one(get("/", "X-Test: v\r\n"), stripping()).keep_alive);
}

TEST(StripHeaderSpaces, TrailerNamesToo) {
  const ParsedRequest r =
      one(post("Transfer-Encoding: chunked\r\n", "0\r\nX-T : v\r\n\r\n"), stripping());
  EXPECT_EQ(r.trailers, (Fields{{"X-T", "v"}}));
  EXPECT_TRUE(r.keep_alive);
  EXPECT_EQ(status_of(post("Transfer-Encoding: chunked\r\n", "0\r\nHost : v\r\n\r\n"), stripping()),
            400);  // still a forbidden trailer
}

// --------------------------------------------------------------------------- permit_unconventional_http_version
TEST(UnconventionalVersion, Http1xHasHttp11Semantics) {
  const ParsedRequest r = one(
      "POST / HTTP/1.2\r\nHost: a\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n0\r\n\r\n",
      versions());
  EXPECT_EQ(r.version_major, 1);
  EXPECT_EQ(r.version_minor, 2);  // reported as sent
  EXPECT_TRUE(r.keep_alive);      // persistent like HTTP/1.1 (RFC 9112 §9.3)
  EXPECT_TRUE(r.expect_continue);
  EXPECT_TRUE(r.chunked);
  EXPECT_EQ(r.body, "abc");
  EXPECT_FALSE(one("GET / HTTP/1.9\r\nHost: a\r\nConnection: close\r\n\r\n", versions()).keep_alive);
}

// --------------------------------------------------------------------------- tolerate_dangerous_framing
TEST(DangerousFraming, ChunkedWinsContentLengthIsRemovedAndTheConnectionCloses) {
  const std::string smuggling =
      post("Content-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n",
           "3\r\nabc\r\n0\r\n\r\n") + kSmuggled;
  const ParseRun run = parse_all(smuggling, framing());
  ASSERT_EQ(run.requests.size(), 1u) << describe(run);
  EXPECT_TRUE(run.stopped);
  const ParsedRequest& r = run.requests[0];
  EXPECT_TRUE(r.chunked);
  EXPECT_EQ(r.body, "abc");
  EXPECT_FALSE(r.keep_alive);
  EXPECT_EQ(field(r, "Content-Length"), "<absent>");
  EXPECT_EQ(field(r, "Transfer-Encoding"), "chunked");

  RequestParser parser(framing());
  size_t consumed = 0;
  ASSERT_EQ(parser.feed(smuggling.data(), smuggling.size(), &consumed, nullptr),
            ParseResult::HeadComplete);
  EXPECT_FALSE(parser.head().has_content_length);
  EXPECT_EQ(parser.head().content_length, 0u);
}

TEST(DangerousFraming, ContentLengthNotCheckedAgainstBodyLimit) {
  ParserOptions o = framing();
  o.limits.body = 10;
  // The removed Content-Length (100) is not the body's length: the chunked body (3) is.
  EXPECT_EQ(one(post("Content-Length: 100\r\nTransfer-Encoding: chunked\r\n", "3\r\nabc\r\n0\r\n\r\n"), o).body,
            "abc");
}

TEST(DangerousFraming, TransferEncodingInHttp10) {
  const ParseRun run = parse_all(
      post("Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n", "3\r\nabc\r\n0\r\n\r\n", "1.0") +
          kSmuggled,
      framing());
  ASSERT_EQ(run.requests.size(), 1u) << describe(run);
  EXPECT_EQ(run.requests[0].version_minor, 0);
  EXPECT_TRUE(run.requests[0].chunked);
  EXPECT_EQ(run.requests[0].body, "abc");
  EXPECT_FALSE(run.requests[0].keep_alive);
}

TEST(DangerousFraming, OrdinaryRequestsUnchanged) {
  const ParseRun run = parse_all(post("Content-Length: 3\r\n", "abc") +
                                     post("Transfer-Encoding: chunked\r\n", "1\r\nx\r\n0\r\n\r\n"),
                                 framing());
  ASSERT_EQ(run.requests.size(), 2u) << describe(run);
  EXPECT_EQ(field(run.requests[0], "Content-Length"), "3");
  EXPECT_TRUE(run.requests[0].keep_alive);
  EXPECT_TRUE(run.requests[1].keep_alive);
}

// --------------------------------------------------------------------------- all together
TEST(Relaxations, StrictRequestsParseTheSameWithEveryRelaxationOn) {
  const std::string input = get("/a", "X: 1\r\n") + post("Content-Length: 3\r\n", "abc") +
                            post("Transfer-Encoding: chunked\r\n", "1\r\nx\r\n0\r\nT: v\r\n\r\n");
  const ParseRun strict = parse_all(input);
  const ParseRun relaxed = parse_all(input, all_relaxations());
  EXPECT_EQ(strict.requests.size(), 3u);
  EXPECT_TRUE(strict == relaxed) << describe(strict) << "\n" << describe(relaxed);
}

}  // namespace
}  // namespace narwhal::http::testing
