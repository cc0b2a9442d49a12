// The master loop: spawn, reap, murder, TERM/INT, TTIN/TTOU, USR1 (arbiter_process.h runs it).
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

#include "workers/heartbeat.h"
#include "arbiter/signals.h"
#include "arbiter_process.h"

namespace narwhal::arbiter {
namespace {

using namespace test_support;

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

// gunicorn's Arbiter.start: Starting line, pid file, on_starting, signals, listeners,
// "Listening at", "Using worker", when_ready; on_exit is the last thing halt() does.
TEST(Arbiter, StartsAndHaltsInGunicornsOrder) {
  ArbiterOptions options = test_options(1);
  const std::string pidfile = "/tmp/narwhal-arbiter-order-" + std::to_string(::getpid()) + ".pid";
  options.pidfile = pidfile;
  ArbiterProcess arbiter(options, heartbeat_worker, [pidfile](Callbacks& callbacks) {
    auto info = callbacks.log_info;
    callbacks.on_starting = [info, pidfile] {
      info(std::string("on_starting pidfile=") + (::access(pidfile.c_str(), F_OK) == 0 ? "yes" : "no"));
    };
    callbacks.create_listeners = [info](std::vector<net::Listener>* listeners, ArbiterOptions* created) {
      info("create_listeners");
      std::string error;
      created->unlink_unix_sockets = false;
      return net::open_listeners({"127.0.0.1:0"}, 64, false, listeners, &error);
    };
    callbacks.when_ready = [info] { info("when_ready"); };
    callbacks.on_exit = [info, pidfile] {
      info(std::string("on_exit pidfile=") + (::access(pidfile.c_str(), F_OK) == 0 ? "yes" : "no"));
    };
  });
  ASSERT_TRUE(arbiter.wait_for_booted(1));
  std::vector<std::string> lines;
  for (const std::string& line : arbiter.lines()) {
    if (line.rfind("D ", 0) != 0) lines.push_back(line);
  }
  ASSERT_GE(lines.size(), 6u);
  EXPECT_EQ(lines[0], "I Starting narwhal test-1.0");
  EXPECT_EQ(lines[1], "I on_starting pidfile=yes");
  EXPECT_EQ(lines[2], "I create_listeners");
  EXPECT_EQ(lines[3].rfind("I Listening at: http://127.0.0.1:", 0), 0u) << lines[3];
  EXPECT_EQ(lines[4], "I Using worker: sync");
  EXPECT_EQ(lines[5], "I when_ready");
  arbiter.signal(SIGTERM);
  EXPECT_EQ(arbiter.wait_exit(5000), 0);
  const std::vector<std::string> after = arbiter.lines();
  ASSERT_FALSE(after.empty());
  EXPECT_EQ(after.back(), "I on_exit pidfile=no");
}

TEST(Arbiter, ListenerFailureEndsTheStartUp) {
  ArbiterOptions options = test_options(1);
  const std::string pidfile = "/tmp/narwhal-arbiter-nolisten-" + std::to_string(::getpid()) + ".pid";
  options.pidfile = pidfile;
  ArbiterProcess arbiter(options, heartbeat_worker, [](Callbacks& callbacks) {
    auto info = callbacks.log_info;
    auto error = callbacks.log_error;
    callbacks.create_listeners = [error](std::vector<net::Listener>*, ArbiterOptions*) {
      error("can't bind");
      return false;
    };
    callbacks.when_ready = [info] { info("when_ready"); };
    callbacks.on_exit = [info] { info("on_exit"); };
  });
  EXPECT_EQ(arbiter.wait_exit(5000), 1);
  EXPECT_TRUE(arbiter.has_line("E can't bind"));
  EXPECT_FALSE(arbiter.has_line("I when_ready"));
  EXPECT_FALSE(arbiter.has_line("I on_exit"));  // gunicorn exits from start() without halt()
  EXPECT_TRUE(arbiter.booted().empty());
  EXPECT_NE(::access(pidfile.c_str(), F_OK), 0);
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
      workers::beat(context.heartbeat);
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
  arbiter.signal(SIGHUP);  // no reload callback
  EXPECT_TRUE(arbiter.wait_for_line("I SIGHUP is not supported, ignored"));
  arbiter.signal(SIGUSR2);  // no command line to exec
  EXPECT_TRUE(arbiter.wait_for_line("W USR2 signal ignored. No command line to re-execute."));
  arbiter.signal(SIGWINCH);
  EXPECT_TRUE(arbiter.wait_for_line("D SIGWINCH ignored. Not daemonized"));
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
