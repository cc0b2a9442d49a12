// OutputQueue over a real socketpair: copied, borrowed (owner released exactly once) and file
// segments go out in order; flush() never blocks (WouldBlock while the peer does not read,
// Done once it has, Error once it is gone); the byte accounting follows what is sent.
#include "net/output_queue.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace narwhal::net {
namespace {

// Owners are counters: releasing one increments it, so "exactly once" is a count of 1.
void count_release(void* owner) { ++*static_cast<int*>(owner); }

// Bytes that differ from position to position, so a reordering or a skipped range shows.
std::string pattern(size_t size, unsigned seed = 0) {
  std::string data(size, '\0');
  for (size_t i = 0; i < size; ++i) data[i] = static_cast<char>('a' + (i * 7 + seed) % 26);
  return data;
}

// A socketpair whose writer is non-blocking with a small send buffer: a few KiB fill it.
struct SocketPair {
  UniqueFd writer, reader;
  SocketPair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    writer.reset(fds[0]);
    reader.reset(fds[1]);
    EXPECT_EQ(::fcntl(writer.get(), F_SETFL, O_NONBLOCK), 0);
    int size = 4096;  // the kernel doubles it and applies its minimum
    EXPECT_EQ(::setsockopt(writer.get(), SOL_SOCKET, SO_SNDBUF, &size, sizeof size), 0);
    EXPECT_EQ(::setsockopt(reader.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size), 0);
  }

  // Everything the reader can take now, without waiting.
  std::string read_available() {
    std::string data;
    char buffer[65536];
    for (;;) {
      ssize_t n = ::recv(reader.get(), buffer, sizeof buffer, MSG_DONTWAIT);
      if (n <= 0) break;
      data.append(buffer, static_cast<size_t>(n));
    }
    return data;
  }
};

// Flushes until Done, reading whatever the peer gets in between. Returns what was read.
std::string flush_while_reading(OutputQueue& queue, SocketPair& pair, int* would_blocks = nullptr) {
  std::string received;
  for (int round = 0; round < 100000; ++round) {
    OutputQueue::Flush result = queue.flush(Transport{pair.writer.get()});
    received += pair.read_available();
    if (result == OutputQueue::Flush::Done) {
      received += pair.read_available();
      return received;
    }
    EXPECT_EQ(result, OutputQueue::Flush::WouldBlock);
    if (result == OutputQueue::Flush::Error) break;
    if (would_blocks) ++*would_blocks;
  }
  ADD_FAILURE() << "the queue never finished";
  return received;
}

UniqueFd temp_file_with(const std::string& content) {
  const char* directory = std::getenv("TMPDIR");
  std::string path = std::string(directory && *directory ? directory : "/tmp") + "/narwhal-oq-XXXXXX";
  int fd = ::mkstemp(path.data());
  EXPECT_GE(fd, 0);
  ::unlink(path.c_str());
  size_t written = 0;
  while (written < content.size()) {
    ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  EXPECT_EQ(written, content.size());
  return UniqueFd(fd);
}

class OutputQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // flush() uses writev/sendfile: a closed peer raises SIGPIPE, which workers ignore.
    previous_sigpipe_ = ::signal(SIGPIPE, SIG_IGN);
    OutputQueue::set_release_owner(count_release);
  }
  void TearDown() override {
    OutputQueue::set_release_owner(nullptr);
    ::signal(SIGPIPE, previous_sigpipe_);
  }

 private:
  sighandler_t previous_sigpipe_ = SIG_DFL;
};

TEST_F(OutputQueueTest, EmptyQueueFlushesDone) {
  SocketPair pair;
  OutputQueue queue;
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.bytes(), 0u);
  EXPECT_EQ(queue.flush(Transport{pair.writer.get()}), OutputQueue::Flush::Done);
  EXPECT_EQ(pair.read_available(), "");
}

TEST_F(OutputQueueTest, CopiesAreSentInOrder) {
  SocketPair pair;
  OutputQueue queue;
  queue.push_copy("HTTP/1.1 200 OK\r\n");
  queue.push_copy("");  // ignored
  queue.push_copy("\r\n");
  queue.push_copy("body");
  EXPECT_FALSE(queue.empty());
  EXPECT_EQ(queue.bytes(), 23u);
  EXPECT_EQ(queue.memory_bytes(), 23u);
  EXPECT_EQ(queue.flush(Transport{pair.writer.get()}), OutputQueue::Flush::Done);
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.bytes(), 0u);
  EXPECT_EQ(queue.memory_bytes(), 0u);
  EXPECT_EQ(pair.read_available(), "HTTP/1.1 200 OK\r\n\r\nbody");
}

