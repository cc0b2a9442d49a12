#include "workers/heartbeat.h"

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <set>

namespace narwhal::workers {
namespace {

TEST(HeartbeatTable, AcquireSetsNowAndReleaseReuses) {
  HeartbeatTable table(4);
  const int64_t before = heartbeat_now_ms();
  std::atomic<int64_t>* a = table.acquire();
  ASSERT_NE(a, nullptr);
  EXPECT_GE(a->load(), before);
  std::atomic<int64_t>* b = table.acquire();
  EXPECT_NE(a, b);
  EXPECT_EQ(table.in_use(), 2u);
  table.release(a);
  EXPECT_EQ(table.in_use(), 1u);
  EXPECT_EQ(table.acquire(), a);
}

TEST(HeartbeatTable, GrowsByChunksWithoutMovingSlots) {
  HeartbeatTable table(2);
  std::set<std::atomic<int64_t>*> slots;
  std::atomic<int64_t>* first = table.acquire();
  slots.insert(first);
  for (int i = 0; i < 6; ++i) slots.insert(table.acquire());
  EXPECT_EQ(slots.size(), 7u);
  EXPECT_EQ(table.capacity(), 8u);
  first->store(123);
  EXPECT_EQ(first->load(), 123);  // still mapped, same address
}

TEST(HeartbeatTable, SharedWithForkedChild) {
  HeartbeatTable table(8);
  std::atomic<int64_t>* slot = table.acquire();
  slot->store(1);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    slot->store(424242);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_EQ(slot->load(), 424242);
}

TEST(HeartbeatClock, IsMonotonicMilliseconds) {
  const int64_t a = heartbeat_now_ms();
  ::usleep(20000);
  const int64_t b = heartbeat_now_ms();
  EXPECT_GE(b - a, 15);
  EXPECT_LT(b - a, 2000);
}

}  // namespace
}  // namespace narwhal::workers
