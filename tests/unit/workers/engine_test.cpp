// The worker engine driven over real sockets, with a C++ test policy instead of a WSGI app (no
// Python runs): accept, keep-alive, pipelining, error answers (400, 408, 431), bodies buffered
// or drained, the worker_connections bound and responses the loop finishes for a slow client.
// Engine::run runs on its own thread; the test stops it as the master would (TERM).
#include "workers/engine.h"

#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "workers/heartbeat.h"
#include "workers/worker_signals.h"

namespace narwhal::workers {
namespace {

using Clock = std::chrono::steady_clock;

int64_t elapsed_ms(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

std::string pattern(size_t size) {
  std::string data(size, '\0');
  for (size_t i = 0; i < size; ++i) data[i] = static_cast<char>('a' + (i * 7 + i / 26) % 26);
  return data;
}

// What the policy saw of one request.
struct Seen {
  std::string target;
  std::string body;        // connection.body at dispatch
  bool body_complete = false;
  std::string spooled;     // the body file's content (buffers_whole_bodies)
  const Connection* connection = nullptr;
  std::string peer_host;   // connection.address
  int server_port = 0;     // connection.server: the listener's address
  uint64_t left_in_queue = 0;  // response bytes the socket did not take at dispatch
};

// Answers requests from the loop thread: "200 OK" with the request target as the body
// ("/big/N": N bytes of pattern(N); "/close": Connection: close). It never reads a body the
// engine did not buffer. Immediate mode answers in dispatch(), like the sync worker; deferred
// mode holds each request as if a pool thread ran it (like gthread: the input is stashed, the
// policy is busy) until the test calls finish_held(), then answers from on_wake() on the loop
// thread with request_done + resume.
class TestPolicy final : public Policy {
 public:
  TestPolicy(Engine& engine, bool buffers_whole_bodies, bool deferred)
      : engine_(engine), buffers_whole_bodies_(buffers_whole_bodies), deferred_(deferred) {
    if (deferred_) wake_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  }

  void dispatch(Connection& connection) override {
    const http::RequestHead& head = connection.parser.head();
    Seen seen;
    seen.target = std::string(head.target);
    seen.body = connection.body;
    seen.body_complete = connection.body_complete;
    seen.connection = &connection;
    seen.peer_host = connection.address.host;
    if (connection.server) seen.server_port = connection.server->port;
    if (connection.body_file) {
      char buffer[4096];
      ssize_t n;
      off_t offset = 0;
      while ((n = ::pread(connection.body_file.get(), buffer, sizeof buffer, offset)) > 0) {
        seen.spooled.append(buffer, static_cast<size_t>(n));
        offset += n;
      }
    }
    const bool last = engine_.count_request();  // max_requests
    const bool keep = head.keep_alive && engine_.options().keepalive_s > 0 && !engine_.stopping() && !last &&
                      seen.target != "/close";
    const std::string target = seen.target;
    // Recorded before the response goes out: a client that has its answer finds its request here.
    size_t index;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      index = seen_.size();
      seen_.push_back(std::move(seen));
    }
    changed_.notify_all();
    if (deferred_) {
      engine_.stash_input(connection);  // the "thread" would read on with its own buffer
      held_.push_back({&connection, index, target, keep});
      ++running_;
      return;
    }
    answer(connection, index, target, keep);
  }
  bool buffers_whole_bodies() const override { return buffers_whole_bodies_; }
  bool busy() const override { return running_ > 0; }
  void turn(int64_t, bool) override { ++turns_; }
  void release(Connection&) override {}
  int wake_fd() const override { return deferred_ ? wake_.get() : -1; }
  void on_wake() override {
    uint64_t value;
    (void)::read(wake_.get(), &value, sizeof value);
    std::vector<Held> done;
    done.swap(held_);
    for (Held& held : done) {
      --running_;
      answer(*held.connection, held.index, held.target, held.keep);
      engine_.resume(*held.connection);
    }
  }

  // Deferred mode, from the test thread: the held requests finish (answered on the loop thread).
  void finish_held() {
    const uint64_t one = 1;
    ASSERT_EQ(::write(wake_.get(), &one, sizeof one), static_cast<ssize_t>(sizeof one));
  }
  int running() const { return running_; }
  int64_t turns() const { return turns_; }  // loop iterations so far

  std::vector<Seen> seen() {
    std::lock_guard<std::mutex> lock(mutex_);
    return seen_;
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mutex_);
    return seen_.size();
  }
  bool wait_for(size_t requests, int timeout_ms) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                             [&] { return seen_.size() >= requests; });
  }

 private:
  struct Held {
    Connection* connection;
    size_t index;
    std::string target;
    bool keep;
  };

  void answer(Connection& connection, size_t index, const std::string& target, bool keep) {
    std::string body = target;
    if (target.rfind("/big/", 0) == 0) body = pattern(std::stoul(target.substr(5)));
    std::string response = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    if (!keep) response += "Connection: close\r\n";
    response += "\r\n";
    response += body;
    connection.output.push_copy(response);
    (void)connection.output.flush(connection.transport());  // what the socket does not take stays queued
    {
      std::lock_guard<std::mutex> lock(mutex_);
      seen_[index].left_in_queue = connection.output.bytes();
    }
    engine_.request_done(connection, keep);
  }

 private:
  Engine& engine_;
  bool buffers_whole_bodies_;
  bool deferred_;
  UniqueFd wake_;
  std::vector<Held> held_;  // loop thread only
  std::atomic<int> running_{0};
  std::atomic<int64_t> turns_{0};
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Seen> seen_;
};

