#include "wsgi/exchange.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <thread>

#include "base/clock.h"
#include "base/io.h"

namespace narwhal::wsgi {
namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view kLastChunk = "0\r\n\r\n";
// A wait on the client is cut in slices this long, so that end() (the request is over: a
// thread still inside must give up) and the heartbeat are noticed promptly.
constexpr int kWaitSliceMs = 200;
constexpr size_t kSpoolReadSize = 64 * 1024;

class PollWaiter final : public Waiter {
 public:
  int wait(int fd, bool for_write, int timeout_ms) override {
    return for_write ? io::wait_writable(fd, timeout_ms) : io::wait_readable(fd, timeout_ms);
  }
  void pause(int ms) override { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }
};

}  // namespace

Waiter& poll_waiter() {
  static PollWaiter waiter;
  return waiter;
}

Exchange::Exchange(const net::Transport& transport, http::RequestParser& parser, ReadBuffer& input,
                   const ExchangeOptions& options)
    : transport_(transport), parser_(parser), input_(input), options_(options),
      head_(options.head_storage ? *options.head_storage : own_head_) {
  head_.clear();  // a reused buffer still holds the previous response's head
}

void Exchange::preload_body(std::string& body, bool complete) {
  body_.swap(body);
  body_position_ = 0;
  body_complete_ = complete;
}

void Exchange::preload_body_file(UniqueFd file) {
  body_file_ = std::move(file);
  body_complete_ = false;
}

bool Exchange::may_keep_alive() const {
  if (stop_requested()) return false;
  if (body_complete_ || parser_.message_complete()) return true;  // all of it received
  if (head().expect_continue && !continue_sent_) return false;
  // The worker drains at most drain_limit unread body bytes to reuse the connection: beyond
  // that (or an unread chunked body of unknown size) the response says Connection: close.
  if (!head().has_content_length) return false;
  const uint64_t received = taken_ + available().size();
  return head().content_length <= received + options_.drain_limit;
}

// Waits for the socket in slices so the heartbeat stays fresh while a slow peer is served and
// end() is noticed; gives up after the stall timeout without progress, or at the deadline.
int Exchange::wait(bool for_write) {
  Waiter& waiter = options_.waiter ? *options_.waiter : poll_waiter();
  int64_t now = clock::monotonic_ms();
  int64_t deadline = now + (for_write ? options_.write_timeout_ms : options_.read_timeout_ms);
  if (options_.deadline_ms > 0) deadline = std::min(deadline, options_.deadline_ms);
  waiting_.store(true, std::memory_order_relaxed);
  int result;
  for (;;) {
    if (ended()) {
      result = -ECANCELED;
      break;
    }
    if (options_.heartbeat) options_.heartbeat->store(now, std::memory_order_relaxed);
    int64_t left = deadline - now;
    if (left <= 0) {
      result = -ETIMEDOUT;
      break;
    }
    int ready = waiter.wait(transport_.fd, for_write, static_cast<int>(std::min<int64_t>(left, kWaitSliceMs)));
    if (ready != 0) {
      result = ready < 0 ? ready : 0;
      break;
    }
    now = clock::monotonic_ms();
  }
  waiting_.store(false, std::memory_order_relaxed);
  return result;
}

