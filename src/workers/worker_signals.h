// The worker's signal state: one object per process (signal handlers can only reach a global),
// set by the handlers and read by the engine's loop.
#pragma once

#include <csignal>

namespace narwhal::workers {

struct WorkerSignals {
  volatile sig_atomic_t stop_graceful = 0;  // TERM: finish what is in flight, then exit
  volatile sig_atomic_t reopen_logs = 0;    // USR1
};

WorkerSignals& worker_signals();

// TERM → graceful stop, USR1 → reopen logs, INT/QUIT → exit at once (unless `quit_in_python`:
// the Python handlers the hooks installed run worker_int/worker_exit), PIPE/HUP ignored
// (WINCH: the stack dump's, installed in Python).
// Resets the state (a forked child starts with nothing pending).
void install_worker_signals(bool quit_in_python);

}  // namespace narwhal::workers