struct Response {
  int status = 0;
  std::string head;
  std::string body;
};

// A blocking TCP client with its own buffer (pipelined responses arrive together).
class Client {
 public:
  explicit Client(int port, int receive_buffer = 0) {
    fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_TRUE(fd_.valid());
    if (receive_buffer > 0) {
      EXPECT_EQ(::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer), 0);
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0) << strerror(errno);
  }

  int fd() const { return fd_.get(); }
  void close() { fd_.reset(); }

  void send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      ASSERT_GT(n, 0) << strerror(errno);
      data.remove_prefix(static_cast<size_t>(n));
    }
  }

  // Waits up to timeout_ms for bytes; false on timeout. Appends them; sets eof on EOF/reset.
  bool read_more(int timeout_ms) {
    pollfd poll_fd = {fd_.get(), POLLIN, 0};
    if (::poll(&poll_fd, 1, timeout_ms) != 1) return false;
    char buffer[65536];
    ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buffer_.append(buffer, static_cast<size_t>(n));
    return true;
  }

  // The next complete response (Content-Length framed), or false on timeout/EOF first.
  bool read_response(Response* out, int timeout_ms = 5000) {
    const Clock::time_point start = Clock::now();
    for (;;) {
      size_t end = buffer_.find("\r\n\r\n");
      if (end != std::string::npos) {
        const std::string head = buffer_.substr(0, end + 4);
        size_t length = 0;
        std::string lower = head;
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        size_t field = lower.find("\r\ncontent-length:");
        if (field != std::string::npos) length = std::stoul(head.substr(field + 17));
        if (buffer_.size() >= end + 4 + length) {
          out->head = head;
          out->status = head.rfind("HTTP/1.1 ", 0) == 0 ? std::atoi(head.c_str() + 9) : -1;
          out->body = buffer_.substr(end + 4, length);
          buffer_.erase(0, end + 4 + length);
          return true;
        }
      }
      const int64_t left = timeout_ms - elapsed_ms(start);
      if (eof_ || left <= 0 || !read_more(static_cast<int>(left))) return false;
    }
  }

  // True when the server closes the connection within timeout_ms (bytes before it are kept).
  bool closed_within(int timeout_ms) {
    const Clock::time_point start = Clock::now();
    while (!eof_) {
      const int64_t left = timeout_ms - elapsed_ms(start);
      if (left <= 0) return false;
      read_more(static_cast<int>(left));
    }
    return true;
  }
  bool eof() const { return eof_; }

  void shutdown_write() { ASSERT_EQ(::shutdown(fd_.get(), SHUT_WR), 0); }

  // Nothing arrives within timeout_ms (and the connection stays open).
  bool quiet_for(int timeout_ms) { return !read_more(timeout_ms) && !eof_ && buffer_.empty(); }

  const std::string& buffered() const { return buffer_; }

 private:
  UniqueFd fd_;
  std::string buffer_;
  bool eof_ = false;
};

