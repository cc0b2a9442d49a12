// The master loop, modelled on gunicorn's arbiter.py and keeping its names: spawn_worker,
// reap_workers, murder_workers, manage_workers, stop, halt.
#include "arbiter/arbiter.h"

#include <errno.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <optional>
#include <random>

#include "arbiter/heartbeat.h"
#include "arbiter/signals.h"

namespace narwhal::arbiter {
namespace {

struct Worker {
  int age = 0;
  std::atomic<int64_t>* heartbeat = nullptr;
  int64_t aborted_at_ms = -1;  // when WORKER TIMEOUT sent SIGABRT; -1 = not yet
};

// Why the loop ends (gunicorn's HaltServer).
struct Halt {
  std::string reason;
  int exit_status = 0;
};

int64_t to_ms(double seconds) { return static_cast<int64_t>(seconds * 1000.0); }

void sleep_ms(int64_t ms) {
  if (ms <= 0) return;
  timespec duration{static_cast<time_t>(ms / 1000), static_cast<long>((ms % 1000) * 1000000)};
  ::nanosleep(&duration, nullptr);  // a signal cutting it short is fine
}

class Arbiter {
 public:
  Arbiter(const ArbiterOptions& options, std::vector<net::Listener>& listeners, const Callbacks& callbacks)
      : options_(options),
        listeners_(listeners),
        callbacks_(callbacks),
        num_workers_(std::max(options.workers, 1)),
        heartbeats_(static_cast<size_t>(std::max(num_workers_ * 2, 64))),
        random_(static_cast<unsigned>(::getpid())) {}

  int run() {
    if (!start()) return 1;
    manage_workers();
    for (;;) {
      if (halt_) return halt(halt_->reason, halt_->exit_status);
      if (signals_.empty()) {
        signals_.sleep(1000);
        reap_workers();
        if (halt_) continue;
        murder_workers();
        manage_workers();
        continue;
      }
      const int signal_number = signals_.pop();
      info("Handling signal: " + signal_short_name(signal_number));
      if (signal_number == SIGTERM) return halt();
      if (signal_number == SIGINT || signal_number == SIGQUIT) {
        stop(false);
        return halt();
      }
      handle_signal(signal_number);
    }
  }

 private:
  bool start() {
    pid_ = ::getpid();
    info("Starting narwhal " + options_.version);
    if (!callbacks_.run_worker) {
      error("No worker body given to the arbiter");
      return false;
    }
    std::string failure;
    if (!signals_.open(&failure)) {
      error("Can't set up signal handling: " + failure);
      return false;
    }
    std::string names;
    for (const net::Listener& listener : listeners_) names += (names.empty() ? "" : ",") + listener.name;
    debug("Arbiter booted");
    info("Listening at: " + names + " (" + std::to_string(pid_) + ")");
    info("Using worker: " + options_.worker_class);
    set_proc_title("master [" + options_.proc_name + "]");
    return true;
  }

  void handle_signal(int signal_number) {
    switch (signal_number) {
      case SIGTTIN:  // one more worker
        ++num_workers_;
        manage_workers();
        return;
      case SIGTTOU:  // one less worker: the oldest goes
        if (num_workers_ <= 1) return;
        --num_workers_;
        manage_workers();
        return;
      case SIGHUP:
        if (callbacks_.on_hup) info("Hang up: Master");
        return call_or_ignore(callbacks_.on_hup, "SIGHUP");
      case SIGUSR1:  // reopen log files here (on_usr1) and in every worker
        if (callbacks_.on_usr1) callbacks_.on_usr1();
        return kill_workers(SIGUSR1);
      case SIGUSR2:
        return call_or_ignore(callbacks_.on_usr2, "SIGUSR2");
      case SIGWINCH:
        if (callbacks_.on_winch) return callbacks_.on_winch();
        return debug("SIGWINCH ignored. Not daemonized");
      default:
        error("Unhandled signal: " + signal_short_name(signal_number));
    }
  }

  void call_or_ignore(const std::function<void()>& handler, const char* name) {
    if (handler) return handler();
    info(std::string(name) + " is not supported yet, ignored");
  }

