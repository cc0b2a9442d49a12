// HTTP/2 session: requests, responses, flow control and the RFC 9113 §8 rules, driven by a real
// nghttp2 client session (tests/unit/http/http2_test_util.h). Protections against abusive
// clients: http2_protection_test.cpp.
#include <gtest/gtest.h>

#include "http/http2_session.h"
#include "http2_test_util.h"

namespace narwhal::http::h2 {
namespace {

using testing::Client;
using testing::Fields;
using testing::get;
using testing::header_value;
using testing::pump;

std::vector<Event> of_type(const std::vector<Event>& events, EventType type) {
  std::vector<Event> out;
  for (const Event& e : events)
    if (e.type == type) out.push_back(e);
  return out;
}

Fields with(Fields base, std::vector<std::pair<std::string, std::string>> extra) {
  for (auto& f : extra) base.push_back(f);
  return base;
}

std::string field(const RequestHead& head, std::string_view name) {
  for (const Header& h : head.headers)
    if (h.name == name) return std::string(h.value);
  return "<none>";
}

TEST(Http2Session, GetRequestAndResponse) {
  Session server({});
  Client client;
  const int32_t id = client.request({{":method", "GET"}, {":scheme", "https"},
                                     {":authority", "example.com:8443"}, {":path", "/a/b?x=1"},
                                     {"accept", "*/*"}, {"user-agent", "t"}});
  auto events = pump(server, client);
  ASSERT_EQ(of_type(events, EventType::Request).size(), 1u);
  ASSERT_EQ(of_type(events, EventType::EndStream).size(), 1u);
  const Request* request = server.request(id);
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(request->head.method, "GET");
  EXPECT_EQ(request->head.target, "/a/b?x=1");
  EXPECT_EQ(request->head.version_major, 2);
  EXPECT_EQ(request->scheme, "https");
  EXPECT_EQ(request->authority, "example.com:8443");
  ASSERT_EQ(request->head.headers.size(), 3u);
  EXPECT_EQ(request->head.headers[0].name, "host");  // :authority as Host, first
  EXPECT_EQ(request->head.headers[0].value, "example.com:8443");
  EXPECT_EQ(field(request->head, "accept"), "*/*");

  const ResponseField fields[] = {{"Content-Type", "text/plain"}, {"Connection", "close"},
                                  {"Keep-Alive", "5"}, {"Transfer-Encoding", "chunked"},
                                  {"Upgrade", "h2c"}, {"Proxy-Connection", "x"},
                                  {"X-Custom", "  padded  "}};
  ASSERT_EQ(server.submit_response(id, "200 OK", fields, false), nullptr);
  ASSERT_EQ(server.submit_data(id, "hello ", false), nullptr);
  ASSERT_EQ(server.submit_data(id, "world", true), nullptr);
  events = pump(server, client);
  const auto& response = client.responses[id];
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "hello world");
  EXPECT_TRUE(response.closed);
  EXPECT_EQ(response.close_code, 0u);
  EXPECT_EQ(header_value(response.fields, "content-type"), "text/plain");
  EXPECT_EQ(header_value(response.fields, "x-custom"), "padded");
  EXPECT_EQ(header_value(response.fields, "server"), "narwhal");
  EXPECT_NE(header_value(response.fields, "date"), "<none>");
  for (const char* dropped : {"connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"})
    EXPECT_EQ(header_value(response.fields, dropped), "<none>") << dropped;
  auto closed = of_type(events, EventType::StreamClosed);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].error_code, 0u);
  EXPECT_FALSE(closed[0].by_peer);
  EXPECT_EQ(server.request(id), nullptr);  // gone after its StreamClosed was popped
  EXPECT_EQ(server.open_streams(), 0u);
}

TEST(Http2Session, CookieCrumbsJoinedHostFromAuthority) {
  Session server({});
  Client client;
  Fields fields = get();
  fields.push_back({"cookie", "a=1"});
  fields.push_back({"x-one", "1"});
  fields.push_back({"cookie", "b=2"});
  fields.push_back({"cookie", "c=3"});
  fields.push_back({"host", "EXAMPLE.com"});  // the same authority (case-insensitive)
  const int32_t id = client.request(fields);
  pump(server, client);
  const Request* request = server.request(id);
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(field(request->head, "cookie"), "a=1; b=2; c=3");  // RFC 9113 §8.2.3
  int hosts = 0;
  for (const Header& h : request->head.headers) hosts += h.name == "host";
  EXPECT_EQ(hosts, 1);
  EXPECT_EQ(field(request->head, "host"), "example.com");
}

