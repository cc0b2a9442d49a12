// What a worker publishes to the master in shared memory, beside its heartbeat: the requests it
// is running now (the control socket's `show requests`), request counters for metrics, whether
// it has booted, and the answer to a stack dump (`dump PID`). One Scoreboard per worker, mapped
// MAP_SHARED by the master before the fork (ScoreboardTable); the worker writes it without locks
// or syscalls, the master only reads it (and asks for dumps). Below both, like heartbeat.h.
//
// Each request runner (one per thread or greenlet that runs requests) owns one RequestSlot, so a
// slot has a single writer; the master reads it under a sequence lock. Counters are shared by
// the worker's runners: relaxed atomic adds.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace narwhal::workers {

// Text in shared memory, stored and read as 8-byte atomic words (no torn bytes, no data race).
template <size_t Bytes>
struct SharedText {
  static_assert(Bytes % 8 == 0);
  std::atomic<uint32_t> length{0};
  std::atomic<uint64_t> words[Bytes / 8];

  void store(std::string_view text);  // truncated to Bytes
  std::string load() const;
};

// One request being run. Written by its runner when the request starts and ends; the byte
// counts as the exchange moves them.
struct RequestSlot {
  std::atomic<uint32_t> sequence{0};  // odd while the runner rewrites the fields below
  std::atomic<int64_t> started_us{0};  // CLOCK_MONOTONIC; 0 = no request in this slot
  std::atomic<uint64_t> bytes_read{0};     // request body bytes the app has read
  std::atomic<uint64_t> bytes_written{0};  // response body bytes sent
  std::atomic<int32_t> client_port{0};     // -1: a unix socket client
  SharedText<16> method;
  SharedText<64> client;
  SharedText<256> target;  // the request target as received (path and query), truncated
};

// A consistent copy of a busy slot, for the master.
struct RequestSnapshot {
  int64_t started_us = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  std::string method, client, target;  // client: "host:port" ("[v6]:port"), or the host alone
};

// Request counters, for the Prometheus endpoint (docs/metrics.md): a status class x method
// matrix, a duration histogram and a queue-time histogram (per-bucket counts; cumulative ones
// are summed by the reader).
inline constexpr const char* kCountedMethods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
inline constexpr size_t kMethodCount = std::size(kCountedMethods) + 1;  // + other
inline constexpr size_t kStatusClasses = 6;                             // 1xx..5xx, [0] = other
// Upper bounds in microseconds (Prometheus client's default buckets: 5 ms .. 10 s); + Inf.
inline constexpr int64_t kDurationBoundsUs[] = {5000,   10000,   25000,   50000,   100000,  250000,
                                                500000, 1000000, 2500000, 5000000, 10000000};
inline constexpr size_t kDurationBuckets = std::size(kDurationBoundsUs) + 1;
// Queue time (arrival to the app being called) is usually far below a millisecond when workers
// are free: finer buckets at the low end. + Inf.
inline constexpr int64_t kQueueBoundsUs[] = {500,    1000,   2500,   5000,    10000,   25000,  50000,
                                             100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
inline constexpr size_t kQueueBuckets = std::size(kQueueBoundsUs) + 1;

struct RequestCounters {
  std::atomic<uint64_t> by_status_method[kStatusClasses][kMethodCount];
  std::atomic<uint64_t> duration_buckets[kDurationBuckets];
  std::atomic<uint64_t> duration_sum_us{0};
  std::atomic<uint64_t> queue_buckets[kQueueBuckets];
  std::atomic<uint64_t> queue_sum_us{0};
};

// Plain totals (the master sums live workers' counters and keeps the ones of workers gone).
struct RequestTotals {
  uint64_t by_status_method[kStatusClasses][kMethodCount] = {};
  uint64_t duration_buckets[kDurationBuckets] = {};
  uint64_t duration_sum_us = 0;
  uint64_t queue_buckets[kQueueBuckets] = {};
  uint64_t queue_sum_us = 0;
  uint64_t requests() const;
  uint64_t status_class(size_t index) const;  // summed over methods
  uint64_t method(size_t index) const;        // summed over status classes
  void add(const RequestCounters& counters);
  void add(const RequestTotals& other);
};

size_t method_index(std::string_view method);  // into kCountedMethods, or kMethodCount - 1
size_t status_class_index(int status);
size_t duration_bucket_index(int64_t duration_us);
size_t queue_bucket_index(int64_t queue_us);

inline constexpr size_t kRequestSlots = 64;   // requests shown per worker (more still count)
inline constexpr size_t kDumpBytes = 64 * 1024;  // a stack dump longer than this is truncated

struct Scoreboard {
  std::atomic<uint32_t> booted{0};     // the app is loaded and the worker serves
  std::atomic<uint32_t> next_slot{0};  // runners claim slots in order
  std::atomic<uint32_t> in_flight{0};  // requests running now, published in a slot or not
  // The worker reached max_requests and leaves by itself: the master counts its exit as a
  // max_requests restart, not a crash (narwhal_worker_restarts_total).
  std::atomic<uint32_t> retiring{0};
  RequestCounters counters;
  RequestSlot slots[kRequestSlots];
  // `dump PID`: the master raises dump_requested and signals the worker (SIGWINCH); the
  // worker writes the stacks into dump_text, then sets dump_done to the request it answered.
  std::atomic<uint32_t> dump_requested{0};
  std::atomic<uint32_t> dump_done{0};
  std::atomic<uint32_t> dump_length{0};
  char dump_text[kDumpBytes];

  // ---- worker side ----
  RequestSlot* claim_slot();  // nullptr when every slot has its runner
  void publish_dump(std::string_view text);
  // ---- master side ----
  std::vector<RequestSnapshot> requests() const;
};

// The worker side of a request, used by the request runner.
void begin_request(RequestSlot* slot, int64_t started_us, std::string_view method, std::string_view target,
                   std::string_view client_host, int client_port);
void end_request(RequestSlot* slot);
void count_request(RequestCounters& counters, std::string_view method, int status, int64_t duration_us);
void count_queue_time(RequestCounters& counters, int64_t queue_us);

bool read_slot(const RequestSlot& slot, RequestSnapshot* out);  // false: idle

// Scoreboards for the master: one MAP_SHARED mapping each, reused after its worker is reaped,
// never unmapped while the table lives (workers keep pointers into their own).
class ScoreboardTable {
 public:
  ScoreboardTable() = default;
  ~ScoreboardTable();
  ScoreboardTable(const ScoreboardTable&) = delete;
  ScoreboardTable& operator=(const ScoreboardTable&) = delete;

  Scoreboard* acquire();  // zeroed; nullptr if mmap failed
  void release(Scoreboard* board);

 private:
  struct Entry {
    Scoreboard* board;
    bool used;
  };
  std::vector<Entry> entries_;
};

}  // namespace narwhal::workers