  // Keeps `num_workers_` workers: spawns the missing ones, sends TERM to the oldest extras.
  void manage_workers() {
    if (static_cast<int>(workers_.size()) < num_workers_) spawn_workers();

    std::vector<std::pair<int, pid_t>> by_age;
    for (const auto& [pid, worker] : workers_) by_age.emplace_back(worker.age, pid);
    std::sort(by_age.begin(), by_age.end());
    size_t count = by_age.size();
    for (size_t i = 0; count > static_cast<size_t>(num_workers_); ++i, --count) {
      kill_worker(by_age[i].second, SIGTERM);
    }
    if (last_logged_count_ != static_cast<int>(count)) {
      last_logged_count_ = static_cast<int>(count);
      debug(std::to_string(count) + " workers");
    }
  }

  void spawn_workers() {
    std::uniform_int_distribution<int> jitter(0, std::max(options_.spawn_jitter_ms, 0));
    for (int missing = num_workers_ - static_cast<int>(workers_.size()); missing > 0; --missing) {
      spawn_worker();
      sleep_ms(jitter(random_));
    }
  }

  void spawn_worker() {
    const int age = ++worker_age_;
    std::atomic<int64_t>* heartbeat = heartbeats_.acquire();  // set to now: boot time counts
    if (heartbeat == nullptr) {
      error("Can't map heartbeat memory for a new worker");
      return;
    }
    pid_t pid;
    {
      // No handler of ours may run in the child before reset_in_child().
      BlockAllSignals blocked;
      if (callbacks_.before_fork) callbacks_.before_fork();
      pid = ::fork();
      if (pid == 0) run_child(age, heartbeat);  // never returns
      const int fork_errno = errno;
      if (callbacks_.after_fork_parent) callbacks_.after_fork_parent();
      errno = fork_errno;
    }
    if (pid < 0) {
      error(std::string("Can't fork a worker: ") + std::strerror(errno));
      heartbeats_.release(heartbeat);
      return;
    }
    workers_[pid] = Worker{age, heartbeat, -1};
  }

  [[noreturn]] void run_child(int age, std::atomic<int64_t>* heartbeat) {
    signals_.reset_in_child();
    if (callbacks_.after_fork_child) callbacks_.after_fork_child();
    WorkerContext context;
    context.age = age;
    context.ppid = pid_;
    context.pid = ::getpid();
    context.heartbeat = heartbeat;
    context.listeners = &listeners_;
    context.timeout = options_.timeout;
    set_proc_title("worker [" + options_.proc_name + "]");
    info("Booting worker with pid: " + std::to_string(context.pid));
    int status = 255;  // gunicorn's sys.exit(-1) for an unexpected failure
    try {
      status = callbacks_.run_worker(context);
    } catch (const std::exception& exception) {
      error(std::string("Exception in worker process: ") + exception.what());
    } catch (...) {
      error("Exception in worker process");
    }
    info("Worker exiting (pid: " + std::to_string(context.pid) + ")");
    std::fflush(nullptr);
    ::_exit(status & 0xff);  // no atexit handlers or static destructors of the master
  }

  // Collects exited workers. Boot and app-load failures end the master, as in gunicorn.
  void reap_workers() {
    for (;;) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid < 0 && errno == EINTR) continue;
      if (pid <= 0) return;  // none left to reap now, or ECHILD
      report_exit(pid, status);
      const auto it = workers_.find(pid);
      if (it == workers_.end()) continue;
      const int age = it->second.age;
      heartbeats_.release(it->second.heartbeat);
      workers_.erase(it);
      if (callbacks_.child_exit) callbacks_.child_exit(pid, age);
    }
  }

  void report_exit(pid_t pid, int status) {
    const std::string worker = "Worker (pid:" + std::to_string(pid) + ")";
    if (WIFEXITED(status)) {
      const int code = WEXITSTATUS(status);
      if (!stopping_ && !halt_ && code == kWorkerBootError) {
        halt_ = Halt{"Worker failed to boot.", kWorkerBootError};
      } else if (!stopping_ && !halt_ && code == kAppLoadError) {
        halt_ = Halt{"App failed to load.", kAppLoadError};
      } else if (code != 0) {
        error(worker + " exited with code " + std::to_string(code));
      }
    } else if (WIFSIGNALED(status)) {
      const int signal_number = WTERMSIG(status);
      std::string message = worker + " was sent " + signal_name(signal_number) + "!";
      if (signal_number == SIGKILL) message += " Perhaps out of memory?";
      error(message);
    }
  }