TEST(Http2Session, HostWithoutAuthority) {
  Session server({});
  Client client;
  const int32_t id =
      client.request({{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {"host", "h.test"}});
  pump(server, client);
  ASSERT_NE(server.request(id), nullptr);
  EXPECT_EQ(server.request(id)->authority, "h.test");
}

TEST(Http2Session, RequestBodyFlowControlFollowsConsume) {
  SessionOptions options;
  options.initial_window_size = 1000;
  Session server(options);
  Client client;
  // RFC 9113 §6.9.2: our smaller window applies once the client has our SETTINGS; before, it
  // may send 65535 bytes per stream.
  pump(server, client);
  Fields fields = get("/upload");
  fields[0].second = "POST";
  fields.push_back({"content-length", "3000"});
  const int32_t id = client.request(fields, false);
  client.send_data(id, std::string(3000, 'x'), true);
  auto events = pump(server, client);
  size_t received = 0;
  for (const Event& e : of_type(events, EventType::Data)) received += e.data.size();
  EXPECT_EQ(received, 1000u);  // the stream window, nothing more until the app reads
  EXPECT_TRUE(of_type(events, EventType::EndStream).empty());
  ASSERT_NE(server.request(id), nullptr);
  EXPECT_EQ(server.request(id)->head.content_length, 3000u);

  // nghttp2 sends WINDOW_UPDATE once half the window is consumed (no 1-byte updates).
  server.consume(id, 400);
  events = pump(server, client);
  for (const Event& e : of_type(events, EventType::Data)) received += e.data.size();
  EXPECT_EQ(received, 1000u);
  server.consume(id, 600);
  events = pump(server, client);
  for (const Event& e : of_type(events, EventType::Data)) received += e.data.size();
  EXPECT_EQ(received, 2000u);
  server.consume(id, 1000000);  // clamped to what was received
  events = pump(server, client);
  for (const Event& e : of_type(events, EventType::Data)) received += e.data.size();
  EXPECT_EQ(received, 3000u);
  EXPECT_EQ(of_type(events, EventType::EndStream).size(), 1u);
}

TEST(Http2Session, ContentLengthMismatchResetsStream) {
  for (const char* length : {"10", "2"}) {
    Session server({});
    Client client;
    Fields fields = get();
    fields[0].second = "POST";
    fields.push_back({"content-length", length});
    const int32_t id = client.request(fields, false);
    auto events = pump(server, client);
    ASSERT_EQ(of_type(events, EventType::Request).size(), 1u) << length;  // the app runs
    client.send_data(id, "12345", true);
    events = pump(server, client);
    EXPECT_TRUE(of_type(events, EventType::EndStream).empty()) << length;
    EXPECT_TRUE(client.responses[id].closed) << length;
    EXPECT_EQ(client.responses[id].close_code, uint32_t(NGHTTP2_PROTOCOL_ERROR)) << length;
    auto closed = of_type(events, EventType::StreamClosed);  // … and learns the stream is gone
    ASSERT_EQ(closed.size(), 1u) << length;
    EXPECT_EQ(closed[0].error_code, uint32_t(NGHTTP2_PROTOCOL_ERROR)) << length;
    EXPECT_FALSE(closed[0].by_peer) << length;
  }
  // Head and body in one read: the request is reset before the caller saw it, so it never does.
  Session server({});
  Client client;
  Fields fields = get();
  fields[0].second = "POST";
  fields.push_back({"content-length", "10"});
  const int32_t id = client.request(fields, false);
  client.send_data(id, "12345", true);
  auto events = pump(server, client);
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(client.responses[id].close_code, uint32_t(NGHTTP2_PROTOCOL_ERROR));
}

// nghttp2's client lower-cases names; an encoder does not.
TEST(Http2Session, UpperCaseNameResetsStream) {
  Session server({});
  testing::Encoder encoder;
  std::string bytes = testing::preface();
  bytes += testing::frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, 1,
                          encoder.block(with(get(), {{"X-Upper", "1"}})));
  bytes += testing::frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, 3,
                          encoder.block(with(get(), {{"x-lower", "1"}})));
  ASSERT_TRUE(server.receive(bytes.data(), bytes.size()));
  Event event;
  std::vector<int32_t> requests;
  while (server.next_event(&event))
    if (event.type == EventType::Request) requests.push_back(event.stream_id);
  EXPECT_EQ(requests, std::vector<int32_t>{3});
  EXPECT_NE(server.take_output().find(testing::rst_frame(1, NGHTTP2_PROTOCOL_ERROR)), std::string::npos);
}

