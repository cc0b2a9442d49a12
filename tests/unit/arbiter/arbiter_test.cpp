// Runs the real master loop in a forked child (its own process group, so signals never reach
// gtest) with workers that only heartbeat, and watches it through its log file.
#include "arbiter/arbiter.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <gtest/gtest.h>
#include <sstream>
#include <thread>

#include "arbiter/heartbeat.h"
#include "arbiter/signals.h"

namespace narwhal::arbiter {
namespace {

using Clock = std::chrono::steady_clock;

volatile sig_atomic_t g_worker_signal = 0;
volatile sig_atomic_t g_worker_usr1 = 0;
void remember_signal(int signal_number) { g_worker_signal = signal_number; }
void remember_usr1(int) { g_worker_usr1 = 1; }
// Set in the arbiter process before it forks: workers log through it too.
std::function<void(const std::string&)> g_worker_log;

// The default worker: heartbeats every 20 ms, exits 0 on TERM/QUIT/INT or if orphaned.
int heartbeat_worker(WorkerContext& context) {
  ::signal(SIGTERM, remember_signal);
  ::signal(SIGQUIT, remember_signal);
  ::signal(SIGINT, remember_signal);
  ::signal(SIGUSR1, remember_usr1);
  while (g_worker_signal == 0 && ::getppid() == context.ppid) {
    beat(context.heartbeat);
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
      std::vector<net::Listener> listeners;
      std::string error;
      if (!net::open_listeners({"127.0.0.1:0"}, 64, false, &listeners, &error)) ::_exit(90);
      Callbacks callbacks;
      callbacks.run_worker = std::move(worker);
      callbacks.log_debug = sink("D");
      callbacks.log_info = sink("I");
      callbacks.log_warning = sink("W");
      callbacks.log_error = sink("E");
      callbacks.log_critical = sink("C");
      g_worker_log = callbacks.log_info;
      if (customise) customise(callbacks);
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

bool is_gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

pid_t parent_of(pid_t pid) {
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

ArbiterOptions test_options(int workers) {
  ArbiterOptions options;
  options.workers = workers;
  options.timeout = 30;
  options.graceful_timeout = 5;
  options.version = "test-1.0";
  options.spawn_jitter_ms = 10;
  return options;
}

std::string worker_line(const char* level, pid_t pid, const std::string& rest) {
  return std::string(level) + " Worker (pid:" + std::to_string(pid) + ")" + rest;
}

TEST(Arbiter, SpawnsWorkersAndStopsGracefullyOnTerm) {
  ArbiterProcess arbiter(test_options(3), heartbeat_worker);
  ASSERT_TRUE(arbiter.wait_for_booted(3));
  const std::vector<pid_t> workers = arbiter.booted();
  for (pid_t pid : workers) EXPECT_EQ(parent_of(pid), arbiter.pid());
  std::vector<std::string> lines;
  for (const std::string& line : arbiter.lines()) {
    if (line.rfind("D ", 0) != 0) lines.push_back(line);
  }
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines[0], "I Starting narwhal test-1.0");
  EXPECT_EQ(lines[1].rfind("I Listening at: http://127.0.0.1:", 0), 0u) << lines[1];
  EXPECT_NE(lines[1].find(" (" + std::to_string(arbiter.pid()) + ")"), std::string::npos) << lines[1];
  EXPECT_EQ(lines[2], "I Using worker: sync");

  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(arbiter.booted().size(), 3u);  // no extra spawns

  const auto start = Clock::now();
  arbiter.signal(SIGTERM);
  EXPECT_EQ(arbiter.wait_exit(5000), 0);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
  EXPECT_TRUE(arbiter.has_line("I Handling signal: term"));
  EXPECT_TRUE(arbiter.has_line("I Shutting down: Master"));
  for (pid_t pid : workers) {
    EXPECT_TRUE(is_gone(pid)) << pid;
    EXPECT_TRUE(arbiter.has_line("I Worker exiting (pid: " + std::to_string(pid) + ")"));
  }
}

TEST(Arbiter, RespawnsAKilledWorker) {
  ArbiterProcess arbiter(test_options(2), heartbeat_worker);
  ASSERT_TRUE(arbiter.wait_for_booted(2));
  const pid_t victim = arbiter.booted()[0];
  ::kill(victim, SIGKILL);
  ASSERT_TRUE(arbiter.wait_for_booted(3));
  EXPECT_TRUE(arbiter.wait_for_line(worker_line("E", victim, " was sent SIGKILL! Perhaps out of memory?")));
  arbiter.signal(SIGTERM);
  EXPECT_EQ(arbiter.wait_exit(5000), 0);
}

TEST(Arbiter, ReportsWorkerExitCode) {
  ArbiterOptions options = test_options(1);
  ArbiterProcess arbiter(options, [](WorkerContext& context) { return context.age == 1 ? 7 : heartbeat_worker(context); });
  ASSERT_TRUE(arbiter.wait_for_booted(2));
  EXPECT_TRUE(arbiter.wait_for_line(worker_line("E", arbiter.booted()[0], " exited with code 7")));
  arbiter.signal(SIGTERM);
  EXPECT_EQ(arbiter.wait_exit(5000), 0);
}

TEST(Arbiter, WorkerBootErrorStopsTheMasterWithStatus3) {
  ArbiterProcess arbiter(test_options(2), [](WorkerContext& context) {
    return context.age == 1 ? kWorkerBootError : heartbeat_worker(context);
  });
  EXPECT_EQ(arbiter.wait_exit(8000), kWorkerBootError);
  EXPECT_TRUE(arbiter.has_line("I Shutting down: Master"));
  EXPECT_TRUE(arbiter.has_line("I Reason: Worker failed to boot."));
  for (pid_t pid : arbiter.booted()) EXPECT_TRUE(is_gone(pid)) << pid;
}

TEST(Arbiter, AppLoadErrorStopsTheMasterWithStatus4) {
  ArbiterProcess arbiter(test_options(1), [](WorkerContext&) { return kAppLoadError; });
  EXPECT_EQ(arbiter.wait_exit(8000), kAppLoadError);
  EXPECT_TRUE(arbiter.has_line("I Reason: App failed to load."));
}

TEST(Arbiter, MurdersAWorkerThatStopsHeartbeating) {
  ArbiterOptions options = test_options(1);
  options.timeout = 1;
  ArbiterProcess arbiter(options, [](WorkerContext& context) {
    if (context.age == 1) {
      for (;;) ::pause();  // stuck: never beats
    }
    return heartbeat_worker(context);
  });
  ASSERT_TRUE(arbiter.wait_for_booted(1));
  const pid_t stuck = arbiter.booted()[0];
  ASSERT_TRUE(arbiter.wait_for_line("C WORKER TIMEOUT (pid:" + std::to_string(stuck) + ")"));
  EXPECT_TRUE(arbiter.wait_for_line(worker_line("E", stuck, " was sent SIGABRT!")));
  ASSERT_TRUE(arbiter.wait_for_booted(2));
  // The replacement heartbeats, so it lives on.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(arbiter.booted().size(), 2u);
  arbiter.signal(SIGTERM);
  EXPECT_EQ(arbiter.wait_exit(5000), 0);
}

TEST(Arbiter, KillsATimedOutWorkerThatIgnoresAbort) {
  ArbiterOptions options = test_options(1);
  options.timeout = 1;
  options.abort_grace = 0.5;
  ArbiterProcess arbiter(options, [](WorkerContext& context) {
    if (context.age == 1) {
      ::signal(SIGABRT, SIG_IGN);
      for (;;) ::pause();
    }
    return heartbeat_worker(context);
  });
  ASSERT_TRUE(arbiter.wait_for_booted(1));
  const pid_t stuck = arbiter.booted()[0];
  EXPECT_TRUE(arbiter.wait_for_line(worker_line("E", stuck, " was sent SIGKILL! Perhaps out of memory?")));
  EXPECT_TRUE(arbiter.wait_for_booted(2));
  arbiter.signal(SIGTERM);
  EXPECT_EQ(arbiter.wait_exit(5000), 0);
}

TEST(Arbiter, StopKillsWorkersThatIgnoreTermAfterGracefulTimeout) {
  ArbiterOptions options = test_options(2);
  options.graceful_timeout = 1;
  ArbiterProcess arbiter(options, [](WorkerContext& context) {
    ::signal(SIGTERM, SIG_IGN);
    for (;;) {
      beat(context.heartbeat);
      ::usleep(20000);
    }
    return 0;
  });
  ASSERT_TRUE(arbiter.wait_for_booted(2));
  const std::vector<pid_t> workers = arbiter.booted();
  const auto start = Clock::now();
  arbiter.signal(SIGTERM);
  EXPECT_EQ(arbiter.wait_exit(5000), 0);
  const auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, std::chrono::milliseconds(900));
  EXPECT_LT(elapsed, std::chrono::milliseconds(2500));
  for (pid_t pid : workers) EXPECT_TRUE(is_gone(pid)) << pid;
}

TEST(Arbiter, QuickStopOnIntSendsQuitToWorkers) {
  ArbiterProcess arbiter(test_options(1), [](WorkerContext& context) {
    heartbeat_worker(context);
    return g_worker_signal == SIGQUIT ? 0 : 1;
  });
  ASSERT_TRUE(arbiter.wait_for_booted(1));
  arbiter.signal(SIGINT);
  EXPECT_EQ(arbiter.wait_exit(5000), 0);
  EXPECT_TRUE(arbiter.has_line("I Handling signal: int"));
  for (const std::string& line : arbiter.lines()) EXPECT_EQ(line.find("exited with code"), std::string::npos) << line;
}

TEST(Arbiter, TtinAddsAWorkerAndTtouStopsTheOldest) {
  ArbiterProcess arbiter(test_options(2), heartbeat_worker);
  ASSERT_TRUE(arbiter.wait_for_booted(2));
  arbiter.signal(SIGTTIN);
  ASSERT_TRUE(arbiter.wait_for_booted(3));
  EXPECT_TRUE(arbiter.has_line("I Handling signal: ttin"));
  const std::vector<pid_t> workers = arbiter.booted();
  arbiter.signal(SIGTTOU);
  EXPECT_TRUE(arbiter.wait_for([&] { return is_gone(workers[0]); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_EQ(arbiter.booted().size(), 3u);  // not replaced
  EXPECT_FALSE(is_gone(workers[1]));
  EXPECT_FALSE(is_gone(workers[2]));
  arbiter.signal(SIGTERM);
  EXPECT_EQ(arbiter.wait_exit(5000), 0);
}

TEST(Arbiter, TtinBeyondTheFirstHeartbeatChunk) {
  // The first heartbeat chunk has max(workers * 2, 64) = 64 slots; grow past it.
  ArbiterOptions options = test_options(63);
  options.spawn_jitter_ms = 0;
  options.timeout = 2;
  ArbiterProcess arbiter(options, heartbeat_worker);
  ASSERT_TRUE(arbiter.wait_for_booted(63));
  for (size_t expected = 64; expected <= 66; ++expected) {
    arbiter.signal(SIGTTIN);  // one at a time: pending signals of one kind coalesce
    ASSERT_TRUE(arbiter.wait_for_booted(expected)) << expected;
  }
  const pid_t newest = arbiter.booted().back();
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_FALSE(is_gone(newest));  // its heartbeats, in the second chunk, are seen
  EXPECT_EQ(arbiter.booted().size(), 66u);
  EXPECT_FALSE(arbiter.has_line("C WORKER TIMEOUT (pid:" + std::to_string(newest) + ")"));
  arbiter.signal(SIGTERM);
  EXPECT_EQ(arbiter.wait_exit(8000), 0);
}

TEST(Arbiter, UnsupportedSignalsAreLoggedAndIgnored) {
  ArbiterProcess arbiter(test_options(1), heartbeat_worker);
  ASSERT_TRUE(arbiter.wait_for_booted(1));
  arbiter.signal(SIGHUP);
  EXPECT_TRUE(arbiter.wait_for_line("I SIGHUP is not supported yet, ignored"));
  arbiter.signal(SIGTERM);
  EXPECT_EQ(arbiter.wait_exit(5000), 0);
  EXPECT_EQ(arbiter.booted().size(), 1u);
}

TEST(Arbiter, Usr1RunsItsCallbackAndReachesWorkers) {
  ArbiterProcess arbiter(test_options(1), heartbeat_worker, [](Callbacks& callbacks) {
    auto info = callbacks.log_info;
    callbacks.on_usr1 = [info] { info("usr1 callback"); };
  });
  ASSERT_TRUE(arbiter.wait_for_booted(1));
  const pid_t worker = arbiter.booted()[0];
  arbiter.signal(SIGUSR1);
  EXPECT_TRUE(arbiter.wait_for_line("I usr1 callback"));
  EXPECT_TRUE(arbiter.wait_for_line("I worker " + std::to_string(worker) + " got usr1"));
  arbiter.signal(SIGTERM);
  EXPECT_EQ(arbiter.wait_exit(5000), 0);
}

TEST(Arbiter, WorkerStartsWithDefaultSignalsAndForkCallbacks) {
  ArbiterProcess arbiter(
      test_options(1),
      [](WorkerContext& context) {
        sigset_t mask;
        ::sigprocmask(SIG_SETMASK, nullptr, &mask);
        for (int signal_number : kMasterSignals) {
          struct sigaction action{};
          ::sigaction(signal_number, nullptr, &action);
          if (action.sa_handler != SIG_DFL || sigismember(&mask, signal_number)) return 10;
        }
        if (context.age != 1 || context.ppid != ::getppid() || context.listeners->size() != 1) return 11;
        if (context.pid != ::getpid() || context.heartbeat == nullptr) return 12;
        return heartbeat_worker(context);
      },
      [](Callbacks& callbacks) {
        auto info = callbacks.log_info;
        callbacks.before_fork = [info] { info("before_fork"); };
        callbacks.after_fork_parent = [info] { info("after_fork_parent"); };
        callbacks.after_fork_child = [info] { info("after_fork_child"); };
        callbacks.child_exit = [info](pid_t pid, int age) {
          info("child_exit " + std::to_string(pid) + " " + std::to_string(age));
        };
      });
  ASSERT_TRUE(arbiter.wait_for_booted(1));
  const pid_t worker = arbiter.booted()[0];
  EXPECT_TRUE(arbiter.wait_for_line("I after_fork_parent"));
  EXPECT_TRUE(arbiter.has_line("I before_fork"));
  EXPECT_TRUE(arbiter.has_line("I after_fork_child"));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(is_gone(worker));  // passed its checks, still heartbeating
  ::kill(worker, SIGKILL);
  EXPECT_TRUE(arbiter.wait_for_line("I child_exit " + std::to_string(worker) + " 1"));
  arbiter.signal(SIGTERM);
  EXPECT_EQ(arbiter.wait_exit(5000), 0);
}

}  // namespace
}  // namespace narwhal::arbiter
