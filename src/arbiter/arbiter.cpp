// The master loop, modelled on gunicorn's arbiter.py and keeping its names: spawn_worker,
// reap_workers, murder_workers, manage_workers, stop, halt. Reload (HUP) and the binary upgrade
// (USR2) are in upgrade.cpp.
#include "arbiter/arbiter.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <errno.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "arbiter/master.h"
#include "arbiter/systemd_notify.h"

namespace narwhal::arbiter {
namespace {

void sleep_ms(int64_t ms) {
  if (ms <= 0) return;
  timespec duration{static_cast<time_t>(ms / 1000), static_cast<long>((ms % 1000) * 1000000)};
  ::nanosleep(&duration, nullptr);  // a signal cutting it short is fine
}

}  // namespace

Arbiter::Arbiter(const ArbiterOptions& options, std::vector<net::Listener>& listeners, const Callbacks& callbacks)
    : options_(options),
      listeners_(listeners),
      callbacks_(callbacks),
      num_workers_(std::max(options.workers, 1)),
      proc_name_(options.proc_name),
      heartbeats_(static_cast<size_t>(std::max(num_workers_ * 2, 64))),
      random_(static_cast<unsigned>(::getpid())) {}

int Arbiter::run() {
  if (!start()) return 1;
  if (callbacks_.when_ready) callbacks_.when_ready();
  manage_workers();
  // The new master of a USR2 names itself the service's main process as soon as it serves,
  // so that TERM to the old one does not stop the unit (needs NotifyAccess=all).
  const std::string main_pid = master_pid_ != 0 ? "MAINPID=" + std::to_string(pid_) + "\n" : "";
  notify_systemd(main_pid + "READY=1\nSTATUS=" + status_text());
  for (;;) {
    if (callbacks_.flush_metrics) callbacks_.flush_metrics();
    maybe_promote_master();
    if (halt_) return halt(halt_->reason, halt_->exit_status);
    if (signals_.empty()) {
      sleep(1000);
      // A signal that came with this wake-up is handled first: the SIGINT a terminal sends the
      // whole process group also stopped the workers, which are reaped as part of that stop
      // (not reported as crashes) and never replaced (issue 16).
      if (!signals_.empty()) continue;
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
    reap_workers();  // exits that came with the signal (the loop reaps after signals)
  }
}

// gunicorn's Arbiter.start, in its order: the Starting line, the pid file, on_starting, the
// signal handlers, the listeners, "Listening at", "Using worker" (when_ready follows in run()).
bool Arbiter::start() {
  pid_ = ::getpid();
  if (const char* parent = std::getenv("GUNICORN_PID")) {  // we are the new master of a USR2
    master_pid_ = static_cast<pid_t>(std::atol(parent));
    master_name_ = "Master.2";
    proc_name_ += ".2";
  }
  info("Starting narwhal " + options_.version);
  if (!callbacks_.run_worker) {
    error("No worker body given to the arbiter");
    return false;
  }
  std::string failure;
  if (!create_pidfile(&failure)) {
    error(failure);
    return false;
  }
  if (callbacks_.on_starting) callbacks_.on_starting();
  if (!signals_.open(&failure)) {
    error("Can't set up signal handling: " + failure);
    return abandon_start();
  }
  if (listeners_.empty() && callbacks_.create_listeners && !callbacks_.create_listeners(&listeners_, &options_)) {
    return abandon_start();
  }
  debug("Arbiter booted");
  info("Listening at: " + listener_names() + " (" + std::to_string(pid_) + ")");
  info("Using worker: " + options_.worker_class);
  started_ms_ = workers::heartbeat_now_ms();
  open_control();
  open_metrics();
  set_proc_title("master [" + proc_name_ + "]");
  return true;
}

// A start-up that failed after the pid file was written leaves no pid file behind.
bool Arbiter::abandon_start() {
  if (pidfile_) pidfile_->unlink();
  pidfile_.reset();
  return false;
}

void Arbiter::handle_signal(int signal_number) {
  switch (signal_number) {
    case SIGTTIN:  // one more worker
      set_num_workers(num_workers_ + 1);
      manage_workers();
      return;
    case SIGTTOU:  // one less worker: the oldest goes
      if (num_workers_ <= 1) return;
      set_num_workers(num_workers_ - 1);
      manage_workers();
      return;
    case SIGHUP:
      info("Hang up: " + master_name_);
      return reload();
    case SIGUSR1:  // reopen log files here (on_usr1) and in every worker
      if (callbacks_.on_usr1) callbacks_.on_usr1();
      return kill_workers(SIGUSR1);
    case SIGUSR2:
      return reexec();
    case SIGWINCH:
      if (callbacks_.on_winch) return callbacks_.on_winch();
      return debug("SIGWINCH ignored. Not daemonized");
    default:
      error("Unhandled signal: " + signal_short_name(signal_number));
  }
}

// Keeps `num_workers_` workers running: spawns the missing ones, sends TERM to the oldest
// extras. Workers already told to stop (draining) do not count.
void Arbiter::manage_workers() {
  if (live_workers() < num_workers_) spawn_workers();

  std::vector<std::pair<int, pid_t>> by_age;
  for (const auto& [pid, worker] : workers_) {
    if (worker.stopped_at_ms < 0) by_age.emplace_back(worker.age, pid);
  }
  std::sort(by_age.begin(), by_age.end());
  size_t count = by_age.size();
  for (size_t i = 0; count > static_cast<size_t>(num_workers_); ++i, --count) {
    const pid_t pid = by_age[i].second;
    workers_[pid].stopped_at_ms = workers::heartbeat_now_ms();
    kill_worker(pid, SIGTERM);
  }
  if (last_logged_count_ != static_cast<int>(count)) {
    last_logged_count_ = static_cast<int>(count);
    debug(std::to_string(count) + " workers");
    if (callbacks_.metric) callbacks_.metric("gunicorn.workers", static_cast<long long>(count), false);
  }
  if (options_.backlog_metric && callbacks_.metric) {
    // gunicorn 24's enable_backlog_metric (statsd), also narwhal_listen_backlog.
    const long long backlog = listen_backlog().value_or(0);
    debug("socket backlog: " + std::to_string(backlog));
    callbacks_.metric("gunicorn.backlog", backlog, true);
  }
}

// Connections waiting in the TCP listen queues: TCP_INFO's tcpi_unacked of a listening socket
// is its accept queue length on Linux. None without a TCP listener.
std::optional<int64_t> Arbiter::listen_backlog() const {
  std::optional<int64_t> backlog;
  for (const net::Listener& listener : listeners_) {
    if (listener.family == AF_UNIX || !listener.fd) continue;
    tcp_info info{};
    socklen_t size = sizeof info;
    if (::getsockopt(listener.fd.get(), IPPROTO_TCP, TCP_INFO, &info, &size) == 0) {
      backlog = backlog.value_or(0) + info.tcpi_unacked;
    }
  }
  return backlog;
}

void Arbiter::set_num_workers(int count) {
  const int old_count = num_workers_;
  num_workers_ = std::max(count, 1);
  if (callbacks_.nworkers_changed) callbacks_.nworkers_changed(num_workers_, old_count);
}

int Arbiter::live_workers() const {
  int count = 0;
  for (const auto& entry : workers_) count += entry.second.stopped_at_ms < 0 ? 1 : 0;
  return count;
}

void Arbiter::spawn_workers() {
  std::uniform_int_distribution<int> jitter(0, std::max(options_.spawn_jitter_ms, 0));
  for (int missing = num_workers_ - live_workers(); missing > 0; --missing) {
    spawn_worker();
    sleep_ms(jitter(random_));
  }
}

void Arbiter::spawn_worker() {
  const int age = ++worker_age_;
  std::atomic<int64_t>* heartbeat = heartbeats_.acquire();  // set to now: boot time counts
  if (heartbeat == nullptr) {
    error("Can't map heartbeat memory for a new worker");
    return;
  }
  workers::Scoreboard* scoreboard = scoreboards_.acquire();  // null: the worker publishes nothing
  if (callbacks_.pre_fork) callbacks_.pre_fork(age);
  pid_t pid;
  {
    // No handler of ours may run in the child before reset_in_child().
    BlockAllSignals blocked;
    if (callbacks_.before_fork) callbacks_.before_fork();
    pid = ::fork();
    if (pid == 0) run_child(age, heartbeat, scoreboard);  // never returns
    const int fork_errno = errno;
    if (callbacks_.after_fork_parent) callbacks_.after_fork_parent();
    errno = fork_errno;
  }
  if (pid < 0) {
    error(std::string("Can't fork a worker: ") + std::strerror(errno));
    heartbeats_.release(heartbeat);
    if (scoreboard) scoreboards_.release(scoreboard);
    return;
  }
  workers_[pid] = Worker{age, heartbeat, scoreboard, -1, -1};
  ++workers_spawned_;
}

void Arbiter::run_child(int age, std::atomic<int64_t>* heartbeat, workers::Scoreboard* scoreboard) {
  signals_.reset_in_child();
  if (control_) control_->close_in_child();
  if (metrics_) metrics_->close_in_child();
  if (callbacks_.after_fork_child) callbacks_.after_fork_child();
  WorkerContext context;
  context.age = age;
  context.ppid = pid_;
  context.pid = ::getpid();
  context.heartbeat = heartbeat;
  context.scoreboard = scoreboard;
  context.listeners = &listeners_;
  context.timeout = options_.timeout;
  set_proc_title("worker [" + proc_name_ + "]");
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
void Arbiter::reap_workers() {
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == EINTR) continue;
    if (pid <= 0) return;  // none left to reap now, or ECHILD
    if (pid == reexec_pid_) {  // the new master of a USR2 died before taking over
      reexec_pid_ = 0;
      error("New master (pid:" + std::to_string(pid) + ") exited; the binary upgrade failed");
      continue;
    }
    const auto it = workers_.find(pid);
    report_exit(pid, status, it == workers_.end() ? 0 : it->second.stop_signal);
    if (it == workers_.end()) continue;
    count_restart(it->second, status);
    const int age = it->second.age;
    forget_worker(it);
    if (callbacks_.child_exit) callbacks_.child_exit(pid, age);
  }
}

void Arbiter::report_exit(pid_t pid, int status, int stop_signal) {
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
    const bool stop_signal_while_stopping =
        stopping_ && (signal_number == SIGINT || signal_number == SIGQUIT || signal_number == SIGTERM);
    if (signal_number == stop_signal || stop_signal_while_stopping) {
      // A retirement the master asked for (HUPs in quick succession retire workers still
      // booting, before their handlers are installed): not an error (issue 16).
      info(message);
      return;
    }
    if (signal_number == SIGKILL) message += " Perhaps out of memory?";
    error(message);
  }
}

