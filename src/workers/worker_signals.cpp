#include "workers/worker_signals.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <string>

#include "log/logger.h"
#include "log/time_text.h"

namespace narwhal::workers {
namespace {

WorkerSignals g_signals;

void on_term(int) { g_signals.stop_graceful = 1; }
// The line gunicorn's arbiter logs when a worker process ends, prepared outside the handler.
char g_exiting_line[96];
size_t g_exiting_prefix = 0;  // "] [pid] [INFO] Worker exiting (pid: N)\n" follows the time
long g_gmtoff = 0;

// Quick shutdown (INT/QUIT): nothing in flight is worth waiting for. Logs "Worker exiting" as
// gunicorn's workers do, with async-signal-safe calls only.
void on_quit(int) {
  // INT from the terminal and the master's QUIT arrive together: one line, one exit.
  static volatile sig_atomic_t quitting = 0;
  if (quitting) _exit(0);
  quitting = 1;
  char line[160];
  size_t length = log::format_error_time_signal_safe(std::time(nullptr), g_gmtoff, line);
  std::memcpy(line + length, g_exiting_line, g_exiting_prefix);
  length += g_exiting_prefix;
  (void)!::write(log::logger().error_fd(), line, length);
  _exit(0);
}
void on_usr1(int) { g_signals.reopen_logs = 1; }

}  // namespace

WorkerSignals& worker_signals() { return g_signals; }

void install_worker_signals(bool quit_in_python) {
  g_gmtoff = log::local_gmtoff();
  const std::string pid = std::to_string(::getpid());
  const std::string tail = " [" + pid + "] [INFO] Worker exiting (pid: " + pid + ")\n";
  g_exiting_prefix = std::min(tail.size(), sizeof g_exiting_line);
  std::memcpy(g_exiting_line, tail.data(), g_exiting_prefix);
  g_signals.stop_graceful = 0;
  g_signals.reopen_logs = 0;
  struct sigaction action = {};
  sigemptyset(&action.sa_mask);
  action.sa_handler = on_term;
  sigaction(SIGTERM, &action, nullptr);
  if (!quit_in_python) {  // else the Python handlers run worker_int/worker_exit, then exit
    action.sa_handler = on_quit;
    sigaction(SIGQUIT, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);
  }
  action.sa_handler = on_usr1;
  sigaction(SIGUSR1, &action, nullptr);
  action.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &action, nullptr);
  sigaction(SIGHUP, &action, nullptr);  // the master handles reloads
  // SIGWINCH is left alone: its default is to ignore it, and narwhal/_server.py handles it in
  // Python (the control socket's `dump PID`).
}

}  // namespace narwhal::workers
