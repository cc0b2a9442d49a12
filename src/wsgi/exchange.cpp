#include "wsgi/exchange.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstdio>

#include "base/clock.h"
#include "base/io.h"

namespace narwhal::wsgi {
namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace

Exchange::Exchange(int fd, http::RequestParser& parser, ReadBuffer& input,
                   const ExchangeOptions& options)
    : fd_(fd), parser_(parser), input_(input), options_(options),
      head_(options.head_storage ? *options.head_storage : own_head_) {
  head_.clear();  // a reused buffer still holds the previous response's head
}

// Waits for the socket in slices of at most one second so the heartbeat stays fresh while a
// slow peer is being served; gives up after the read/write timeout without progress.
int Exchange::wait(bool for_write) {
  int64_t deadline = clock::monotonic_ms() + (for_write ? options_.write_timeout_ms : options_.read_timeout_ms);
  for (;;) {
    if (options_.heartbeat) options_.heartbeat->store(clock::monotonic_ms(), std::memory_order_relaxed);
    int64_t left = deadline - clock::monotonic_ms();
    if (left <= 0) return -ETIMEDOUT;
    int slice = static_cast<int>(std::min<int64_t>(left, 1000));
    int ready = for_write ? io::wait_writable(fd_, slice) : io::wait_readable(fd_, slice);
    if (ready != 0) return ready < 0 ? ready : 0;
  }
}

bool Exchange::pump() {
  size_t consumed = 0;
  http::ParseResult result = parser_.feed(input_.data(), input_.size(), &consumed, &body_);
  input_.consume(consumed);
  if (result == http::ParseResult::MessageComplete) {
    body_complete_ = true;
    return true;
  }
  if (result == http::ParseResult::Error) {
    body_error_ = "invalid request body: " + std::string(parser_.error_reason());
    return false;
  }
  if (consumed > 0 || result == http::ParseResult::HeadComplete) return true;

  // The parser wants more bytes than we hold. RFC 9110 §10.1.1: send 100 Continue only now,
  // when the application actually reads a body the client is holding back.
  if (head().expect_continue && !continue_sent_ && !response_started_) {
    continue_sent_ = true;
    if (write_raw(kContinue) != 0) {
      body_error_ = "client disconnected";
      return false;
    }
  }
  for (;;) {
    ssize_t n = io::read_some(fd_, input_.write_position(), input_.writable());
    if (n > 0) {
      input_.commit(static_cast<size_t>(n));
      return true;
    }
    if (n == 0) {
      if (parser_.finish() == http::ParseResult::MessageComplete) {
        body_complete_ = true;
        return true;
      }
      body_error_ = "client disconnected before the request body was complete";
      return false;
    }
    if (n != io::kWouldBlock) {
      body_error_ = "error reading the request body";
      return false;
    }
    int ready = wait(false);
    if (ready == -ETIMEDOUT) {
      body_error_ = "timed out reading the request body";
      return false;
    }
    if (ready < 0) {
      body_error_ = "error waiting for the request body";
      return false;
    }
  }
}

bool Exchange::fill(size_t want) {
  if (!body_error_.empty()) return false;
  while (!body_complete_ && available().size() < want) {
    if (!pump()) return false;
  }
  return true;
}

bool Exchange::fill_line(size_t limit) {
  if (!body_error_.empty()) return false;
  size_t searched = 0;
  for (;;) {
    std::string_view data = available();
    size_t end = std::min(data.size(), limit);
    if (data.substr(searched, end - searched).find('\n') != std::string_view::npos) return true;
    if (data.size() >= limit || body_complete_) return true;
    searched = end;
    if (!pump()) return false;
  }
}

void Exchange::take(size_t count) {
  body_position_ += count;
  if (body_position_ == body_.size()) {
    body_.clear();
    body_position_ = 0;
  } else if (body_position_ > 65536 && body_position_ * 2 > body_.size()) {
    body_.erase(0, body_position_);
    body_position_ = 0;
  }
}

bool Exchange::discard_rest_of_body(size_t max_bytes) {
  if (!body_error_.empty()) return false;
  size_t discarded = 0;
  // Never send an unrequested 100 Continue just to drain: the client may not have sent a body.
  if (head().expect_continue && !continue_sent_) continue_sent_ = true;
  while (!body_complete_) {
    discarded += available().size();
    take(available().size());
    if (discarded > max_bytes) return false;
    if (head().expect_continue && input_.empty() && !body_complete_) return false;
    if (!pump()) return false;
  }
  take(available().size());
  return true;
}

int Exchange::write_iov(struct iovec* iov, int count) {
  while (count > 0) {
    ssize_t n = io::writev_some(fd_, iov, count);
    if (n == io::kWouldBlock) {
      if (int ready = wait(true); ready != 0) return ready;
      continue;
    }
    if (n < 0) return static_cast<int>(n);
    io::advance(iov, count, static_cast<size_t>(n));
  }
  return 0;
}

int Exchange::write_raw(std::string_view bytes) {
  struct iovec iov = {const_cast<char*>(bytes.data()), bytes.size()};
  return write_iov(&iov, 1);
}

int Exchange::flush_head_with(const char* data, size_t size) {
  char chunk_header[24];
  struct iovec iov[4];
  int count = 0;
  if (!head_sent_) {
    iov[count++] = {head_.data(), head_.size()};
    head_sent_ = true;
    response_started_ = true;
  }
  if (size > 0) {
    if (framing_.chunked) {
      int n = std::snprintf(chunk_header, sizeof chunk_header, "%zx\r\n", size);
      iov[count++] = {chunk_header, static_cast<size_t>(n)};
      iov[count++] = {const_cast<char*>(data), size};
      iov[count++] = {const_cast<char*>("\r\n"), 2};
    } else {
      iov[count++] = {const_cast<char*>(data), size};
    }
  }
  if (count == 0) return 0;
  return write_iov(iov, count);
}

int Exchange::write_body(const char* data, size_t size) {
  if (framing_.no_body) size = 0;
  if (framing_.content_length >= 0) {
    // Never send more than the declared Content-Length (the rest would be a smuggled response).
    uint64_t room = static_cast<uint64_t>(framing_.content_length) - std::min<uint64_t>(body_sent_, framing_.content_length);
    size = std::min<uint64_t>(size, room);
  }
  if (size == 0 && head_sent_) return 0;
  body_sent_ += size;
  return flush_head_with(data, size);
}

int Exchange::send_file(int file_fd, off_t offset, uint64_t count) {
  if (framing_.no_body) return flush_head_with(nullptr, 0);
  if (framing_.content_length >= 0) {
    uint64_t room = static_cast<uint64_t>(framing_.content_length) - std::min<uint64_t>(body_sent_, framing_.content_length);
    count = std::min(count, room);
  }
  if (framing_.chunked) {
    char chunk_header[24];
    int n = std::snprintf(chunk_header, sizeof chunk_header, "%llx\r\n", static_cast<unsigned long long>(count));
    if (count == 0) return flush_head_with(nullptr, 0);
    if (!head_sent_) head_.append(chunk_header, static_cast<size_t>(n));
    else if (int rc = write_raw(std::string_view(chunk_header, static_cast<size_t>(n))); rc != 0) return rc;
  }
  // TCP_CORK while the head and the file go out: full-sized segments instead of one per page
  // of the page cache (TCP_NODELAY is on), like nginx's tcp_nopush. Lifted when the file is
  // sent (here, or by the worker for a deferred rest).
  set_cork(fd_, true);
  if (int rc = flush_head_with(nullptr, 0); rc != 0) return rc;
  uint64_t left = count;
  while (left > 0) {
    ssize_t n = io::sendfile_some(fd_, file_fd, &offset, static_cast<size_t>(std::min<uint64_t>(left, 1u << 30)));
    if (n > 0) {
      left -= static_cast<uint64_t>(n);
      body_sent_ += static_cast<uint64_t>(n);
      continue;
    }
    if (n == 0) break;  // file shorter than expected: framing check will close the connection
    if (n != io::kWouldBlock) return static_cast<int>(n);
    if (options_.defer_sendfile && !framing_.chunked) {
      int copy = fcntl(file_fd, F_DUPFD_CLOEXEC, 0);
      if (copy >= 0) {
        pending_file_.file.reset(copy);
        pending_file_.offset = offset;
        pending_file_.remaining = left;
        body_sent_ += left;
        return 0;  // still corked: the worker uncorks when the rest is out
      }
    }
    if (int ready = wait(true); ready != 0) return ready;
  }
  set_cork(fd_, false);
  if (framing_.chunked) return write_raw("\r\n");
  return 0;
}

void set_cork(int fd, bool on) {
  int value = on ? 1 : 0;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_CORK, &value, sizeof value);  // EOPNOTSUPP on unix sockets
}

int Exchange::finish() {
  if (framing_.chunked && !framing_.no_body) {
    if (!head_sent_) {
      head_.append(kLastChunk);
      return flush_head_with(nullptr, 0);
    }
    return write_raw(kLastChunk);
  }
  return flush_head_with(nullptr, 0);
}

bool Exchange::body_framing_complete() const {
  if (framing_.no_body || framing_.chunked) return true;
  if (framing_.content_length >= 0) return body_sent_ == static_cast<uint64_t>(framing_.content_length);
  return false;  // close-delimited
}

}  // namespace narwhal::wsgi