// Why a reaped worker went, for narwhal_worker_restarts_total: killed by the timeout watchdog
// (it was sent SIGABRT), left by itself after max_requests (it said so on its scoreboard), or a
// crash: a signal or a non-zero status the master did not ask for. Exits the master asked for
// (TERM/QUIT/INT to retire it, the stop) and --reload's clean exits count as none.
void Arbiter::count_restart(const Worker& worker, int status) {
  if (stopping_ || halt_) return;
  if (worker.aborted_at_ms >= 0) {
    ++restarts_.timeout;
  } else if (worker.scoreboard && worker.scoreboard->retiring.load(std::memory_order_relaxed) != 0) {
    ++restarts_.max_requests;
  } else if (WIFSIGNALED(status) && WTERMSIG(status) != worker.stop_signal &&
             !(WTERMSIG(status) == SIGKILL && worker.stop_signal != 0)) {  // not draining too long
    ++restarts_.crash;
  } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0 && worker.stop_signal == 0) {
    ++restarts_.crash;
  }
}

// Workers whose heartbeat is older than `timeout`: SIGABRT first, SIGKILL after abort_grace.
void Arbiter::murder_workers() {
  const int64_t now = workers::heartbeat_now_ms();
  std::vector<std::pair<pid_t, int>> kills;
  for (auto& [pid, worker] : workers_) {
    // A draining worker gets graceful_timeout, as on stop; its own deadline normally ends it.
    if (worker.stopped_at_ms >= 0 &&
        now - worker.stopped_at_ms > to_ms(options_.graceful_timeout + options_.abort_grace)) {
      kills.emplace_back(pid, SIGKILL);
      continue;
    }
    if (options_.timeout <= 0) continue;
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

void Arbiter::kill_workers(int signal_number) {
  std::vector<pid_t> pids;
  for (const auto& entry : workers_) pids.push_back(entry.first);
  for (pid_t pid : pids) kill_worker(pid, signal_number);
}

void Arbiter::kill_worker(pid_t pid, int signal_number) {
  if (signal_number == SIGTERM || signal_number == SIGQUIT || signal_number == SIGINT) {
    if (const auto it = workers_.find(pid); it != workers_.end()) it->second.stop_signal = signal_number;
  }
  if (::kill(pid, signal_number) == 0) {
    if (signal_number != SIGUSR1) ++workers_killed_;
    return;
  }
  if (errno != ESRCH) return;
  // Already gone and reaped elsewhere: forget it.
  const auto it = workers_.find(pid);
  if (it == workers_.end()) return;
  forget_worker(it);
}

void Arbiter::forget_worker(std::map<pid_t, Worker>::iterator it) {
  heartbeats_.release(it->second.heartbeat);
  if (workers::Scoreboard* scoreboard = it->second.scoreboard) {
    retired_.add(scoreboard->counters);  // the totals stay monotonic across worker exits
    scoreboards_.release(scoreboard);
  }
  workers_.erase(it);
}

// Closes the listeners, asks workers to exit (TERM, or QUIT when not graceful), waits up to
// graceful_timeout, then SIGKILLs the rest.
// Socket files stay during an upgrade: the other master still serves them.
void Arbiter::stop(bool graceful) {
  // An old master handing over to a new one (USR2) is not the service stopping.
  if (!stopping_ && reexec_pid_ == 0) notify_systemd("STOPPING=1\nSTATUS=Stopping");
  stopping_ = true;
  close_control();  // its last replies (to `shutdown`) are flushed first
  close_metrics();
  const bool unlink = options_.unlink_unix_sockets && reexec_pid_ == 0 && master_pid_ == 0;
  net::close_listeners(listeners_, unlink);
  const int64_t deadline = workers::heartbeat_now_ms() + to_ms(options_.graceful_timeout);
  kill_workers(graceful ? SIGTERM : SIGQUIT);
  wait_for_workers(deadline);
  if (workers_.empty()) return;
  kill_workers(SIGKILL);
  wait_for_workers(workers::heartbeat_now_ms() + 1000);  // SIGKILL is quick; don't leave zombies
}

void Arbiter::wait_for_signals(int timeout_ms) {
  if (callbacks_.before_sleep) callbacks_.before_sleep();
  signals_.sleep(timeout_ms);
  if (callbacks_.after_sleep) callbacks_.after_sleep();
}

void Arbiter::wait_for_workers(int64_t deadline) {
  reap_workers();
  for (int64_t now = workers::heartbeat_now_ms(); !workers_.empty() && now < deadline; now = workers::heartbeat_now_ms()) {
    wait_for_signals(static_cast<int>(std::min<int64_t>(100, deadline - now)));  // SIGCHLD wakes it
    reap_workers();
  }
}

int Arbiter::halt(const std::string& reason, int exit_status) {
  stop(true);
  info("Shutting down: " + master_name_);
  if (!reason.empty()) info("Reason: " + reason);
  if (pidfile_) pidfile_->unlink();
  if (callbacks_.on_exit) callbacks_.on_exit();
  return exit_status;
}

std::string Arbiter::listener_names() const {
  std::string names;
  for (const net::Listener& listener : listeners_) names += (names.empty() ? "" : ",") + listener.name;
  return names;
}

std::string Arbiter::status_text() const {
  return master_name_ + " [" + proc_name_ + "], " + std::to_string(live_workers()) + " workers";
}

int run(const ArbiterOptions& options, std::vector<net::Listener>& listeners, const Callbacks& callbacks) {
  Arbiter arbiter(options, listeners, callbacks);
  return arbiter.run();
}

}  // namespace narwhal::arbiter