TEST_F(OutputQueueTest, CopiedBytesTheCallerChangesAfterwardAreNotSent) {
  SocketPair pair;
  OutputQueue queue;
  std::string data = "the original response bytes";
  queue.push_copy(data);
  data.assign("CHANGED CHANGED CHANGED CHANGE");
  EXPECT_EQ(queue.flush(Transport{pair.writer.get()}), OutputQueue::Flush::Done);
  EXPECT_EQ(pair.read_available(), "the original response bytes");
}

// Regression: push_copy once kept `data` pointing into a local Segment's SSO buffer and then moved it into the deque, so copies of <= 15 bytes went out as stale stack bytes.
TEST_F(OutputQueueTest, SmallCopiesAreSentIntact) {
  SocketPair pair;
  OutputQueue queue;
  queue.push_copy("1a\r\n");  // a chunk-size line, as Exchange queues it when the socket is full
  EXPECT_EQ(queue.flush(Transport{pair.writer.get()}), OutputQueue::Flush::Done);
  static const char kBody[] = "0123456789abcdefghijklmnop";
  int releases = 0;
  queue.push_borrowed(kBody, 26, &releases);
  queue.push_copy("\r\n");  // the framing after a borrowed chunk: a new segment, not merged
  EXPECT_EQ(queue.flush(Transport{pair.writer.get()}), OutputQueue::Flush::Done);
  EXPECT_EQ(pair.read_available(), "1a\r\n0123456789abcdefghijklmnop\r\n");
}

TEST_F(OutputQueueTest, BorrowedOwnerIsReleasedOnceWhenSent) {
  SocketPair pair;
  static const char kBody[] = "borrowed bytes";
  int releases = 0;
  {
    OutputQueue queue;
    queue.push_borrowed(kBody, sizeof kBody - 1, &releases);
    EXPECT_EQ(queue.bytes(), sizeof kBody - 1);
    EXPECT_EQ(queue.memory_bytes(), sizeof kBody - 1);
    EXPECT_EQ(releases, 0);  // still needed
    EXPECT_EQ(queue.flush(Transport{pair.writer.get()}), OutputQueue::Flush::Done);
    EXPECT_EQ(releases, 1);  // sent: released at once
    EXPECT_EQ(queue.flush(Transport{pair.writer.get()}), OutputQueue::Flush::Done);
    queue.clear();
  }
  EXPECT_EQ(releases, 1);  // not again by clear() or the destructor
  EXPECT_EQ(pair.read_available(), "borrowed bytes");
}

TEST_F(OutputQueueTest, BorrowedOwnerIsKeptUntilItsLastByteIsSent) {
  SocketPair pair;
  const std::string body = pattern(1 << 20);
  int releases = 0;
  OutputQueue queue;
  queue.push_borrowed(body.data(), body.size(), &releases);
  ASSERT_EQ(queue.flush(Transport{pair.writer.get()}), OutputQueue::Flush::WouldBlock);
  EXPECT_EQ(releases, 0);
  EXPECT_LT(queue.bytes(), body.size());  // a part went out...
  EXPECT_GT(queue.bytes(), 0u);           // ...not all of it
  EXPECT_EQ(queue.memory_bytes(), queue.bytes());
  std::string received = flush_while_reading(queue, pair);
  EXPECT_EQ(releases, 1);
  EXPECT_TRUE(received == body) << "received " << received.size() << " bytes";
}

TEST_F(OutputQueueTest, FileSegmentIsSentWithItsRange) {
  SocketPair pair;
  const std::string content = pattern(10000, 3);
  OutputQueue queue;
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n";
  const std::string tail = "(the next response)";
  queue.push_copy(head);
  queue.push_file(temp_file_with(content), 100, 5000);
  queue.push_copy(tail);
  EXPECT_EQ(queue.bytes(), head.size() + 5000u + tail.size());
  EXPECT_EQ(queue.memory_bytes(), head.size() + tail.size());  // the file range is not in memory
  std::string received = flush_while_reading(queue, pair);
  EXPECT_TRUE(received == head + content.substr(100, 5000) + tail)
      << "received " << received.size() << " bytes";
  EXPECT_EQ(queue.bytes(), 0u);
  EXPECT_EQ(queue.memory_bytes(), 0u);
}

