#include "workers/scoreboard.h"

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace narwhal::workers {
namespace {

TEST(Scoreboard, SlotsAreClaimedOnceEach) {
  auto board = std::make_unique<Scoreboard>();
  std::vector<RequestSlot*> slots;
  for (size_t i = 0; i < kRequestSlots; ++i) slots.push_back(board->claim_slot());
  EXPECT_EQ(slots.front(), &board->slots[0]);
  EXPECT_EQ(slots.back(), &board->slots[kRequestSlots - 1]);
  EXPECT_EQ(board->claim_slot(), nullptr);  // more runners than slots: they publish nothing
}

TEST(Scoreboard, TextIsTruncatedNotOverflowed) {
  auto board = std::make_unique<Scoreboard>();
  RequestSlot* slot = board->claim_slot();
  const std::string long_path = "/" + std::string(1000, 'p');
  begin_request(slot, 1, "VERYLONGMETHODNAMEHERE", long_path, "/tmp/unix.sock", -1);
  RequestSnapshot snapshot;
  ASSERT_TRUE(read_slot(*slot, &snapshot));
  EXPECT_EQ(snapshot.method, "VERYLONGMETHODNA");
  EXPECT_EQ(snapshot.target, long_path.substr(0, 256));
  EXPECT_EQ(snapshot.client, "/tmp/unix.sock");
  end_request(slot);
  EXPECT_FALSE(read_slot(*slot, &snapshot));
}

TEST(Scoreboard, CountersByStatusMethodAndDuration) {
  auto board = std::make_unique<Scoreboard>();
  count_request(board->counters, "GET", 200, 3000);
  count_request(board->counters, "BREW", 418, 20'000'000);
  count_request(board->counters, "POST", 503, 7000);
  RequestTotals totals;
  totals.add(board->counters);
  EXPECT_EQ(totals.requests(), 3u);
  EXPECT_EQ(totals.status_class(2), 1u);
  EXPECT_EQ(totals.status_class(4), 1u);
  EXPECT_EQ(totals.status_class(5), 1u);
  EXPECT_EQ(totals.method(method_index("GET")), 1u);
  EXPECT_EQ(totals.method(kMethodCount - 1), 1u);  // other
  EXPECT_EQ(totals.by_status_method[2][method_index("GET")], 1u);
  EXPECT_EQ(totals.by_status_method[4][kMethodCount - 1], 1u);
  EXPECT_EQ(totals.by_status_method[5][method_index("POST")], 1u);
  EXPECT_EQ(totals.duration_buckets[0], 1u);                     // <= 5 ms
  EXPECT_EQ(totals.duration_buckets[1], 1u);                     // <= 10 ms
  EXPECT_EQ(totals.duration_buckets[kDurationBuckets - 1], 1u);  // +Inf
  EXPECT_EQ(totals.duration_sum_us, 20'010'000u);
  EXPECT_EQ(status_class_index(99), 0u);
}

TEST(Scoreboard, QueueTimeHistogram) {
  auto board = std::make_unique<Scoreboard>();
  count_queue_time(board->counters, 100);         // <= 0.5 ms
  count_queue_time(board->counters, 3000);        // <= 5 ms
  count_queue_time(board->counters, -5);          // a clock step: counted as 0
  count_queue_time(board->counters, 60'000'000);  // +Inf
  RequestTotals totals;
  totals.add(board->counters);
  totals.add(totals);  // doubles everything
  EXPECT_EQ(totals.queue_buckets[0], 4u);
  EXPECT_EQ(totals.queue_buckets[queue_bucket_index(3000)], 2u);
  EXPECT_EQ(queue_bucket_index(3000), 3u);
  EXPECT_EQ(totals.queue_buckets[kQueueBuckets - 1], 2u);
  EXPECT_EQ(totals.queue_sum_us, 2u * 60'003'100u);
}

TEST(ScoreboardTable, SharedWithAForkedChildAndReusedZeroed) {
  ScoreboardTable table;
  Scoreboard* board = table.acquire();
  ASSERT_NE(board, nullptr);
  const pid_t child = fork();
  if (child == 0) {
    RequestSlot* slot = board->claim_slot();
    begin_request(slot, 42, "GET", "/from-child", "c", 1);
    count_request(board->counters, "GET", 200, 1);
    board->dump_requested = 1;
    board->publish_dump("stacks");
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  std::vector<RequestSnapshot> requests = board->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].target, "/from-child");
  EXPECT_EQ(board->dump_done.load(), 1u);
  EXPECT_EQ(std::string(board->dump_text, board->dump_length), "stacks");
  table.release(board);
  Scoreboard* again = table.acquire();
  EXPECT_EQ(again, board);
  EXPECT_TRUE(again->requests().empty());
  EXPECT_EQ(again->counters.by_status_method[2][0].load(), 0u);
  EXPECT_EQ(again->next_slot.load(), 0u);
}

}  // namespace
}  // namespace narwhal::workers
