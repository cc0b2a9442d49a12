// Expected lines were produced by gunicorn 20.1 itself (glogging.Logger.atoms + SafeAtoms) for
// the same request, with TZ=UTC and a fixed now().
#include "log/access_format.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <ostream>
#include <string>

#include "test_support.h"

namespace narwhal::log {
namespace {

class AccessFormatTest : public ::testing::Test {
 protected:
  AccessFormatTest() : tz_("UTC0") {
    request_headers_ = {{"HOST", "example.com"},
                        {"X-FORWARDED-FOR", "1.1.1.1"},
                        {"X-FORWARDED-FOR", "2.2.2.2"},
                        {"REFERER", "http://ref/"},
                        {"USER-AGENT", "curl/8 \"quoted\""},
                        {"AUTHORIZATION", "Basic YWxpY2U6c2VjcmV0"}};  // alice:secret
    response_headers_ = {{"Content-Type", "text/plain"}, {"X-Quote", "a\"b"}};
    record_.remote_addr = "10.1.2.3";
    record_.method = "GET";
    record_.target = "/a%20b?x=1&y=\"q\"";
    record_.path = "/a b";
    record_.query = "x=1&y=\"q\"";
    record_.protocol = "HTTP/1.1";
    record_.status = "200";
    record_.response_length = 1234;
    record_.duration_us = 2345678;
    record_.pid = 4321;
    record_.when = 1795974000;  // 2026-11-29 17:40:00 UTC
    record_.request_headers = &request_headers_;
    record_.response_headers = &response_headers_;
  }

  std::string render(std::string_view format) {
    AccessFormat compiled(format);
    EXPECT_EQ(compiled.error(), "") << format;
    std::string out;
    compiled.render(record_, out);
    return out;
  }

