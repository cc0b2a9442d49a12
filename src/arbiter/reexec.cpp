#include "arbiter/reexec.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

extern char** environ;

namespace narwhal::arbiter {
namespace {

constexpr int kListenFdsStart = 3;  // SD_LISTEN_FDS_START

bool is_handover_variable(const char* entry) {
  for (const char* name : {"GUNICORN_FD=", "GUNICORN_PID=", "LISTEN_FDS=", "LISTEN_PID=", "LISTEN_FDNAMES="}) {
    if (std::strncmp(entry, name, std::strlen(name)) == 0) return true;
  }
  return false;
}

// systemd's convention: the n sockets on fds 3..3+n-1. dup2 clears close-on-exec.
bool move_to_listen_fds(const std::vector<net::Listener>& listeners) {
  std::vector<int> copies;
  for (const net::Listener& listener : listeners) {
    // Above every target first, so that no dup2 below overwrites a socket not yet moved.
    const int copy = ::fcntl(listener.fd.get(), F_DUPFD_CLOEXEC, kListenFdsStart + static_cast<int>(listeners.size()));
    if (copy < 0) return false;
    copies.push_back(copy);
  }
  for (size_t i = 0; i < copies.size(); ++i) {
    if (::dup2(copies[i], kListenFdsStart + static_cast<int>(i)) < 0) return false;
  }
  return true;
}

}  // namespace

pid_t fork_new_master(const ReexecPlan& plan, const std::function<void()>& in_child) {
  // Everything that allocates is prepared before fork().
  std::vector<std::string> variables;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (!is_handover_variable(*entry)) variables.emplace_back(*entry);
  }
  variables.push_back("GUNICORN_PID=" + std::to_string(plan.master_pid));
  const size_t count = plan.listeners->size();
  if (plan.systemd) {
    variables.push_back("LISTEN_FDS=" + std::to_string(count));
    variables.push_back("LISTEN_PID=" + std::string(16, '\0'));  // the child's pid, set there
  } else {
    std::string fds;
    for (const net::Listener& listener : *plan.listeners) {
      fds += (fds.empty() ? "" : ",") + std::to_string(listener.fd.get());
    }
    variables.push_back("GUNICORN_FD=" + fds);
  }
  std::vector<char*> envp;
  for (std::string& variable : variables) envp.push_back(variable.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  for (const std::string& argument : plan.argv) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid != 0) return pid;

  if (in_child) in_child();
  bool ready = true;
  if (plan.systemd) {
    ready = move_to_listen_fds(*plan.listeners);
    std::snprintf(envp[envp.size() - 2] + std::strlen("LISTEN_PID="), 16, "%d", static_cast<int>(::getpid()));
  } else {
    for (const net::Listener& listener : *plan.listeners) ready = ready && ::fcntl(listener.fd.get(), F_SETFD, 0) == 0;
  }
  if (ready && !plan.cwd.empty() && ::chdir(plan.cwd.c_str()) != 0) ready = false;
  if (ready && !argv.empty() && argv[0] != nullptr) ::execve(argv[0], argv.data(), envp.data());
  std::fprintf(stderr, "Error: can't exec a new master (%s): %s\n", plan.argv.empty() ? "" : plan.argv[0].c_str(),
               std::strerror(errno));
  std::fflush(stderr);
  ::_exit(1);
}

}  // namespace narwhal::arbiter
