// One request/response on a connection, seen from the I/O side: pulls body bytes through the
// parser on demand (wsgi.input), and writes the response with the framing decided for it.
// Knows nothing about Python; callers release the GIL around the blocking calls.
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
#include "http/response.h"

namespace narwhal::wsgi {

// The rest of a sendfile response that the worker finishes from its event loop, so a slow
// reader of a large file does not hold the (sync) worker: see Exchange::send_file.
struct PendingFile {
  UniqueFd file;  // a dup of the app's file descriptor: the app may close its file object
  off_t offset = 0;
  uint64_t remaining = 0;
};

struct ExchangeOptions {
  int read_timeout_ms = 30000;                 // longest stall while reading the body
  int write_timeout_ms = 30000;                // longest stall while writing the response
  std::atomic<int64_t>* heartbeat = nullptr;   // refreshed while waiting on the peer
  bool defer_sendfile = false;  // may hand the rest of a file response to the worker's loop
  // Set (by a signal handler) when the worker must stop: responses framed after that say
  // "Connection: close" even if the request started before it.
  const volatile sig_atomic_t* stop_requested = nullptr;
  // Where the response head is serialised: a buffer the worker reuses for every exchange, so
  // a request allocates none (it must not be shared by two live exchanges); null = our own.
  std::string* head_storage = nullptr;
};

// How the response body is delimited and whether the connection is reused: decided by the
// http layer's ResponseHeadBuilder (http/response.h).
using Framing = http::ResponseFraming;

// TCP_CORK on/off (no-op on unix sockets): used around sendfile responses.
void set_cork(int fd, bool on);

class Exchange {
 public:
  Exchange(int fd, http::RequestParser& parser, ReadBuffer& input, const ExchangeOptions& options);

  int fd() const { return fd_; }
  const http::RequestHead& head() const { return head_override_ ? *head_override_ : parser_.head(); }
  // Serve `head` instead of the parser's (a copy without some fields: forwarder_headers);
  // it must outlive the exchange.
  void use_head(const http::RequestHead* head) { head_override_ = head; }

  // ---- request body ----
  // Blocks until `want` decoded bytes are available, the body ended, or an error. false = error.
  bool fill(size_t want);
  // Blocks until available() holds a '\n', `limit` bytes, or the body ended. false = error.
  bool fill_line(size_t limit);
  std::string_view available() const { return std::string_view(body_).substr(body_position_); }
  void take(size_t count);
  bool body_complete() const { return body_complete_; }
  const std::string& body_error() const { return body_error_; }
  // The parser's status (400, 413, …) when the body was refused as malformed, else 0.
  int body_error_status() const { return body_error_.empty() ? 0 : parser_.error_status(); }
  // After the response: reads and discards the rest of a small body so the connection can be
  // reused. false means the connection must be closed.
  bool discard_rest_of_body(size_t max_bytes);

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
  int write_body(const char* data, size_t size);  // sends the head first if still pending
  // With defer_sendfile, a full socket buffer ends the call with the rest in pending_file()
  // (non-chunked responses only); the framing then counts the file as sent.
  int send_file(int file_fd, off_t offset, uint64_t count);
  PendingFile* pending_file() { return pending_file_.file ? &pending_file_ : nullptr; }
  int finish();  // head if still pending, last-chunk for chunked
  // True when the body written so far matches the declared framing (else: close).
  bool body_framing_complete() const;

  int write_raw(std::string_view bytes);  // e.g. "HTTP/1.1 100 Continue\r\n\r\n" or an error page

 private:
  bool pump();  // one step: feed buffered bytes to the parser, or read more from the socket
  int wait(bool for_write);
  int flush_head_with(const char* data, size_t size);
  int write_iov(struct iovec* iov, int count);  // all of it, waiting (with heartbeat) as needed

  int fd_;
  http::RequestParser& parser_;
  const http::RequestHead* head_override_ = nullptr;
  ReadBuffer& input_;
  ExchangeOptions options_;

  std::string body_;
  size_t body_position_ = 0;
  bool body_complete_ = false;
  bool continue_sent_ = false;
  std::string body_error_;

  std::string own_head_;
  std::string& head_;  // options_.head_storage or own_head_
  Framing framing_;
  bool head_sent_ = false;
  bool response_started_ = false;
  uint64_t body_sent_ = 0;
  PendingFile pending_file_;
};

}  // namespace narwhal::wsgi