TEST_F(OutputQueueTest, FlushWouldBlockUntilThePeerReadsThenDone) {
  SocketPair pair;
  const std::string data = pattern(256 * 1024, 5);
  OutputQueue queue;
  queue.push_copy(data);
  ASSERT_EQ(queue.flush(Transport{pair.writer.get()}), OutputQueue::Flush::WouldBlock);
  const uint64_t left = queue.bytes();
  EXPECT_GT(left, 0u);
  EXPECT_LT(left, data.size());
  // The peer reads nothing: another flush moves nothing and still does not block.
  EXPECT_EQ(queue.flush(Transport{pair.writer.get()}), OutputQueue::Flush::WouldBlock);
  EXPECT_EQ(queue.bytes(), left);
  EXPECT_EQ(queue.memory_bytes(), left);
  int would_blocks = 0;
  std::string received = flush_while_reading(queue, pair, &would_blocks);
  EXPECT_GT(would_blocks, 0);
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.bytes(), 0u);
  EXPECT_TRUE(received == data) << "received " << received.size() << " of " << data.size();
}

// Accounting after partial sends: bytes() is what is left, memory_bytes() its in-memory part.
TEST_F(OutputQueueTest, AccountingFollowsPartialSends) {
  SocketPair pair;
  const std::string borrowed = pattern(64 * 1024, 1);
  int releases = 0;
  OutputQueue queue;
  queue.push_copy(pattern(64 * 1024, 2));
  queue.push_borrowed(borrowed.data(), borrowed.size(), &releases);
  queue.push_file(temp_file_with(pattern(32 * 1024, 4)), 0, 32 * 1024);
  EXPECT_EQ(queue.bytes(), 160u * 1024);
  EXPECT_EQ(queue.memory_bytes(), 128u * 1024);
  uint64_t previous = queue.bytes();
  for (int round = 0; round < 100000 && !queue.empty(); ++round) {
    OutputQueue::Flush result = queue.flush(Transport{pair.writer.get()});
    ASSERT_NE(result, OutputQueue::Flush::Error);
    EXPECT_LE(queue.bytes(), previous);
    EXPECT_LE(queue.memory_bytes(), queue.bytes());
    // What is not in memory is the unsent part of the file: at most its 32 KiB.
    EXPECT_LE(queue.bytes() - queue.memory_bytes(), 32u * 1024);
    if (queue.memory_bytes() > 0) {
      EXPECT_EQ(queue.bytes() - queue.memory_bytes(), 32u * 1024);
    }
    previous = queue.bytes();
    pair.read_available();
  }
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.bytes(), 0u);
  EXPECT_EQ(queue.memory_bytes(), 0u);
  EXPECT_EQ(releases, 1);
}

// Every kind of segment, more than one writev's worth (16) of memory segments, a small send
// buffer: the peer gets them in the order they were queued. `framing` pads the copied segments
// between the borrowed ones (chunk framing is a few bytes).
void expect_mixed_segments_keep_their_order(SocketPair& pair, const std::string& framing) {
  std::vector<std::string> borrowed;
  for (unsigned i = 0; i < 40; ++i) borrowed.push_back(pattern(1000 + i * 37, i));
  std::vector<int> releases(40, 0);
  std::string expected;
  OutputQueue queue;
  for (unsigned i = 0; i < 40; ++i) {
    queue.push_borrowed(borrowed[i].data(), borrowed[i].size(), &releases[i]);
    expected += borrowed[i];
    const std::string copy = "<" + std::to_string(i) + framing + ">";
    queue.push_copy(copy);
    expected += copy;
    if (i % 10 == 9) {
      const std::string content = pattern(3000, 100 + i);
      queue.push_file(temp_file_with(content), 7, 2000);
      expected += content.substr(7, 2000);
    }
  }
  EXPECT_EQ(queue.bytes(), expected.size());
  std::string received = flush_while_reading(queue, pair);
  EXPECT_TRUE(received == expected) << "received " << received.size() << " of " << expected.size();
  for (unsigned i = 0; i < 40; ++i) EXPECT_EQ(releases[i], 1) << "owner " << i;
}

