#include "workers/heartbeat.h"

#include <sys/mman.h>
#include <time.h>

#include <new>

#include "base/clock.h"

namespace narwhal::workers {

static_assert(std::atomic<int64_t>::is_always_lock_free, "heartbeats need lock-free atomics in shared memory");

int64_t heartbeat_now_ms() { return clock::monotonic_ms(); }

HeartbeatTable::HeartbeatTable(size_t chunk_slots) : chunk_slots_(chunk_slots > 0 ? chunk_slots : 1) {}

HeartbeatTable::~HeartbeatTable() {
  for (Chunk& chunk : chunks_) ::munmap(chunk.slots, chunk_slots_ * sizeof(std::atomic<int64_t>));
}

std::atomic<int64_t>* HeartbeatTable::acquire() {
  for (Chunk& chunk : chunks_) {
    for (size_t i = 0; i < chunk_slots_; ++i) {
      if (chunk.used[i]) continue;
      chunk.used[i] = true;
      ++in_use_;
      beat(&chunk.slots[i]);
      return &chunk.slots[i];
    }
  }
  void* memory = ::mmap(nullptr, chunk_slots_ * sizeof(std::atomic<int64_t>), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return nullptr;
  auto* slots = static_cast<std::atomic<int64_t>*>(memory);
  for (size_t i = 0; i < chunk_slots_; ++i) new (&slots[i]) std::atomic<int64_t>(0);
  chunks_.push_back(Chunk{slots, std::vector<bool>(chunk_slots_, false)});
  return acquire();
}

void HeartbeatTable::release(std::atomic<int64_t>* slot) {
  for (Chunk& chunk : chunks_) {
    if (slot >= chunk.slots && slot < chunk.slots + chunk_slots_) {
      const size_t index = static_cast<size_t>(slot - chunk.slots);
      if (chunk.used[index]) {
        chunk.used[index] = false;
        --in_use_;
      }
      return;
    }
  }
}

}  // namespace narwhal::workers