std::string get(std::string_view target, std::string_view extra_headers = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra_headers) + "\r\n";
}

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() {
    options_.keepalive_s = 5;
    options_.header_timeout_ms = 5000;
    options_.body_timeout_ms = 5000;
    options_.write_timeout_ms = 5000;
    options_.graceful_timeout_s = 5;
    options_.worker_connections = 100;
    options_.body_buffer_size = 64 * 1024;
    options_.head_buffer_limit = 1 << 20;
  }

  void TearDown() override {
    if (thread_.joinable()) stop();
  }

  void start(bool buffers_whole_bodies = false, bool deferred = false) {
    std::string error;
    ASSERT_TRUE(net::open_listeners({"127.0.0.1:0"}, 64, false, &listeners_, &error)) << error;
    sockaddr_in address{};
    socklen_t length = sizeof address;
    ASSERT_EQ(::getsockname(listeners_[0].fd.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
    port_ = ntohs(address.sin_port);
    context_.age = 1;
    context_.pid = getpid();
    context_.ppid = getppid();
    context_.heartbeat = &heartbeat_;
    context_.listeners = &listeners_;
    context_.timeout = 30;
    // No Python: the environ builder is never initialised, so no peer parses '_' names.
    ASSERT_FALSE(app_.environ.parses_underscore_names("127.0.0.1", false));
    engine_ = std::make_unique<Engine>(context_, options_, app_);
    policy_ = std::make_unique<TestPolicy>(*engine_, buffers_whole_bodies, deferred);
    thread_ = std::thread([this] {
      exit_status_ = engine_->run(*policy_);
      finished_ = true;
    });
    // The loop beats before its first wait, after installing its signal handlers (which reset
    // stop_graceful): from then on a TERM stops it.
    const Clock::time_point begin = Clock::now();
    while (heartbeat_.load() == 0 && elapsed_ms(begin) < 5000) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_NE(heartbeat_.load(), 0) << "the engine did not start";
  }

  // What the master's TERM does: stop_graceful, and the signal wakes the loop's epoll_wait.
  // Returns how long the engine took to leave.
  int64_t stop() {
    const Clock::time_point begin = Clock::now();
    worker_signals().stop_graceful = 1;
    pthread_kill(thread_.native_handle(), SIGTERM);
    while (!finished_ && elapsed_ms(begin) < 15000) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    EXPECT_TRUE(finished_) << "the engine did not stop within 15 s";
    thread_.join();
    EXPECT_EQ(exit_status_, 0);
    return elapsed_ms(begin);
  }

  WorkerOptions options_;
  std::vector<net::Listener> listeners_;
  int port_ = 0;
  std::atomic<int64_t> heartbeat_{0};
  WorkerContext context_;
  wsgi::Application app_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<TestPolicy> policy_;
  std::thread thread_;
  std::atomic<bool> finished_{false};
  int exit_status_ = -1;
};

TEST_F(EngineTest, AnswersARequest) {
  start();
  Client client(port_);
  client.send(get("/hello?x=1"));
  Response response;
  ASSERT_TRUE(client.read_response(&response));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "/hello?x=1");
  ASSERT_EQ(policy_->count(), 1u);
  const Seen seen = policy_->seen()[0];
  EXPECT_EQ(seen.target, "/hello?x=1");
  EXPECT_EQ(seen.peer_host, "127.0.0.1");
  EXPECT_EQ(seen.server_port, port_);
  EXPECT_GT(heartbeat_.load(), 0);
}

TEST_F(EngineTest, KeepAliveServesASecondRequestOnTheSameConnection) {
  start();
  Client client(port_);
  Response first, second;
  client.send(get("/one"));
  ASSERT_TRUE(client.read_response(&first));
  client.send(get("/two"));
  ASSERT_TRUE(client.read_response(&second));
  EXPECT_EQ(first.body, "/one");
  EXPECT_EQ(second.body, "/two");
  std::vector<Seen> seen = policy_->seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].connection, seen[1].connection);  // one connection served both
  EXPECT_TRUE(client.quiet_for(100));                 // and it stays open
}

TEST_F(EngineTest, ConnectionCloseIsClosedAfterTheResponse) {
  start();
  Client client(port_);
  client.send(get("/close"));
  Response response;
  ASSERT_TRUE(client.read_response(&response));
  EXPECT_EQ(response.status, 200);
  EXPECT_TRUE(client.closed_within(2000));
}

// More than requests_per_turn (16) in one write: the rest waits in the ready list for the next
// loop turn; every answer comes, in order.
TEST_F(EngineTest, PipelinedRequestsAreAnsweredInOrder) {
  start();
  Client client(port_);
  std::string requests;
  for (int i = 0; i < 20; ++i) requests += get("/p" + std::to_string(i));
  client.send(requests);
  for (int i = 0; i < 20; ++i) {
    Response response;
    ASSERT_TRUE(client.read_response(&response)) << "response " << i;
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "/p" + std::to_string(i));
  }
  std::vector<Seen> seen = policy_->seen();
  ASSERT_EQ(seen.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(seen[i].target, "/p" + std::to_string(i));
  EXPECT_TRUE(client.quiet_for(100));
}

// A pipelining client does not starve the others (fairness: requests_per_turn).
TEST_F(EngineTest, PipelinedRequestsOfTwoClientsAreAllAnswered) {
  options_.requests_per_turn = 2;
  start();
  Client a(port_), b(port_);
  std::string for_a, for_b;
  for (int i = 0; i < 10; ++i) {
    for_a += get("/a" + std::to_string(i));
    for_b += get("/b" + std::to_string(i));
  }
  a.send(for_a);
  b.send(for_b);
  for (int i = 0; i < 10; ++i) {
    Response from_a, from_b;
    ASSERT_TRUE(a.read_response(&from_a));
    ASSERT_TRUE(b.read_response(&from_b));
    EXPECT_EQ(from_a.body, "/a" + std::to_string(i));
    EXPECT_EQ(from_b.body, "/b" + std::to_string(i));
  }
}

