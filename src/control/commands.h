// The control commands (gunicorn/ctl/handlers.py and server.py's routing) against what the
// master can tell and do: the Master interface, implemented by the arbiter. Every command that
// acts takes the master's existing path (worker count -> manage_workers, reload/reopen/shutdown
// -> the signal queue), so it behaves exactly like TTIN/TTOU/HUP/USR1/TERM/INT.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "workers/scoreboard.h"

namespace narwhal::control {

struct WorkerView {
  pid_t pid = 0;
  int age = 0;
  bool booted = false;
  bool aborted = false;                         // WORKER TIMEOUT sent it SIGABRT
  double last_heartbeat = 0;                    // seconds since its last heartbeat
  workers::Scoreboard* scoreboard = nullptr;  // may be null
};

struct ListenerView {
  std::string address;  // as logged in "Listening at"
  int fd = -1;
  std::string type;  // unix, tcp, tcp6
};

// Workers the master replaced, by why they went (the Prometheus endpoint).
struct WorkerRestarts {
  uint64_t timeout = 0;       // killed by the timeout watchdog (WORKER TIMEOUT)
  uint64_t crash = 0;         // died of a signal or exited non-zero without being asked to
  uint64_t max_requests = 0;  // left by itself after max_requests
};

struct MasterStats {
  double uptime = 0;  // seconds
  int workers_current = 0;
  int workers_target = 0;
  uint64_t workers_spawned = 0;
  uint64_t workers_killed = 0;
  uint64_t reloads = 0;
  workers::RequestTotals retired;  // counters of the workers that have exited
  WorkerRestarts restarts;
};

class Master {
 public:
  virtual ~Master() = default;
  virtual pid_t pid() const = 0;
  virtual std::vector<WorkerView> workers() const = 0;  // oldest first
  virtual std::vector<ListenerView> listeners() const = 0;
  virtual MasterStats stats() const = 0;
  virtual int worker_target() const = 0;
  virtual void set_worker_target(int count) = 0;  // + manage_workers
  virtual void stop_worker(pid_t pid) = 0;         // TERM, as manage_workers retires one
  virtual void queue_signal(int signal_number) = 0;  // handled as if the signal had arrived
  virtual nlohmann::json config() const = 0;       // show config
  // Connections waiting in the TCP listen queues; none without a TCP listener.
  virtual std::optional<int64_t> listen_backlog() const { return std::nullopt; }
};

// What a command produced: data, an error, or (dump) a request the server completes later.
struct Outcome {
  bool ok = true;
  nlohmann::json data;
  std::string error;
  pid_t dump_pid = 0;  // `dump PID`: the server asks that worker and replies when it answered
};

// `words`: the command and its arguments (shlex-split, args appended). Never throws.
Outcome execute(Master& master, const std::vector<std::string>& words);

// Python's int(text) for a command argument; nullopt + error text as Python words it.
std::optional<long long> parse_int(const std::string& text, std::string* error);

// In-flight requests of every worker, slowest first (show requests).
nlohmann::json show_requests(const std::vector<WorkerView>& workers, int64_t now_us);

}  // namespace narwhal::control
