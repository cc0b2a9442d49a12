// One request/response on a connection, seen from the I/O side: hands out the request body
// (buffered by the worker's loop, or pulled through the parser on demand), and writes the
// response with the framing decided for it. Knows nothing about Python; callers release the
// GIL around the blocking calls.
//
// Waiting for the socket is pluggable (Waiter): the same exchange runs in the sync worker's
// app slot, on a gthread pool thread, or on a greenlet. Every wait is bounded twice: by the
// stall timeout (body_timeout / write_timeout) and by the request's deadline (`timeout` from
// its start), so no client can hold the app slot longer than `timeout` (issue 10, item 2).
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/read_buffer.h"
#include "base/unique_fd.h"
#include "http/request_parser.h"
#include "net/output_queue.h"
#include "net/transport.h"
#include "http/response.h"

namespace narwhal::wsgi {

// How an exchange waits for its socket. 1 = ready, 0 = timed out, -errno on error.
class Waiter {
 public:
  virtual ~Waiter() = default;
  virtual int wait(int fd, bool for_write, int timeout_ms) = 0;
  // Lets others run for about `ms` (end() waiting for a call still inside the exchange: a
  // thread sleeps, a greenlet must yield to its hub or the other greenlet never runs).
  virtual void pause(int ms) = 0;
};
Waiter& poll_waiter();  // poll(2): a thread that may block (sync app slot, gthread threads)

struct ExchangeOptions {
  int read_timeout_ms = 30000;   // longest stall while reading the body
  int write_timeout_ms = 30000;  // longest stall while writing the response
  // CLOCK_MONOTONIC ms after which waiting on the client fails (the request's `timeout`);
  // 0 = no deadline.
  int64_t deadline_ms = 0;
  std::atomic<int64_t>* heartbeat = nullptr;  // refreshed while waiting on the peer (sync)
  Waiter* waiter = nullptr;                   // null = poll_waiter()
  // What the socket does not take at once may wait in this queue, finished by the worker's
  // loop after the exchange (null: every write waits until the socket took it). A writer
  // waits while the queue holds more than output_buffer bytes in memory; one element may be
  // larger (borrowed from the response without a copy); files are never waited for.
  net::OutputQueue* output = nullptr;
  size_t output_buffer = 1 << 20;
  // The most unread body the worker drains after the response to keep the connection.
  uint64_t drain_limit = 64 * 1024;
  // Set (by a signal handler) when the worker must stop: responses framed after that say
  // "Connection: close" even if the request started before it.
  const volatile sig_atomic_t* stop_requested = nullptr;
  // Where the response head is serialised: a buffer the worker reuses for every exchange, so
  // a request allocates none (it must not be shared by two live exchanges); null = our own.
  std::string* head_storage = nullptr;
  // Where the body bytes read by the app and sent to the client are published as they move
  // (the worker's scoreboard slot: the control socket's `show requests`); null = nowhere.
  std::atomic<uint64_t>* bytes_read_progress = nullptr;
  std::atomic<uint64_t>* bytes_written_progress = nullptr;
};

// How the response body is delimited and whether the connection is reused: decided by the
// http layer's ResponseHeadBuilder (http/response.h).
using Framing = http::ResponseFraming;

// TCP_CORK on/off (no-op on unix sockets): used around sendfile responses.
void set_cork(int fd, bool on);

class Exchange {
 public:
  // `input` holds bytes read from the socket and not parsed yet (the parser has seen the head;
  // body bytes the loop already decoded are given with preload_body).
  Exchange(const net::Transport& transport, http::RequestParser& parser, ReadBuffer& input, const ExchangeOptions& options);

  int fd() const { return transport_.fd; }
  const net::Transport& transport() const { return transport_; }
  const http::RequestHead& head() const { return head_override_ ? *head_override_ : parser_.head(); }
  // Serve `head` instead of the parser's (a copy without some fields: forwarder_headers);
  // it must outlive the exchange.
  void use_head(const http::RequestHead* head) { head_override_ = head; }

