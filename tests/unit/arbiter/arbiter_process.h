// Test helpers for the arbiter: runs the real master loop in a forked child (its own process
// group, so signals never reach gtest) with workers that only heartbeat, and watches it through
// its log file.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "arbiter/arbiter.h"
#include "workers/heartbeat.h"

namespace narwhal::arbiter::test_support {

using Clock = std::chrono::steady_clock;

inline volatile sig_atomic_t g_worker_signal = 0;
inline volatile sig_atomic_t g_worker_usr1 = 0;
inline void remember_signal(int signal_number) { g_worker_signal = signal_number; }
inline void remember_usr1(int) { g_worker_usr1 = 1; }
// Set in the arbiter process before it forks: workers log through it too.
inline std::function<void(const std::string&)> g_worker_log;

// The default worker: heartbeats every 20 ms, exits 0 on TERM/QUIT/INT or if orphaned.
inline int heartbeat_worker(WorkerContext& context) {
  ::signal(SIGTERM, remember_signal);
  ::signal(SIGQUIT, remember_signal);
  ::signal(SIGINT, remember_signal);
  ::signal(SIGUSR1, remember_usr1);
  while (g_worker_signal == 0 && ::getppid() == context.ppid) {
    workers::beat(context.heartbeat);
    if (g_worker_usr1) {
      g_worker_usr1 = 0;
      g_worker_log("worker " + std::to_string(::getpid()) + " got usr1");
    }
    ::usleep(20000);
  }
  return 0;
}

class ArbiterProcess {
 public:
  ArbiterProcess(ArbiterOptions options, std::function<int(WorkerContext&)> worker,
                 std::function<void(Callbacks&)> customise = nullptr) {
    char pattern[] = "/tmp/narwhal-arbiter-log-XXXXXX";
    const int fd = ::mkstemp(pattern);
    ::close(fd);
    log_path_ = pattern;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      rlimit no_core{0, 0};
      ::setrlimit(RLIMIT_CORE, &no_core);
      Callbacks callbacks;
      callbacks.run_worker = std::move(worker);
      callbacks.log_debug = sink("D");
      callbacks.log_info = sink("I");
      callbacks.log_warning = sink("W");
      callbacks.log_error = sink("E");
      callbacks.log_critical = sink("C");
      g_worker_log = callbacks.log_info;
      if (customise) customise(callbacks);
      // The listener is opened here unless the test lets the arbiter create it.
      std::vector<net::Listener> listeners;
      std::string error;
      if (!callbacks.create_listeners && !net::open_listeners({"127.0.0.1:0"}, 64, false, &listeners, &error)) {
        ::_exit(90);
      }
      ::_exit(run(options, listeners, callbacks));
    }
    ::setpgid(pid_, pid_);
  }

  ~ArbiterProcess() {
    if (pid_ > 0 && !exited_) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::unlink(log_path_.c_str());
  }

  pid_t pid() const { return pid_; }

  std::vector<std::string> lines() const {
    std::ifstream file(log_path_);
    std::vector<std::string> result;
    for (std::string line; std::getline(file, line);) result.push_back(line);
    return result;
  }

  bool has_line(const std::string& line) const {
    for (const std::string& candidate : lines()) {
      if (candidate == line) return true;
    }
    return false;
  }

  std::vector<pid_t> booted() const {
    const std::string prefix = "I Booting worker with pid: ";
    std::vector<pid_t> pids;
    for (const std::string& line : lines()) {
      if (line.rfind(prefix, 0) == 0) pids.push_back(std::atoi(line.c_str() + prefix.size()));
    }
    return pids;
  }

  bool wait_for(const std::function<bool()>& condition, int timeout_ms = 8000) const {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < deadline) {
      if (condition()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return condition();
  }
  bool wait_for_booted(size_t count) const {
    return wait_for([&] { return booted().size() >= count; });
  }
  bool wait_for_line(const std::string& line) const {
    return wait_for([&] { return has_line(line); });
  }

  // The arbiter's exit status, or -1 if it is still running after timeout_ms.
  int wait_exit(int timeout_ms) {
    int status = 0;
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < deadline) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }

  void signal(int signal_number) const { ::kill(pid_, signal_number); }

 private:
  std::function<void(const std::string&)> sink(const char* level) const {
    const std::string path = log_path_;
    return [path, level](const std::string& message) {
      const std::string line = std::string(level) + " " + message + "\n";
      const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
      (void)!::write(fd, line.data(), line.size());
      ::close(fd);
    };
  }

  std::string log_path_;
  pid_t pid_ = -1;
  bool exited_ = false;
};

inline bool is_gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

inline pid_t parent_of(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(text.substr(close + 2));
  std::string state;
  pid_t ppid = -1;
  fields >> state >> ppid;
  return ppid;
}

inline ArbiterOptions test_options(int workers) {
  ArbiterOptions options;
  options.workers = workers;
  options.timeout = 30;
  options.graceful_timeout = 5;
  options.version = "test-1.0";
  options.spawn_jitter_ms = 10;
  return options;
}

inline std::string worker_line(const char* level, pid_t pid, const std::string& rest) {
  return std::string(level) + " Worker (pid:" + std::to_string(pid) + ")" + rest;
}

}  // namespace narwhal::arbiter::test_support
