// The arbiter as the control socket sees it (control::Master): its workers, listeners and
// statistics, and the few things a command may make it do — each through the path a signal
// takes (TTIN/TTOU -> set_num_workers + manage_workers, HUP/USR1/TERM/INT -> the signal queue).
// Also the loop's sleep, which watches the control socket and the metrics endpoint beside the
// signal pipe.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>

#include "arbiter/master.h"
#include "control/metrics_text.h"

namespace narwhal::arbiter {

void Arbiter::sleep(int timeout_ms) {
  if (!control_ && !metrics_) return wait_for_signals(timeout_ms);
  std::vector<pollfd> fds;
  fds.push_back({signals_.fd(), POLLIN, 0});
  if (control_) control_->add_poll_fds(&fds);
  const size_t control_count = fds.size() - 1;
  if (metrics_) metrics_->add_poll_fds(&fds);
  if (callbacks_.before_sleep) callbacks_.before_sleep();
  const int ready = ::poll(fds.data(), fds.size(), control_ ? control_->timeout_ms(timeout_ms) : timeout_ms);
  if (callbacks_.after_sleep) callbacks_.after_sleep();
  // A signal (EINTR or the pipe) is seen first, as SignalQueue::sleep does.
  signals_.drain();
  const int64_t now = workers::heartbeat_now_ms();
  if (control_) {
    if (ready > 0) control_->handle(fds.data() + 1, control_count, now);
    control_->tick(now);
  }
  if (metrics_) {
    if (ready > 0) metrics_->handle(fds.data() + 1 + control_count, fds.size() - 1 - control_count, now);
    metrics_->tick(now);
  }
}

void Arbiter::open_control() {
  if (options_.control_socket.empty()) return;
  control::ServerOptions server_options;
  server_options.path = options_.control_socket;
  server_options.mode = static_cast<mode_t>(options_.control_socket_mode);
  control::ServerLog log{callbacks_.log_info, callbacks_.log_error, callbacks_.log_debug};
  control_ = std::make_unique<control::Server>(*this, std::move(server_options), std::move(log));
  std::string failure;
  if (!control_->open(&failure)) {
    // gunicorn logs "Control server error: ..." and serves on without it.
    error("Control server error: " + failure);
    control_.reset();
  }
}

void Arbiter::close_control() {
  if (!control_) return;
  control_->close();
  control_.reset();
}

void Arbiter::open_metrics() {
  if (options_.metrics_bind.empty()) return;
  control::MetricsServerOptions server_options;
  server_options.bind = options_.metrics_bind;
  control::ServerLog log{callbacks_.log_info, callbacks_.log_error, callbacks_.log_debug};
  metrics_ = std::make_unique<control::MetricsServer>(
      std::move(server_options), [this] { return control::render_metrics(control::collect_metrics(*this)); },
      std::move(log));
  std::string failure;
  if (!metrics_->open(&failure)) {
    // As the control socket: the server runs on without the endpoint.
    error("Metrics server error: " + failure);
    metrics_.reset();
  }
}

void Arbiter::close_metrics() {
  if (!metrics_) return;
  // A unix socket file stays while another master of an upgrade serves it.
  metrics_->close(reexec_pid_ == 0 && master_pid_ == 0);
  metrics_.reset();
}

std::vector<control::WorkerView> Arbiter::workers() const {
  const int64_t now = workers::heartbeat_now_ms();
  std::vector<control::WorkerView> result;
  for (const auto& [pid, worker] : workers_) {
    control::WorkerView view;
    view.pid = pid;
    view.age = worker.age;
    view.aborted = worker.aborted_at_ms >= 0;
    view.last_heartbeat = static_cast<double>(now - worker.heartbeat->load(std::memory_order_relaxed)) / 1000.0;
    view.scoreboard = worker.scoreboard;
    view.booted = worker.scoreboard && worker.scoreboard->booted.load(std::memory_order_relaxed) != 0;
    result.push_back(view);
  }
  std::sort(result.begin(), result.end(), [](const auto& a, const auto& b) { return a.age < b.age; });
  return result;
}

std::vector<control::ListenerView> Arbiter::listeners() const {
  std::vector<control::ListenerView> result;
  for (const net::Listener& listener : listeners_) {
    const char* type = listener.family == AF_UNIX ? "unix" : listener.family == AF_INET6 ? "tcp6" : "tcp";
    result.push_back({listener.name, listener.fd.get(), type});
  }
  return result;
}

control::MasterStats Arbiter::stats() const {
  control::MasterStats stats;
  stats.uptime = static_cast<double>(workers::heartbeat_now_ms() - started_ms_) / 1000.0;
  stats.workers_current = static_cast<int>(workers_.size());
  stats.workers_target = num_workers_;
  stats.workers_spawned = workers_spawned_;
  stats.workers_killed = workers_killed_;
  stats.reloads = reloads_;
  stats.retired = retired_;
  stats.restarts = restarts_;
  return stats;
}

// `worker add|remove`: what TTIN/TTOU do, by more than one.
void Arbiter::set_worker_target(int count) {
  set_num_workers(count);
  manage_workers();
}

// `worker kill PID`: TERM, as gunicorn's handler sends; the master replaces it once reaped.
void Arbiter::stop_worker(pid_t pid) { kill_worker(pid, SIGTERM); }

nlohmann::json Arbiter::config() const {
  if (!callbacks_.config_json) return nlohmann::json::object();
  nlohmann::json value = nlohmann::json::parse(callbacks_.config_json(), nullptr, false);
  return value.is_discarded() ? nlohmann::json::object() : value;
}

}  // namespace narwhal::arbiter
