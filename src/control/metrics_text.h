// The Prometheus text exposition format (0.0.4) of what the master knows: request counters
// and histograms summed over live workers' scoreboards plus the totals of exited workers,
// gauges, worker restarts by cause and the listen backlog. Pure rendering, no sockets: the
// metrics server (metrics_server.h) serves what render_metrics returns. docs/metrics.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "control/commands.h"
#include "workers/scoreboard.h"

namespace narwhal::control {

inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

struct MetricsSnapshot {
  workers::RequestTotals requests;  // live workers + exited ones
  uint64_t in_flight = 0;
  int workers = 0;  // worker processes alive now (draining ones included)
  WorkerRestarts restarts;
  std::optional<int64_t> listen_backlog;  // none: no TCP listener (unix sockets only)
};

// What the master's interface tells, summed.
MetricsSnapshot collect_metrics(const Master& master);

// The exposition text: HELP and TYPE for every metric, then its samples; ends with '\n'.
std::string render_metrics(const MetricsSnapshot& snapshot);

// Seconds from microseconds in the shortest exact decimal form ("0.005", "1", "2.5",
// "0.000123"): bucket bounds and sums.
std::string seconds_text(uint64_t microseconds);

}  // namespace narwhal::control