TEST_F(EngineTest, MalformedRequestLineGets400AndClose) {
  start();
  Client client(port_);
  client.send("NOT A REQUEST\r\nHost: test\r\n\r\n");
  Response response;
  ASSERT_TRUE(client.read_response(&response)) << client.buffered();
  EXPECT_EQ(response.status, 400);
  EXPECT_NE(response.head.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(client.closed_within(2000));
  EXPECT_EQ(policy_->count(), 0u);
}

// A bad request after a good one on the same connection: the first is answered, then 400.
TEST_F(EngineTest, MalformedSecondRequestGets400AfterTheFirstAnswer) {
  start();
  Client client(port_);
  client.send(get("/good") + "GET /bad\x01 HTTP/1.1\r\nHost: test\r\n\r\n");
  Response good, bad;
  ASSERT_TRUE(client.read_response(&good));
  EXPECT_EQ(good.body, "/good");
  ASSERT_TRUE(client.read_response(&bad));
  EXPECT_EQ(bad.status, 400);
  EXPECT_TRUE(client.closed_within(2000));
  EXPECT_EQ(policy_->count(), 1u);
}

// Slowloris: a head that trickles in is answered 408 after header_timeout from its first byte;
// new bytes do not extend it.
TEST_F(EngineTest, SlowHeadGets408AfterHeaderTimeout) {
  options_.header_timeout_ms = 1000;
  start();
  Client client(port_);
  const Clock::time_point begin = Clock::now();
  client.send("GET /slow HTTP/1.1\r\n");
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    client.send("X-Trickle-" + std::to_string(i) + ": x\r\n");
  }
  Response response;
  ASSERT_TRUE(client.read_response(&response, 5000)) << client.buffered();
  const int64_t took = elapsed_ms(begin);
  EXPECT_EQ(response.status, 408);
  EXPECT_GE(took, 900);
  EXPECT_LE(took, 4000);  // the timeout plus at most one expiry scan (every second)
  EXPECT_TRUE(client.closed_within(2000));
  EXPECT_EQ(policy_->count(), 0u);
}

// A connection that sends nothing is closed after header_timeout, without an answer.
TEST_F(EngineTest, SilentConnectionIsClosedAfterHeaderTimeout) {
  options_.header_timeout_ms = 1000;
  start();
  Client client(port_);
  const Clock::time_point begin = Clock::now();
  EXPECT_TRUE(client.closed_within(5000));
  EXPECT_GE(elapsed_ms(begin), 900);
  EXPECT_EQ(client.buffered(), "");
}

TEST_F(EngineTest, SmallBodyIsBufferedBeforeDispatch) {
  start();
  Client client(port_);
  client.send("POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\n");
  EXPECT_FALSE(policy_->wait_for(1, 200));  // not dispatched without its body
  client.send("01234");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  client.send("56789");
  Response response;
  ASSERT_TRUE(client.read_response(&response));
  EXPECT_EQ(response.body, "/upload");
  std::vector<Seen> seen = policy_->seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].body, "0123456789");
  EXPECT_TRUE(seen[0].body_complete);
  // The connection serves the next request.
  client.send(get("/after"));
  ASSERT_TRUE(client.read_response(&response));
  EXPECT_EQ(response.body, "/after");
}

TEST_F(EngineTest, ChunkedBodyIsBufferedBeforeDispatch) {
  start();
  Client client(port_);
  client.send("POST /chunked HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
  EXPECT_FALSE(policy_->wait_for(1, 200));
  client.send("6\r\n world\r\n0\r\n\r\n");
  Response response;
  ASSERT_TRUE(client.read_response(&response));
  std::vector<Seen> seen = policy_->seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].body, "hello world");
  EXPECT_TRUE(seen[0].body_complete);
}

// Beyond body_buffer_size a policy that does not buffer whole bodies gets the request at once
// (the body streams through wsgi.input); one that does (gthread) gets it spooled to a file.
TEST_F(EngineTest, BodyBeyondTheBufferIsDispatchedBeforeItArrives) {
  options_.body_buffer_size = 16;
  start(/*buffers_whole_bodies=*/false);
  Client client(port_);
  client.send("POST /stream HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n");
  ASSERT_TRUE(policy_->wait_for(1, 2000));
  std::vector<Seen> seen = policy_->seen();
  EXPECT_FALSE(seen[0].body_complete);
  EXPECT_EQ(seen[0].body, "");
}

TEST_F(EngineTest, WholeBodyBeyondTheBufferIsSpooledToAFile) {
  options_.body_buffer_size = 16;
  start(/*buffers_whole_bodies=*/true);
  Client client(port_);
  const std::string body = pattern(100);
  client.send("POST /spool HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n" + body.substr(0, 40));
  EXPECT_FALSE(policy_->wait_for(1, 200));
  client.send(body.substr(40));
  Response response;
  ASSERT_TRUE(client.read_response(&response));
  std::vector<Seen> seen = policy_->seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(seen[0].body_complete);
  EXPECT_EQ(seen[0].body, "");
  EXPECT_EQ(seen[0].spooled, body);
}

