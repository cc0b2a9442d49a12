// WebSocket opening handshake (RFC 6455 §4.2) and the permessage-deflate offer (RFC 7692 §7.1).
#include <gtest/gtest.h>

#include "http/websocket.h"

namespace narwhal::http::ws {
namespace {

RequestHead head_with(std::vector<Header> headers, std::string_view method = "GET", int minor = 1) {
  RequestHead head;
  head.method = method;
  head.target = "/chat";
  head.version_minor = minor;
  head.headers = std::move(headers);
  return head;
}

std::vector<Header> upgrade_headers(std::vector<Header> extra = {}) {
  std::vector<Header> h = {{"Host", "server.example.com"},
                           {"Upgrade", "websocket"},
                           {"Connection", "Upgrade"},
                           {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                           {"Sec-WebSocket-Version", "13"}};
  h.insert(h.end(), extra.begin(), extra.end());
  return h;
}

// RFC 6455 §1.3 (and §4.2.2): the key "dGhlIHNhbXBsZSBub25jZQ==" gives this accept value.
TEST(WebSocketHandshake, AcceptValueFromRfc6455Example) {
  const Handshake h = check_handshake(head_with(upgrade_headers()));
  EXPECT_TRUE(h.is_websocket);
  EXPECT_EQ(h.status, 0) << h.reason;
  EXPECT_EQ(h.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_TRUE(h.subprotocols.empty());
  EXPECT_FALSE(h.deflate_offered);
}

TEST(WebSocketHandshake, FromTheRequestParser) {
  RequestParser parser({});
  const std::string request =
      "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
      "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Protocol: chat, superchat\r\n"
      "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n";
  size_t consumed = 0;
  ASSERT_EQ(parser.feed(request.data(), request.size(), &consumed, nullptr), ParseResult::HeadComplete);
  EXPECT_TRUE(parser.head().upgrade);
  const Handshake h = check_handshake(parser.head());
  EXPECT_TRUE(h.is_websocket);
  EXPECT_EQ(h.status, 0);
  EXPECT_EQ(h.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(h.subprotocols, (std::vector<std::string>{"chat", "superchat"}));
  EXPECT_TRUE(h.deflate_offered);
}

TEST(WebSocketHandshake, RecognisesUpgradeTokensCaseInsensitively) {
  std::vector<Header> h = upgrade_headers();
  h[1].value = "WebSocket";
  h[2].value = "keep-alive, UPGRADE";
  EXPECT_TRUE(check_handshake(head_with(h)).is_websocket);
  h[2].value = "keep-alive";
  EXPECT_FALSE(check_handshake(head_with(h)).is_websocket);
  h[2].value = "upgrade";
  h[1].value = "h2c";
  EXPECT_FALSE(check_handshake(head_with(h)).is_websocket);
  EXPECT_FALSE(check_handshake(head_with({{"Host", "a"}})).is_websocket);
}

TEST(WebSocketHandshake, RefusesBadRequests) {
  EXPECT_EQ(check_handshake(head_with(upgrade_headers(), "POST")).status, 400);
  EXPECT_EQ(check_handshake(head_with(upgrade_headers(), "GET", 0)).status, 400);
  auto with = [](size_t index, std::string_view value) {
    std::vector<Header> h = upgrade_headers();
    h[index].value = value;
    return check_handshake(head_with(h));
  };
  EXPECT_EQ(with(3, "").status, 400);
  EXPECT_EQ(with(3, "dGhlIHNhbXBsZSBub25jZQ=").status, 400);    // 23 characters
  EXPECT_EQ(with(3, "dGhlIHNhbXBsZSBub25jZQ?=").status, 400);   // not base64 padding
  EXPECT_EQ(with(3, "dGhlIHNhbXBsZSBub25j*Q==").status, 400);   // not base64
  EXPECT_EQ(with(3, "dGhlIHNhbXBsZSBub25jZR==").status, 400);   // not 16 bytes exactly
  EXPECT_EQ(with(4, "8").status, 426);
  EXPECT_EQ(with(4, "13, 8").status, 426);
  EXPECT_EQ(with(4, "").status, 426);
  std::vector<Header> no_key = upgrade_headers();
  no_key.erase(no_key.begin() + 3);
  EXPECT_EQ(check_handshake(head_with(no_key)).status, 400);
  std::vector<Header> no_version = upgrade_headers();
  no_version.pop_back();
  EXPECT_EQ(check_handshake(head_with(no_version)).status, 426);
  const Handshake two_keys = check_handshake(
      head_with(upgrade_headers({{"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}})));
  EXPECT_EQ(two_keys.status, 400);
  EXPECT_TRUE(two_keys.accept.empty());
  EXPECT_FALSE(two_keys.reason.empty());
}

TEST(WebSocketHandshake, SubprotocolsInOrderAcrossFields) {
  const Handshake h = check_handshake(head_with(upgrade_headers(
      {{"Sec-WebSocket-Protocol", "chat, superchat"}, {"sec-websocket-protocol", " v2.example ,, "}})));
  EXPECT_EQ(h.subprotocols, (std::vector<std::string>{"chat", "superchat", "v2.example"}));
}

Handshake offer(std::string_view extensions) {
  return check_handshake(head_with(upgrade_headers({{"Sec-WebSocket-Extensions", extensions}})));
}

TEST(WebSocketHandshake, DeflateOfferWithoutParameters) {
  const Handshake h = offer("permessage-deflate");
  ASSERT_TRUE(h.deflate_offered);
  EXPECT_FALSE(h.deflate.server_no_context_takeover);
  EXPECT_EQ(h.deflate.server_max_window_bits, 15);
  EXPECT_EQ(deflate_extension_header(h.deflate), "permessage-deflate");
  // What browsers send: client_max_window_bits without a value is not answered.
  const Handshake chrome = offer("permessage-deflate; client_max_window_bits");
  ASSERT_TRUE(chrome.deflate_offered);
  EXPECT_EQ(deflate_extension_header(chrome.deflate), "permessage-deflate");
}

TEST(WebSocketHandshake, DeflateOfferWithParameters) {
  const Handshake h = offer(
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
      "server_max_window_bits=10; client_max_window_bits=\"12\"");
  ASSERT_TRUE(h.deflate_offered);
  EXPECT_TRUE(h.deflate.server_no_context_takeover);
  EXPECT_TRUE(h.deflate.client_no_context_takeover);
  EXPECT_EQ(h.deflate.server_max_window_bits, 10);
  EXPECT_EQ(h.deflate.client_max_window_bits, 12);
  EXPECT_EQ(deflate_extension_header(h.deflate),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=10; client_max_window_bits=12");
  // An offered server_max_window_bits is always answered (RFC 7692 §7.1.2.1), even 15.
  EXPECT_EQ(deflate_extension_header(offer("permessage-deflate; server_max_window_bits=15").deflate),
            "permessage-deflate; server_max_window_bits=15");
}

TEST(WebSocketHandshake, UnacceptableDeflateOffersAreIgnored) {
  for (const char* bad : {"permessage-deflate; foo", "permessage-deflate; foo=1",
                          "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                          "permessage-deflate; server_no_context_takeover=1",
                          "permessage-deflate; server_max_window_bits",
                          "permessage-deflate; server_max_window_bits=8",  // zlib cannot
                          "permessage-deflate; server_max_window_bits=16",
                          "permessage-deflate; server_max_window_bits=010",
                          "permessage-deflate; client_max_window_bits=7",
                          "permessage-deflate; client_max_window_bits=\"1 2\"",
                          "permessage-deflate; client_max_window_bits=\"12",
                          "x-webkit-deflate-frame", ""}) {
    EXPECT_FALSE(offer(bad).deflate_offered) << bad;
    EXPECT_EQ(offer(bad).status, 0) << bad;  // the handshake itself stays valid
  }
  // The first acceptable offer wins; the others are fallbacks (RFC 7692 §5.1).
  const Handshake h = offer(
      "permessage-deflate; server_max_window_bits=8, permessage-deflate; client_no_context_takeover, "
      "permessage-deflate");
  ASSERT_TRUE(h.deflate_offered);
  EXPECT_TRUE(h.deflate.client_no_context_takeover);
  EXPECT_EQ(h.deflate.server_max_window_bits, 15);
  // Over several fields, after another extension.
  const Handshake split = check_handshake(head_with(upgrade_headers(
      {{"Sec-WebSocket-Extensions", "foo; bar=1"},
       {"Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits=9"}})));
  ASSERT_TRUE(split.deflate_offered);
  EXPECT_EQ(split.deflate.client_max_window_bits, 9);
}

}  // namespace
}  // namespace narwhal::http::ws
