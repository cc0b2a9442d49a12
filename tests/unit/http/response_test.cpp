// Response heads (src/http/response.h): reason phrases, Date, error responses, validation of
// the app's status and fields, serialisation and the framing / keep-alive decision.
#include "http/response.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "http/text.h"

namespace narwhal::http {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

ResponseRequest http11() { return ResponseRequest{}; }

ResponseRequest http10(bool keep_alive) {
  ResponseRequest request;
  request.version_minor = 0;
  request.keep_alive = keep_alive;
  return request;
}

ResponseRequest head_request() {
  ResponseRequest request;
  request.head_method = true;
  return request;
}

struct Built {
  const char* error = nullptr;
  std::string head;
  ResponseFraming framing;
};

// A fixed Date unless the test is about Date, so heads can be compared byte for byte.
Built build(const ResponseRequest& request, std::string_view status, const Fields& fields,
            int64_t known_length = -1) {
  Built built;
  ResponseHeadBuilder builder(built.head, request);
  built.error = builder.status(status);
  for (const auto& [name, value] : fields) {
    if (built.error) break;
    built.error = builder.field(name, value);
  }
  if (!built.error) built.framing = builder.finish(known_length);
  return built;
}

const std::pair<std::string, std::string> kDate{"Date", "Sun, 06 Nov 1994 08:49:37 GMT"};

bool has_line(const std::string& head, std::string_view line) {
  return head.find("\r\n" + std::string(line) + "\r\n") != std::string::npos;
}

// ---- reason phrases, Date, error responses ----

TEST(ReasonPhrase, EveryStandardStatus) {
  // RFC 9110 §15.
  const std::pair<int, std::string_view> expected[] = {
      {100, "Continue"}, {101, "Switching Protocols"}, {200, "OK"}, {201, "Created"},
      {202, "Accepted"}, {203, "Non-Authoritative Information"}, {204, "No Content"},
      {205, "Reset Content"}, {206, "Partial Content"}, {300, "Multiple Choices"},
      {301, "Moved Permanently"}, {302, "Found"}, {303, "See Other"}, {304, "Not Modified"},
      {305, "Use Proxy"}, {307, "Temporary Redirect"}, {308, "Permanent Redirect"},
      {400, "Bad Request"}, {401, "Unauthorized"}, {402, "Payment Required"}, {403, "Forbidden"},
      {404, "Not Found"}, {405, "Method Not Allowed"}, {406, "Not Acceptable"},
      {407, "Proxy Authentication Required"}, {408, "Request Timeout"}, {409, "Conflict"},
      {410, "Gone"}, {411, "Length Required"}, {412, "Precondition Failed"},
      {413, "Content Too Large"}, {414, "URI Too Long"}, {415, "Unsupported Media Type"},
      {416, "Range Not Satisfiable"}, {417, "Expectation Failed"}, {421, "Misdirected Request"},
      {422, "Unprocessable Content"}, {426, "Upgrade Required"}, {500, "Internal Server Error"},
      {501, "Not Implemented"}, {502, "Bad Gateway"}, {503, "Service Unavailable"},
      {504, "Gateway Timeout"}, {505, "HTTP Version Not Supported"},
      // Registered elsewhere, used by narwhal or common in apps.
      {103, "Early Hints"}, {429, "Too Many Requests"}, {431, "Request Header Fields Too Large"}};
  for (const auto& [code, reason] : expected) EXPECT_EQ(reason_phrase(code), reason) << code;
}

TEST(ReasonPhrase, UnusedAndUnknownCodesHaveNone) {
  EXPECT_EQ(reason_phrase(306), "");
  EXPECT_EQ(reason_phrase(418), "");
  EXPECT_EQ(reason_phrase(299), "");
  EXPECT_EQ(reason_phrase(0), "");
}

TEST(HttpDate, ImfFixdate) {
  const std::string_view date = http_date();
  ASSERT_EQ(date.size(), 29u) << date;
  EXPECT_EQ(date.substr(3, 2), ", ");
  EXPECT_EQ(date.substr(25), " GMT");
  EXPECT_EQ(date[19], ':');
  EXPECT_EQ(date[22], ':');
  EXPECT_NE(std::string_view("SunMonTueWedThuFriSat").find(date.substr(0, 3)), std::string_view::npos);
  EXPECT_EQ(http_date().data(), date.data());  // cached per thread
}

TEST(ErrorResponse, StatusReasonAndSizedBody) {
  EXPECT_EQ(error_response(400, "bad field"),
            "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 23\r\nServer: narwhal\r\n\r\nBad Request: bad field\n");
  EXPECT_EQ(error_response(500, ""),
            "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Type: text/plain; "
            "charset=utf-8\r\nContent-Length: 22\r\nServer: narwhal\r\n\r\nInternal Server Error\n");
  EXPECT_EQ(error_response(599, "").rfind("HTTP/1.1 599 Error\r\n", 0), 0u);
}

// ---- the head as a whole ----

TEST(ResponseHead, ByteExactWithContentLengthFromTheApp) {
  const Built b = build(http11(), "200 OK", {{"Content-Type", "text/plain"}, {"Content-Length", "5"}, kDate});
  ASSERT_EQ(b.error, nullptr);
  EXPECT_EQ(b.head,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: narwhal\r\n\r\n");
  EXPECT_FALSE(b.framing.no_body);
  EXPECT_FALSE(b.framing.chunked);
  EXPECT_EQ(b.framing.content_length, 5);
  EXPECT_TRUE(b.framing.keep_alive);
}

// RFC 9110 §5.5 (and gunicorn): leading and trailing whitespace is not part of a field value.
TEST(ResponseHead, FieldValuesAreStrippedOfSurroundingWhitespace) {
  const Built b = build(http11(), "200 OK",
                        {{"Set-Cookie", "  csrftoken=abc; Path=/ \t"}, {"Content-Length", " 5 "}, kDate});
  ASSERT_EQ(b.error, nullptr);
  EXPECT_EQ(b.head,
            "HTTP/1.1 200 OK\r\nSet-Cookie: csrftoken=abc; Path=/\r\nContent-Length: 5\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: narwhal\r\n\r\n");
  EXPECT_EQ(b.framing.content_length, 5);
}

TEST(ResponseHead, StatusLineKeepsTheAppsReasonText) {
  EXPECT_EQ(build(http11(), "200 Fine Thanks", {kDate}).head.rfind("HTTP/1.1 200 Fine Thanks\r\n", 0), 0u);
  EXPECT_EQ(build(http11(), "599 Whatever", {kDate}).head.rfind("HTTP/1.1 599 Whatever\r\n", 0), 0u);
  EXPECT_EQ(build(http11(), "200", {kDate}).head.rfind("HTTP/1.1 200\r\n", 0), 0u);  // as gunicorn
  EXPECT_EQ(build(http11(), "200 tab\there", {kDate}).error, nullptr);
  EXPECT_EQ(build(http11(), "200 caf\xe9", {kDate}).error, nullptr);  // obs-text
}

TEST(ResponseHead, MalformedStatusIsRefused) {
  const std::string_view statuses[] = {"", "20", "2x0 OK", "200OK", "099 Low", "000 Zero", "200 A\r\nX: y",
                                       "200 A\nB", std::string_view("200 A\0B", 7), "200 A\x01", "200 A\x7f"};
  for (std::string_view status : statuses) {
    const Built b = build(http11(), status, {});
    EXPECT_NE(b.error, nullptr) << status;
    EXPECT_TRUE(b.head.empty()) << status;
  }
}

TEST(ResponseHead, InterimStatusCannotBeFinal) {
  // RFC 9110 §15.2; PEP 3333 has no way to send an interim response.
  for (std::string_view status : {"100 Continue", "102 Processing", "103 Early Hints", "199 X"}) {
    const Built b = build(http11(), status, {});
    EXPECT_NE(b.error, nullptr) << status;
    EXPECT_TRUE(b.head.empty());
    int code = 0;
    EXPECT_NE(check_status(status, &code), nullptr) << status;
  }
}

TEST(ResponseHead, CheckStatusGivesTheCode) {
  int code = 0;
  EXPECT_EQ(check_status("404 Not Found", &code), nullptr);
  EXPECT_EQ(code, 404);
  EXPECT_EQ(check_status("101 Switching Protocols", &code), nullptr);
  EXPECT_EQ(code, 101);
}

// ---- no body: HEAD, 101, 204, 304 ----

TEST(ResponseHead, HeadHasNoBodyButTheSameHead) {
  Built b = build(head_request(), "200 OK", {{"Content-Length", "11"}, kDate});
  EXPECT_TRUE(b.framing.no_body);
  EXPECT_EQ(b.framing.content_length, 11);
  EXPECT_TRUE(has_line(b.head, "Content-Length: 11"));
  EXPECT_TRUE(b.framing.keep_alive);
  // A streamed body: no Transfer-Encoding either (no body at all follows).
  b = build(head_request(), "200 OK", {kDate});
  EXPECT_TRUE(b.framing.no_body);
  EXPECT_FALSE(b.framing.chunked);
  EXPECT_EQ(b.head.find("Transfer-Encoding"), std::string::npos);
  EXPECT_TRUE(b.framing.keep_alive);
  // The server-known length is still announced, as for GET.
  b = build(head_request(), "200 OK", {kDate}, 42);
  EXPECT_TRUE(has_line(b.head, "Content-Length: 42"));
}

TEST(ResponseHead, NoContentAndNotModifiedHaveNoBodyOrFraming) {
  for (std::string_view status : {"204 No Content", "304 Not Modified"}) {
    const Built b = build(http11(), status, {kDate}, 0);
    EXPECT_TRUE(b.framing.no_body) << status;
    EXPECT_FALSE(b.framing.chunked);
    EXPECT_EQ(b.head.find("Content-Length"), std::string::npos) << b.head;
    EXPECT_EQ(b.head.find("Transfer-Encoding"), std::string::npos) << b.head;
    EXPECT_TRUE(b.framing.keep_alive);
  }
}

TEST(ResponseHead, SwitchingProtocolsKeepsUpgradeAndCloses) {
  const Built b = build(http11(), "101 Switching Protocols",
                        {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}, {"Keep-Alive", "x"}, kDate}, 0);
  ASSERT_EQ(b.error, nullptr);
  EXPECT_EQ(b.head,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: narwhal\r\n\r\n");
  EXPECT_TRUE(b.framing.no_body);
  EXPECT_FALSE(b.framing.chunked);
  EXPECT_FALSE(b.framing.keep_alive);  // issue 10 item 6: nothing more is read after a 101
}

// ---- Content-Length, chunked, close-delimited ----

TEST(ResponseHead, KnownLengthWhenTheAppGaveNone) {
  const Built b = build(http11(), "200 OK", {kDate}, 1234);
  EXPECT_EQ(b.framing.content_length, 1234);
  EXPECT_FALSE(b.framing.chunked);
  EXPECT_TRUE(has_line(b.head, "Content-Length: 1234"));
}

TEST(ResponseHead, AppContentLengthWinsOverTheKnownLength) {
  const Built b = build(http11(), "200 OK", {{"content-length", "3"}, kDate}, 10);
  EXPECT_EQ(b.framing.content_length, 3);
  EXPECT_TRUE(has_line(b.head, "content-length: 3"));
  EXPECT_EQ(b.head.find("Content-Length: 10"), std::string::npos);
}

TEST(ResponseHead, ChunkedWhenTheLengthIsUnknownOnHttp11) {
  const Built b = build(http11(), "200 OK", {kDate});
  EXPECT_TRUE(b.framing.chunked);
  EXPECT_EQ(b.framing.content_length, -1);
  EXPECT_TRUE(b.framing.keep_alive);
  EXPECT_EQ(b.head,
            "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nTransfer-Encoding: chunked\r\n"
            "Server: narwhal\r\n\r\n");
}

TEST(ResponseHead, CloseDelimitedOnHttp10) {
  const Built b = build(http10(true), "200 OK", {kDate});
  EXPECT_FALSE(b.framing.chunked);
  EXPECT_EQ(b.framing.content_length, -1);
  EXPECT_FALSE(b.framing.keep_alive);  // RFC 9112 §6.3: the close ends the body
  EXPECT_TRUE(has_line(b.head, "Connection: close"));
  EXPECT_EQ(b.head.find("Transfer-Encoding"), std::string::npos);
}

TEST(ResponseHead, Http10KeepAliveIsAnnounced) {
  Built b = build(http10(true), "200 OK", {{"Content-Length", "2"}, kDate});
  EXPECT_TRUE(b.framing.keep_alive);
  EXPECT_TRUE(has_line(b.head, "Connection: keep-alive"));
  b = build(http10(false), "200 OK", {{"Content-Length", "2"}, kDate});
  EXPECT_FALSE(b.framing.keep_alive);
  EXPECT_TRUE(has_line(b.head, "Connection: close"));
}

TEST(ResponseHead, Http11KeepAliveSaysNothingAndCloseSaysClose) {
  Built b = build(http11(), "200 OK", {{"Content-Length", "2"}, kDate});
  EXPECT_EQ(b.head.find("Connection"), std::string::npos);
  ResponseRequest closing = http11();
  closing.keep_alive = false;  // the client asked for close, or the server is stopping
  b = build(closing, "200 OK", {{"Content-Length", "2"}, kDate});
  EXPECT_FALSE(b.framing.keep_alive);
  EXPECT_TRUE(has_line(b.head, "Connection: close"));
}

// ---- hop-by-hop fields, Date, Server ----

TEST(ResponseHead, HopByHopFieldsFromTheAppAreDropped) {
  const Built b = build(http11(), "200 OK",
                        {{"Connection", "keep-alive"}, {"Keep-Alive", "timeout=5"}, {"Transfer-Encoding", "gzip"},
                         {"TE", "trailers"}, {"Trailer", "X"}, {"Trailers", "X"}, {"Upgrade", "h2c"},
                         {"Proxy-Authenticate", "Basic"}, {"Proxy-Authorization", "x"}, {"X-Kept", "1"}, kDate},
                        5);
  ASSERT_EQ(b.error, nullptr);
  EXPECT_EQ(b.head,
            "HTTP/1.1 200 OK\r\nX-Kept: 1\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 5\r\n"
            "Server: narwhal\r\n\r\n");
  EXPECT_TRUE(b.framing.keep_alive);
}

TEST(ResponseHead, ConnectionCloseFromTheAppIsHonoured) {
  const Built b = build(http11(), "200 OK", {{"connection", "Keep-Alive, CLOSE"}, kDate}, 2);
  EXPECT_FALSE(b.framing.keep_alive);
  EXPECT_TRUE(has_line(b.head, "Connection: close"));
  EXPECT_EQ(b.head.find("CLOSE"), std::string::npos);
}

TEST(ResponseHead, DateAndServerAddedWhenAbsent) {
  Built b = build(http11(), "200 OK", {}, 0);
  const size_t date = b.head.find("\r\nDate: ");
  ASSERT_NE(date, std::string::npos) << b.head;
  EXPECT_EQ(b.head.substr(date + 8, 29), http_date());
  EXPECT_TRUE(has_line(b.head, "Server: narwhal"));
  b = build(http11(), "200 OK", {{"server", "mine"}, {"DATE", "Sun, 06 Nov 1994 08:49:37 GMT"}}, 0);
  EXPECT_TRUE(has_line(b.head, "server: mine"));
  EXPECT_EQ(b.head.find("narwhal"), std::string::npos);
  EXPECT_EQ(b.head.find("Date:"), std::string::npos);  // only the app's "DATE"
}

// ---- field validation ----

TEST(ResponseHead, IdenticalContentLengthsAreCollapsed) {
  const Built b = build(http11(), "200 OK", {{"Content-Length", "5"}, {"content-length", "5"}, kDate});
  ASSERT_EQ(b.error, nullptr);
  EXPECT_EQ(b.framing.content_length, 5);
  EXPECT_EQ(b.head,
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Server: narwhal\r\n\r\n");
}

TEST(ResponseHead, DifferentContentLengthsAreRefused) {
  // RFC 9110 §8.6: the message length would be undetermined.
  const Built b = build(http11(), "200 OK", {{"Content-Length", "5"}, {"Content-Length", "6"}});
  EXPECT_NE(b.error, nullptr);
  EXPECT_TRUE(b.head.empty());
  ResponseFieldCheck check;
  EXPECT_EQ(check.add("Content-Length", "5"), nullptr);
  EXPECT_NE(check.add("CONTENT-LENGTH", "50"), nullptr);
}

TEST(ResponseHead, ContentLengthMustBeDigits) {
  for (std::string_view value : {"", "-1", "+5", " 5", "5 ", "5,5", "0x10", "1e3", "1234567890123456789"}) {
    EXPECT_EQ(parse_content_length(value), -1) << value;
  }
  // The field value is stripped of surrounding whitespace first (RFC 9110 §5.5): " 5" is 5.
  for (std::string_view value : {"", "  ", "-1", "+5", "5,5", "5 5", "0x10", "1e3", "1234567890123456789"}) {
    EXPECT_NE(build(http11(), "200 OK", {{"Content-Length", std::string(value)}}).error, nullptr) << value;
  }
  EXPECT_EQ(parse_content_length("0"), 0);
  EXPECT_EQ(parse_content_length("007"), 7);
  EXPECT_EQ(parse_content_length("123456789012345678"), 123456789012345678);
}

TEST(ResponseHead, ControlCharactersInValuesAreRefused) {
  // RFC 9110 §5.5: CTLs other than HTAB, and DEL.
  for (int c = 0; c < 0x20; ++c) {
    if (c == '\t') continue;
    const std::string value = std::string("a") + static_cast<char>(c) + "b";
    EXPECT_NE(check_field("X-Value", value), nullptr) << c;
    const Built b = build(http11(), "200 OK", {{"X-Value", value}});
    EXPECT_NE(b.error, nullptr) << c;
    EXPECT_TRUE(b.head.empty()) << c;
  }
  EXPECT_NE(check_field("X-Value", "a\x7f"), nullptr);
  EXPECT_NE(check_field("X-Value", "a\x01"), nullptr);
  EXPECT_NE(check_field("X-Value", "a\x0b"), nullptr);
  EXPECT_NE(check_field("X-Value", "a\r\nInjected: yes"), nullptr);
}

TEST(ResponseHead, TabSpaceAndObsTextInValuesAreAccepted) {
  EXPECT_EQ(check_field("X-Value", "a\tb c"), nullptr);
  EXPECT_EQ(check_field("X-Value", "caf\xe9 \x80\xff"), nullptr);
  EXPECT_EQ(check_field("X-Value", ""), nullptr);
  const Built b = build(http11(), "200 OK", {{"X-Value", "a\tb"}, kDate}, 0);
  EXPECT_TRUE(has_line(b.head, "X-Value: a\tb"));
}

TEST(ResponseHead, FieldNamesMustBeTokens) {
  for (std::string_view name : {"", "X Bad", "X:Bad", "X\tBad", "X\r\nBad", "X(Bad)", "caf\xe9", "X\x7f"}) {
    EXPECT_NE(check_field(name, "v"), nullptr) << name;
  }
  EXPECT_EQ(check_field("X-Good_Name.1!#$%&'*+^`|~", "v"), nullptr);
}

TEST(ResponseHead, ErrorAfterSomeFieldsLeavesNothingToSend) {
  std::string out = "stale";
  ResponseHeadBuilder builder(out, http11());
  EXPECT_EQ(builder.status("200 OK"), nullptr);
  EXPECT_EQ(builder.field("X-A", "1"), nullptr);
  EXPECT_NE(builder.field("X-B", "\x0b"), nullptr);
  EXPECT_TRUE(out.empty());
}

TEST(ResponseHead, ReusedBufferIsNotReallocated) {
  std::string out;
  out.reserve(512);
  const char* storage = out.data();
  for (int i = 0; i < 3; ++i) {
    ResponseHeadBuilder builder(out, http11());
    ASSERT_EQ(builder.status("200 OK"), nullptr);
    ASSERT_EQ(builder.field("Content-Type", "text/html; charset=utf-8"), nullptr);
    builder.finish(123456);
    EXPECT_EQ(out.data(), storage);
  }
}

// ---- shared text helpers ----

TEST(Text, EqualsIgnoreCaseAndContainsToken) {
  EXPECT_TRUE(equals_ignore_case("Content-Length", "content-LENGTH"));
  EXPECT_FALSE(equals_ignore_case("Content-Length", "Content-Lengt"));
  EXPECT_FALSE(equals_ignore_case("a", "b"));
  EXPECT_TRUE(contains_token("keep-alive, Close", "close"));
  EXPECT_TRUE(contains_token(" ,close ,", "CLOSE"));
  EXPECT_FALSE(contains_token("closed, unclose", "close"));
  EXPECT_FALSE(contains_token("", "close"));
  EXPECT_TRUE(is_token("X-Name"));
  EXPECT_FALSE(is_token(""));
  EXPECT_FALSE(is_token("a b"));
}

}  // namespace
}  // namespace narwhal::http