bool Exchange::pump() {
  if (body_file_) {
    size_t old = body_.size();
    body_.resize(old + kSpoolReadSize);
    ssize_t n = io::read_some(body_file_.get(), body_.data() + old, kSpoolReadSize);
    body_.resize(old + static_cast<size_t>(std::max<ssize_t>(n, 0)));
    if (n < 0) {
      body_error_ = "error reading the spooled request body";
      return false;
    }
    if (n == 0) {
      body_file_.reset();
      body_complete_ = true;
    }
    return true;
  }
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
    ssize_t n = transport_.read(input_.write_position(), input_.writable());
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
    int ready = wait(transport_.want_write());  // TLS: a read may wait to write first
    if (ready == -ETIMEDOUT) {
      body_timed_out_ = true;
      body_error_ = "timed out reading the request body";
      return false;
    }
    if (ready == -ECANCELED) {
      body_error_ = "request finished";
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
  taken_ += count;
  if (options_.bytes_read_progress) options_.bytes_read_progress->store(taken_, std::memory_order_relaxed);
  body_position_ += count;
  if (body_position_ == body_.size()) {
    body_.clear();
    body_position_ = 0;
  } else if (body_position_ > 65536 && body_position_ * 2 > body_.size()) {
    body_.erase(0, body_position_);
    body_position_ = 0;
  }
}

// Waits until the queue holds at most output_buffer bytes in memory.
int Exchange::drain_output() {
  net::OutputQueue& out = *options_.output;
  while (out.memory_bytes() > options_.output_buffer) {
    net::OutputQueue::Flush flushed = out.flush(transport_);
    if (flushed == net::OutputQueue::Flush::Done) break;
    if (flushed == net::OutputQueue::Flush::Error) return -EPIPE;
    if (int ready = wait(true); ready != 0) return ready;
  }
  return 0;
}

// Writes the iovecs in one writev when the socket takes them (the usual case: head and body in
// one system call). With an output queue, what it does not take is queued: iovecs[owned], the
// app's body bytes, borrowed without a copy (its owner kept), the rest copied.
int Exchange::write_iov(struct iovec* iov, int count, int owned, void* owner) {
  if (count == 0) return 0;
  net::OutputQueue* out = options_.output;
  struct iovec* const first = iov;
  if (out && !out->empty() && out->flush(transport_) == net::OutputQueue::Flush::Error) return -EPIPE;
  if (!out || out->empty()) {
    while (count > 0) {
      ssize_t n = transport_.writev(iov, count);
      if (n == io::kWouldBlock) {
        if (out) break;  // the rest goes into the queue
        if (int ready = wait(true); ready != 0) return ready;
        continue;
      }
      if (n < 0) return static_cast<int>(n);
      io::advance(iov, count, static_cast<size_t>(n));
    }
    if (count == 0) return 0;
  }
  for (int i = 0; i < count; ++i) {
    const char* base = static_cast<const char*>(iov[i].iov_base);
    if (iov[i].iov_len == 0) continue;
    if (owner && &iov[i] == first + owned) {
      // The body bytes themselves (or their unsent tail): no copy, the owner keeps them alive.
      out->push_borrowed(base, iov[i].iov_len, owner);
      owner_kept_ = true;
    } else {
      out->push_copy(std::string_view(base, iov[i].iov_len));
    }
  }
  return 0;
}

int Exchange::write_raw(std::string_view bytes) {
  struct iovec iov = {const_cast<char*>(bytes.data()), bytes.size()};
  return write_iov(&iov, 1, -1, nullptr);
}

int Exchange::flush_head_with(const char* data, size_t size, void* owner) {
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
  // Only the body element may be borrowed: the framing around it is copied if queued.
  const int body_index = size == 0 ? -1 : framing_.chunked ? count - 2 : count - 1;
  return write_iov(iov, count, body_index, owner);
}

int Exchange::write_body(const char* data, size_t size, void* owner) {
  owner_kept_ = false;
  if (framing_.no_body) size = 0;
  if (framing_.content_length >= 0) {
    // Never send more than the declared Content-Length (the rest would be a smuggled response).
    uint64_t room = static_cast<uint64_t>(framing_.content_length) - std::min<uint64_t>(body_sent_, framing_.content_length);
    size = std::min<uint64_t>(size, room);
  }
  if (size == 0 && head_sent_) return 0;
  // The queue holds at most output_buffer bytes before another body element is added (a
  // generator writing to a client that does not read waits here, bounded by write_timeout);
  // one element may be larger (a 50 MiB bytes body is queued whole, without a copy, and the
  // writer is free). Framing bytes after it never wait.
  if (options_.output && !options_.output->empty()) {
    if (int rc = drain_output(); rc != 0) return rc;
  }
  add_sent(size);
  return flush_head_with(data, size, size > 0 ? owner : nullptr);
}

// The rest of a file response goes to the output queue (a dup of the app's descriptor: the app
// may close its file object), finished by the worker's loop: the app slot is free. The queue
// lifts TCP_CORK when it is out.
int Exchange::queue_file(int file_fd, off_t offset, uint64_t count) {
  net::OutputQueue& out = *options_.output;
  int copy = fcntl(file_fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return -errno;
  out.push_file(UniqueFd(copy), offset, count);
  out.set_corked(true);
  add_sent(count);
  if (framing_.chunked) out.push_copy("\r\n");
  return 0;
}

int Exchange::send_file(int file_fd, off_t offset, uint64_t count) {
  if (framing_.no_body) return flush_head_with(nullptr, 0, nullptr);
  if (framing_.content_length >= 0) {
    uint64_t room = static_cast<uint64_t>(framing_.content_length) - std::min<uint64_t>(body_sent_, framing_.content_length);
    count = std::min(count, room);
  }
  if (framing_.chunked) {
    if (count == 0) return flush_head_with(nullptr, 0, nullptr);
    char chunk_header[24];
    int n = std::snprintf(chunk_header, sizeof chunk_header, "%llx\r\n", static_cast<unsigned long long>(count));
    if (!head_sent_) head_.append(chunk_header, static_cast<size_t>(n));
    else if (int rc = write_raw(std::string_view(chunk_header, static_cast<size_t>(n))); rc != 0) return rc;
  }
  // TCP_CORK while the head and the file go out: full-sized segments instead of one per page
  // of the page cache (TCP_NODELAY is on), like nginx's tcp_nopush. Lifted when the file is
  // sent (here, or by the queue for a deferred rest).
  set_cork(transport_.fd, true);
  if (int rc = flush_head_with(nullptr, 0, nullptr); rc != 0) return rc;
  net::OutputQueue* out = options_.output;
  uint64_t left = count;
  while (left > 0) {
    // Behind queued bytes: the rest of the file goes to the queue too.
    if (out && !out->empty()) return queue_file(file_fd, offset, left);
    ssize_t n = transport_.send_file(file_fd, &offset, static_cast<size_t>(std::min<uint64_t>(left, 1u << 30)));
    if (n > 0) {
      left -= static_cast<uint64_t>(n);
      add_sent(static_cast<uint64_t>(n));
      continue;
    }
    if (n == 0) break;  // file shorter than expected: the framing check will close the connection
    if (n != io::kWouldBlock) return static_cast<int>(n);
    if (out) return queue_file(file_fd, offset, left);
    if (int ready = wait(true); ready != 0) return ready;
  }
  set_cork(transport_.fd, false);
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
      return flush_head_with(nullptr, 0, nullptr);
    }
    return write_raw(kLastChunk);
  }
  return flush_head_with(nullptr, 0, nullptr);
}

bool Exchange::body_framing_complete() const {
  if (framing_.no_body || framing_.chunked) return true;
  if (framing_.content_length >= 0) return body_sent_ == static_cast<uint64_t>(framing_.content_length);
  return false;  // close-delimited
}

bool Exchange::claim() {
  if (calls_.load(std::memory_order_relaxed) > 0) return false;
  calls_.fetch_add(1, std::memory_order_acq_rel);
  return true;
}

void Exchange::release() { calls_.fetch_sub(1, std::memory_order_acq_rel); }

void Exchange::end() {
  ended_.store(true, std::memory_order_release);
  // A thread still inside (a wait) notices within a slice and leaves.
  Waiter& waiter = options_.waiter ? *options_.waiter : poll_waiter();
  while (calls_.load(std::memory_order_acquire) > 0) waiter.pause(1);
}

}  // namespace narwhal::wsgi
