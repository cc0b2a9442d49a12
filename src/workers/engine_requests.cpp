// The phases of a request on a connection, driven by the engine's loop (see engine.h): reading
// the head and the body, handing the request to the policy, draining what the app did not
// read, finishing the response from the output queue, error answers, and the budget for
// incomplete heads.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/clock.h"
#include "base/io.h"
#include "log/logger.h"
#include "workers/engine.h"
#include "workers/http2_bridge.h"

namespace narwhal::workers {
namespace {

bool write_fully(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// A temporary file for a body beyond the memory buffer (unlinked: it goes with its fd).
UniqueFd open_spool_file() {
  const char* directory = std::getenv("TMPDIR");
  if (!directory || !*directory) directory = "/tmp";
  int fd = ::open(directory, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  return UniqueFd(fd);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// reading requests

// Bytes for the connection into the loop's buffer: what it stashed, else from the socket.
// false: nothing now (the connection waits in epoll) or it was closed.
bool Engine::read_more(Connection* connection) {
  if (!connection->stash.empty()) {
    std::memcpy(input_.write_position(), connection->stash.data(), connection->stash.size());
    input_.commit(connection->stash.size());
    connection->stash.clear();
    return true;
  }
  int64_t stamp_us = 0;
  ssize_t n = connection->tls ? connection->tls->read(input_.write_position(), input_.writable())
              : options_.arrival_stamps
                  ? io::read_some_stamped(connection->fd.get(), input_.write_position(), input_.writable(), &stamp_us)
                  : io::read_some(connection->fd.get(), input_.write_position(), input_.writable());
  if (n > 0) connection->last_read_us = stamp_us != 0 ? stamp_us : clock::realtime_us();
  if (n == io::kWouldBlock) {
    // TLS: a read may have to write first (a KeyUpdate answer).
    watch(connection, connection->tls && connection->tls->want_write() ? net::EventLoop::kWritable : net::EventLoop::kReadable);
    return false;
  }
  if (n == 0 && connection->phase == Phase::Body &&
      connection->parser.finish() == http::ParseResult::Error) {
    // The client half-closed inside a body that cannot end there (a chunked body without its
    // last chunk): it can still read why it is refused.
    answer_error(connection, connection->parser.error_status(), connection->parser.error_reason());
    return false;
  }
  if (n <= 0) {
    close_connection(connection);  // peer closed (or reset); an unfinished request is dropped
    return false;
  }
  input_.commit(static_cast<size_t>(n));
  return true;
}

void Engine::stash_input(Connection& connection) {
  if (input_.empty()) return;
  connection.stash.append(input_.data(), input_.size());
  input_.clear();
}

void Engine::process(Connection* connection) {
  turn_requests_ = 0;
  for (;;) {
    bool more = false;
    switch (connection->phase) {
      case Phase::Handshake: more = step_handshake(connection); break;
      case Phase::Idle:
      case Phase::Head: more = connection->preamble ? step_preamble(connection) : step_head(connection); break;
      case Phase::Body: more = step_body(connection); break;
      case Phase::Draining: more = step_drain(connection); break;
      default: break;  // Running, Sending, Closing: not driven by input
    }
    if (!more || connection->closed) break;
    if (turn_requests_ > 0 && connection->phase == Phase::Idle && input_.empty() && !connection->has_buffered_input()) {
      // A response went out and nothing of the next request is here: wait in epoll rather
      // than try a read that would almost always find nothing (one syscall per request).
      watch(connection, net::EventLoop::kReadable);
      break;
    }
    // [fairness] A client pipelining many requests gets requests_per_turn of them, then the
    // others get their turn (issue 10, item 8); its bytes wait in the ready list.
    if (turn_requests_ >= options_.requests_per_turn && connection->phase == Phase::Idle &&
        (!input_.empty() || !connection->stash.empty())) {
      stash_input(*connection);
      if (!connection->in_ready_list) {
        connection->in_ready_list = true;
        ready_list_.push_back(connection);
      }
      break;
    }
  }
  if (connection->closed || connection->phase == Phase::Closing) {
    input_.clear();  // nothing more is read from it
  } else {
    stash_input(*connection);  // the loop's buffer is empty between connections
  }
}

void Engine::serve_ready_list() {
  if (ready_list_.empty()) return;
  std::vector<Connection*> ready;
  ready.swap(ready_list_);
  for (Connection* connection : ready) {
    connection->in_ready_list = false;
    if (!connection->closed) process(connection);
  }
}

// Handshake (TLS): driven by the socket's readiness, in the loop. A client speaking plain HTTP
// to the port is told so (as nginx does) before the connection closes.
bool Engine::step_handshake(Connection* connection) {
  if ((connection->preamble & Connection::kPreambleProxyHeader) && !read_proxy_header_before_tls(connection)) {
    return false;
  }
  std::string reason;
  switch (connection->tls->handshake(&reason)) {
    case tls::Session::Handshake::Done:
      connection->phase = Phase::Idle;  // header_timeout still counts from the accept
      if (options_.http2.enabled && connection->tls->alpn() == "h2") {
        start_http2(connection);
        return false;
      }
      return true;
    case tls::Session::Handshake::InProgress:
      watch(connection, connection->tls->want_write() ? net::EventLoop::kWritable : net::EventLoop::kReadable);
      return false;
    case tls::Session::Handshake::Failed:
      break;
  }
  if (connection->tls->plain_http()) {
    log::logger().debug("Plain HTTP request on a TLS port from " + connection->address.host);
    static constexpr std::string_view kPlainHttp =
        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\n"
        "Content-Length: 48\r\n\r\nThe plain HTTP request was sent to an HTTPS port";
    // What OpenSSL left of the request is read first: closing with unread bytes would reset
    // the connection and the client would likely lose the answer.
    char sink[4096];
    for (int reads = 0; reads < 16 && io::read_some(connection->fd.get(), sink, sizeof sink) > 0; ++reads) {
    }
    (void)io::write_some(connection->fd.get(), kPlainHttp.data(), kPlainHttp.size());
    (void)::shutdown(connection->fd.get(), SHUT_WR);
  } else {
    log::logger().debug("TLS handshake failed with " + connection->address.host + ": " + reason);
  }
  close_connection(connection);
  return false;
}

// h2c with prior knowledge (RFC 9113 §3.3): a plain connection whose first bytes are the
// client preface becomes an HTTP/2 connection. True: go on with HTTP/1.1; false: the
// connection is HTTP/2 now, waits for the rest of a preface (in its stash), or was closed.
bool Engine::detect_prior_knowledge(Connection* connection) {
  static constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  for (;;) {
    std::string_view received(input_.data(), input_.size());
    const size_t compared = std::min(received.size(), kPreface.size());
    if (received.substr(0, compared) != kPreface.substr(0, compared)) return true;
    if (received.size() >= kPreface.size()) break;
    // Part of the preface: read the rest behind it (level-triggered epoll wakes the connection
    // again if nothing is there yet).
    ssize_t n = connection->transport().read(input_.write_position(), input_.writable());
    if (n == io::kWouldBlock) {
      stash_input(*connection);
      watch(connection, net::EventLoop::kReadable);
      return false;
    }
    if (n <= 0) {
      close_connection(connection);
      return false;
    }
    input_.commit(static_cast<size_t>(n));
  }
  start_http2(connection);
  return false;
}

void Engine::start_http2(Connection* connection) {
  std::string received(input_.data(), input_.size());  // the preface and what followed it
  input_.clear();
  connection->stash.clear();
  connection->phase = Phase::Http2;
  connection->deadline_ms = 0;  // every expiry scan: Http2Connection::expire keeps its own timers
  http::h2::SessionOptions session = options_.http2.session;
  session.request = connection->underscore_parser ? underscore_parser_ : options_.parser;
  session.clock = [this] { return now_ms_; };
  connection->http2 = std::make_unique<Http2Connection>(*this, *connection, session);
  connection->http2->start(received);
}

// Idle/Head: feed the head to the parser. true = progress (look at the phase again).
bool Engine::step_head(Connection* connection) {
  if (input_.empty() && !read_more(connection)) return false;
  if (connection->phase == Phase::Idle && !connection->served && connection->h2c_allowed && !connection->tls) {
    if (!detect_prior_knowledge(connection)) return false;
  }
  if (connection->phase == Phase::Idle) {
    // The first byte of a request starts its header_timeout, and empty lines before a request
    // line count (a client sending only CRLFs is timed out too: issue 10, item 10).
    connection->phase = Phase::Head;
    connection->deadline_ms = now_ms_ + options_.header_timeout_ms;
    // Queue time starts here: the read that brought these bytes (pipelined ones: the read that
    // brought them, while the request before them ran).
    connection->arrived_us = connection->last_read_us != 0 ? connection->last_read_us : clock::realtime_us();
  }
  size_t consumed = 0;
  http::ParseResult result = connection->parser.feed(input_.data(), input_.size(), &consumed, nullptr);
  input_.consume(consumed);
  if (result == http::ParseResult::Error) {
    answer_error(connection, connection->parser.error_status(), connection->parser.error_reason());
    return false;
  }
  account_head(connection, result != http::ParseResult::NeedMore);
  if (connection->closed || connection->phase != Phase::Head) return false;  // shed
  if (result == http::ParseResult::NeedMore) return true;
  // The head is complete.
  const http::RequestHead& head = connection->parser.head();
  connection->body.clear();
  connection->body_complete = connection->parser.message_complete();
  if (connection->body_complete || head.upgrade || (head.expect_continue && !policy_->buffers_whole_bodies())) {
    // Expect: 100-continue in the sync worker: the app decides whether the body is wanted (the
    // exchange sends the 100 when it reads). An upgrade's bytes are not a body to buffer.
    ready_for_app(connection);
    return true;
  }
  if (head.expect_continue) {
    // A policy that buffers whole bodies (gthread) asks for the body at once, as gunicorn
    // does when it builds the environ: no thread ever waits for a client's upload.
    send_continue(connection);
    if (connection->closed) return false;
  }
  if (!policy_->buffers_whole_bodies() && head.has_content_length &&
      head.content_length > options_.body_buffer_size) {
    ready_for_app(connection);  // sync: a large body streams through wsgi.input
    return true;
  }
  connection->phase = Phase::Body;
  connection->deadline_ms = now_ms_ + options_.body_timeout_ms;
  return true;
}

// Body: the loop reads the body before the app is called, so a slow uploader holds no app slot.
bool Engine::step_body(Connection* connection) {
  if (input_.empty()) {
    if (!read_more(connection)) return false;
    connection->deadline_ms = now_ms_ + options_.body_timeout_ms;  // progress
  }
  size_t consumed = 0;
  http::ParseResult result = connection->parser.feed(input_.data(), input_.size(), &consumed, &connection->body);
  input_.consume(consumed);
  if (result == http::ParseResult::Error) {
    answer_error(connection, connection->parser.error_status(), connection->parser.error_reason());
    return false;
  }
  if (result == http::ParseResult::MessageComplete) {
    connection->body_complete = true;
    if (connection->body_file) {
      if (!write_fully(connection->body_file.get(), connection->body) ||
          ::lseek(connection->body_file.get(), 0, SEEK_SET) != 0) {
        log::logger().error("Can't spool a request body: " + std::string(strerror(errno)));
        answer_error(connection, 500, "");
        return false;
      }
      connection->body.clear();
    }
    ready_for_app(connection);
    return true;
  }
  if (connection->body.size() > options_.body_buffer_size) {
    if (!policy_->buffers_whole_bodies()) {
      ready_for_app(connection);  // the rest streams through wsgi.input
      return true;
    }
    // gthread: beyond the memory buffer the body goes to a temporary file.
    if (!connection->body_file) connection->body_file = open_spool_file();
    if (!connection->body_file || !write_fully(connection->body_file.get(), connection->body)) {
      log::logger().error("Can't spool a request body: " + std::string(strerror(errno)));
      answer_error(connection, 500, "");
      return false;
    }
    connection->spooled += connection->body.size();
    connection->body.clear();
  }
  return true;
}

// Draining: the app did not read the whole body; the loop discards it so the connection can be
// reused — from the loop, never in a blocking wait (issue 10, item 1). Beyond body_buffer_size
// the connection is closed instead.
bool Engine::step_drain(Connection* connection) {
  if (input_.empty()) {
    if (!read_more(connection)) return false;
    connection->deadline_ms = now_ms_ + options_.body_timeout_ms;
  }
  size_t consumed = 0;
  discard_.clear();
  http::ParseResult result = connection->parser.feed(input_.data(), input_.size(), &consumed, &discard_);
  input_.consume(consumed);
  connection->drained += discard_.size();
  if (result == http::ParseResult::Error || connection->drained > options_.body_buffer_size) {
    close_connection(connection);
    return false;
  }
  if (result == http::ParseResult::MessageComplete) next_request(connection);
  return true;
}

void Engine::send_continue(Connection* connection) {
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  ssize_t n = connection->transport().write(kContinue.data(), kContinue.size());
  if (n == io::kWouldBlock) n = 0;
  if (n < 0) {
    close_connection(connection);
    return;
  }
  // A socket that cannot take 25 bytes now: the rest goes out ahead of the response.
  if (static_cast<size_t>(n) < kContinue.size()) connection->output.push_copy(kContinue.substr(static_cast<size_t>(n)));
}

void Engine::ready_for_app(Connection* connection) {
  connection->phase = Phase::Running;
  ++turn_requests_;
  policy_->dispatch(*connection);
}

void Engine::request_done(Connection& connection, bool keep) {
  if (connection.closed) return;
  connection.body.clear();
  connection.body_file.reset();
  connection.spooled = 0;
  if (retiring_ && !stopping_) {
    log::logger().info("Autorestarting worker after current request.");
    begin_graceful_stop();
  }
  Phase next = !keep ? Phase::Closing : connection.parser.message_complete() ? Phase::Idle : Phase::Draining;
  if (!connection.output.empty()) {
    // The client has not taken the whole response yet: the loop finishes it (write_timeout).
    stash_input(connection);
    connection.after_send = next;
    connection.phase = Phase::Sending;
    connection.deadline_ms = now_ms_ + options_.write_timeout_ms;
    watch(&connection, net::EventLoop::kWritable);
    return;
  }
  if (next == Phase::Closing) {
    close_connection(&connection);
  } else if (next == Phase::Draining) {
    connection.phase = Phase::Draining;
    connection.drained = 0;
    connection.deadline_ms = now_ms_ + options_.body_timeout_ms;
  } else {
    next_request(&connection);
  }
}

void Engine::resume(Connection& connection) {
  if (connection.closed) return;
  if (connection.phase == Phase::Idle && !connection.has_buffered_input()) {
    // Nothing of the next request is here yet: epoll says when it comes (a read now would
    // almost always find nothing: one syscall per request saved).
    watch(&connection, net::EventLoop::kReadable);
    return;
  }
  process(&connection);
}

void Engine::next_request(Connection* connection) {
  connection->served = true;
  connection->parser.next_request();  // also gives back a large head's memory
  connection->phase = Phase::Idle;
  connection->deadline_ms = now_ms_ + options_.keepalive_s * 1000;
}

// Level-triggered EPOLLOUT: called whenever the socket has room, until the queue is sent.
void Engine::continue_sending(Connection* connection) {
  switch (connection->output.flush(connection->transport())) {
    case net::OutputQueue::Flush::WouldBlock:
      connection->deadline_ms = now_ms_ + options_.write_timeout_ms;
      // TLS: a write that waits for the peer (a handshake still running: an answer to a client
      // refused before it, such as a missing PROXY header) waits for readability, not EPOLLOUT.
      watch(connection, connection->tls && !connection->tls->want_write() ? net::EventLoop::kReadable
                                                                           : net::EventLoop::kWritable);
      return;
    case net::OutputQueue::Flush::Error:
      close_connection(connection);
      return;
    case net::OutputQueue::Flush::Done:
      break;
  }
  if (connection->phase == Phase::Closing || connection->after_send == Phase::Closing) {
    close_connection(connection);
    return;
  }
  if (connection->after_send == Phase::Draining) {
    connection->phase = Phase::Draining;
    connection->drained = 0;
    connection->deadline_ms = now_ms_ + options_.body_timeout_ms;
  } else {
    next_request(connection);
  }
  watch(connection, net::EventLoop::kReadable);
  process(connection);
}

// A complete error answer (400, 408, 413, 431, …), then close. Written from the loop without
// waiting: what the socket does not take goes out on EPOLLOUT, until write_timeout.
void Engine::answer_error(Connection* connection, int status, std::string_view detail) {
  connection->stash.clear();
  head_bytes_ -= connection->head_bytes;
  connection->head_bytes = 0;
  connection->output.clear();
  connection->output.push_copy(wsgi::error_response(status, detail));
  connection->phase = Phase::Closing;
  connection->deadline_ms = now_ms_ + options_.write_timeout_ms;
  continue_sending(connection);
}

// ---------------------------------------------------------------------------------------------
// memory for incomplete heads (issue 10, item 5)

void Engine::account_head(Connection* connection, bool complete) {
  size_t bytes = complete ? 0 : connection->parser.buffered_bytes();
  head_bytes_ = head_bytes_ - connection->head_bytes + bytes;
  connection->head_bytes = bytes;
  if (head_bytes_ > options_.head_buffer_limit) shed_heads();
}

// Over head_buffer_limit: the connections holding the most head memory are answered 431 and
// closed until the worker is under its budget again.
void Engine::shed_heads() {
  while (head_bytes_ > options_.head_buffer_limit) {
    Connection* largest = nullptr;
    for (auto& connection : connections_) {
      if (connection->head_bytes > 0 && (!largest || connection->head_bytes > largest->head_bytes)) {
        largest = connection.get();
      }
    }
    if (!largest) break;
    log::logger().warning("Incomplete request heads hold " + std::to_string(head_bytes_) +
                          " bytes (head_buffer_limit " + std::to_string(options_.head_buffer_limit) +
                          "): dropping the largest, from " + largest->address.host);
    answer_error(largest, 431, "too much request header data in flight");
  }
}

}  // namespace narwhal::workers
