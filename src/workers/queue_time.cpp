#include "workers/queue_time.h"

#include <algorithm>

#include "base/clock.h"
#include "http/request_start.h"

namespace narwhal::workers {

int64_t note_queue_time(Connection& connection, const http::RequestHead& head, Scoreboard* scoreboard) {
  const int64_t now_us = clock::realtime_us();
  int64_t since_us = connection.arrived_us != 0 ? connection.arrived_us : now_us;
  // Only a trusted proxy says when the request really started (anyone else could make their
  // requests look queued for hours).
  if (connection.peer && connection.peer->trusted) {
    if (const std::optional<int64_t> start = http::request_start_us(head)) since_us = *start;
  }
  // A proxy clock ahead of ours, or a wall-clock step: no negative waits.
  connection.queue_us = std::max<int64_t>(now_us - since_us, 0);
  if (scoreboard) count_queue_time(scoreboard->counters, connection.queue_us);
  return connection.queue_us;
}

}  // namespace narwhal::workers