// The app answered without reading the body (Expect: 100-continue, no 100 sent): the loop
// discards the body that follows and the connection serves the next request.
TEST_F(EngineTest, UnreadBodySentWithTheHeadIsDrainedAndTheConnectionReused) {
  start();
  Client client(port_);
  client.send("POST /ignore HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n"
              "0123456789" +
              get("/next"));
  Response first, second;
  ASSERT_TRUE(client.read_response(&first));
  ASSERT_TRUE(client.read_response(&second));
  EXPECT_EQ(first.body, "/ignore");
  EXPECT_EQ(second.body, "/next");
  std::vector<Seen> seen = policy_->seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_FALSE(seen[0].body_complete);
  EXPECT_EQ(seen[0].connection, seen[1].connection);
}

TEST_F(EngineTest, UnreadBodySentAfterTheResponseIsDrainedAndTheConnectionReused) {
  start();
  Client client(port_);
  client.send("POST /ignore HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n");
  Response first, second;
  ASSERT_TRUE(client.read_response(&first));
  EXPECT_EQ(first.body, "/ignore");
  client.send("01234");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  client.send("56789" + get("/next"));
  ASSERT_TRUE(client.read_response(&second));
  EXPECT_EQ(second.body, "/next");
  std::vector<Seen> seen = policy_->seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].target, "/next");  // the body bytes were not taken for a request
  EXPECT_EQ(seen[0].connection, seen[1].connection);
}

// More unread body than body_buffer_size is not drained: the connection is closed.
TEST_F(EngineTest, UnreadBodyBeyondTheBufferClosesTheConnection) {
  options_.body_buffer_size = 16;
  start();
  Client client(port_);
  client.send("POST /ignore HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n" + pattern(100) + get("/next"));
  Response first;
  ASSERT_TRUE(client.read_response(&first));
  EXPECT_EQ(first.body, "/ignore");
  EXPECT_TRUE(client.closed_within(2000));
  EXPECT_EQ(policy_->count(), 1u);
}

// Incomplete heads together beyond head_buffer_limit: the connection holding the most is
// answered 431 and closed; the others go on.
TEST_F(EngineTest, HeadsBeyondHeadBufferLimitShedTheLargestWith431) {
  options_.head_buffer_limit = 4096;
  start();
  Client large(port_), small(port_);
  large.send("GET /large HTTP/1.1\r\nHost: test\r\nX-Large: " + std::string(3000, 'a'));
  EXPECT_TRUE(large.quiet_for(200));  // under the limit alone
  small.send("GET /small HTTP/1.1\r\nHost: test\r\nX-Small: " + std::string(2000, 'b'));
  Response response;
  ASSERT_TRUE(large.read_response(&response)) << large.buffered();
  EXPECT_EQ(response.status, 431);
  EXPECT_NE(response.body.find("in flight"), std::string::npos) << response.body;  // not the parser's own 431
  EXPECT_TRUE(large.closed_within(2000));
  small.send("\r\n\r\n");
  ASSERT_TRUE(small.read_response(&response));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "/small");
}

TEST_F(EngineTest, OneHeadBeyondHeadBufferLimitGets431) {
  options_.head_buffer_limit = 1024;
  start();
  Client client(port_);
  client.send("GET / HTTP/1.1\r\nHost: test\r\nX-Big: " + std::string(3000, 'a'));
  Response response;
  ASSERT_TRUE(client.read_response(&response)) << client.buffered();
  EXPECT_EQ(response.status, 431);
  EXPECT_TRUE(client.closed_within(2000));
  EXPECT_EQ(policy_->count(), 0u);
}

// At worker_connections the listener is not watched: a second connection waits in the
// backlog, and is served once the first closes.
TEST_F(EngineTest, WorkerConnectionsBoundKeepsTheNextInTheBacklog) {
  options_.worker_connections = 1;
  start();
  Client first(port_);
  Response response;
  first.send(get("/first"));
  ASSERT_TRUE(first.read_response(&response));
  Client second(port_);  // the kernel completes the handshake: it waits in the backlog
  second.send(get("/second"));
  EXPECT_TRUE(second.quiet_for(500));
  EXPECT_EQ(policy_->count(), 1u);
  first.close();
  ASSERT_TRUE(second.read_response(&response, 3000));
  EXPECT_EQ(response.body, "/second");
}

// A response larger than the socket buffers: the policy leaves the rest in connection.output,
// the loop finishes it when the client reads, then serves the next request.
TEST_F(EngineTest, LargeResponseIsFinishedByTheLoopWhenTheClientReads) {
  start();
  Client client(port_, /*receive_buffer=*/64 * 1024);
  const size_t size = 16u << 20;
  client.send(get("/big/" + std::to_string(size)));
  ASSERT_TRUE(policy_->wait_for(1, 2000));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the client does not read yet
  EXPECT_GT(policy_->seen()[0].left_in_queue, 0u);
  Response response;
  ASSERT_TRUE(client.read_response(&response, 10000));
  EXPECT_EQ(response.status, 200);
  ASSERT_EQ(response.body.size(), size);
  EXPECT_TRUE(response.body == pattern(size));
  client.send(get("/after"));
  ASSERT_TRUE(client.read_response(&response));
  EXPECT_EQ(response.body, "/after");
}

