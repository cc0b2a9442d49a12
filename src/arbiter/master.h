// The master (gunicorn's Arbiter class), internal to src/arbiter: arbiter::run() is the public
// entry point. arbiter.cpp holds the loop and the worker management, upgrade.cpp reload (HUP),
// reexec (USR2) and the pid file.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "arbiter/arbiter.h"
#include "arbiter/pidfile.h"
#include "arbiter/signals.h"
#include "workers/heartbeat.h"

namespace narwhal::arbiter {

class Arbiter {
 public:
  Arbiter(const ArbiterOptions& options, std::vector<net::Listener>& listeners, const Callbacks& callbacks);
  int run();

 private:
  struct Worker {
    int age = 0;
    std::atomic<int64_t>* heartbeat = nullptr;
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
  [[noreturn]] void run_child(int age, std::atomic<int64_t>* heartbeat);
  void reap_workers();
  void report_exit(pid_t pid, int status, int stop_signal);
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
  SignalQueue signals_;
  std::minstd_rand random_;
};

}  // namespace narwhal::arbiter
