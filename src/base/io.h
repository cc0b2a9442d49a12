// Syscall wrappers: the one place where EINTR is retried and EAGAIN is turned into a result.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

namespace narwhal::io {

// Result of a non-blocking read/write: bytes moved (>0), 0 for EOF (reads only),
// kWouldBlock for EAGAIN, or -errno.
inline constexpr ssize_t kWouldBlock = -1000000;

ssize_t read_some(int fd, void* buffer, size_t size);
// read_some on a socket with SO_TIMESTAMP on (enable_receive_stamps): *stamp_us gets when the
// kernel received the data read (CLOCK_REALTIME microseconds; TCP: its last segment), or 0
// when the kernel attached no time.
ssize_t read_some_stamped(int fd, void* buffer, size_t size, int64_t* stamp_us);
// SO_TIMESTAMP on a socket (a listener's accepted sockets inherit it). false: not supported.
bool enable_receive_stamps(int fd);
ssize_t write_some(int fd, const void* data, size_t size);
ssize_t writev_some(int fd, const struct iovec* iov, int count);
ssize_t sendfile_some(int out_fd, int in_fd, off_t* offset, size_t count);

// Waits until fd is readable/writable or timeout_ms passes (-1 = forever).
// Returns 1 when ready, 0 on timeout, -errno on error. EINTR is retried with the remaining time.
int wait_readable(int fd, int timeout_ms);
int wait_writable(int fd, int timeout_ms);

// After a writev that moved `moved` bytes: skips the iovecs fully written and trims the next.
void advance(struct iovec*& iov, int& count, size_t moved);

// Writes every byte of the iovec array, waiting for POLLOUT up to timeout_ms between progress.
// Returns 0 on success, -ETIMEDOUT, or -errno (e.g. -EPIPE when the peer is gone).
int write_all(int fd, struct iovec* iov, int count, int timeout_ms);

bool set_nonblocking(int fd, bool on);
bool set_cloexec(int fd, bool on);

}  // namespace narwhal::io