// Pipelined requests behind a large response wait until it is out, then are served in order.
TEST_F(EngineTest, PipelinedRequestsBehindALargeResponseKeepTheirOrder) {
  start();
  Client client(port_, /*receive_buffer=*/64 * 1024);
  const size_t size = 8u << 20;
  client.send(get("/big/" + std::to_string(size)) + get("/x") + get("/y"));
  ASSERT_TRUE(policy_->wait_for(1, 2000));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(policy_->count(), 1u);  // the next request waits for the response to go out
  Response big, x, y;
  ASSERT_TRUE(client.read_response(&big, 10000));
  ASSERT_EQ(big.body.size(), size);
  ASSERT_TRUE(client.read_response(&x));
  ASSERT_TRUE(client.read_response(&y));
  EXPECT_EQ(x.body, "/x");
  EXPECT_EQ(y.body, "/y");
}

// A client that goes away in the middle of a queued response: the connection is closed and
// the worker serves others.
TEST_F(EngineTest, ClientLeavingDuringAQueuedResponseIsClosed) {
  start();
  {
    Client leaving(port_, /*receive_buffer=*/64 * 1024);
    leaving.send(get("/big/" + std::to_string(8u << 20)));
    ASSERT_TRUE(policy_->wait_for(1, 2000));
  }
  Client other(port_);
  other.send(get("/other"));
  Response response;
  ASSERT_TRUE(other.read_response(&response));
  EXPECT_EQ(response.body, "/other");
}

// An idle keep-alive connection is closed after `keepalive` seconds.
TEST_F(EngineTest, IdleKeepAliveConnectionIsClosedAfterKeepalive) {
  options_.keepalive_s = 1;
  start();
  Client client(port_);
  client.send(get("/one"));
  Response response;
  ASSERT_TRUE(client.read_response(&response));
  const Clock::time_point begin = Clock::now();
  EXPECT_TRUE(client.closed_within(4000));
  const int64_t took = elapsed_ms(begin);
  EXPECT_GE(took, 900);
  EXPECT_LE(took, 3000);  // keepalive plus at most one expiry scan
  EXPECT_EQ(client.buffered(), "");
}

// A body that stalls is answered 408 after body_timeout (no app slot is held meanwhile).
TEST_F(EngineTest, StalledBodyGets408AfterBodyTimeout) {
  options_.body_timeout_ms = 1000;
  start();
  Client client(port_);
  const Clock::time_point begin = Clock::now();
  client.send("POST /stalled HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\n012");
  Response response;
  ASSERT_TRUE(client.read_response(&response, 5000)) << client.buffered();
  EXPECT_EQ(response.status, 408);
  EXPECT_GE(elapsed_ms(begin), 900);
  EXPECT_TRUE(client.closed_within(2000));
  EXPECT_EQ(policy_->count(), 0u);
}

