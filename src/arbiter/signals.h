// The master's signal handling, as in gunicorn: handlers only queue (write the signal number
// into a non-blocking self-pipe); the loop reads the queue and acts.
#pragma once

#include <signal.h>

#include <deque>
#include <string>
#include <vector>

#include "base/unique_fd.h"

namespace narwhal::arbiter {

// gunicorn's Arbiter.SIGNALS; SIGCHLD is handled too but only wakes the loop.
inline constexpr int kMasterSignals[] = {SIGHUP, SIGQUIT, SIGINT, SIGTERM, SIGTTIN,
                                         SIGTTOU, SIGUSR1, SIGUSR2, SIGWINCH};

class SignalQueue {
 public:
  SignalQueue() = default;
  ~SignalQueue();  // restores the previous handlers
  SignalQueue(const SignalQueue&) = delete;
  SignalQueue& operator=(const SignalQueue&) = delete;

  // Creates the pipe and installs the handlers. One SignalQueue per process at a time.
  bool open(std::string* error);

  // Sleeps until a signal arrives or timeout_ms passes, then moves queued signals (at most 5
  // pending, like gunicorn's SIG_QUEUE) into the queue. SIGCHLD only wakes.
  void sleep(int timeout_ms);
  bool empty() const { return pending_.empty(); }
  int pop();
  // For a loop that polls more than the queue (the control socket): the descriptor that turns
  // readable when a signal arrives, and the move of what arrived into the queue.
  int fd() const { return read_end_.get(); }
  void drain();
  // Queues a signal as if it had arrived (the control socket's reload, reopen, shutdown).
  void push(int signal_number);

  // In a freshly forked worker: default dispositions, empty mask, pipe closed.
  void reset_in_child();

 private:
  void restore();

  UniqueFd read_end_;
  UniqueFd write_end_;
  std::deque<int> pending_;
  std::vector<std::pair<int, struct sigaction>> previous_;
};

// Blocks every signal for its lifetime (around fork(), so that no handler of the master runs
// in the child before it resets them).
class BlockAllSignals {
 public:
  BlockAllSignals();
  ~BlockAllSignals();
  BlockAllSignals(const BlockAllSignals&) = delete;
  BlockAllSignals& operator=(const BlockAllSignals&) = delete;

 private:
  sigset_t previous_;
};

// "SIGTERM" (Python's signal.Signals(n).name), or "signal N" if unknown.
std::string signal_name(int signal_number);
// "term", as gunicorn logs "Handling signal: term".
std::string signal_short_name(int signal_number);

}  // namespace narwhal::arbiter
