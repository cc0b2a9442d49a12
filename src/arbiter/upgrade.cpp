// HUP and USR2, as gunicorn's Arbiter.reload / reexec / maybe_promote_master, and the pid file.
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>

#include "arbiter/master.h"
#include "arbiter/reexec.h"
#include "arbiter/signals.h"
#include "arbiter/systemd_notify.h"

namespace narwhal::arbiter {

// HUP: new settings, `workers` new workers, then manage_workers stops the oldest (with TERM,
// so they drain) until `workers` remain.
void Arbiter::reload() {
  if (!callbacks_.reload) return info("SIGHUP is not supported, ignored");
  notify_systemd("RELOADING=1\nSTATUS=Reloading");
  ArbiterOptions next = options_;
  const std::string old_listeners = listener_names();
  if (!callbacks_.reload(&next)) {
    error("Reload failed: keeping the current configuration");
    notify_systemd("READY=1\nSTATUS=" + status_text());
    return;
  }
  const bool control_changed = next.control_socket != options_.control_socket ||
                               next.control_socket_mode != options_.control_socket_mode;
  const bool metrics_changed = next.metrics_bind != options_.metrics_bind;
  options_ = std::move(next);
  ++reloads_;
  if (control_changed) {
    close_control();
    open_control();
  }
  if (metrics_changed) {
    close_metrics();
    open_metrics();
  }
  set_num_workers(options_.workers);  // + nworkers_changed, as gunicorn's setup()
  proc_name_ = options_.proc_name + (master_pid_ != 0 ? ".2" : "");
  if (listener_names() != old_listeners) info("Listening at: " + listener_names());
  if (pidfile_) pidfile_->unlink();
  pidfile_.reset();
  if (std::string failure; !create_pidfile(&failure)) error(failure);
  set_proc_title("master [" + proc_name_ + "]");
  for (int i = 0; i < options_.workers; ++i) spawn_worker();
  manage_workers();
  notify_systemd("READY=1\nSTATUS=" + status_text());
}

// USR2: fork + exec a new master that inherits the listeners. This one goes on serving until
// it is told to stop; the new one takes the pid file over when this one has exited.
void Arbiter::reexec() {
  if (reexec_pid_ != 0) return warning("USR2 signal ignored. Child exists.");
  if (master_pid_ != 0) return warning("USR2 signal ignored. Parent exists.");
  if (options_.exec_argv.empty()) return warning("USR2 signal ignored. No command line to re-execute.");
  ReexecPlan plan{options_.exec_argv, options_.exec_cwd, &listeners_, options_.systemd, pid_};
  {
    BlockAllSignals blocked;
    reexec_pid_ = fork_new_master(plan, [this] {
      signals_.reset_in_child();
      if (callbacks_.pre_exec) callbacks_.pre_exec();
    });
  }
  if (reexec_pid_ < 0) {
    error(std::string("Can't fork a new master: ") + std::strerror(errno));
    reexec_pid_ = 0;
  }
}

// The new master of an upgrade becomes the master when the old one has exited.
void Arbiter::maybe_promote_master() {
  if (master_pid_ == 0 || master_pid_ == ::getppid()) return;
  info("Master has been promoted.");
  master_name_ = "Master";
  master_pid_ = 0;
  proc_name_ = options_.proc_name;
  ::unsetenv("GUNICORN_PID");
  std::string failure;
  if (pidfile_ && !pidfile_->rename(options_.pidfile, &failure)) error(failure);
  set_proc_title("master [" + proc_name_ + "]");
  notify_systemd("STATUS=" + status_text());
}

bool Arbiter::create_pidfile(std::string* failure) {
  if (options_.pidfile.empty()) return true;
  pidfile_.emplace(options_.pidfile + (master_pid_ != 0 ? ".2" : ""));
  if (pidfile_->create(pid_, failure)) return true;
  pidfile_.reset();
  return false;
}

}  // namespace narwhal::arbiter
