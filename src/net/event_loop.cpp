#include "net/event_loop.h"

#include <errno.h>

namespace narwhal::net {
namespace {

int control(int epoll_fd, int operation, int fd, uint32_t events, uint64_t data) {
  epoll_event event{};
  event.events = events;
  event.data.u64 = data;
  return ::epoll_ctl(epoll_fd, operation, fd, &event) == 0 ? 0 : -errno;
}

}  // namespace

EventLoop::EventLoop(int max_events)
    : epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      raw_(static_cast<size_t>(max_events > 0 ? max_events : 1)),
      ready_(raw_.size()) {}

int EventLoop::add(int fd, uint32_t events, uint64_t data) {
  return control(epoll_.get(), EPOLL_CTL_ADD, fd, events, data);
}

int EventLoop::modify(int fd, uint32_t events, uint64_t data) {
  return control(epoll_.get(), EPOLL_CTL_MOD, fd, events, data);
}

int EventLoop::remove(int fd) {
  epoll_event unused{};  // kernels before 2.6.9 require a non-null pointer
  return ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, &unused) == 0 ? 0 : -errno;
}

int EventLoop::wait(int timeout_ms) {
  ready_count_ = 0;
  const int count = ::epoll_wait(epoll_.get(), raw_.data(), static_cast<int>(raw_.size()), timeout_ms);
  if (count < 0) return errno == EINTR ? 0 : -errno;
  for (int i = 0; i < count; ++i) {
    ready_[i].events = raw_[i].events;
    ready_[i].data = raw_[i].data.u64;
  }
  ready_count_ = static_cast<size_t>(count);
  return count;
}

}  // namespace narwhal::net