  testing::ScopedTimezone tz_;
  HeaderList request_headers_;
  HeaderList response_headers_;
  AccessRecord record_;
};

TEST_F(AccessFormatTest, DefaultFormatMatchesGunicorn) {
  EXPECT_EQ(render(kDefaultAccessFormat),
            R"(10.1.2.3 - alice [29/Nov/2026:17:40:00 +0000] "GET /a%20b?x=1&y=\"q\" HTTP/1.1" )"
            R"(200 1234 "http://ref/" "curl/8 \"quoted\"")");
  AccessFormat default_constructed;
  std::string out;
  default_constructed.render(record_, out);
  EXPECT_EQ(out, render(kDefaultAccessFormat));
}

TEST_F(AccessFormatTest, RequestAndTimingAtomsMatchGunicorn) {
  EXPECT_EQ(render("%(m)s|%(U)s|%(q)s|%(H)s|%(B)s|%(T)s|%(M)s|%(D)s|%(L)s"),
            R"(GET|/a b|x=1&y=\"q\"|HTTP/1.1|1234|2|2345|2345678|2.345678)");
}

TEST_F(AccessFormatTest, HeaderAndEnvironAtomsMatchGunicorn) {
  EXPECT_EQ(render("%({x-forwarded-for}i)s|%({Host}i)s|%({content-type}o)s|%({x-quote}o)s|"
                   "%({nope}i)s|%(zz)s|%({http_host}e)s|%({HTTP_X_FORWARDED_FOR}e)s|"
                   "%({path_info}e)s|%({wsgi.nope}e)s"),
            R"(2.2.2.2|example.com|text/plain|a\"b|-|-|example.com|1.1.1.1,2.2.2.2|/a b|-)");
}

TEST_F(AccessFormatTest, FlagsWidthPrecisionAndConversionsMatchGunicorn) {
  EXPECT_EQ(
      render("%(D)d|%(D)08d|%(T)5.1f|%(h)-12s|%(h).4s|%(h)r|%(a)r|%(B)x|%(M)+d|%% %(L)10s"),
      R"(2345678|02345678|  2.0|10.1.2.3    |10.1|'10.1.2.3'|'curl/8 \\"quoted\\"'|4d2|+2345|%   2.345678)");
}

TEST_F(AccessFormatTest, BraceKeysAreCaseInsensitiveOtherKeysAreNot) {
  EXPECT_EQ(render("%({Host}I)s|%({a}b)s|%(H)s|%(h)s|%(X)s"), "example.com|-|HTTP/1.1|10.1.2.3|-");
}

struct AtomCase {
  const char* format;
  const char* expected;
};

void PrintTo(const AtomCase& c, std::ostream* os) { *os << c.format << " -> " << c.expected; }

class EveryAtom : public AccessFormatTest, public ::testing::WithParamInterface<AtomCase> {};

TEST_P(EveryAtom, Renders) { EXPECT_EQ(render(GetParam().format), GetParam().expected); }

INSTANTIATE_TEST_SUITE_P(
    Atoms, EveryAtom,
    ::testing::Values(
        AtomCase{"%(h)s", "10.1.2.3"}, AtomCase{"%(l)s", "-"}, AtomCase{"%(u)s", "alice"},
        AtomCase{"%(t)s", "[29/Nov/2026:17:40:00 +0000]"},
        AtomCase{"%(r)s", R"(GET /a%20b?x=1&y=\"q\" HTTP/1.1)"}, AtomCase{"%(m)s", "GET"},
        AtomCase{"%(U)s", "/a b"}, AtomCase{"%(q)s", R"(x=1&y=\"q\")"},
        AtomCase{"%(H)s", "HTTP/1.1"}, AtomCase{"%(s)s", "200"}, AtomCase{"%(B)s", "1234"},
        AtomCase{"%(b)s", "1234"}, AtomCase{"%(f)s", "http://ref/"},
        AtomCase{"%(a)s", R"(curl/8 \"quoted\")"}, AtomCase{"%(T)s", "2"},
        AtomCase{"%(M)s", "2345"}, AtomCase{"%(D)s", "2345678"}, AtomCase{"%(L)s", "2.345678"},
        AtomCase{"%(p)s", "<4321>"}, AtomCase{"%({host}i)s", "example.com"},
        AtomCase{"%({content-type}o)s", "text/plain"}, AtomCase{"%({request_method}e)s", "GET"},
        AtomCase{"%({raw_uri}e)s", R"(/a%20b?x=1&y=\"q\")"},
        AtomCase{"%({query_string}e)s", R"(x=1&y=\"q\")"},
        AtomCase{"%({server_protocol}e)s", "HTTP/1.1"}, AtomCase{"%({remote_addr}e)s", "10.1.2.3"},
        AtomCase{"%({script_name}e)s", ""}, AtomCase{"%({content_length}e)s", "-"},
        AtomCase{"%({unknown}x)s", "-"}, AtomCase{"%(unknown)s", "-"}, AtomCase{"%()s", "-"},
        AtomCase{"plain text", "plain text"}, AtomCase{"100%% %(s)s", "100% 200"}),
    [](const ::testing::TestParamInfo<AtomCase>& info) {
      std::string name = std::to_string(info.index) + "_";
      for (const char* p = info.param.format; *p != 0; ++p) {
        if (std::isalnum(static_cast<unsigned char>(*p))) name += *p;
      }
      return name;
    });

TEST_F(AccessFormatTest, MissingValuesRenderAsDash) {
  AccessRecord empty;
  AccessFormat format(
      "%(h)s|%(u)s|%(m)s|%(H)s|%(s)s|%(b)s|%(B)s|%(f)s|%(a)s|%({x}i)s|%({x}o)s|"
      "%({remote_addr}e)s|%({http_x}e)s|%(U)s|%(q)s|%(T)s|%(L)s");
  std::string out;
  format.render(empty, out);
  EXPECT_EQ(out, "-|-|-|-|-|-|0|-|-|-|-|-|-|||0|0.000000");
}

TEST_F(AccessFormatTest, ZeroBytesIsZeroNotDash) {
  record_.response_length = 0;
  EXPECT_EQ(render("%(b)s %(B)s"), "0 0");  // gunicorn: str(resp.sent) when sent is known
}

TEST_F(AccessFormatTest, ExplicitRefererAndUserAgentWin) {
  record_.referer = "http://explicit/";
  record_.user_agent = "agent";
  EXPECT_EQ(render("%(f)s %(a)s"), "http://explicit/ agent");
  record_.referer = "";  // present but empty
  EXPECT_EQ(render("[%(f)s]"), "[]");
}

TEST_F(AccessFormatTest, PidDefaultsToGetpid) {
  record_.pid = 0;
  EXPECT_EQ(render("%(p)s"), "<" + std::to_string(::getpid()) + ">");
}

TEST_F(AccessFormatTest, UserNeedsValidBasicCredentials) {
  auto user_for = [this](std::string_view authorization) {
    request_headers_ = {{"Authorization", authorization}};
    return render("%(u)s");
  };
  EXPECT_EQ(user_for("Basic YWxpY2U6c2VjcmV0"), "alice");
  EXPECT_EQ(user_for("basic   YWxpY2U6c2VjcmV0  "), "alice");
  EXPECT_EQ(user_for("Basic Ym9iOg=="), "bob");       // "bob:"
  EXPECT_EQ(user_for("Basic Ym9i"), "-");             // "bob": no colon
  EXPECT_EQ(user_for("Basic YWxpY2U6c2VjcmV"), "-");  // incomplete quantum
  EXPECT_EQ(user_for("Basic OnNlY3JldA=="), "-");     // ":secret": empty user
  EXPECT_EQ(user_for("Bearer YWxpY2U6c2VjcmV0"), "-");
  EXPECT_EQ(user_for("Basic"), "-");
  request_headers_.clear();
  EXPECT_EQ(render("%(u)s"), "-");
}

bool lookup(const void* context, std::string_view name, std::string* out) {
  if (name != "wsgi.url_scheme") return false;
  out->append(static_cast<const char*>(context));
  return true;
}

TEST_F(AccessFormatTest, EnvironLookupCallback) {
  record_.environ_lookup = lookup;
  record_.environ_context = "https";
  EXPECT_EQ(render("%({wsgi.url_scheme}e)s %({WSGI.URL_SCHEME}e)s %({path_info}e)s"),
            "https https -");
}

TEST_F(AccessFormatTest, TimeDefaultsToNow) {
  record_.when = 0;
  std::string out = render("%(t)s");
  EXPECT_EQ(out.size(), std::string("[29/Nov/2026:17:40:00 +0000]").size());
  EXPECT_EQ(out.front(), '[');
}

TEST_F(AccessFormatTest, RenderAppends) {
  AccessFormat format("%(s)s");
  std::string out = "status=";
  format.render(record_, out);
  format.render(record_, out);
  EXPECT_EQ(out, "status=200200");
}

TEST(AccessFormatErrors, InvalidFormatsAreReportedAndRenderedBestEffort) {
  AccessRecord record;
  record.status = "204";
  struct Case {
    const char* format;
    const char* expected;
  };
  for (Case c : {Case{"%(s)s %", "204 %"}, Case{"%(s)s %(x", "204 %(x"}, Case{"%(s)5", "%(s)5"},
                 Case{"%s %(s)s", "%s 204"}, Case{"%(s)y", "204"}, Case{"%(h)d", "-"},
                 Case{"%(s)*s", "204"}}) {
    AccessFormat format(c.format);
    EXPECT_NE(format.error(), "") << c.format;
    std::string out;
    format.render(record, out);
    EXPECT_EQ(out, c.expected) << c.format;
  }
}

TEST(AccessFormatErrors, ValidFormatsHaveNoError) {
  for (const char* text : {"", "%%", "%(h)s", "%(D)d", "%(B)05x", "%(T).2f", "%(a)-30.10s",
                           "%({x-forwarded-for}i)s", "%(h)ls", "%(weird(key))s"}) {
    EXPECT_EQ(AccessFormat(text).error(), "") << text;
  }
}

// narwhal's Q atom: the queue time in milliseconds, an integer like M (docs/metrics.md).
TEST_F(AccessFormatTest, QueueTimeAtomIsMillisecondsAndNumeric) {
  record_.queue_us = 12'345;
  EXPECT_EQ(render("%(Q)s"), "12");
  EXPECT_EQ(render("%(Q)d ms"), "12 ms");
  EXPECT_EQ(render("%(Q)05d"), "00012");
  record_.queue_us = -3;  // never negative
  EXPECT_EQ(render("%(Q)s"), "0");
  EXPECT_TRUE(AccessFormat("%(Q)s").uses_queue_time());
  EXPECT_FALSE(AccessFormat("%(M)s %(q)s").uses_queue_time());
}

}  // namespace
}  // namespace narwhal::log
