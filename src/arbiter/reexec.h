// USR2, the binary upgrade (gunicorn's Arbiter.reexec): fork, and in the child exec a new
// master with the same command line, handing it the listening sockets. The old master keeps
// serving until it is sent TERM (or QUIT); the new one shares the sockets, so nothing queued
// is lost.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "net/listener.h"

namespace narwhal::arbiter {

struct ReexecPlan {
  std::vector<std::string> argv;  // argv[0] is the program executed (an absolute path)
  std::string cwd;                // the directory the first master started in
  const std::vector<net::Listener>* listeners = nullptr;
  // Sockets from systemd: passed as LISTEN_FDS=n/LISTEN_PID=<new master> on fds 3..3+n-1.
  // Otherwise as GUNICORN_FD="3,4" (the fds keep their numbers).
  bool systemd = false;
  pid_t master_pid = 0;  // GUNICORN_PID: the new master's parent, the one being replaced
};

// Forks. The child runs `in_child` (signal reset, the pre_exec hook), clears close-on-exec on
// the listeners, sets the environment and execs; if exec fails it reports on stderr and exits
// 1. Returns the child's pid, or -1 with errno set.
pid_t fork_new_master(const ReexecPlan& plan, const std::function<void()>& in_child);

}  // namespace narwhal::arbiter
