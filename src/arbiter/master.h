// The master (gunicorn's Arbiter class), internal to src/arbiter: arbiter::run() is the public
// entry point. arbiter.cpp holds the loop and the worker management, upgrade.cpp reload (HUP),
// reexec (USR2) and the pid file.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "arbiter/arbiter.h"
#include "arbiter/pidfile.h"
#include "arbiter/signals.h"
#include "control/commands.h"
#include "control/metrics_server.h"
#include "control/server.h"
#include "workers/heartbeat.h"
#include "workers/scoreboard.h"

namespace narwhal::arbiter {

// The arbiter is also what the control socket's commands see and act on (control::Master,
// implemented in control.cpp).
class Arbiter final : public control::Master {
 public:
  Arbiter(const ArbiterOptions& options, std::vector<net::Listener>& listeners, const Callbacks& callbacks);
  int run();

  // control::Master (control.cpp)
  pid_t pid() const override { return pid_; }
  std::vector<control::WorkerView> workers() const override;
  std::vector<control::ListenerView> listeners() const override;
  control::MasterStats stats() const override;
  int worker_target() const override { return num_workers_; }
  void set_worker_target(int count) override;
  void stop_worker(pid_t pid) override;
  void queue_signal(int signal_number) override { signals_.push(signal_number); }
  nlohmann::json config() const override;
  std::optional<int64_t> listen_backlog() const override;

 private:
  struct Worker {
    int age = 0;
    std::atomic<int64_t>* heartbeat = nullptr;
    workers::Scoreboard* scoreboard = nullptr;  // may be null (mmap failed)
    int64_t aborted_at_ms = -1;  // when WORKER TIMEOUT sent SIGABRT; -1 = not yet
    int64_t stopped_at_ms = -1;  // when manage_workers sent TERM (it is draining); -1 = not yet
    int stop_signal = 0;  // TERM/QUIT/INT the master sent to retire it; 0 = none
  };
  // Why the loop ends (gunicorn's HaltServer).
  struct Halt {
    std::string reason;
    int exit_status = 0;
  };

  bool start();
  bool abandon_start();
  void handle_signal(int signal_number);
  // upgrade.cpp
  void reload();
  void reexec();
  void maybe_promote_master();
  bool create_pidfile(std::string* failure);
  // arbiter.cpp
  void manage_workers();
  void set_num_workers(int count);  // + the nworkers_changed callback
  int live_workers() const;
  void spawn_workers();
  void spawn_worker();
  [[noreturn]] void run_child(int age, std::atomic<int64_t>* heartbeat, workers::Scoreboard* scoreboard);
  void forget_worker(std::map<pid_t, Worker>::iterator it);  // frees its shared slots
  // control.cpp: the loop's sleep (signals and the control socket), and the socket itself.
  void sleep(int timeout_ms);
  // The signal pipe alone, with before_sleep/after_sleep around it.
  void wait_for_signals(int timeout_ms);
  void open_control();
  void close_control();
  void open_metrics();
  void close_metrics();
  void reap_workers();
  void report_exit(pid_t pid, int status, int stop_signal);
  void count_restart(const Worker& worker, int status);  // narwhal_worker_restarts_total
  void murder_workers();
  void kill_workers(int signal_number);
  void kill_worker(pid_t pid, int signal_number);
  void stop(bool graceful);
  void wait_for_workers(int64_t deadline);
  int halt(const std::string& reason = "", int exit_status = 0);
  std::string listener_names() const;
  std::string status_text() const;

  static int64_t to_ms(double seconds) { return static_cast<int64_t>(seconds * 1000.0); }
  void set_proc_title(const std::string& title) {
    if (callbacks_.set_proc_title) callbacks_.set_proc_title(title);
  }
  static void emit(const std::function<void(const std::string&)>& sink, const std::string& message) {
    if (sink) sink(message);
  }
  void debug(const std::string& message) { emit(callbacks_.log_debug, message); }
  void info(const std::string& message) { emit(callbacks_.log_info, message); }
  void warning(const std::string& message) { emit(callbacks_.log_warning, message); }
  void error(const std::string& message) { emit(callbacks_.log_error, message); }
  void critical(const std::string& message) {
    emit(callbacks_.log_critical ? callbacks_.log_critical : callbacks_.log_error, message);
  }

  ArbiterOptions options_;  // replaced by reload()
  std::vector<net::Listener>& listeners_;
  const Callbacks& callbacks_;
  int num_workers_;
  std::string proc_name_;               // options_.proc_name, + ".2" for a new master not yet promoted
  std::string master_name_ = "Master";  // "Master.2" likewise, as gunicorn logs it
  int worker_age_ = 0;
  int last_logged_count_ = -1;
  pid_t pid_ = 0;
  pid_t master_pid_ = 0;  // GUNICORN_PID: the old master, while this is the new one of an upgrade
  pid_t reexec_pid_ = 0;  // the new master forked by USR2, while it runs
  std::optional<Pidfile> pidfile_;
  bool stopping_ = false;
  std::optional<Halt> halt_;
  std::map<pid_t, Worker> workers_;
  workers::HeartbeatTable heartbeats_;
  workers::ScoreboardTable scoreboards_;
  std::unique_ptr<control::Server> control_;
  std::unique_ptr<control::MetricsServer> metrics_;
  // show stats
  int64_t started_ms_ = 0;
  uint64_t workers_spawned_ = 0;
  uint64_t workers_killed_ = 0;
  uint64_t reloads_ = 0;
  workers::RequestTotals retired_;  // counters of reaped workers
  control::WorkerRestarts restarts_;
  SignalQueue signals_;
  std::minstd_rand random_;
};

}  // namespace narwhal::arbiter
