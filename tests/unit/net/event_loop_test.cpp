#include "net/event_loop.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace narwhal::net {
namespace {

struct Pipe {
  UniqueFd read_end, write_end;
  Pipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    read_end.reset(fds[0]);
    write_end.reset(fds[1]);
  }
};

TEST(EventLoop, TimesOutWithNothingReady) {
  EventLoop loop;
  ASSERT_TRUE(loop.valid());
  Pipe pipe;
  ASSERT_EQ(loop.add(pipe.read_end.get(), EventLoop::kReadable, uint64_t{7}), 0);
  EXPECT_EQ(loop.wait(10), 0);
  EXPECT_TRUE(loop.ready().empty());
}

TEST(EventLoop, ReportsReadableWithUserValue) {
  EventLoop loop;
  Pipe a, b;
  int marker = 0;
  ASSERT_EQ(loop.add(a.read_end.get(), EventLoop::kReadable, uint64_t{42}), 0);
  ASSERT_EQ(loop.add(b.read_end.get(), EventLoop::kReadable, &marker), 0);
  ASSERT_EQ(::write(b.write_end.get(), "x", 1), 1);
  ASSERT_EQ(loop.wait(1000), 1);
  EXPECT_EQ(loop.ready()[0].pointer(), &marker);
  EXPECT_TRUE(loop.ready()[0].events & EventLoop::kReadable);

  ASSERT_EQ(::write(a.write_end.get(), "y", 1), 1);
  ASSERT_EQ(loop.wait(1000), 2);
  bool saw_42 = false;
  for (const auto& event : loop.ready()) saw_42 |= event.data == 42;
  EXPECT_TRUE(saw_42);
}

TEST(EventLoop, ModifyAndRemove) {
  EventLoop loop;
  Pipe pipe;
  ASSERT_EQ(loop.add(pipe.write_end.get(), EventLoop::kWritable, uint64_t{1}), 0);
  ASSERT_EQ(loop.wait(1000), 1);
  EXPECT_EQ(loop.ready()[0].data, 1u);
  ASSERT_EQ(loop.modify(pipe.write_end.get(), EventLoop::kWritable, uint64_t{2}), 0);
  ASSERT_EQ(loop.wait(1000), 1);
  EXPECT_EQ(loop.ready()[0].data, 2u);
  ASSERT_EQ(loop.remove(pipe.write_end.get()), 0);
  EXPECT_EQ(loop.wait(10), 0);
  EXPECT_EQ(loop.remove(pipe.write_end.get()), -ENOENT);
  EXPECT_EQ(loop.add(-1, EventLoop::kReadable, uint64_t{0}), -EBADF);
}

TEST(EventLoop, HangupIsReported) {
  EventLoop loop;
  Pipe pipe;
  ASSERT_EQ(loop.add(pipe.read_end.get(), EventLoop::kReadable, uint64_t{5}), 0);
  pipe.write_end.reset();
  ASSERT_EQ(loop.wait(1000), 1);
  EXPECT_TRUE(loop.ready()[0].events & EPOLLHUP);
}

TEST(EventLoop, OneShotFiresOnce) {
  EventLoop loop;
  Pipe pipe;
  ASSERT_EQ(loop.add(pipe.read_end.get(), EventLoop::kReadable | EventLoop::kOneShot, uint64_t{9}), 0);
  ASSERT_EQ(::write(pipe.write_end.get(), "x", 1), 1);
  EXPECT_EQ(loop.wait(1000), 1);
  EXPECT_EQ(loop.wait(10), 0);
  ASSERT_EQ(loop.modify(pipe.read_end.get(), EventLoop::kReadable | EventLoop::kOneShot, uint64_t{9}), 0);
  EXPECT_EQ(loop.wait(1000), 1);
}

void on_alarm(int) {}

TEST(EventLoop, SignalInterruptReturnsZero) {
  struct sigaction action{}, old{};
  action.sa_handler = on_alarm;  // no SA_RESTART: epoll_wait fails with EINTR
  ASSERT_EQ(::sigaction(SIGALRM, &action, &old), 0);
  itimerval timer{};
  timer.it_value.tv_usec = 20000;
  ASSERT_EQ(::setitimer(ITIMER_REAL, &timer, nullptr), 0);
  EventLoop loop;
  Pipe pipe;
  ASSERT_EQ(loop.add(pipe.read_end.get(), EventLoop::kReadable, uint64_t{1}), 0);
  EXPECT_EQ(loop.wait(5000), 0);
  ::sigaction(SIGALRM, &old, nullptr);
}

TEST(EventLoop, ReadyIsBoundedByCapacity) {
  EventLoop loop(2);
  Pipe pipes[3];
  for (uint64_t i = 0; i < 3; ++i) {
    ASSERT_EQ(loop.add(pipes[i].read_end.get(), EventLoop::kReadable, i), 0);
    ASSERT_EQ(::write(pipes[i].write_end.get(), "x", 1), 1);
  }
  EXPECT_EQ(loop.wait(1000), 2);
  EXPECT_EQ(loop.ready().size(), 2u);
}

}  // namespace
}  // namespace narwhal::net
