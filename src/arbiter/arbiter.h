// The master process (gunicorn's Arbiter): forks workers, keeps their number, reaps them,
// kills the ones that stop heartbeating, and handles the master's signals. It knows nothing
// about Python: the embedding layer passes fork hooks and the worker body as callbacks.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "net/listener.h"
#include "workers/context.h"

namespace narwhal::arbiter {

// The worker exit statuses and the worker context are shared with the workers: they live in
// workers/context.h, below both. These names keep the master's code (and its callers) short.
using workers::kAppLoadError;
using workers::kWorkerBootError;
using workers::WorkerContext;

struct ArbiterOptions {
  int workers = 1;
  double timeout = 30;           // seconds without a heartbeat before a worker is killed; 0 = never
  double graceful_timeout = 30;  // seconds workers get to finish on stop before SIGKILL
  std::string proc_name = "narwhal";
  std::string version;              // "Starting narwhal <version>"
  std::string worker_class = "sync";  // "Using worker: <worker_class>"
  bool unlink_unix_sockets = true;  // on stop; false for systemd sockets, reuse_port, upgrades
  double abort_grace = 1.0;  // seconds after SIGABRT (WORKER TIMEOUT) before SIGKILL
  // gunicorn spreads forks with `time.sleep(0.1 * random.random())`; the upper bound, in ms.
  int spawn_jitter_ms = 100;
  std::string pidfile;  // written at start ("<pidfile>.2" by an upgraded master), removed at exit
  // USR2 (binary upgrade) execs `exec_argv` (argv[0]: an absolute path) in `exec_cwd`, handing
  // over the listeners. Empty: USR2 is ignored.
  std::vector<std::string> exec_argv;
  std::string exec_cwd;
  bool systemd = false;  // the listeners came from socket activation (LISTEN_FDS)
  bool backlog_metric = false;  // enable_backlog_metric: report the listen backlog (statsd)
  // The control socket (docs/control.md); empty = none (control_socket_disable).
  std::string control_socket;
  unsigned control_socket_mode = 0600;
  // The Prometheus endpoint (docs/metrics.md): HOST:PORT the master serves /metrics on; empty =
  // none.
  std::string metrics_bind;
};

struct Callbacks {
  // Metrics (statsd): a value under gunicorn's name (histogram or gauge), and the end of a
  // loop turn (what was buffered is sent). May be empty.
  std::function<void(const std::string& name, long long value, bool histogram)> metric;
  std::function<void()> flush_metrics;
  // Around the master's waits (poll on the signal pipe and the control sockets): nothing of the
  // master runs meanwhile, so the embedding layer may let Python threads run (the GIL). May be
  // empty.
  std::function<void()> before_sleep;
  std::function<void()> after_sleep;
  // Around fork() in the master (pre_fork hook + PyOS_BeforeFork / PyOS_AfterFork_Parent).
  std::function<void()> before_fork;
  std::function<void()> after_fork_parent;
  // In the child, first thing after fork once signals are reset (PyOS_AfterFork_Child).
  // gunicorn logs "Booting worker with pid" before its post_fork hook, so that hook belongs at
  // the start of run_worker rather than here.
  std::function<void()> after_fork_child;
  // The worker body; its return value becomes the child's exit status (_exit). Signals are at
  // their defaults and unblocked: it installs its own handlers.
  std::function<int(WorkerContext&)> run_worker;
  // After a worker has been reaped (gunicorn's child_exit hook). May be empty.
  std::function<void(pid_t pid, int age)> child_exit;
  // USR1 (gunicorn: reopen log files): on_usr1 runs in the master, then every worker gets
  // SIGUSR1 (workers must handle it). May be empty.
  std::function<void()> on_usr1;
  // HUP (gunicorn's Arbiter.reload): read the settings again from every source, exactly as at
  // start-up, and fill `options` from them; workers forked afterwards must use the new settings
  // (and import the app again unless it was preloaded). false = keep the current settings (the
  // callback has logged why). Empty -> "SIGHUP is not supported, ignored".
  std::function<bool(ArbiterOptions* options)> reload;
  // In the child forked by USR2, just before exec (gunicorn's pre_exec hook). May be empty.
  // Runs without PyOS_BeforeFork: call PyOS_AfterFork_Child first if it runs Python.
  std::function<void()> pre_exec;
  // WINCH: gunicorn stops the workers only when daemonized. Empty -> "SIGWINCH ignored. Not
  // daemonized".
  std::function<void()> on_winch;
  // Start-up, in gunicorn's Arbiter.start order: "Starting narwhal", the pid file,
  // on_starting (the hook), the signal handlers, create_listeners, "Listening at", "Using
  // worker", when_ready. create_listeners fills `listeners` when it is empty (inherited or
  // bound sockets) and may set options->systemd / unlink_unix_sockets; false (after logging
  // why) ends the start-up with exit status 1. on_exit: the last thing halt() does (gunicorn's
  // on_exit hook). Any may be empty.
  std::function<void()> on_starting;
  std::function<bool(std::vector<net::Listener>* listeners, ArbiterOptions* options)> create_listeners;
  std::function<void()> on_exit;
  // gunicorn's hooks that live in the master loop; any may be empty. when_ready: after start-up
  // (listeners, pid file), before the first workers. pre_fork: before each fork, with the age
  // the new worker will have. nworkers_changed: TTIN/TTOU or a reload set the number of
  // workers (the first value is reported by the caller before run()).
  std::function<void()> when_ready;
  std::function<void(int age)> pre_fork;
  std::function<void(int new_value, int old_value)> nworkers_changed;
  // The control socket's `show config`: a JSON object of the current settings. May be empty.
  std::function<std::string()> config_json;
  // Sets the process title ("master [proc_name]", "worker [proc_name]"). May be empty.
  std::function<void(const std::string&)> set_proc_title;
  // Logging; any may be empty. critical falls back to error, debug to nothing.
  std::function<void(const std::string&)> log_debug, log_info, log_warning, log_error, log_critical;
};

// Runs the master loop until it is told to stop, then returns the process exit status: 0 after
// TERM/INT/QUIT (docs/signals.md), kWorkerBootError or kAppLoadError when a worker exited
// with one of them.
// `listeners` are closed when it returns (socket files unlinked per unlink_unix_sockets).
// Installs its signal handlers for the duration of the call and restores the previous ones.
int run(const ArbiterOptions& options, std::vector<net::Listener>& listeners, const Callbacks& callbacks);

}  // namespace narwhal::arbiter
