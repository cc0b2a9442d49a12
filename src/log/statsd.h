// StatsD metrics with gunicorn's names and types (gunicorn/instrument/statsd.py): the workers
// count requests, their status and duration, the master the number of workers (and the listen
// backlog), every process its warning/error/critical/exception log lines. Lines are buffered
// and sent as newline-separated datagrams (StatsD and DogStatsD accept several metrics per
// packet) when the buffer is full or the loop flushes at the end of its turn — not a syscall
// per metric. Sending never blocks: a full socket buffer drops the packet.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <string_view>

#include "base/unique_fd.h"

namespace narwhal::log {

class Statsd {
 public:
  // address: "HOST:PORT", "HOST" (port 8125), "[V6]:PORT", "unix://PATH" or "unix:PATH" (a
  // datagram socket). prefix: gunicorn's statsd_prefix (a '.' is appended when missing).
  // tags: dogstatsd_tags, appended to every metric as "|#tags". False with *error set.
  bool open(std::string_view address, std::string_view prefix, std::string_view tags, std::string* error);
  bool enabled() const { return socket_.valid(); }

  void increment(std::string_view name, long long value = 1) { add(name, std::to_string(value), "c"); }
  void gauge(std::string_view name, long long value) { add(name, std::to_string(value), "g"); }
  void histogram_ms(std::string_view name, double milliseconds);  // "|ms", gunicorn's histogram
  void histogram(std::string_view name, long long value) { add(name, std::to_string(value), "ms"); }

  void flush();               // sends what is buffered (cheap when nothing is)
  void discard_pending();     // a forked child drops what its parent had buffered

  // The datagram size the buffer is flushed at (below a 1500-byte MTU with IP/UDP headers).
  static constexpr size_t kPacketSize = 1400;

 private:
  void add(std::string_view name, std::string_view value, std::string_view type);
  void send_locked();

  UniqueFd socket_;
  std::string prefix_;
  std::string tags_;
  std::mutex mutex_;  // gthread's threads report requests concurrently
  std::string buffer_;
  std::atomic<bool> pending_{false};
};

}  // namespace narwhal::log
