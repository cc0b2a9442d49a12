#include "base/io.h"

#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "base/clock.h"
#include "base/unique_fd.h"

namespace narwhal {
namespace {

struct SocketPair {
  SocketPair() {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    a.reset(fds[0]);
    b.reset(fds[1]);
    io::set_nonblocking(a.get(), true);
    io::set_nonblocking(b.get(), true);
  }
  UniqueFd a, b;
};

TEST(UniqueFd, ClosesOnceAndMoves) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  UniqueFd read_end(fds[0]);
  {
    UniqueFd write_end(fds[1]);
    UniqueFd moved = std::move(write_end);
    EXPECT_FALSE(write_end.valid());
    EXPECT_TRUE(moved.valid());
  }
  // The write end is closed: reading gives EOF rather than blocking.
  char byte;
  EXPECT_EQ(read(read_end.get(), &byte, 1), 0);
}

TEST(Io, ReadSomeReportsWouldBlockAndEof) {
  SocketPair pair;
  char buffer[8];
  EXPECT_EQ(io::read_some(pair.a.get(), buffer, sizeof buffer), io::kWouldBlock);
  ASSERT_EQ(io::write_some(pair.b.get(), "hi", 2), 2);
  EXPECT_EQ(io::read_some(pair.a.get(), buffer, sizeof buffer), 2);
  pair.b.reset();
  EXPECT_EQ(io::read_some(pair.a.get(), buffer, sizeof buffer), 0);
}

TEST(Io, WriteToClosedPeerIsAnErrorNotASignal) {
  SocketPair pair;
  pair.b.reset();
  EXPECT_EQ(io::write_some(pair.a.get(), "x", 1), -EPIPE);
}

TEST(Io, WaitReadableTimesOut) {
  SocketPair pair;
  EXPECT_EQ(io::wait_readable(pair.a.get(), 20), 0);
  ASSERT_EQ(io::write_some(pair.b.get(), "x", 1), 1);
  EXPECT_EQ(io::wait_readable(pair.a.get(), 1000), 1);
}

TEST(Io, WriteAllSendsEveryIovecAcrossPartialWrites) {
  SocketPair pair;
  int size = 4096;
  setsockopt(pair.a.get(), SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  std::string first(100000, 'x'), second = "tail";
  struct iovec iov[2] = {{first.data(), first.size()}, {second.data(), second.size()}};
  std::string received;
  // A reader drains concurrently so write_all has to wait for POLLOUT several times.
  pid_t child = fork();
  if (child == 0) {
    pair.a.reset();
    std::string got;
    char buffer[8192];
    for (;;) {
      io::wait_readable(pair.b.get(), 2000);
      ssize_t n = io::read_some(pair.b.get(), buffer, sizeof buffer);
      if (n <= 0 && n != io::kWouldBlock) break;
      if (n > 0) got.append(buffer, static_cast<size_t>(n));
    }
    _exit(got == first + second ? 0 : 1);
  }
  pair.b.reset();
  EXPECT_EQ(io::write_all(pair.a.get(), iov, 2, 2000), 0);
  pair.a.reset();
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(Io, WriteAllTimesOutWhenThePeerDoesNotRead) {
  SocketPair pair;
  std::string big(8 << 20, 'x');
  struct iovec iov = {big.data(), big.size()};
  EXPECT_EQ(io::write_all(pair.a.get(), &iov, 1, 50), -ETIMEDOUT);
}

// SO_TIMESTAMP set on a listener is inherited by the accepted socket: a read says when the
// kernel received its bytes, even when they waited unread (queue time, docs/metrics.md).
TEST(Io, ReadSomeStampedTellsWhenTheBytesArrived) {
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
  ASSERT_EQ(::listen(listener.get(), 4), 0);
  ASSERT_TRUE(io::enable_receive_stamps(listener.get()));
  // The first SO_TIMESTAMP in the system turns the kernel's packet stamping on through deferred
  // work (net_enable_timestamp): packets in the next moments may carry no stamp (the reader
  // then falls back to its own clock). Let it settle.
  ::usleep(100 * 1000);
  UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  const int64_t sent_us = clock::realtime_us();
  ASSERT_EQ(::send(client.get(), "GET /", 5, 0), 5);
  ::usleep(200 * 1000);  // the bytes wait in the kernel, unaccepted
  UniqueFd accepted(::accept(listener.get(), nullptr, nullptr));
  char buffer[16];
  int64_t stamp_us = 0;
  ASSERT_EQ(io::read_some_stamped(accepted.get(), buffer, sizeof buffer, &stamp_us), 5);
  EXPECT_GE(stamp_us, sent_us - 1000);
  EXPECT_LT(stamp_us, sent_us + 100 * 1000);  // before the 200 ms wait, not at the read
  client.reset();
  EXPECT_EQ(io::read_some_stamped(accepted.get(), buffer, sizeof buffer, &stamp_us), 0);  // EOF
}

}  // namespace
}  // namespace narwhal
