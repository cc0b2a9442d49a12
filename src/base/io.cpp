#include "base/io.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

namespace narwhal::io {
namespace {

ssize_t result_of(ssize_t n) {
  if (n >= 0) return n;
  if (errno == EAGAIN || errno == EWOULDBLOCK) return kWouldBlock;
  return -errno;
}

int wait_for(int fd, short events, int timeout_ms) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    struct pollfd pfd = {fd, events, 0};
    int remaining = timeout_ms;
    if (timeout_ms >= 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      remaining = left > 0 ? static_cast<int>(left) : 0;
    }
    int rc = ::poll(&pfd, 1, remaining);
    if (rc > 0) return 1;
    if (rc == 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

}  // namespace

ssize_t read_some(int fd, void* buffer, size_t size) {
  for (;;) {
    ssize_t n = ::read(fd, buffer, size);
    if (n < 0 && errno == EINTR) continue;
    return result_of(n);
  }
}

ssize_t read_some_stamped(int fd, void* buffer, size_t size, int64_t* stamp_us) {
  *stamp_us = 0;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timeval))];
  iovec iov{buffer, size};
  for (;;) {
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd, &message, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) {
      for (cmsghdr* header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_TIMESTAMP) continue;
        timeval when;
        std::memcpy(&when, CMSG_DATA(header), sizeof when);
        *stamp_us = static_cast<int64_t>(when.tv_sec) * 1000000 + when.tv_usec;
      }
    }
    return result_of(n);
  }
}

bool enable_receive_stamps(int fd) {
  const int on = 1;
  return ::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMP, &on, sizeof on) == 0;
}

ssize_t write_some(int fd, const void* data, size_t size) {
  for (;;) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    return result_of(n);
  }
}

ssize_t writev_some(int fd, const struct iovec* iov, int count) {
  for (;;) {
    ssize_t n = ::writev(fd, iov, count);
    if (n < 0 && errno == EINTR) continue;
    return result_of(n);
  }
}

ssize_t sendfile_some(int out_fd, int in_fd, off_t* offset, size_t count) {
  for (;;) {
    ssize_t n = ::sendfile(out_fd, in_fd, offset, count);
    if (n < 0 && errno == EINTR) continue;
    return result_of(n);
  }
}

int wait_readable(int fd, int timeout_ms) { return wait_for(fd, POLLIN, timeout_ms); }
int wait_writable(int fd, int timeout_ms) { return wait_for(fd, POLLOUT, timeout_ms); }

int write_all(int fd, struct iovec* iov, int count, int timeout_ms) {
  while (count > 0) {
    if (iov->iov_len == 0) {
      ++iov;
      --count;
      continue;
    }
    ssize_t n = writev_some(fd, iov, count);
    if (n == kWouldBlock) {
      int ready = wait_writable(fd, timeout_ms);
      if (ready == 0) return -ETIMEDOUT;
      if (ready < 0) return ready;
      continue;
    }
    if (n < 0) return static_cast<int>(n);
    advance(iov, count, static_cast<size_t>(n));
  }
  return 0;
}

void advance(struct iovec*& iov, int& count, size_t moved) {
  while (count > 0 && moved >= iov->iov_len) {
    moved -= iov->iov_len;
    ++iov;
    --count;
  }
  if (count > 0) {
    iov->iov_base = static_cast<char*>(iov->iov_base) + moved;
    iov->iov_len -= moved;
  }
}

bool set_nonblocking(int fd, bool on) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return false;
  flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  return ::fcntl(fd, F_SETFL, flags) == 0;
}

bool set_cloexec(int fd, bool on) {
  int flags = ::fcntl(fd, F_GETFD);
  if (flags < 0) return false;
  flags = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
  return ::fcntl(fd, F_SETFD, flags) == 0;
}

}  // namespace narwhal::io
