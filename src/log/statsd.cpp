#include "log/statsd.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>

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
    std::string path = text.substr(text.rfind("unix://", 0) == 0 ? 7 : 5);
    sockaddr_un target{};
    target.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof target.sun_path) {
      *error = "statsd_host: invalid unix socket path " + path;
      return false;
    }
    std::memcpy(target.sun_path, path.c_str(), path.size() + 1);
    socket.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!socket || ::connect(socket.get(), reinterpret_cast<sockaddr*>(&target), sizeof target) != 0) {
      *error = "statsd_host: cannot connect to " + path + ": " + std::strerror(errno);
      return false;
    }
  } else {
    std::string host = text, port = "8125";
    if (!text.empty() && text.front() == '[') {  // [v6]:port
      const size_t close = text.find(']');
      host = text.substr(1, close == std::string::npos ? std::string::npos : close - 1);
      if (close != std::string::npos && close + 1 < text.size() && text[close + 1] == ':') port = text.substr(close + 2);
    } else if (const size_t colon = text.rfind(':'); colon != std::string::npos && text.find(':') == colon) {
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* found = nullptr;
    if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
      *error = "statsd_host: cannot resolve " + text + ": " + ::gai_strerror(rc);
      return false;
    }
    for (addrinfo* candidate = found; candidate; candidate = candidate->ai_next) {
      socket.reset(::socket(candidate->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (socket && ::connect(socket.get(), candidate->ai_addr, candidate->ai_addrlen) == 0) break;
      socket.reset();
    }
    ::freeaddrinfo(found);
    if (!socket) {
      *error = "statsd_host: cannot reach " + text + ": " + std::strerror(errno);
      return false;
    }
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
