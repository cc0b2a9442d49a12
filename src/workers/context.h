// What the master and a worker share: the context a worker gets after fork, and the exit
// statuses the master understands. It lives below both (DESIGN.md: workers never include
// arbiter headers); the master's side is src/arbiter, the worker bodies are src/workers.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "net/listener.h"
#include "workers/scoreboard.h"

namespace narwhal::workers {

// Worker exit statuses the master understands (gunicorn's Arbiter constants).
inline constexpr int kWorkerBootError = 3;  // "Worker failed to boot." -> the master exits 3
inline constexpr int kAppLoadError = 4;     // "App failed to load."    -> the master exits 4

// What a worker gets, in the child, after fork.
struct WorkerContext {
  int age = 0;     // 1 for the first worker spawned, then 2, 3...
  pid_t ppid = 0;  // the master; a worker whose getppid() differs should exit
  pid_t pid = 0;
  // In MAP_SHARED memory (workers/heartbeat.h): the worker stores heartbeat_now_ms() into it
  // (workers::beat) at least every timeout/2 seconds, or the master kills it.
  std::atomic<int64_t>* heartbeat = nullptr;
  // In MAP_SHARED memory too (workers/scoreboard.h): the requests it runs, its counters, stack
  // dumps the master asks for. May be null (then nothing is published).
  Scoreboard* scoreboard = nullptr;
  const std::vector<net::Listener>* listeners = nullptr;
  double timeout = 0;  // the master's timeout, for the worker's own pacing
};

}  // namespace narwhal::workers
