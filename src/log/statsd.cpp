#include "log/statsd.h"

#include "log/socket_target.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>

namespace narwhal::log {
namespace {

bool all_digits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

bool Statsd::open(std::string_view address, std::string_view prefix, std::string_view tags, std::string* error) {
  UniqueFd socket;
  std::string text(address);
  const bool unix_path = text.rfind("unix:", 0) == 0 && !all_digits(std::string_view(text).substr(5));
  if (unix_path) {
    const std::string path = text.substr(text.rfind("unix://", 0) == 0 ? 7 : 5);
    socket = connect_unix(path, SOCK_DGRAM | SOCK_NONBLOCK, error);
  } else {
    const HostPort target = split_host_port(text, "8125");
    socket = connect_inet(target.host, target.port, SOCK_DGRAM | SOCK_NONBLOCK, error);
  }
  if (!socket) {
    *error = "statsd_host " + text + ": " + *error;
    return false;
  }
  socket_ = std::move(socket);
  // gunicorn: re.sub(r"^(.+[^.]+)\.*$", "\g<1>.", prefix) — one trailing dot when not empty.
  prefix_.assign(prefix);
  while (!prefix_.empty() && prefix_.back() == '.') prefix_.pop_back();
  if (!prefix_.empty()) prefix_.push_back('.');
  tags_.assign(tags);
  return true;
}

void Statsd::histogram_ms(std::string_view name, double milliseconds) {
  char value[32];
  std::snprintf(value, sizeof value, "%.3f", milliseconds);
  add(name, value, "ms");
}

void Statsd::add(std::string_view name, std::string_view value, std::string_view type) {
  if (!socket_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  const size_t line = prefix_.size() + name.size() + value.size() + type.size() + tags_.size() + 5;
  if (!buffer_.empty() && buffer_.size() + line > kPacketSize) send_locked();
  if (!buffer_.empty()) buffer_.push_back('\n');
  buffer_.append(prefix_).append(name).append(":").append(value).append("|").append(type);
  if (!tags_.empty()) buffer_.append("|#").append(tags_);
  pending_.store(true, std::memory_order_release);
}

void Statsd::flush() {
  if (!pending_.load(std::memory_order_acquire)) return;
  std::lock_guard<std::mutex> lock(mutex_);
  send_locked();
}

void Statsd::discard_pending() {
  // Right after fork the child has one thread; a master thread that held the lock at fork time
  // (a --reload poll thread logging) does not exist here: the lock is made anew, not waited for.
  new (&mutex_) std::mutex();
  buffer_.clear();
  pending_.store(false, std::memory_order_release);
}

void Statsd::send_locked() {
  if (!buffer_.empty()) {
    // Non-blocking; a lost datagram is a lost sample (UDP), never a stalled worker.
    (void)!::send(socket_.get(), buffer_.data(), buffer_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    buffer_.clear();
  }
  pending_.store(false, std::memory_order_release);
}

}  // namespace narwhal::log