// RFC 9113 §8: malformed requests are reset with PROTOCOL_ERROR and never reach the caller.
struct MalformedCase {
  const char* name;
  Fields fields;
};

class Http2Malformed : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(Http2Malformed, StreamResetNoRequest) {
  Session server({});
  Client client;
  const int32_t id = client.request(GetParam().fields);
  auto events = pump(server, client);
  EXPECT_TRUE(of_type(events, EventType::Request).empty());
  EXPECT_TRUE(client.responses[id].closed);
  EXPECT_EQ(client.responses[id].status, 0);
  EXPECT_EQ(client.responses[id].close_code, uint32_t(NGHTTP2_PROTOCOL_ERROR));
  EXPECT_FALSE(client.goaway);  // a stream error, the connection goes on
  const int32_t next = client.request(get());
  events = pump(server, client);
  EXPECT_EQ(of_type(events, EventType::Request).size(), 1u);
  EXPECT_NE(server.request(next), nullptr);
  EXPECT_EQ(server.open_streams(), 1u);
}

INSTANTIATE_TEST_SUITE_P(
    Rfc9113, Http2Malformed,
    ::testing::Values(
        MalformedCase{"no_method", {{":scheme", "https"}, {":authority", "a"}, {":path", "/"}}},
        MalformedCase{"no_scheme", {{":method", "GET"}, {":authority", "a"}, {":path", "/"}}},
        MalformedCase{"no_path", {{":method", "GET"}, {":scheme", "https"}, {":authority", "a"}}},
        MalformedCase{"empty_path", {{":method", "GET"}, {":scheme", "https"}, {":authority", "a"}, {":path", ""}}},
        MalformedCase{"two_paths", with(get(), {{":path", "/x"}})},
        MalformedCase{"no_authority_no_host", {{":method", "GET"}, {":scheme", "https"}, {":path", "/"}}},
        MalformedCase{"two_hosts", {{":method", "GET"}, {":scheme", "https"}, {":path", "/"}, {"host", "a"}, {"host", "a"}}},
        MalformedCase{"two_methods", with(get(), {{":method", "GET"}})},
        MalformedCase{"unknown_pseudo", with(get(), {{":foo", "x"}})},
        MalformedCase{"response_pseudo", with(get(), {{":status", "200"}})},
        MalformedCase{"protocol_without_setting", with(get(), {{":protocol", "websocket"}})},
        MalformedCase{"pseudo_after_regular",
                      {{":method", "GET"}, {":scheme", "https"}, {"x", "1"}, {":authority", "a"}, {":path", "/"}}},
        MalformedCase{"connection", with(get(), {{"connection", "keep-alive"}})},
        MalformedCase{"keep_alive", with(get(), {{"keep-alive", "5"}})},
        MalformedCase{"proxy_connection", with(get(), {{"proxy-connection", "close"}})},
        MalformedCase{"transfer_encoding", with(get(), {{"transfer-encoding", "chunked"}})},
        MalformedCase{"upgrade", with(get(), {{"upgrade", "h2c"}})},
        MalformedCase{"te_not_trailers", with(get(), {{"te", "gzip"}})},
        MalformedCase{"value_leading_space", with(get(), {{"x", " v"}})},
        MalformedCase{"value_trailing_tab", with(get(), {{"x", "v\t"}})},
        MalformedCase{"value_cr", with(get(), {{"x", "a\rb"}})},
        MalformedCase{"value_lf", with(get(), {{"x", "a\nb"}})},
        MalformedCase{"value_nul", with(get(), {{"x", std::string("a\0b", 3)}})},
        MalformedCase{"name_space", with(get(), {{"x y", "1"}})},
        MalformedCase{"name_colon", with(get(), {{"x:y", "1"}})},
        MalformedCase{"empty_name", with(get(), {{"", "1"}})},
        MalformedCase{"content_length_text", with(get(), {{"content-length", "abc"}})},
        MalformedCase{"content_length_twice", with(get(), {{"content-length", "0"}, {"content-length", "0"}})},
        MalformedCase{"method_not_token", {{":method", "G T"}, {":scheme", "https"}, {":authority", "a"}, {":path", "/"}}},
        MalformedCase{"authority_space", get("/", "a b")},
        MalformedCase{"path_no_slash_https", get("x")},
        MalformedCase{"asterisk_path_get", get("*")},
        MalformedCase{"connect_with_path",
                      {{":method", "CONNECT"}, {":authority", "a:443"}, {":path", "/"}, {":scheme", "https"}}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Http2Session, TeTrailersAllowed) {
  Session server({});
  Client client;
  const int32_t id = client.request(with(get(), {{"te", "trailers"}}));
  pump(server, client);
  ASSERT_NE(server.request(id), nullptr);
  EXPECT_EQ(field(server.request(id)->head, "te"), "trailers");
}

TEST(Http2Session, OptionsAsterisk) {
  Session server({});
  Client client;
  Fields fields = get("*");
  fields[0].second = "OPTIONS";
  const int32_t id = client.request(fields);
  pump(server, client);
  ASSERT_NE(server.request(id), nullptr);
  EXPECT_EQ(server.request(id)->head.target_form, TargetForm::Asterisk);
}

// narwhal's request policy (the HTTP/1 rules, docs/http.md): answered with a status by the
// session itself; the caller never sees the request.
struct PolicyCase {
  const char* name;
  Fields fields;
  int status;
};

class Http2Policy : public ::testing::TestWithParam<PolicyCase> {};

TEST_P(Http2Policy, AnsweredByTheSession) {
  SessionOptions options;
  options.request.limits.fields = 5;
  options.request.limits.request_line = 100;
  options.request.limits.body = 1000;
  options.max_header_list_size = 4096;
  Session server(options);
  Client client;
  const int32_t id = client.request(GetParam().fields);
  auto events = pump(server, client);
  EXPECT_TRUE(of_type(events, EventType::Request).empty());
  EXPECT_EQ(client.responses[id].status, GetParam().status);
  EXPECT_TRUE(client.responses[id].closed);
  EXPECT_EQ(server.open_streams(), 0u);
  EXPECT_FALSE(client.goaway);
}

INSTANTIATE_TEST_SUITE_P(
    Narwhal, Http2Policy,
    ::testing::Values(
        PolicyCase{"host_differs", with(get(), {{"host", "other.test"}}), 400},
        PolicyCase{"userinfo", get("/", "user@example.com"), 400},
        PolicyCase{"scheme_ftp", {{":method", "GET"}, {":scheme", "ftp"}, {":authority", "a"}, {":path", "/"}}, 400},
        PolicyCase{"path_no_slash_other_scheme", {{":method", "GET"}, {":scheme", "foo"}, {":authority", "a"}, {":path", "x"}}, 400},
        PolicyCase{"fragment_in_path", get("/a#b"), 400},
        PolicyCase{"non_ascii_path", get("/\xc3\xa9"), 400},
        PolicyCase{"two_content_types", with(get(), {{"content-type", "a/b"}, {"content-type", "c/d"}}), 400},
        PolicyCase{"lowercase_method", {{":method", "get"}, {":scheme", "https"}, {":authority", "a"}, {":path", "/"}}, 400},
        PolicyCase{"connect", {{":method", "CONNECT"}, {":authority", "a:443"}}, 501},
        PolicyCase{"too_many_fields", with(get(), {{"a", "1"}, {"b", "1"}, {"c", "1"}, {"d", "1"}, {"e", "1"}, {"f", "1"}}), 431},
        PolicyCase{"field_too_large", with(get(), {{"a", std::string(9000, 'v')}}), 431},
        PolicyCase{"header_list_too_large", with(get(), {{"a", std::string(3000, 'v')}, {"b", std::string(3000, 'v')}}), 431},
        PolicyCase{"path_too_long", get("/" + std::string(200, 'p')), 414}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Http2Session, UnderscoreNamesFollowHeaderMap) {
  for (HeaderMap map : {HeaderMap::Drop, HeaderMap::Refuse, HeaderMap::Dangerous}) {
    SessionOptions options;
    options.request.header_map = map;
    Session server(options);
    Client client;
    const int32_t id = client.request(with(get(), {{"x_forwarded", "1"}, {"x-ok", "1"}}));
    pump(server, client);
    const Request* request = server.request(id);
    if (map == HeaderMap::Refuse) {
      EXPECT_EQ(request, nullptr);
      EXPECT_EQ(client.responses[id].status, 400);
      continue;
    }
    ASSERT_NE(request, nullptr);
    EXPECT_EQ(field(request->head, "x_forwarded"), map == HeaderMap::Drop ? "<none>" : "1");
    EXPECT_EQ(field(request->head, "x-ok"), "1");
  }
}

TEST(Http2Session, BodyLimitBeforeAndAfterDelivery) {
  SessionOptions options;
  options.request.limits.body = 100;
  {
    Session server(options);
    Client client;
    Fields fields = with(get(), {{"content-length", "101"}});
    fields[0].second = "PUT";
    const int32_t id = client.request(fields, false);
    auto events = pump(server, client);
    EXPECT_TRUE(events.empty());
    EXPECT_EQ(client.responses[id].status, 413);  // from the head, before any body byte
  }
  {
    Session server(options);
    Client client;
    Fields fields = get();
    fields[0].second = "POST";
    const int32_t id = client.request(fields, false);
    client.send_data(id, std::string(500, 'b'), true);
    auto events = pump(server, client);  // request and body in one read: not delivered yet
    EXPECT_TRUE(of_type(events, EventType::Request).empty());
    EXPECT_EQ(client.responses[id].status, 413);
  }
  {
    Session server(options);
    Client client;
    Fields fields = get();
    fields[0].second = "POST";
    const int32_t id = client.request(fields, false);
    auto events = pump(server, client);
    ASSERT_EQ(of_type(events, EventType::Request).size(), 1u);  // the app runs
    client.send_data(id, std::string(500, 'b'), true);
    events = pump(server, client);
    auto closed = of_type(events, EventType::StreamClosed);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0].error_code, uint32_t(NGHTTP2_CANCEL));
    EXPECT_EQ(client.responses[id].close_code, uint32_t(NGHTTP2_CANCEL));
  }
}

TEST(Http2Session, Trailers) {
  Session server({});
  Client client;
  Fields fields = get();
  fields[0].second = "POST";
  int32_t id = client.request(fields, false);
  client.send_data(id, "abc", false);
  pump(server, client);
  client.trailers(id, {{"x-checksum", "42"}});
  auto events = pump(server, client);
  ASSERT_EQ(of_type(events, EventType::EndStream).size(), 1u);
  ASSERT_NE(server.request(id), nullptr);
  ASSERT_EQ(server.request(id)->head.trailers.size(), 1u);
  EXPECT_EQ(server.request(id)->head.trailers[0].name, "x-checksum");
  EXPECT_EQ(server.request(id)->head.trailers[0].value, "42");

  id = client.request(fields, false);
  client.send_data(id, "abc", false);
  pump(server, client);
  client.trailers(id, {{"authorization", "x"}});  // RFC 9110 §6.5.1: not a trailer
  events = pump(server, client);
  EXPECT_TRUE(of_type(events, EventType::EndStream).empty());
  EXPECT_EQ(client.responses[id].close_code, uint32_t(NGHTTP2_PROTOCOL_ERROR));
}

TEST(Http2Session, ResponseChecks) {
  Session server({});
  Client client;
  int32_t id = client.request(get());
  pump(server, client);
  const ResponseField bad_value[] = {{"x", "a\r\nb"}};
  EXPECT_NE(server.submit_response(id, "200 OK", bad_value, true), nullptr);
  const ResponseField bad_name[] = {{"x y", "1"}};
  EXPECT_NE(server.submit_response(id, "200 OK", bad_name, true), nullptr);
  EXPECT_NE(server.submit_response(id, "101 Switching Protocols", {}, true), nullptr);
  EXPECT_NE(server.submit_response(id, "103 Early Hints", {}, true), nullptr);
  EXPECT_NE(server.submit_response(id, "2000", {}, true), nullptr);
  const ResponseField length[] = {{"Content-Length", "3"}};
  ASSERT_EQ(server.submit_response(id, "200 OK", length, false), nullptr);
  EXPECT_NE(server.submit_response(id, "200 OK", length, false), nullptr);  // only once
  EXPECT_NE(server.submit_data(id, "abcd", true), nullptr);  // more than Content-Length
  pump(server, client);
  EXPECT_EQ(client.responses[id].close_code, uint32_t(NGHTTP2_INTERNAL_ERROR));

  id = client.request(get());
  pump(server, client);
  ASSERT_EQ(server.submit_response(id, "200 OK", length, false), nullptr);
  EXPECT_NE(server.submit_data(id, "ab", true), nullptr);  // less than Content-Length
  pump(server, client);
  EXPECT_EQ(client.responses[id].close_code, uint32_t(NGHTTP2_INTERNAL_ERROR));

  id = client.request(get());
  pump(server, client);
  ASSERT_EQ(server.submit_response(id, "200 OK", length, false), nullptr);
  EXPECT_EQ(server.submit_data(id, "abc", true), nullptr);
  pump(server, client);
  EXPECT_EQ(client.responses[id].body, "abc");
  EXPECT_EQ(client.responses[id].close_code, 0u);
}

TEST(Http2Session, HeadAnd204HaveNoBody) {
  Session server({});
  Client client;
  Fields head = get();
  head[0].second = "HEAD";
  const int32_t a = client.request(head);
  const int32_t b = client.request(get());
  pump(server, client);
  const ResponseField length[] = {{"Content-Length", "5"}};
  ASSERT_EQ(server.submit_response(a, "200 OK", length, false), nullptr);
  EXPECT_EQ(server.submit_data(a, "hello", true), nullptr);  // dropped
  ASSERT_EQ(server.submit_response(b, "204 No Content", {}, false), nullptr);
  EXPECT_EQ(server.submit_data(b, "x", true), nullptr);
  pump(server, client);
  EXPECT_EQ(client.responses[a].status, 200);
  EXPECT_EQ(header_value(client.responses[a].fields, "content-length"), "5");
  EXPECT_EQ(client.responses[a].body, "");
  EXPECT_EQ(client.responses[a].close_code, 0u);
  EXPECT_EQ(client.responses[b].status, 204);
  EXPECT_EQ(client.responses[b].close_code, 0u);
}

TEST(Http2Session, EarlyResponseResetsUnfinishedRequestWithNoError) {
  Session server({});
  Client client;
  Fields fields = get();
  fields[0].second = "POST";
  const int32_t id = client.request(fields, false);  // the body never ends
  client.send_data(id, "partial", false);
  pump(server, client);
  ASSERT_EQ(server.submit_response(id, "403 Forbidden", {}, true), nullptr);
  auto events = pump(server, client);
  EXPECT_EQ(client.responses[id].status, 403);
  EXPECT_TRUE(client.responses[id].closed);
  EXPECT_EQ(client.responses[id].close_code, 0u);  // RFC 9113 §8.1: RST_STREAM(NO_ERROR)
  EXPECT_EQ(server.open_streams(), 0u);
}

TEST(Http2Session, ManyStreamsInterleaved) {
  Session server({});
  Client client;
  std::vector<int32_t> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(client.request(get("/" + std::to_string(i))));
  pump(server, client);
  for (int32_t id : ids) {
    ASSERT_NE(server.request(id), nullptr);
    ASSERT_EQ(server.submit_response(id, "200 OK", {}, false), nullptr);
  }
  for (int round = 0; round < 3; ++round)
    for (int32_t id : ids) ASSERT_EQ(server.submit_data(id, std::string(10000, 'a' + round), round == 2), nullptr);
  pump(server, client);
  for (int32_t id : ids) {
    EXPECT_EQ(client.responses[id].body.size(), 30000u);
    EXPECT_EQ(client.responses[id].close_code, 0u);
  }
}

TEST(Http2Session, OutputIsBoundedAndBackpressureVisible) {
  SessionOptions options;
  options.output_chunk = 16 * 1024;
  Session server(options);
  Client client({{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 30}});
  const int32_t id = client.request(get());
  pump(server, client);
  nghttp2_submit_window_update(client.session(), NGHTTP2_FLAG_NONE, 0, 1 << 30);
  pump(server, client);
  ASSERT_EQ(server.submit_response(id, "200 OK", {}, false), nullptr);
  ASSERT_EQ(server.submit_data(id, std::string(1 << 20, 'z'), true), nullptr);
  EXPECT_GE(server.stream_pending(id), (1u << 20) - 1);
  // The client reads nothing: only about one chunk is framed.
  const std::string_view chunk = server.pending_output();
  EXPECT_LE(chunk.size(), options.output_chunk + 16384 + 64);
  EXPECT_GT(server.stream_pending(id), (1u << 20) - 64 * 1024);
  EXPECT_GT(server.pending_bytes(), (1u << 20) - 64 * 1024);
  EXPECT_TRUE(server.want_write());
  pump(server, client);
  EXPECT_EQ(client.responses[id].body.size(), 1u << 20);
  EXPECT_EQ(server.pending_bytes(), 0u);
}

TEST(Http2Session, SplitIndependence) {
  Client client;
  Fields fields = with(get("/p"), {{"cookie", "a=1"}, {"cookie", "b=2"}, {"x", "y"}});
  fields[0].second = "POST";
  const int32_t id = client.request(fields, false);
  client.send_data(id, std::string(3000, 'q'), true);
  const std::string bytes = client.output();
  auto run = [&](size_t step) {
    Session server({});
    std::string summary;
    for (size_t i = 0; i < bytes.size(); i += step) {
      EXPECT_TRUE(server.receive(bytes.data() + i, std::min(step, bytes.size() - i)));
      Event e;
      while (server.next_event(&e)) {
        summary += std::to_string(int(e.type)) + ":" + std::to_string(e.stream_id) + ":";
        if (e.type == EventType::Data) summary += "[" + std::to_string(e.data.size()) + "]";
        if (e.type == EventType::Request)
          summary += field(server.request(e.stream_id)->head, "cookie");
      }
    }
    return summary;
  };
  // Data events merge per read, so compare the structure modulo Data sizes' split.
  const std::string whole = run(bytes.size());
  EXPECT_NE(whole.find("a=1; b=2"), std::string::npos);
  for (size_t step : {1u, 7u, 100u}) {
    std::string split = run(step);
    EXPECT_NE(split.find("a=1; b=2"), std::string::npos) << step;
    EXPECT_NE(split.find("2:1:"), std::string::npos) << step;  // EndStream
  }
}

TEST(Http2Session, BadPrefaceIsAConnectionError) {
  Session server({});
  const std::string bytes = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_FALSE(server.receive(bytes.data(), bytes.size()));
  EXPECT_NE(server.error_code(), 0u);
  EXPECT_FALSE(server.want_read());
}

TEST(Http2Session, GracefulShutdownFinishesInFlightStreams) {
  Session server({});
  Client client;
  const int32_t first = client.request(get());
  pump(server, client);
  ASSERT_NE(server.request(first), nullptr);
  server.shutdown();
  const int32_t late = client.request(get("/late"));
  auto events = pump(server, client);
  EXPECT_TRUE(client.goaway);
  EXPECT_EQ(client.goaway_code, 0u);
  EXPECT_EQ(client.goaway_last_stream, first);
  EXPECT_TRUE(of_type(events, EventType::Request).empty());  // the later stream is not processed
  EXPECT_EQ(server.request(late), nullptr);
  EXPECT_FALSE(server.finished());
  ASSERT_EQ(server.submit_response(first, "200 OK", {}, true), nullptr);
  pump(server, client);
  EXPECT_EQ(client.responses[first].status, 200);
  EXPECT_TRUE(server.finished());
}

TEST(Http2Session, PeerGoAwayIsReported) {
  Session server({});
  Client client;
  client.request(get());
  pump(server, client);
  nghttp2_submit_goaway(client.session(), NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0);
  auto events = pump(server, client);
  auto goaways = of_type(events, EventType::GoAway);
  ASSERT_EQ(goaways.size(), 1u);
  EXPECT_EQ(goaways[0].error_code, 0u);
}

TEST(Http2Session, TimerState) {
  int64_t now = 1000;
  SessionOptions options;
  options.clock = [&now] { return now; };
  Session server(options);
  Client client;
  EXPECT_EQ(server.settings_pending_since(), 1000);
  EXPECT_EQ(server.idle_since(), 1000);
  now = 2000;
  const int32_t id = client.request(get());
  pump(server, client);  // the client acknowledges our SETTINGS
  EXPECT_EQ(server.settings_pending_since(), -1);
  EXPECT_EQ(server.idle_since(), -1);
  EXPECT_EQ(server.open_streams(), 1u);
  now = 3000;
  ASSERT_EQ(server.submit_response(id, "200 OK", {}, true), nullptr);
  pump(server, client);
  EXPECT_EQ(server.idle_since(), 3000);
}

}  // namespace
}  // namespace narwhal::http::h2
