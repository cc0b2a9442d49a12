#include "net/bind_address.h"

#include <gtest/gtest.h>

namespace narwhal::net {
namespace {

BindAddress parse_ok(std::string_view text) {
  std::string error = "stale";
  BindAddress address = parse_bind(text, &error);
  EXPECT_EQ(error, "") << text;
  return address;
}

std::string parse_error(std::string_view text) {
  std::string error;
  parse_bind(text, &error);
  return error;
}

TEST(ParseBind, HostAndPort) {
  BindAddress a = parse_ok("127.0.0.1:9000");
  EXPECT_EQ(a.kind, BindAddress::Kind::Tcp);
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 9000);
  EXPECT_FALSE(a.ipv6);
  BindAddress any = parse_ok("0.0.0.0:8000");
  EXPECT_EQ(any.host, "0.0.0.0");
  EXPECT_EQ(any.port, 8000);
}

TEST(ParseBind, HostOnlyDefaultsToPort8000) {
  BindAddress a = parse_ok("localhost");
  EXPECT_EQ(a.host, "localhost");
  EXPECT_EQ(a.port, 8000);
}

TEST(ParseBind, HostIsLowerCased) { EXPECT_EQ(parse_ok("LocalHost:1").host, "localhost"); }

TEST(ParseBind, EmptyMeansAllInterfaces) {
  BindAddress a = parse_ok("");
  EXPECT_EQ(a.host, "0.0.0.0");
  EXPECT_EQ(a.port, 8000);
  BindAddress b = parse_ok(":8080");
  EXPECT_EQ(b.host, "");
  EXPECT_EQ(b.port, 8080);
}

TEST(ParseBind, PortZeroAllowed) { EXPECT_EQ(parse_ok("127.0.0.1:0").port, 0); }

TEST(ParseBind, BracketedIpv6) {
  BindAddress a = parse_ok("[::1]:9001");
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 9001);
  EXPECT_TRUE(a.ipv6);
  BindAddress b = parse_ok("[::]");
  EXPECT_EQ(b.host, "::");
  EXPECT_EQ(b.port, 8000);
  EXPECT_TRUE(b.ipv6);
  EXPECT_EQ(parse_ok("[FE80::1]:1").host, "fe80::1");
}

TEST(ParseBind, TcpScheme) {
  BindAddress a = parse_ok("tcp://10.0.0.1:81");
  EXPECT_EQ(a.host, "10.0.0.1");
  EXPECT_EQ(a.port, 81);
}

TEST(ParseBind, UnixSocket) {
  BindAddress a = parse_ok("unix:/tmp/app.sock");
  EXPECT_EQ(a.kind, BindAddress::Kind::Unix);
  EXPECT_EQ(a.path, "/tmp/app.sock");
  EXPECT_EQ(parse_ok("unix:///run/x.sock").path, "/run/x.sock");
  EXPECT_EQ(parse_ok("unix:relative.sock").path, "relative.sock");
}

TEST(ParseBind, FileDescriptor) {
  BindAddress a = parse_ok("fd://3");
  EXPECT_EQ(a.kind, BindAddress::Kind::Fd);
  EXPECT_EQ(a.fd, 3);
}

TEST(ParseBind, ExtraColonFieldsIgnoredLikeGunicorn) {
  BindAddress a = parse_ok("host:80:junk");
  EXPECT_EQ(a.host, "host");
  EXPECT_EQ(a.port, 80);
}

TEST(ParseBind, Errors) {
  EXPECT_EQ(parse_error("127.0.0.1:abc"), "'abc' is not a valid port number.");
  EXPECT_EQ(parse_error("127.0.0.1:"), "'' is not a valid port number.");
  EXPECT_EQ(parse_error("127.0.0.1:65536"), "'65536' is not a valid port number.");
  EXPECT_EQ(parse_error("127.0.0.1:-1"), "'-1' is not a valid port number.");
  EXPECT_EQ(parse_error("fd://x"), "'x' is not a valid file descriptor.");
  EXPECT_EQ(parse_error("fd://"), "'' is not a valid file descriptor.");
  EXPECT_NE(parse_error("unix:"), "");
  EXPECT_NE(parse_error("::1"), "");  // unbracketed IPv6: gunicorn fails on the port too
  EXPECT_NE(parse_error("[::1]x"), "");
  EXPECT_NE(parse_error("[not-v6]:80"), "");
  EXPECT_NE(parse_error("[::1]:"), "");
}

TEST(ParseBind, Display) {
  EXPECT_EQ(parse_ok("127.0.0.1:80").display(), "('127.0.0.1', 80)");
  EXPECT_EQ(parse_ok("unix:/tmp/s").display(), "/tmp/s");
}

}  // namespace
}  // namespace narwhal::net
