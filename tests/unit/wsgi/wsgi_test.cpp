// wsgi::handle_request end to end against an embedded interpreter: a request is written into
// one end of a socketpair, parsed, handled by a real Python app, and the response read back.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "base/io.h"
#include "base/read_buffer.h"
#include "base/unique_fd.h"
#include "wsgi/handler.h"
#include "wsgi/objects.h"

namespace narwhal::wsgi {
namespace {

PyObject* g_module = nullptr;

class PythonEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    Py_Initialize();
    g_module = PyModule_New("narwhal_test_core");
    ASSERT_TRUE(register_types(g_module));
  }
};

struct Outcome {
  RequestResult result;
  std::string response;  // everything the server wrote
};

// Defines `app` from `source` and serves `request` through it.
Outcome serve(const std::string& source, const std::string& request, EnvironSettings settings = {},
              http::ParserOptions parser_options = {}) {
  py::Ref globals = py::Ref::steal(PyDict_New());
  PyDict_SetItemString(globals.get(), "__builtins__", PyEval_GetBuiltins());
  py::Ref executed = py::Ref::steal(PyRun_String(source.c_str(), Py_file_input, globals.get(), globals.get()));
  EXPECT_TRUE(executed) << py::format_exception();

  int fds[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  UniqueFd server(fds[0]), client(fds[1]);
  io::set_nonblocking(server.get(), true);
  EXPECT_EQ(write(client.get(), request.data(), request.size()), static_cast<ssize_t>(request.size()));
  shutdown(client.get(), SHUT_WR);

  http::RequestParser parser{parser_options};
  ReadBuffer input(65536);
  ssize_t n = io::read_some(server.get(), input.write_position(), input.writable());
  EXPECT_GT(n, 0);
  input.commit(static_cast<size_t>(n));
  size_t consumed = 0;
  EXPECT_EQ(parser.feed(input.data(), input.size(), &consumed, nullptr), http::ParseResult::HeadComplete);
  input.consume(consumed);

  Application app;
  app.callable = py::Ref::borrow(PyDict_GetItemString(globals.get(), "app"));
  py::Ref errors = new_error_stream();
  EXPECT_TRUE(app.environ.init(settings, reinterpret_cast<PyObject*>(file_wrapper_type()), errors.get()));
  Peer peer = app.environ.make_peer("127.0.0.1", 40000, "127.0.0.1", 8000, false);

  ExchangeOptions options;
  options.read_timeout_ms = 1000;
  options.write_timeout_ms = 1000;
  Exchange exchange(net::Transport{server.get()}, parser, input, options);
  Outcome outcome;
  outcome.result = handle_request(app, exchange, peer);
  server.reset();
  char buffer[65536];
  for (ssize_t got; (got = read(client.get(), buffer, sizeof buffer)) > 0;) outcome.response.append(buffer, got);
  return outcome;
}

std::string body_of(const std::string& response) {
  size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

TEST(Wsgi, OneElementListGetsContentLengthAndKeepsAlive) {
  Outcome out = serve(R"(
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]
)", "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(out.response.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out.response;
  EXPECT_NE(out.response.find("Content-Length: 5\r\n"), std::string::npos);
  EXPECT_NE(out.response.find("Server: narwhal\r\n"), std::string::npos);
  EXPECT_NE(out.response.find("Date: "), std::string::npos);
  EXPECT_EQ(body_of(out.response), "hello");
  EXPECT_TRUE(out.result.keep_alive);
  EXPECT_EQ(out.result.status, 200);
}

TEST(Wsgi, GeneratorIsChunkedOnHttp11AndCloseDelimitedOnHttp10) {
  const char* app = R"(
def app(environ, start_response):
    start_response("200 OK", [])
    yield b"ab"
    yield b""
    yield b"cde"
)";
  Outcome chunked = serve(app, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(chunked.response.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_EQ(body_of(chunked.response), "2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n");
  EXPECT_TRUE(chunked.result.keep_alive);

  Outcome http10 = serve(app, "GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(http10.response.find("Transfer-Encoding"), std::string::npos);
  EXPECT_NE(http10.response.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(body_of(http10.response), "abcde");
  EXPECT_FALSE(http10.result.keep_alive);
}

TEST(Wsgi, ExceptionBeforeHeadersIsA500AndCloses) {
  Outcome out = serve(R"(
def app(environ, start_response):
    raise RuntimeError("boom")
)", "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(out.response.rfind("HTTP/1.1 500 Internal Server Error\r\n", 0), 0u) << out.response;
  EXPECT_EQ(out.response.find("boom"), std::string::npos);  // the traceback goes to the log only
  EXPECT_FALSE(out.result.keep_alive);
}

TEST(Wsgi, InvalidHeaderFromTheAppIsA500) {
  Outcome out = serve(R"(
def app(environ, start_response):
    start_response("200 OK", [("X-Bad", "a\r\nInjected: yes")])
    return [b"x"]
)", "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(out.response.rfind("HTTP/1.1 500", 0), 0u) << out.response;
  EXPECT_EQ(out.response.find("Injected"), std::string::npos);
}

TEST(Wsgi, HeadKeepsContentLengthAndSendsNoBody) {
  Outcome out = serve(R"(
def app(environ, start_response):
    start_response("200 OK", [("Content-Length", "11")])
    return [b"hello world"]
)", "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(out.response.find("Content-Length: 11\r\n"), std::string::npos);
  EXPECT_EQ(body_of(out.response), "");
  EXPECT_TRUE(out.result.keep_alive);
}

TEST(Wsgi, InputStreamsContentLengthAndChunkedBodies) {
  const char* app = R"(
def app(environ, start_response):
    stream = environ["wsgi.input"]
    first = stream.readline()
    rest = stream.read()
    start_response("200 OK", [])
    return [first.upper(), b"|", rest, b"|", repr(stream.read(5)).encode()]
)";
  Outcome sized = serve(app, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\nline\nsecond\n");
  EXPECT_EQ(body_of(sized.response), "LINE\n|second\n|b''");
  Outcome chunked = serve(app, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "3\r\nlin\r\n9\r\ne\nsecond\n\r\n0\r\n\r\n");
  EXPECT_EQ(body_of(chunked.response), "LINE\n|second\n|b''");
}

TEST(Wsgi, TruncatedBodyMakesInputRaise) {
  Outcome out = serve(R"(
def app(environ, start_response):
    try:
        environ["wsgi.input"].read()
        result = b"no error"
    except OSError as error:
        result = b"OSError"
    start_response("200 OK", [])
    return [result]
)", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nshort");
  EXPECT_EQ(body_of(out.response), "OSError");
}

TEST(Wsgi, EnvironFollowsPep3333AndGunicorn) {
  EnvironSettings settings;
  settings.script_name = "/app";
  settings.secure_scheme_headers = {{"X-FORWARDED-PROTO", "https"}};
  settings.forwarded_allow_ips = {"127.0.0.1"};
  Outcome out = serve(R"(
def app(environ, start_response):
    keys = ["REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "RAW_URI",
            "SERVER_PROTOCOL", "HTTP_ACCEPT", "CONTENT_TYPE", "wsgi.url_scheme", "REMOTE_ADDR"]
    text = ";".join("%s=%s" % (k, environ.get(k)) for k in keys)
    text += ";under=%s" % ("HTTP_X_UNDER_SCORE" in environ)
    start_response("200 OK", [])
    return [text.encode("latin-1")]
)", "GET /app/caf%C3%A9?q=1 HTTP/1.1\r\nHost: x\r\nAccept: a\r\nAccept: b\r\n"
    "Content-Type: text/plain\r\nX-Forwarded-Proto: https\r\nX_Under_Score: 1\r\n\r\n", settings);
  EXPECT_EQ(body_of(out.response),
            "REQUEST_METHOD=GET;SCRIPT_NAME=/app;PATH_INFO=/caf\xC3\xA9;QUERY_STRING=q=1;"
            "RAW_URI=/app/caf%C3%A9?q=1;SERVER_PROTOCOL=HTTP/1.1;HTTP_ACCEPT=a, b;"
            "CONTENT_TYPE=text/plain;wsgi.url_scheme=https;REMOTE_ADDR=127.0.0.1;under=False");
}

// gunicorn 23 (http/wsgi.py create): a SCRIPT_NAME header that got through parsing replaces
// $SCRIPT_NAME and is cut off the path; it is also HTTP_SCRIPT_NAME. PATH_INFO is the path's.
TEST(Wsgi, ScriptNameHeaderReplacesTheProcessScriptName) {
  EnvironSettings settings;
  settings.script_name = "/from-env";
  http::ParserOptions dangerous;
  dangerous.header_map = http::HeaderMap::Dangerous;
  const char* app = R"(
def app(environ, start_response):
    keys = ["SCRIPT_NAME", "PATH_INFO", "HTTP_SCRIPT_NAME", "HTTP_PATH_INFO"]
    start_response("200 OK", [])
    return [";".join("%s=%s" % (k, environ.get(k)) for k in keys).encode("latin-1")]
)";
  Outcome out = serve(app, "GET /app/a%20b HTTP/1.1\r\nHost: x\r\nScript_Name: /app\r\nPATH_INFO: /p\r\n\r\n",
                      settings, dangerous);
  EXPECT_EQ(body_of(out.response), "SCRIPT_NAME=/app;PATH_INFO=/a b;HTTP_SCRIPT_NAME=/app;HTTP_PATH_INFO=/p");
  // Not a prefix of the path: gunicorn answers 500, narwhal keeps PATH_INFO whole.
  out = serve(app, "GET /other HTTP/1.1\r\nHost: x\r\nSCRIPT_NAME: /app\r\n\r\n", settings, dangerous);
  EXPECT_EQ(body_of(out.response), "SCRIPT_NAME=/app;PATH_INFO=/other;HTTP_SCRIPT_NAME=/app;HTTP_PATH_INFO=None");
  out = serve(app, "GET /from-env/x HTTP/1.1\r\nHost: x\r\n\r\n", settings, dangerous);
  EXPECT_EQ(body_of(out.response), "SCRIPT_NAME=/from-env;PATH_INFO=/x;HTTP_SCRIPT_NAME=None;HTTP_PATH_INFO=None");
}

// The head parsed with HeaderMap::Dangerous for `peer`, then forwarded_head.
ForwarderVerdict forwarded(EnvironBuilder& builder, const Peer& peer, const std::string& request,
                           std::vector<std::string>* names) {
  http::ParserOptions options;
  options.header_map = http::HeaderMap::Dangerous;
  http::RequestParser parser{options};
  size_t consumed = 0;
  EXPECT_EQ(parser.feed(request.data(), request.size(), &consumed, nullptr), http::ParseResult::HeadComplete);
  http::RequestHead filtered;
  ForwarderVerdict verdict = builder.forwarded_head(parser.head(), peer, &filtered);
  const http::RequestHead& head = verdict == ForwarderVerdict::Filtered ? filtered : parser.head();
  names->clear();
  for (const http::Header& header : head.headers) names->emplace_back(header.name);
  return verdict;
}

TEST(Wsgi, ForwarderHeadersFollowGunicorn23) {
  py::Ref errors = new_error_stream();
  auto builder_for = [&](http::HeaderMap header_map, std::vector<std::string> forwarder) {
    EnvironSettings settings;
    settings.forwarded_allow_ips = {"127.0.0.1"};
    settings.forwarder_headers = std::move(forwarder);
    settings.header_map = header_map;
    auto builder = std::make_unique<EnvironBuilder>();
    EXPECT_TRUE(builder->init(settings, reinterpret_cast<PyObject*>(file_wrapper_type()), errors.get()));
    return builder;
  };
  auto drop = builder_for(http::HeaderMap::Drop, {"SCRIPT_NAME", "PATH_INFO"});
  Peer trusted = drop->make_peer("127.0.0.1", 1, "127.0.0.1", 80, false);
  Peer untrusted = drop->make_peer("10.0.0.1", 1, "127.0.0.1", 80, false);
  Peer unix_peer = drop->make_peer("", 0, "/tmp/s", 0, true);
  EXPECT_TRUE(trusted.parse_underscore_names && trusted.filter_underscore_names);
  EXPECT_FALSE(untrusted.parse_underscore_names || untrusted.filter_underscore_names);
  EXPECT_TRUE(unix_peer.parse_underscore_names);  // gunicorn trusts non-TCP peers

  const std::string request =
      "GET / HTTP/1.1\r\nHost: x\r\nscript_name: /a\r\nX_Other: 1\r\nPATH_INFO: /p\r\nRemote_User: u\r\n\r\n";
  std::vector<std::string> names;
  EXPECT_EQ(forwarded(*drop, trusted, request, &names), ForwarderVerdict::Filtered);
  EXPECT_EQ(names, (std::vector<std::string>{"Host", "script_name", "PATH_INFO"}));
  EXPECT_EQ(forwarded(*drop, trusted, "GET / HTTP/1.1\r\nHost: x\r\nSCRIPT_NAME: /a\r\n\r\n", &names),
            ForwarderVerdict::Unchanged);
  EXPECT_EQ(forwarded(*drop, untrusted, request, &names), ForwarderVerdict::Unchanged);  // parsed with drop

  auto refuse = builder_for(http::HeaderMap::Refuse, {"SCRIPT_NAME", "PATH_INFO"});
  Peer refusing = refuse->make_peer("127.0.0.1", 1, "127.0.0.1", 80, false);
  EXPECT_EQ(forwarded(*refuse, refusing, request, &names), ForwarderVerdict::Refused);
  EXPECT_EQ(forwarded(*refuse, refusing, "GET / HTTP/1.1\r\nHost: x\r\nPath_Info: /p\r\n\r\n", &names),
            ForwarderVerdict::Unchanged);

  auto any = builder_for(http::HeaderMap::Drop, {"*"});
  Peer everything = any->make_peer("127.0.0.1", 1, "127.0.0.1", 80, false);
  EXPECT_TRUE(everything.parse_underscore_names);
  EXPECT_FALSE(everything.filter_underscore_names);

  // Entries are compared as written, with the upper-cased field name (gunicorn: name.upper()).
  auto lower = builder_for(http::HeaderMap::Drop, {"script_name"});
  Peer lower_peer = lower->make_peer("127.0.0.1", 1, "127.0.0.1", 80, false);
  EXPECT_EQ(forwarded(*lower, lower_peer, "GET / HTTP/1.1\r\nHost: x\r\nSCRIPT_NAME: /a\r\n\r\n", &names),
            ForwarderVerdict::Filtered);
  EXPECT_EQ(names, (std::vector<std::string>{"Host"}));

  auto dangerous = builder_for(http::HeaderMap::Dangerous, {"SCRIPT_NAME"});
  EXPECT_FALSE(dangerous->make_peer("127.0.0.1", 1, "127.0.0.1", 80, false).parse_underscore_names);
  auto none = builder_for(http::HeaderMap::Drop, {});
  EXPECT_FALSE(none->make_peer("127.0.0.1", 1, "127.0.0.1", 80, false).parse_underscore_names);
}

TEST(Wsgi, ForwardedAllowIpsTakesAddressesAndNetworks) {
  py::Ref errors = new_error_stream();
  EnvironSettings settings;
  settings.forwarded_allow_ips = {"10.0.0.0/8", "0:0::1", "192.168.1.7", "172.16.0.0/12", "fd00::/8"};
  EnvironBuilder builder;
  ASSERT_TRUE(builder.init(settings, reinterpret_cast<PyObject*>(file_wrapper_type()), errors.get()));
  auto trusted = [&](const char* host) { return builder.make_peer(host, 1, "127.0.0.1", 80, false).trusted; };
  EXPECT_TRUE(trusted("10.2.3.4"));
  EXPECT_FALSE(trusted("11.0.0.1"));
  EXPECT_TRUE(trusted("::1"));
  EXPECT_TRUE(trusted("192.168.1.7"));
  EXPECT_FALSE(trusted("192.168.1.8"));
  EXPECT_TRUE(trusted("172.31.255.255"));
  EXPECT_FALSE(trusted("172.32.0.0"));
  EXPECT_TRUE(trusted("fd12:3456::1"));
  EXPECT_FALSE(trusted("fe80::1"));
  EXPECT_FALSE(trusted("127.0.0.1"));
  EXPECT_TRUE(builder.make_peer("", 0, "/tmp/s", 0, true).trusted);
}

TEST(Wsgi, ContradictorySchemeHeadersAreA400) {
  EnvironSettings settings;
  settings.secure_scheme_headers = {{"X-FORWARDED-PROTO", "https"}, {"X-FORWARDED-SSL", "on"}};
  settings.forwarded_allow_ips = {"*"};
  Outcome out = serve(R"(
def app(environ, start_response):
    start_response("200 OK", [])
    return [b"should not run"]
)", "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Ssl: off\r\n\r\n", settings);
  EXPECT_EQ(out.response.rfind("HTTP/1.1 400", 0), 0u) << out.response;
}

TEST(Wsgi, CloseIsCalledEvenWhenIterationFails) {
  py::Ref flag = py::Ref::steal(PyList_New(0));
  PyDict_SetItemString(PyModule_GetDict(PyImport_AddModule("builtins")), "closed_calls", flag.get());
  Outcome out = serve(R"(
class Body:
    def __iter__(self):
        yield b"partial"
        raise ValueError("broken")
    def close(self):
        closed_calls.append(1)
def app(environ, start_response):
    start_response("200 OK", [("Content-Length", "100")])
    return Body()
)", "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(PyList_GET_SIZE(flag.get()), 1);
  EXPECT_FALSE(out.result.keep_alive);  // the body was cut short: the connection must close
}

TEST(Wsgi, ExcInfoAfterHeadersSentReRaises) {
  Outcome out = serve(R"(
import sys
def app(environ, start_response):
    write = start_response("200 OK", [])
    write(b"started")
    try:
        raise KeyError("late")
    except KeyError:
        start_response("500 Oops", [], sys.exc_info())
    return [b"unreachable"]
)", "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(out.response.rfind("HTTP/1.1 200 OK", 0), 0u);
  EXPECT_EQ(out.response.find("unreachable"), std::string::npos);
  EXPECT_FALSE(out.result.keep_alive);
}

TEST(Wsgi, ExcInfoBeforeHeadersReplacesTheStatus) {
  Outcome out = serve(R"(
import sys
def app(environ, start_response):
    start_response("200 OK", [])
    try:
        raise KeyError("early")
    except KeyError:
        start_response("503 Busy", [("Content-Length", "4")], sys.exc_info())
    return [b"busy"]
)", "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(out.response.rfind("HTTP/1.1 503 Busy\r\n", 0), 0u) << out.response;
  EXPECT_EQ(body_of(out.response), "busy");
}

TEST(Wsgi, FileWrapperOverARegularFileUsesItsSize) {
  char path[] = "/tmp/narwhal-wsgi-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string content(100000, 'z');
  ASSERT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  close(fd);
  std::string source = std::string(R"(
def app(environ, start_response):
    start_response("200 OK", [])
    f = open(")") + path + R"(", "rb")
    f.read(10)
    return environ["wsgi.file_wrapper"](f, 4096)
)";
  Outcome out = serve(source, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  unlink(path);
  EXPECT_NE(out.response.find("Content-Length: 99990\r\n"), std::string::npos) << out.response.substr(0, 200);
  EXPECT_EQ(body_of(out.response), content.substr(10));
}

}  // namespace
}  // namespace narwhal::wsgi

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new narwhal::wsgi::PythonEnvironment);
  return RUN_ALL_TESTS();
}
