// The metrics endpoint: request handling without sockets, then over a real TCP socket with the
// poll loop driven by the test (bad clients never hold it).
#include "control/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace narwhal::control {
namespace {

std::string render() { return "narwhal_workers 1\n"; }

std::string answer(std::string_view request) {
  return answer_metrics_request(request, 8192, render).value_or("<need more>");
}

TEST(MetricsRequest, GetAndHeadOfMetrics) {
  const std::string ok = answer("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(ok.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(ok.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(ok.find("Content-Length: 18\r\nConnection: close\r\n\r\nnarwhal_workers 1\n"), std::string::npos);
  const std::string head = answer("HEAD /metrics?x=1 HTTP/1.0\n\n");  // bare LFs tolerated
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(head.find("Content-Length: 18\r\n"), std::string::npos);
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");  // no body
}

TEST(MetricsRequest, AnythingElse) {
  EXPECT_EQ(answer("GET / HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404 ", 0), 0u);
  EXPECT_EQ(answer("GET /metricsx HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404 ", 0), 0u);
  const std::string post = answer("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(post.rfind("HTTP/1.1 405 ", 0), 0u);
  EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos);
  EXPECT_EQ(answer("GET /metrics HTTP/2.0\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0u);
  EXPECT_EQ(answer("GET  /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0u);
  EXPECT_EQ(answer("\x16\x03\x01garbage\n").rfind("HTTP/1.1 400 ", 0), 0u);  // refused at the first line
  EXPECT_EQ(answer("GET /metrics HTTP/1.1\r\nHost: x\r\n"), "<need more>");
  EXPECT_EQ(answer("GET /metr"), "<need more>");
  EXPECT_EQ(answer("GET /metrics HTTP/1.1\r\nX: " + std::string(9000, 'a')).rfind("HTTP/1.1 431 ", 0), 0u);
  EXPECT_EQ(answer(std::string(9000, 'a')).rfind("HTTP/1.1 431 ", 0), 0u);
}

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.bind = "127.0.0.1:0";
    options_.max_clients = 3;
    server_ = std::make_unique<MetricsServer>(options_, [this] {
      ++renders_;
      return std::string("narwhal_workers 1\n");
    }, ServerLog{});
    std::string error;
    ASSERT_TRUE(server_->open(&error)) << error;
    port_ = std::stoi(server_->address().substr(server_->address().rfind(':') + 1));
  }
  void turn(int timeout_ms = 20) {
    std::vector<pollfd> fds;
    server_->add_poll_fds(&fds);
    if (::poll(fds.data(), fds.size(), timeout_ms) > 0) server_->handle(fds.data(), fds.size(), now_ms_);
    server_->tick(now_ms_);
  }
  int connect_client() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port_));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    turn();  // accepted
    return fd;
  }
  // Everything the server sends until it closes (running its loop meanwhile).
  std::string read_all(int fd) {
    std::string text;
    for (int i = 0; i < 200; ++i) {
      turn(5);
      char buffer[4096];
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n == 0) return text;
      if (n > 0) text.append(buffer, static_cast<size_t>(n));
    }
    ADD_FAILURE() << "the server did not close";
    return text;
  }
  bool closed_by_server(int fd) {
    for (int i = 0; i < 50; ++i) {
      turn(5);
      char buffer[4096];
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
    }
    return false;
  }
  static void send_all(int fd, std::string_view bytes) {
    ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  }

  MetricsServerOptions options_;
  std::unique_ptr<MetricsServer> server_;
  int port_ = 0;
  int renders_ = 0;
  int64_t now_ms_ = 1000;
};

TEST_F(MetricsServerTest, ServesOneResponseThenCloses) {
  const int fd = connect_client();
  send_all(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string response = read_all(fd);
  EXPECT_EQ(response.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_EQ(response.substr(response.size() - 18), "narwhal_workers 1\n");
  EXPECT_EQ(renders_, 1);
  ::close(fd);
}

TEST_F(MetricsServerTest, ARequestInPiecesAndExtraBytesStillGetTheWholeResponse) {
  const int fd = connect_client();
  send_all(fd, "GET /metr");
  turn();
  send_all(fd, "ics HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n" + std::string(20000, 'x'));
  const std::string response = read_all(fd);  // no reset: the extra bytes are drained
  EXPECT_EQ(response.substr(response.size() - 18), "narwhal_workers 1\n");
  ::close(fd);
}

TEST_F(MetricsServerTest, GarbageAndOversizedRequestsAreAnsweredAndClosed) {
  const int garbage = connect_client();
  send_all(garbage, "\x01\x02\x03\r\n\r\n");
  EXPECT_EQ(read_all(garbage).rfind("HTTP/1.1 400 ", 0), 0u);
  const int oversized = connect_client();
  send_all(oversized, "GET /metrics HTTP/1.1\r\nX: " + std::string(10000, 'a'));
  EXPECT_EQ(read_all(oversized).rfind("HTTP/1.1 431 ", 0), 0u);
  EXPECT_EQ(renders_, 0);
  ::close(garbage);
  ::close(oversized);
}

TEST_F(MetricsServerTest, SilentClientsTimeOutAndTheOldestMakesRoom) {
  const int silent = connect_client();
  send_all(silent, "GET /metrics HTTP/1.1\r\n");  // never finishes its head
  now_ms_ += options_.request_timeout_ms + 1;
  EXPECT_TRUE(closed_by_server(silent));
  now_ms_ += 1;
  std::vector<int> idle;
  for (size_t i = 0; i < options_.max_clients; ++i) idle.push_back(connect_client());
  const int newcomer = connect_client();  // the oldest idle one goes
  EXPECT_TRUE(closed_by_server(idle.front()));
  send_all(newcomer, "GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(read_all(newcomer).rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  for (int fd : idle) ::close(fd);
  ::close(newcomer);
  ::close(silent);
}

TEST_F(MetricsServerTest, ClosedInChild) {
  server_->close_in_child();
  std::vector<pollfd> fds;
  server_->add_poll_fds(&fds);
  EXPECT_TRUE(fds.empty());
}

}  // namespace
}  // namespace narwhal::control
