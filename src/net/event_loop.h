// A thin epoll wrapper for one worker's loop. Each fd is registered with a user value (a u64
// or a pointer) that comes back with its ready events. Errors are returned as -errno.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <span>
#include <vector>

#include "base/unique_fd.h"

namespace narwhal::net {

class EventLoop {
 public:
  static constexpr uint32_t kReadable = EPOLLIN;
  static constexpr uint32_t kWritable = EPOLLOUT;
  static constexpr uint32_t kEdgeTriggered = EPOLLET;
  static constexpr uint32_t kOneShot = EPOLLONESHOT;
  static constexpr uint32_t kExclusive = EPOLLEXCLUSIVE;  // add() only: wake one waiter per event
  static constexpr uint32_t kHangup = EPOLLHUP | EPOLLRDHUP;
  static constexpr uint32_t kError = EPOLLERR;

  struct Event {
    uint32_t events = 0;  // EPOLLIN | EPOLLOUT | EPOLLHUP | EPOLLERR ...
    uint64_t data = 0;    // the value given to add()/modify()
    void* pointer() const { return reinterpret_cast<void*>(static_cast<uintptr_t>(data)); }
  };

  explicit EventLoop(int max_events = 256);
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  bool valid() const { return epoll_.valid(); }  // false if epoll_create1 failed
  int fd() const { return epoll_.get(); }

  int add(int fd, uint32_t events, uint64_t data);
  int add(int fd, uint32_t events, void* pointer) { return add(fd, events, to_data(pointer)); }
  int modify(int fd, uint32_t events, uint64_t data);
  int modify(int fd, uint32_t events, void* pointer) { return modify(fd, events, to_data(pointer)); }
  int remove(int fd);

  // Waits up to timeout_ms (-1 = forever) and returns the number of ready events (0 on timeout
  // or when a signal interrupted the wait, so the caller can look at its signal flags), or
  // -errno. The events are in ready(), valid until the next wait().
  int wait(int timeout_ms);
  std::span<const Event> ready() const { return {ready_.data(), ready_count_}; }

 private:
  static uint64_t to_data(void* pointer) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(pointer)); }

  UniqueFd epoll_;
  std::vector<epoll_event> raw_;
  std::vector<Event> ready_;
  size_t ready_count_ = 0;
};

}  // namespace narwhal::net
