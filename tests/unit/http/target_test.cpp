// split_target and percent_decode (used for PATH_INFO / QUERY_STRING).
#include <gtest/gtest.h>

#include "http/request_parser.h"

namespace narwhal::http {
namespace {

TEST(SplitTarget, OriginForm) {
  const TargetParts p = split_target("/forums/1?page=1#posts-17408");
  EXPECT_EQ(p.path, "/forums/1");
  EXPECT_EQ(p.query, "page=1");
  EXPECT_EQ(p.fragment, "posts-17408");
  EXPECT_EQ(p.authority, "");
  EXPECT_EQ(split_target("///keeping_slashes").path, "///keeping_slashes");
  EXPECT_EQ(split_target("/a?").query, "");
  EXPECT_EQ(split_target("/a?b?c").query, "b?c");
}

TEST(SplitTarget, AbsoluteForm) {
  TargetParts p = split_target("http://h:1/p?q");
  EXPECT_EQ(p.authority, "h:1");
  EXPECT_EQ(p.path, "/p");
  EXPECT_EQ(p.query, "q");
  p = split_target("https://example.com");
  EXPECT_EQ(p.authority, "example.com");
  EXPECT_EQ(p.path, "");
  p = split_target("http://[::1]:8080/foo");
  EXPECT_EQ(p.authority, "[::1]:8080");
  EXPECT_EQ(p.path, "/foo");
  p = split_target("http://h?x=1");
  EXPECT_EQ(p.authority, "h");
  EXPECT_EQ(p.path, "");
  EXPECT_EQ(p.query, "x=1");
}

TEST(SplitTarget, AuthorityAndAsterisk) {
  TargetParts p = split_target("example.com:443");
  EXPECT_EQ(p.authority, "example.com:443");
  EXPECT_EQ(p.path, "");
  p = split_target("*");
  EXPECT_EQ(p.path, "*");
  EXPECT_EQ(p.authority, "");
  EXPECT_EQ(split_target("").path, "");
}

TEST(PercentDecode, Decodes) {
  std::string out;
  percent_decode("/a%20b%2Fc%e2%82%AC", out);
  EXPECT_EQ(out, "/a b/c\xe2\x82\xac");
}

TEST(PercentDecode, InvalidEscapesKept) {
  std::string out = "x";
  percent_decode("%zz%4%%41%", out);
  EXPECT_EQ(out, "x%zz%4%A%");
  out.clear();
  percent_decode("%2", out);
  EXPECT_EQ(out, "%2");
}

}  // namespace
}  // namespace narwhal::http
