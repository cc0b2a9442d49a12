#include "workers/scoreboard.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <new>

namespace narwhal::workers {

static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free,
              "the scoreboard needs lock-free atomics in shared memory");

template <size_t Bytes>
void SharedText<Bytes>::store(std::string_view text) {
  const size_t size = std::min(text.size(), Bytes);
  for (size_t offset = 0; offset < size; offset += 8) {  // only the words the text uses
    uint64_t word = 0;
    std::memcpy(&word, text.data() + offset, std::min<size_t>(8, size - offset));
    words[offset / 8].store(word, std::memory_order_relaxed);
  }
  length.store(static_cast<uint32_t>(size), std::memory_order_relaxed);
}

template <size_t Bytes>
std::string SharedText<Bytes>::load() const {
  const size_t size = std::min<size_t>(length.load(std::memory_order_relaxed), Bytes);
  std::string text(size, '\0');
  for (size_t offset = 0; offset < size; offset += 8) {
    const uint64_t word = words[offset / 8].load(std::memory_order_relaxed);
    std::memcpy(text.data() + offset, &word, std::min<size_t>(8, size - offset));
  }
  return text;
}

template struct SharedText<16>;
template struct SharedText<64>;
template struct SharedText<256>;

uint64_t RequestTotals::requests() const {
  uint64_t total = 0;
  for (size_t i = 0; i < kStatusClasses; ++i) total += status_class(i);
  return total;
}

uint64_t RequestTotals::status_class(size_t index) const {
  uint64_t total = 0;
  for (uint64_t count : by_status_method[index]) total += count;
  return total;
}

uint64_t RequestTotals::method(size_t index) const {
  uint64_t total = 0;
  for (size_t i = 0; i < kStatusClasses; ++i) total += by_status_method[i][index];
  return total;
}

void RequestTotals::add(const RequestCounters& counters) {
  constexpr auto relaxed = std::memory_order_relaxed;
  for (size_t i = 0; i < kStatusClasses; ++i) {
    for (size_t j = 0; j < kMethodCount; ++j) by_status_method[i][j] += counters.by_status_method[i][j].load(relaxed);
  }
  for (size_t i = 0; i < kDurationBuckets; ++i) duration_buckets[i] += counters.duration_buckets[i].load(relaxed);
  duration_sum_us += counters.duration_sum_us.load(relaxed);
  for (size_t i = 0; i < kQueueBuckets; ++i) queue_buckets[i] += counters.queue_buckets[i].load(relaxed);
  queue_sum_us += counters.queue_sum_us.load(relaxed);
}

void RequestTotals::add(const RequestTotals& other) {
  for (size_t i = 0; i < kStatusClasses; ++i) {
    for (size_t j = 0; j < kMethodCount; ++j) by_status_method[i][j] += other.by_status_method[i][j];
  }
  for (size_t i = 0; i < kDurationBuckets; ++i) duration_buckets[i] += other.duration_buckets[i];
  duration_sum_us += other.duration_sum_us;
  for (size_t i = 0; i < kQueueBuckets; ++i) queue_buckets[i] += other.queue_buckets[i];
  queue_sum_us += other.queue_sum_us;
}

size_t method_index(std::string_view method) {
  for (size_t i = 0; i < std::size(kCountedMethods); ++i) {
    if (method == kCountedMethods[i]) return i;
  }
  return kMethodCount - 1;
}

size_t status_class_index(int status) { return status >= 100 && status < 600 ? static_cast<size_t>(status / 100) : 0; }

size_t duration_bucket_index(int64_t duration_us) {
  size_t i = 0;
  while (i < std::size(kDurationBoundsUs) && duration_us > kDurationBoundsUs[i]) ++i;
  return i;
}

size_t queue_bucket_index(int64_t queue_us) {
  size_t i = 0;
  while (i < std::size(kQueueBoundsUs) && queue_us > kQueueBoundsUs[i]) ++i;
  return i;
}

RequestSlot* Scoreboard::claim_slot() {
  const uint32_t index = next_slot.fetch_add(1, std::memory_order_relaxed);
  return index < kRequestSlots ? &slots[index] : nullptr;
}