  // Workers whose heartbeat is older than `timeout`: SIGABRT first, SIGKILL after abort_grace.
  void murder_workers() {
    if (options_.timeout <= 0) return;
    const int64_t now = heartbeat_now_ms();
    std::vector<std::pair<pid_t, int>> kills;
    for (auto& [pid, worker] : workers_) {
      if (now - worker.heartbeat->load(std::memory_order_relaxed) <= to_ms(options_.timeout)) continue;
      if (worker.aborted_at_ms < 0) {
        critical("WORKER TIMEOUT (pid:" + std::to_string(pid) + ")");
        worker.aborted_at_ms = now;
        kills.emplace_back(pid, SIGABRT);
      } else if (now - worker.aborted_at_ms >= to_ms(options_.abort_grace)) {
        kills.emplace_back(pid, SIGKILL);
      }
    }
    for (const auto& [pid, signal_number] : kills) kill_worker(pid, signal_number);
  }

  void kill_workers(int signal_number) {
    std::vector<pid_t> pids;
    for (const auto& entry : workers_) pids.push_back(entry.first);
    for (pid_t pid : pids) kill_worker(pid, signal_number);
  }

  void kill_worker(pid_t pid, int signal_number) {
    if (::kill(pid, signal_number) == 0 || errno != ESRCH) return;
    // Already gone and reaped elsewhere: forget it.
    const auto it = workers_.find(pid);
    if (it == workers_.end()) return;
    heartbeats_.release(it->second.heartbeat);
    workers_.erase(it);
  }

  // Closes the listeners, asks workers to exit (TERM, or QUIT when not graceful), waits up to
  // graceful_timeout, then SIGKILLs the rest.
  void stop(bool graceful) {
    stopping_ = true;
    net::close_listeners(listeners_, options_.unlink_unix_sockets);
    const int64_t deadline = heartbeat_now_ms() + to_ms(options_.graceful_timeout);
    kill_workers(graceful ? SIGTERM : SIGQUIT);
    wait_for_workers(deadline);
    if (workers_.empty()) return;
    kill_workers(SIGKILL);
    wait_for_workers(heartbeat_now_ms() + 1000);  // SIGKILL is quick; don't leave zombies
  }

  void wait_for_workers(int64_t deadline) {
    reap_workers();
    for (int64_t now = heartbeat_now_ms(); !workers_.empty() && now < deadline; now = heartbeat_now_ms()) {
      signals_.sleep(static_cast<int>(std::min<int64_t>(100, deadline - now)));  // SIGCHLD wakes it
      reap_workers();
    }
  }

  int halt(const std::string& reason = "", int exit_status = 0) {
    stop(true);
    info("Shutting down: Master");
    if (!reason.empty()) info("Reason: " + reason);
    return exit_status;
  }

  void set_proc_title(const std::string& title) {
    if (callbacks_.set_proc_title) callbacks_.set_proc_title(title);
  }
  static void emit(const std::function<void(const std::string&)>& sink, const std::string& message) {
    if (sink) sink(message);
  }
  void debug(const std::string& message) { emit(callbacks_.log_debug, message); }
  void info(const std::string& message) { emit(callbacks_.log_info, message); }
  void error(const std::string& message) { emit(callbacks_.log_error, message); }
  void critical(const std::string& message) {
    emit(callbacks_.log_critical ? callbacks_.log_critical : callbacks_.log_error, message);
  }

  const ArbiterOptions& options_;
  std::vector<net::Listener>& listeners_;
  const Callbacks& callbacks_;
  int num_workers_;
  int worker_age_ = 0;
  int last_logged_count_ = -1;
  pid_t pid_ = 0;
  bool stopping_ = false;
  std::optional<Halt> halt_;
  std::map<pid_t, Worker> workers_;
  HeartbeatTable heartbeats_;
  SignalQueue signals_;
  std::minstd_rand random_;
};

}  // namespace

int run(const ArbiterOptions& options, std::vector<net::Listener>& listeners, const Callbacks& callbacks) {
  Arbiter arbiter(options, listeners, callbacks);
  return arbiter.run();
}

}  // namespace narwhal::arbiter
