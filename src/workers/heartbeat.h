// Worker heartbeats in shared memory. gunicorn's workers touch a temp file (WorkerTmp) and the
// master looks at its ctime; here each worker owns one slot in an anonymous MAP_SHARED region
// mapped by the master before forking (HeartbeatTable), and stores the monotonic clock into it
// (beat). Below both the master and the workers, like workers/context.h.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace narwhal::workers {

// CLOCK_MONOTONIC in milliseconds: the same clock in every process of the machine.
int64_t heartbeat_now_ms();

// A worker calls this regularly (at least every timeout/2 seconds).
inline void beat(std::atomic<int64_t>* slot, int64_t now_ms) {
  slot->store(now_ms, std::memory_order_relaxed);
}
inline void beat(std::atomic<int64_t>* slot) { beat(slot, heartbeat_now_ms()); }

class HeartbeatTable {
 public:
  // Slots come in chunks of `chunk_slots`. A chunk is never moved or unmapped while the table
  // lives: workers forked earlier keep pointers into it. When every slot is taken (TTIN raised
  // the worker count) a new chunk is mapped; workers forked afterwards inherit it.
  explicit HeartbeatTable(size_t chunk_slots);
  ~HeartbeatTable();
  HeartbeatTable(const HeartbeatTable&) = delete;
  HeartbeatTable& operator=(const HeartbeatTable&) = delete;

  // A free slot set to now, or nullptr if mmap failed.
  std::atomic<int64_t>* acquire();
  void release(std::atomic<int64_t>* slot);

  size_t capacity() const { return chunks_.size() * chunk_slots_; }
  size_t in_use() const { return in_use_; }

 private:
  struct Chunk {
    std::atomic<int64_t>* slots;
    std::vector<bool> used;
  };
  size_t chunk_slots_;
  size_t in_use_ = 0;
  std::vector<Chunk> chunks_;
};

}  // namespace narwhal::workers