void Scoreboard::publish_dump(std::string_view text) {
  const size_t size = std::min(text.size(), kDumpBytes);
  std::memcpy(dump_text, text.data(), size);
  dump_length.store(static_cast<uint32_t>(size), std::memory_order_relaxed);
  // Release: the master that sees dump_done sees the text.
  dump_done.store(dump_requested.load(std::memory_order_acquire), std::memory_order_release);
}

std::vector<RequestSnapshot> Scoreboard::requests() const {
  std::vector<RequestSnapshot> result;
  const uint32_t claimed = std::min<uint32_t>(next_slot.load(std::memory_order_relaxed), kRequestSlots);
  for (uint32_t i = 0; i < claimed; ++i) {
    RequestSnapshot snapshot;
    if (read_slot(slots[i], &snapshot)) result.push_back(std::move(snapshot));
  }
  return result;
}

// A sequence lock: the writer makes the sequence odd, rewrites, makes it even again.
void begin_request(RequestSlot* slot, int64_t started_us, std::string_view method, std::string_view target,
                   std::string_view client_host, int client_port) {
  const uint32_t sequence = slot->sequence.load(std::memory_order_relaxed);
  slot->sequence.store(sequence + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  slot->bytes_read.store(0, std::memory_order_relaxed);
  slot->bytes_written.store(0, std::memory_order_relaxed);
  slot->method.store(method);
  slot->target.store(target);
  slot->client.store(client_host);
  slot->client_port.store(client_port, std::memory_order_relaxed);
  slot->started_us.store(started_us, std::memory_order_relaxed);
  slot->sequence.store(sequence + 2, std::memory_order_release);
}

void end_request(RequestSlot* slot) { slot->started_us.store(0, std::memory_order_relaxed); }

void count_request(RequestCounters& counters, std::string_view method, int status, int64_t duration_us) {
  counters.by_status_method[status_class_index(status)][method_index(method)].fetch_add(1, std::memory_order_relaxed);
  counters.duration_buckets[duration_bucket_index(duration_us)].fetch_add(1, std::memory_order_relaxed);
  counters.duration_sum_us.fetch_add(static_cast<uint64_t>(std::max<int64_t>(duration_us, 0)), std::memory_order_relaxed);
}

void count_queue_time(RequestCounters& counters, int64_t queue_us) {
  queue_us = std::max<int64_t>(queue_us, 0);
  counters.queue_buckets[queue_bucket_index(queue_us)].fetch_add(1, std::memory_order_relaxed);
  counters.queue_sum_us.fetch_add(static_cast<uint64_t>(queue_us), std::memory_order_relaxed);
}

bool read_slot(const RequestSlot& slot, RequestSnapshot* out) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const uint32_t before = slot.sequence.load(std::memory_order_acquire);
    if (before & 1u) continue;  // being rewritten: a few stores, try again
    out->started_us = slot.started_us.load(std::memory_order_relaxed);
    if (out->started_us == 0) return false;
    out->method = slot.method.load();
    out->target = slot.target.load();
    out->client = slot.client.load();
    if (const int port = slot.client_port.load(std::memory_order_relaxed); port > 0) {
      const bool v6 = out->client.find(':') != std::string::npos;
      out->client = (v6 ? "[" + out->client + "]" : out->client) + ":" + std::to_string(port);
    }
    out->bytes_read = slot.bytes_read.load(std::memory_order_relaxed);
    out->bytes_written = slot.bytes_written.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (slot.sequence.load(std::memory_order_relaxed) == before) return true;
  }
  return false;
}

ScoreboardTable::~ScoreboardTable() {
  for (const Entry& entry : entries_) ::munmap(entry.board, sizeof(Scoreboard));
}

Scoreboard* ScoreboardTable::acquire() {
  for (Entry& entry : entries_) {
    if (entry.used) continue;
    entry.used = true;
    entry.board->~Scoreboard();
    std::memset(static_cast<void*>(entry.board), 0, sizeof(Scoreboard));
    return new (entry.board) Scoreboard;  // default-init: dump_text stays as zeroed
  }
  void* memory = ::mmap(nullptr, sizeof(Scoreboard), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return nullptr;
  auto* board = new (memory) Scoreboard;  // fresh pages are zero; dump_text is not touched
  entries_.push_back(Entry{board, true});
  return board;
}

void ScoreboardTable::release(Scoreboard* board) {
  for (Entry& entry : entries_) {
    if (entry.board == board) entry.used = false;
  }
}

}  // namespace narwhal::workers