  // ---- request body ----
  // Body bytes the worker's loop decoded before the app was called (swapped in); `complete`
  // when that is the whole body. A spooled body (larger than the memory buffer) comes as a
  // file read from its start.
  void preload_body(std::string& body, bool complete);
  void preload_body_file(UniqueFd file);
  // Blocks until `want` decoded bytes are available, the body ended, or an error. false = error.
  bool fill(size_t want);
  // Blocks until available() holds a '\n', `limit` bytes, or the body ended. false = error.
  bool fill_line(size_t limit);
  std::string_view available() const { return std::string_view(body_).substr(body_position_); }
  void take(size_t count);
  bool body_complete() const { return body_complete_; }
  const std::string& body_error() const { return body_error_; }
  // The parser's status (400, 413, …) when the body was refused as malformed, else 0.
  int body_error_status() const { return body_error_.empty() || body_timed_out_ ? 0 : parser_.error_status(); }
  bool body_timed_out() const { return body_timed_out_; }  // the client stalled (→ 408)
  // Whether the connection may serve another request after this response: not after a stop
  // request, nor when the client sent Expect: 100-continue, was never told to continue and
  // the body is unread (it may or may not send it: RFC 9110 §10.1.1) — issue 10, item 7.
  bool may_keep_alive() const;

  // ---- response ----
  std::string& head_buffer() { return head_; }  // the handler serialises the head here
  void set_framing(const Framing& framing) { framing_ = framing; }
  const Framing& framing() const { return framing_; }
  bool stop_requested() const { return options_.stop_requested && *options_.stop_requested; }
  bool head_sent() const { return head_sent_; }
  bool response_started() const { return response_started_; }
  void mark_response_started() { response_started_ = true; }
  uint64_t body_bytes_sent() const { return body_sent_; }

  // Each returns 0 or -errno (-ETIMEDOUT); on error the connection must be closed.
  // `owner`, when given, keeps `data` alive: if the exchange keeps the bytes queued (see
  // ExchangeOptions::output) it keeps the owner and owner_kept() is true, else the caller
  // still owns it.
  int write_body(const char* data, size_t size, void* owner = nullptr);
  bool owner_kept() const { return owner_kept_; }
  // A file range (sendfile). With an output queue, a full socket leaves the rest in the queue.
  int send_file(int file_fd, off_t offset, uint64_t count);
  int finish();  // head if still pending, last-chunk for chunked
  // True when the body written so far matches the declared framing (else: close).
  bool body_framing_complete() const;

  int write_raw(std::string_view bytes);  // e.g. an error page (waits until written)

  // ---- use from Python (wsgi.input, write()) ----
  // Calls from Python claim the exchange (GIL held) so that the request cannot end under a
  // thread that is still inside it (issue 10, item 3). end() — when the request is over —
  // makes every wait in progress give up, then waits (GIL released by the caller) until no
  // call is inside.
  bool claim();    // false: another thread is inside the exchange
  void release();  // after claim()
  void end();
  bool ended() const { return ended_.load(std::memory_order_acquire); }
  bool in_use() const { return calls_.load(std::memory_order_acquire) > 0; }
  // The thread waiting on the client right now (for a watchdog that must not count it).
  bool waiting() const { return waiting_.load(std::memory_order_relaxed); }

 private:
  bool pump();  // one step: feed buffered bytes to the parser, or read more from the socket
  int wait(bool for_write);
  int flush_head_with(const char* data, size_t size, void* owner);
  int write_iov(struct iovec* iov, int count, int owned, void* owner);  // owner: of iov[owned]
  int queue_file(int file_fd, off_t offset, uint64_t count);
  int drain_output();  // waits until the queue holds at most output_buffer bytes in memory
  void add_sent(uint64_t count) {
    body_sent_ += count;
    if (options_.bytes_written_progress) options_.bytes_written_progress->store(body_sent_, std::memory_order_relaxed);
  }

  net::Transport transport_;
  http::RequestParser& parser_;
  const http::RequestHead* head_override_ = nullptr;
  ReadBuffer& input_;
  ExchangeOptions options_;

  std::string body_;
  size_t body_position_ = 0;
  uint64_t taken_ = 0;  // body bytes handed to the app
  bool body_complete_ = false;
  bool continue_sent_ = false;
  bool body_timed_out_ = false;
  UniqueFd body_file_;  // a spooled body still being read
  std::string body_error_;

  std::string own_head_;
  std::string& head_;  // options_.head_storage or own_head_
  Framing framing_;
  bool head_sent_ = false;
  bool response_started_ = false;
  bool owner_kept_ = false;
  uint64_t body_sent_ = 0;

  std::atomic<bool> ended_{false};
  std::atomic<int> calls_{0};
  std::atomic<bool> waiting_{false};
};

}  // namespace narwhal::wsgi
