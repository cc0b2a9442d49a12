// HUP (reload), the pid file and USR2 refusals. The full USR2 handover execs a real narwhal:
// tests/integration/test_signals.py.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <gtest/gtest.h>

#include "arbiter/pidfile.h"
#include "arbiter_process.h"

namespace narwhal::arbiter {
namespace {

using namespace test_support;

std::string temp_path(const char* name) {
  return std::string("/tmp/narwhal-upgrade-test-") + std::to_string(::getpid()) + "-" + name;
}

std::string read_text(const std::string& path) {
  std::ifstream file(path);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

bool exists(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0;
}

TEST(ArbiterReload, HupSpawnsNewWorkersWithNewOptionsThenStopsTheOldOnes) {
  ArbiterProcess arbiter(test_options(2), heartbeat_worker, [](Callbacks& callbacks) {
    auto info = callbacks.log_info;
    callbacks.reload = [info](ArbiterOptions* options) {
      options->workers = 3;
      info("reloaded");
      return true;
    };
    callbacks.nworkers_changed = [info](int new_value, int old_value) {
      info("nworkers_changed " + std::to_string(new_value) + " " + std::to_string(old_value));
    };
  });
  ASSERT_TRUE(arbiter.wait_for_booted(2));
  const std::vector<pid_t> old_workers = arbiter.booted();
  arbiter.signal(SIGHUP);
  ASSERT_TRUE(arbiter.wait_for_booted(5));
  EXPECT_TRUE(arbiter.has_line("I Hang up: Master"));
  EXPECT_TRUE(arbiter.has_line("I reloaded"));
  EXPECT_TRUE(arbiter.has_line("I nworkers_changed 3 2"));
  for (pid_t pid : old_workers) EXPECT_TRUE(arbiter.wait_for([&] { return is_gone(pid); })) << pid;
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  const std::vector<pid_t> all = arbiter.booted();
  EXPECT_EQ(all.size(), 5u);  // the 3 new ones were enough: nothing respawned
  for (size_t i = 2; i < all.size(); ++i) EXPECT_FALSE(is_gone(all[i])) << all[i];
  arbiter.signal(SIGTERM);
  EXPECT_EQ(arbiter.wait_exit(5000), 0);
}

TEST(ArbiterReload, FailedReloadKeepsTheWorkers) {
  ArbiterProcess arbiter(test_options(1), heartbeat_worker, [](Callbacks& callbacks) {
    callbacks.reload = [](ArbiterOptions*) { return false; };
  });
  ASSERT_TRUE(arbiter.wait_for_booted(1));
  arbiter.signal(SIGHUP);
  EXPECT_TRUE(arbiter.wait_for_line("E Reload failed: keeping the current configuration"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(arbiter.booted().size(), 1u);
  EXPECT_FALSE(is_gone(arbiter.booted()[0]));
  arbiter.signal(SIGTERM);
  EXPECT_EQ(arbiter.wait_exit(5000), 0);
}

TEST(ArbiterReload, DrainingWorkersAreNotCountedAndAreKilledAfterGracefulTimeout) {
  ArbiterOptions options = test_options(1);
  options.graceful_timeout = 1;
  options.abort_grace = 0.2;
  ArbiterProcess arbiter(
      options,
      [](WorkerContext& context) {
        if (context.age != 1) return heartbeat_worker(context);
        ::signal(SIGTERM, SIG_IGN);  // never finishes draining
        for (;;) {
          workers::beat(context.heartbeat);
          ::usleep(20000);
        }
      },
      [](Callbacks& callbacks) { callbacks.reload = [](ArbiterOptions*) { return true; }; });
  ASSERT_TRUE(arbiter.wait_for_booted(1));
  const pid_t stubborn = arbiter.booted()[0];
  arbiter.signal(SIGHUP);
  ASSERT_TRUE(arbiter.wait_for_booted(2));
  EXPECT_TRUE(arbiter.wait_for_line(worker_line("E", stubborn, " was sent SIGKILL! Perhaps out of memory?")));
  EXPECT_EQ(arbiter.booted().size(), 2u);
  arbiter.signal(SIGTERM);
  EXPECT_EQ(arbiter.wait_exit(5000), 0);
}

TEST(ArbiterPidfile, WrittenAtStartRemovedAtExit) {
  ArbiterOptions options = test_options(1);
  options.pidfile = temp_path("master.pid");
  ArbiterProcess arbiter(options, heartbeat_worker);
  ASSERT_TRUE(arbiter.wait_for_booted(1));
  EXPECT_EQ(read_text(options.pidfile), std::to_string(arbiter.pid()) + "\n");
  arbiter.signal(SIGTERM);
  EXPECT_EQ(arbiter.wait_exit(5000), 0);
  EXPECT_FALSE(exists(options.pidfile));
}

TEST(ArbiterPidfile, RefusesToStartOverALiveMastersPidfile) {
  const std::string path = temp_path("live.pid");
  std::ofstream(path) << ::getpid() << "\n";  // this test process is alive
  ArbiterOptions options = test_options(1);
  options.pidfile = path;
  ArbiterProcess arbiter(options, heartbeat_worker);
  EXPECT_EQ(arbiter.wait_exit(5000), 1);
  EXPECT_TRUE(arbiter.has_line("E Already running on PID " + std::to_string(::getpid()) + " (or pid file '" +
                               path + "' is stale)"));
  EXPECT_EQ(read_text(path), std::to_string(::getpid()) + "\n");
  ::unlink(path.c_str());
}

TEST(Pidfile, StaleFileIsReplacedAndUnlinkOnlyRemovesOurOwn) {
  const std::string path = temp_path("stale.pid");
  std::ofstream(path) << "999999999\n";  // no such process
  Pidfile pidfile(path);
  std::string error;
  ASSERT_TRUE(pidfile.create(::getpid(), &error)) << error;
  EXPECT_EQ(read_text(path), std::to_string(::getpid()) + "\n");
  struct stat info;
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0644u);
  ASSERT_TRUE(pidfile.rename(path + ".moved", &error)) << error;
  EXPECT_FALSE(exists(path));
  std::ofstream(path + ".moved") << "1\n";  // taken over by another master
  pidfile.unlink();
  EXPECT_TRUE(exists(path + ".moved"));
  ::unlink((path + ".moved").c_str());
}

}  // namespace
}  // namespace narwhal::arbiter
