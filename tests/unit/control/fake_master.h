// A control::Master that records what the commands asked of it (no arbiter, no processes).
#pragma once

#include <vector>

#include "control/commands.h"

namespace narwhal::control {

class FakeMaster final : public Master {
 public:
  pid_t pid() const override { return 100; }
  std::vector<WorkerView> workers() const override {
    std::vector<WorkerView> result;
    for (size_t i = 0; i < pids.size(); ++i) {
      WorkerView view;
      view.pid = pids[i];
      view.age = static_cast<int>(i + 1);
      view.booted = true;
      view.last_heartbeat = 0.123;
      view.scoreboard = boards.size() > i ? boards[i] : nullptr;
      result.push_back(view);
    }
    return result;
  }
  std::vector<ListenerView> listeners() const override { return {{"http://127.0.0.1:8000", 5, "tcp"}}; }
  MasterStats stats() const override {
    MasterStats stats;
    stats.workers_current = static_cast<int>(pids.size());
    stats.workers_target = target;
    stats.retired.by_status_method[2][0] = 10;
    return stats;
  }
  int worker_target() const override { return target; }
  void set_worker_target(int count) override { target = count; }
  void stop_worker(pid_t pid) override { stopped.push_back(pid); }
  void queue_signal(int signal_number) override { signals.push_back(signal_number); }
  nlohmann::json config() const override { return {{"workers", target}}; }

  std::vector<pid_t> pids{201, 202};
  std::vector<workers::Scoreboard*> boards;
  int target = 2;
  std::vector<pid_t> stopped;
  std::vector<int> signals;
};

}  // namespace narwhal::control