TEST_F(OutputQueueTest, MixedSegmentsKeepTheirOrder) {
  SocketPair pair;
  expect_mixed_segments_keep_their_order(pair, " some framing bytes");
}

// Regression: copied segments of <= 15 bytes (SSO strings) were sent as stale stack bytes.
TEST_F(OutputQueueTest, MixedSegmentsWithSmallCopiesKeepTheirOrder) {
  SocketPair pair;
  expect_mixed_segments_keep_their_order(pair, "");
}

// A copy queued behind a copy that is partly sent must not be merged into the sent part.
TEST_F(OutputQueueTest, CopyAfterAPartialSendKeepsOrder) {
  SocketPair pair;
  const std::string first = pattern(200 * 1024, 9);
  OutputQueue queue;
  queue.push_copy(first);
  ASSERT_EQ(queue.flush(Transport{pair.writer.get()}), OutputQueue::Flush::WouldBlock);
  std::string received = pair.read_available();
  queue.push_copy("the second part, queued later");
  queue.push_copy("+ a third part, joined to it");
  received += flush_while_reading(queue, pair);
  EXPECT_TRUE(received == first + "the second part, queued later+ a third part, joined to it")
      << "received " << received.size() << " bytes";
}

TEST_F(OutputQueueTest, FlushFailsAfterThePeerClosed) {
  SocketPair pair;
  int releases = 0;
  static const char kBody[] = "nobody reads this";
  OutputQueue queue;
  queue.push_copy("head");
  queue.push_borrowed(kBody, sizeof kBody - 1, &releases);
  pair.reader.reset();
  EXPECT_EQ(queue.flush(Transport{pair.writer.get()}), OutputQueue::Flush::Error);
  EXPECT_FALSE(queue.empty());
  EXPECT_EQ(releases, 0);
  queue.clear();  // the connection is closed: its owners go
  EXPECT_EQ(releases, 1);
}

TEST_F(OutputQueueTest, FileFlushFailsAfterThePeerClosed) {
  SocketPair pair;
  OutputQueue queue;
  queue.push_file(temp_file_with(pattern(1000)), 0, 1000);
  pair.reader.reset();
  EXPECT_EQ(queue.flush(Transport{pair.writer.get()}), OutputQueue::Flush::Error);
}

// A file shorter than the range queued: sendfile reports 0, the framing would be broken.
TEST_F(OutputQueueTest, FileShorterThanItsRangeIsAnError) {
  SocketPair pair;
  OutputQueue queue;
  queue.push_file(temp_file_with(pattern(100)), 0, 200);
  EXPECT_EQ(queue.flush(Transport{pair.writer.get()}), OutputQueue::Flush::Error);
}

TEST_F(OutputQueueTest, ClearReleasesEveryOwnerOnce) {
  int first = 0, second = 0;
  static const char kA[] = "aaaa", kB[] = "bbbb";
  OutputQueue queue;
  queue.push_borrowed(kA, 4, &first);
  queue.push_copy("copy");
  queue.push_file(temp_file_with("file"), 0, 4);
  queue.push_borrowed(kB, 4, &second);
  EXPECT_EQ(queue.bytes(), 16u);
  queue.clear();
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 1);
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.bytes(), 0u);
  EXPECT_EQ(queue.memory_bytes(), 0u);
  queue.clear();
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 1);
}

TEST_F(OutputQueueTest, DestructorReleasesOwners) {
  int releases = 0;
  static const char kA[] = "aaaa";
  {
    OutputQueue queue;
    queue.push_borrowed(kA, 4, &releases);
  }
  EXPECT_EQ(releases, 1);
}

// A partly sent borrowed segment still belongs to the queue: clear() releases it once.
TEST_F(OutputQueueTest, ClearReleasesAPartlySentOwner) {
  SocketPair pair;
  const std::string body = pattern(1 << 20);
  int releases = 0;
  OutputQueue queue;
  queue.push_borrowed(body.data(), body.size(), &releases);
  ASSERT_EQ(queue.flush(Transport{pair.writer.get()}), OutputQueue::Flush::WouldBlock);
  EXPECT_EQ(releases, 0);
  queue.clear();
  EXPECT_EQ(releases, 1);
}

}  // namespace
}  // namespace narwhal::net