// The client half-closes inside a body that cannot end there: it can still read the answer.
TEST_F(EngineTest, HalfCloseInsideABodyIsAnswered) {
  start();
  Client client(port_);
  client.send("POST /cut HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
  EXPECT_FALSE(policy_->wait_for(1, 100));
  client.shutdown_write();
  Response response;
  ASSERT_TRUE(client.read_response(&response)) << client.buffered();
  EXPECT_EQ(response.status, 400);
  EXPECT_TRUE(client.closed_within(2000));
  EXPECT_EQ(policy_->count(), 0u);
}

// A request followed by a half-close (`printf ... | nc`): the answer still goes out.
TEST_F(EngineTest, RequestThenHalfCloseIsAnswered) {
  start();
  Client client(port_);
  client.send(get("/then-eof"));
  client.shutdown_write();
  Response response;
  ASSERT_TRUE(client.read_response(&response));
  EXPECT_EQ(response.body, "/then-eof");
  EXPECT_TRUE(client.closed_within(2000));
}

// A client that stops reading a queued response is closed after write_timeout; the worker
// serves the others meanwhile.
TEST_F(EngineTest, StalledReaderIsClosedAfterWriteTimeout) {
  options_.write_timeout_ms = 1000;
  start();
  Client stalled(port_, /*receive_buffer=*/64 * 1024);
  const size_t size = 32u << 20;
  stalled.send(get("/big/" + std::to_string(size)));
  ASSERT_TRUE(policy_->wait_for(1, 2000));
  Client other(port_);
  other.send(get("/other"));
  Response response;
  ASSERT_TRUE(other.read_response(&response));
  EXPECT_EQ(response.body, "/other");
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // write_timeout + an expiry scan
  // Now reading finds the response cut short: the server closed its end.
  EXPECT_TRUE(stalled.closed_within(5000));
  EXPECT_LT(stalled.buffered().size(), size);
}

// max_requests: the last request is answered with Connection: close and the worker leaves by
// itself once its connections are closed.
TEST_F(EngineTest, MaxRequestsRetiresTheWorker) {
  options_.max_requests = 2;
  start();
  Client client(port_);
  Response first, second;
  client.send(get("/one"));
  ASSERT_TRUE(client.read_response(&first));
  EXPECT_EQ(first.head.find("Connection: close"), std::string::npos);
  client.send(get("/two"));
  ASSERT_TRUE(client.read_response(&second));
  EXPECT_NE(second.head.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(client.closed_within(2000));
  const Clock::time_point begin = Clock::now();
  while (!finished_ && elapsed_ms(begin) < 3000) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_TRUE(finished_) << "the worker did not leave after max_requests";
}

// TERM while a request head is partly received: it is still served (with Connection: close),
// then the worker leaves.
TEST_F(EngineTest, GracefulStopServesARequestInProgress) {
  start();
  Client client(port_);
  client.send("GET /in-progress HTTP/1.1\r\nHost: te");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  worker_signals().stop_graceful = 1;
  pthread_kill(thread_.native_handle(), SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(finished_);
  client.send("st\r\n\r\n");
  Response response;
  ASSERT_TRUE(client.read_response(&response));
  EXPECT_EQ(response.body, "/in-progress");
  EXPECT_NE(response.head.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(client.closed_within(2000));
  EXPECT_LT(stop(), 1500);
}

// Restores the descriptor limit when the test ends.
struct DescriptorLimit {
  rlimit saved{};
  DescriptorLimit() { EXPECT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0); }
  ~DescriptorLimit() { ::setrlimit(RLIMIT_NOFILE, &saved); }
  static int lowest_free() {
    int fd = ::dup(0);
    ::close(fd);
    return fd;
  }
};

// Out of descriptors: accept() pauses (the connection waits in the backlog) and resumes when
// a connection of the worker closes.
TEST_F(EngineTest, AcceptPausesWhenOutOfDescriptorsAndResumes) {
  start();
  DescriptorLimit limit;
  // The client and the server end of each connection live in this process: room for the
  // first connection's two and the second's client end only.
  const int lowest = DescriptorLimit::lowest_free();
  Client first(port_);
  Response response;
  first.send(get("/first"));
  ASSERT_TRUE(first.read_response(&response));
  // The loop thread may still hold a transient descriptor (the first log line reads the time
  // zone file): let it settle before the limit is lowered (seen under ASan's slower timing).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  rlimit reduced = limit.saved;
  reduced.rlim_cur = static_cast<rlim_t>(lowest + 3);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &reduced), 0);
  Client second(port_);
  second.send(get("/second"));
  EXPECT_TRUE(second.quiet_for(500));  // accept() fails with EMFILE
  EXPECT_EQ(policy_->count(), 1u);
  first.close();
  ASSERT_TRUE(second.read_response(&response, 3000));
  EXPECT_EQ(response.body, "/second");
}

// ---- deferred requests (a policy that runs them elsewhere, like gthread) ----

TEST_F(EngineTest, DeferredRequestIsAnsweredWhenItFinishes) {
  start(/*buffers_whole_bodies=*/true, /*deferred=*/true);
  Client client(port_);
  client.send(get("/held"));
  ASSERT_TRUE(policy_->wait_for(1, 2000));
  EXPECT_TRUE(client.quiet_for(200));
  EXPECT_EQ(policy_->running(), 1);
  policy_->finish_held();
  Response response;
  ASSERT_TRUE(client.read_response(&response));
  EXPECT_EQ(response.body, "/held");
  client.send(get("/next"));  // keep-alive after a deferred request
  ASSERT_TRUE(policy_->wait_for(2, 2000));
  policy_->finish_held();
  ASSERT_TRUE(client.read_response(&response));
  EXPECT_EQ(response.body, "/next");
}

// Pipelined requests: the next is dispatched only when the previous one is done (resume).
TEST_F(EngineTest, DeferredPipelinedRequestsAreServedOneAtATimeInOrder) {
  start(/*buffers_whole_bodies=*/true, /*deferred=*/true);
  Client client(port_);
  client.send(get("/r0") + "POST /r1 HTTP/1.1\r\nHost: test\r\nContent-Length: 4\r\n\r\nbody" + get("/r2"));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(policy_->wait_for(static_cast<size_t>(i) + 1, 2000)) << "request " << i;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(policy_->count(), static_cast<size_t>(i) + 1);  // one at a time
    policy_->finish_held();
    Response response;
    ASSERT_TRUE(client.read_response(&response));
    EXPECT_EQ(response.body, "/r" + std::to_string(i));
  }
  EXPECT_EQ(policy_->seen()[1].body, "body");
}

