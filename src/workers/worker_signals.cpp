#include "workers/worker_signals.h"

#include <signal.h>
#include <unistd.h>

namespace narwhal::workers {
namespace {

WorkerSignals g_signals;

void on_term(int) { g_signals.stop_graceful = 1; }
void on_quit(int) { _exit(0); }  // quick shutdown: nothing in flight is worth waiting for
void on_usr1(int) { g_signals.reopen_logs = 1; }

}  // namespace

WorkerSignals& worker_signals() { return g_signals; }

void install_worker_signals(bool quit_in_python) {
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
  sigaction(SIGWINCH, &action, nullptr);
}

}  // namespace narwhal::workers
