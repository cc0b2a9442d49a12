// The monotonic clock every deadline, heartbeat and request duration is measured on
// (CLOCK_MONOTONIC: never jumps with the wall clock). One definition, so times taken by
// different layers can be compared.
#pragma once

#include <time.h>

#include <cstdint>

namespace narwhal::clock {

inline int64_t monotonic_us() {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);  // cannot fail for CLOCK_MONOTONIC with a valid pointer
  return static_cast<int64_t>(now.tv_sec) * 1000000 + now.tv_nsec / 1000;
}

inline int64_t monotonic_ms() {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

// The wall clock (CLOCK_REALTIME), in microseconds: only where a time must be compared with one
// from outside the process — a kernel receive stamp, a proxy's X-Request-Start (queue time).
inline int64_t realtime_us() {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000000 + now.tv_nsec / 1000;
}

}  // namespace narwhal::clock