// TERM while a request runs elsewhere: the worker waits for it (busy), answers, then leaves.
// (Like gthread, the policy decided keep-alive at dispatch, before the TERM: the connection
// then idles for at most `keepalive`.)
TEST_F(EngineTest, GracefulStopWaitsForARunningRequest) {
  options_.keepalive_s = 1;
  start(/*buffers_whole_bodies=*/true, /*deferred=*/true);
  Client client(port_);
  client.send(get("/running"));
  ASSERT_TRUE(policy_->wait_for(1, 2000));
  worker_signals().stop_graceful = 1;
  pthread_kill(thread_.native_handle(), SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(finished_);
  policy_->finish_held();
  Response response;
  ASSERT_TRUE(client.read_response(&response));
  EXPECT_EQ(response.body, "/running");
  EXPECT_TRUE(client.closed_within(3000));
  EXPECT_LT(stop(), 1500);
}

// A keep-alive connection (in the epoll set since its first request) whose second request
// runs elsewhere, while the client pipelines a third: the level-triggered socket must not wake
// the loop again and again (before f7fff53 it turned ~500000 times in 500 ms).
TEST_F(EngineTest, LoopDoesNotSpinWhileARunningRequestsClientSendsMore) {
  start(/*buffers_whole_bodies=*/true, /*deferred=*/true);
  Client client(port_);
  Response response;
  client.send(get("/first"));
  ASSERT_TRUE(policy_->wait_for(1, 2000));
  policy_->finish_held();
  ASSERT_TRUE(client.read_response(&response));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the loop waits in epoll for it
  client.send(get("/running"));
  ASSERT_TRUE(policy_->wait_for(2, 2000));
  client.send(get("/pipelined"));  // arrives while /running runs
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const int64_t before = policy_->turns();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_LT(policy_->turns() - before, 20) << "loop turns in 500 ms with nothing to do";
  policy_->finish_held();
  ASSERT_TRUE(client.read_response(&response));
  EXPECT_EQ(response.body, "/running");
  ASSERT_TRUE(policy_->wait_for(3, 2000));
  policy_->finish_held();
  ASSERT_TRUE(client.read_response(&response));
  EXPECT_EQ(response.body, "/pipelined");
}

// The same with a client that closes while its request runs (EOF stays readable).
TEST_F(EngineTest, LoopDoesNotSpinWhileARunningRequestsClientIsGone) {
  start(/*buffers_whole_bodies=*/true, /*deferred=*/true);
  {
    Client client(port_);
    Response response;
    client.send(get("/first"));
    ASSERT_TRUE(policy_->wait_for(1, 2000));
    policy_->finish_held();
    ASSERT_TRUE(client.read_response(&response));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the loop waits in epoll for it
    client.send(get("/running"));
    ASSERT_TRUE(policy_->wait_for(2, 2000));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const int64_t before = policy_->turns();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_LT(policy_->turns() - before, 20) << "loop turns in 500 ms with nothing to do";
  policy_->finish_held();
}

// A client that sends nothing more while its request runs: the loop sleeps (the control case).
TEST_F(EngineTest, LoopSleepsWhileARunningRequestsClientWaits) {
  start(/*buffers_whole_bodies=*/true, /*deferred=*/true);
  Client client(port_);
  Response response;
  client.send(get("/first"));
  ASSERT_TRUE(policy_->wait_for(1, 2000));
  policy_->finish_held();
  ASSERT_TRUE(client.read_response(&response));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the loop waits in epoll for it
  client.send(get("/running"));
  ASSERT_TRUE(policy_->wait_for(2, 2000));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const int64_t before = policy_->turns();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_LT(policy_->turns() - before, 20) << "loop turns in 500 ms with nothing to do";
  policy_->finish_held();
  ASSERT_TRUE(client.read_response(&response));
  EXPECT_EQ(response.body, "/running");
}

// TERM with no connection: the loop leaves at once (the signal wakes its wait).
TEST_F(EngineTest, StopsPromptlyWithoutConnections) {
  start();
  Client client(port_);
  client.send(get("/close"));
  Response response;
  ASSERT_TRUE(client.read_response(&response));
  ASSERT_TRUE(client.closed_within(2000));
  EXPECT_LT(stop(), 1500);
}

// TERM with an idle keep-alive connection: it gets at most `keepalive` more seconds.
TEST_F(EngineTest, GracefulStopClosesIdleKeepAliveConnections) {
  options_.keepalive_s = 1;
  start();
  Client client(port_);
  client.send(get("/one"));
  Response response;
  ASSERT_TRUE(client.read_response(&response));
  const int64_t took = stop();
  EXPECT_LT(took, 3500);
  EXPECT_TRUE(client.closed_within(1000));
}

}  // namespace
}  // namespace narwhal::workers
