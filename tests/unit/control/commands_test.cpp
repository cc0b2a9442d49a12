#include "control/commands.h"

#include "fake_master.h"

#include <signal.h>

#include <gtest/gtest.h>

namespace narwhal::control {
namespace {

Outcome run(FakeMaster& master, std::vector<std::string> words) { return execute(master, words); }

TEST(Commands, ShowWorkersHasGunicornKeys) {
  FakeMaster master;
  Outcome outcome = run(master, {"show", "workers"});
  ASSERT_TRUE(outcome.ok);
  EXPECT_EQ(outcome.data["count"], 2);
  EXPECT_EQ(outcome.data["workers"][0]["pid"], 201);
  for (const char* key : {"pid", "age", "booted", "aborted", "last_heartbeat"}) {
    EXPECT_TRUE(outcome.data["workers"][0].contains(key)) << key;
  }
  EXPECT_DOUBLE_EQ(outcome.data["workers"][0]["last_heartbeat"].get<double>(), 0.12);
}

TEST(Commands, ShowAllStatsListenersConfigDirty) {
  FakeMaster master;
  EXPECT_EQ(run(master, {"SHOW", "ALL"}).data["arbiter"]["pid"], 100);
  EXPECT_EQ(run(master, {"show", "all"}).data["web_worker_count"], 2);
  Outcome stats = run(master, {"show", "stats"});
  EXPECT_EQ(stats.data["workers_current"], 2);
  EXPECT_EQ(stats.data["requests_total"], 10);
  EXPECT_TRUE(stats.data["dirty_arbiter_pid"].is_null());
  EXPECT_EQ(run(master, {"show", "listeners"}).data["listeners"][0]["type"], "tcp");
  EXPECT_EQ(run(master, {"show", "config"}).data["workers"], 2);
  EXPECT_EQ(run(master, {"show", "dirty"}).data["enabled"], false);
}

TEST(Commands, WorkerAddRemoveKill) {
  FakeMaster master;
  Outcome add = run(master, {"worker", "add", "3"});
  EXPECT_EQ(add.data, (nlohmann::json{{"added", 3}, {"previous", 2}, {"total", 5}}));
  EXPECT_EQ(master.target, 5);
  Outcome remove = run(master, {"worker", "remove", "10"});  // never below one
  EXPECT_EQ(remove.data, (nlohmann::json{{"removed", 4}, {"previous", 5}, {"total", 1}}));
  EXPECT_EQ(run(master, {"worker", "add"}).data["added"], 1);  // default 1
  EXPECT_EQ(run(master, {"worker", "add", "0"}).data["added"], 1);  // max(1, N)
  Outcome kill = run(master, {"worker", "kill", "202"});
  EXPECT_EQ(kill.data, (nlohmann::json{{"success", true}, {"killed", 202}}));
  EXPECT_EQ(master.stopped, std::vector<pid_t>{202});
  Outcome missing = run(master, {"worker", "kill", "999"});
  EXPECT_TRUE(missing.ok);
  EXPECT_EQ(missing.data, (nlohmann::json{{"success", false}, {"error", "Worker 999 not found"}}));
}

TEST(Commands, SignalsForReloadReopenShutdown) {
  FakeMaster master;
  EXPECT_EQ(run(master, {"reload"}).data["status"], "reloading");
  EXPECT_EQ(run(master, {"reopen"}).data["status"], "reopening");
  EXPECT_EQ(run(master, {"shutdown"}).data, (nlohmann::json{{"status", "shutting_down"}, {"mode", "graceful"}}));
  EXPECT_EQ(run(master, {"shutdown", "quick"}).data["mode"], "quick");
  EXPECT_EQ(master.signals, (std::vector<int>{SIGHUP, SIGUSR1, SIGTERM, SIGINT}));
}

TEST(Commands, ErrorsWordedAsGunicorn) {
  FakeMaster master;
  EXPECT_EQ(run(master, {"frobnicate"}).error, "Invalid argument: Unknown command: frobnicate");
  EXPECT_EQ(run(master, {"show"}).error,
            "Invalid argument: Missing show target (all|workers|dirty|config|stats|listeners|requests)");
  EXPECT_EQ(run(master, {"show", "nothing"}).error, "Invalid argument: Unknown show target: nothing");
  EXPECT_EQ(run(master, {"worker"}).error, "Invalid argument: Missing worker action (add|remove|kill)");
  EXPECT_EQ(run(master, {"worker", "kill"}).error, "Invalid argument: Missing PID for worker kill");
  EXPECT_EQ(run(master, {"worker", "add", "x"}).error,
            "Invalid argument: invalid literal for int() with base 10: 'x'");
  EXPECT_EQ(run(master, {"worker", "jump"}).error, "Invalid argument: Unknown worker action: jump");
  EXPECT_FALSE(run(master, {}).ok);
  EXPECT_EQ(master.target, 2);  // nothing happened
}

TEST(Commands, DumpNamesALiveWorker) {
  FakeMaster master;
  EXPECT_EQ(run(master, {"dump", "201"}).dump_pid, 201);
  Outcome missing = run(master, {"dump", "5"});
  EXPECT_FALSE(missing.ok);
  EXPECT_EQ(missing.error, "Worker 5 not found");
  EXPECT_EQ(run(master, {"dump"}).error, "Invalid argument: Missing PID for dump");
}

TEST(Commands, HelpListsEveryCommand) {
  FakeMaster master;
  const nlohmann::json commands = run(master, {"help"}).data["commands"];
  for (const char* name : {"show all", "show workers", "show config", "show stats", "show listeners", "show requests",
                           "worker add [N]", "worker remove [N]", "worker kill <PID>", "dump <PID>", "reload",
                           "reopen", "shutdown [graceful|quick]", "help"}) {
    EXPECT_TRUE(commands.contains(name)) << name;
  }
}

TEST(ParseInt, PythonIntRules) {
  std::string error;
  EXPECT_EQ(parse_int(" 42 ", &error), 42);
  EXPECT_EQ(parse_int("-3", &error), -3);
  EXPECT_EQ(parse_int("1_000", &error), 1000);
  EXPECT_FALSE(parse_int("1__0", &error));
  EXPECT_FALSE(parse_int("", &error));
  EXPECT_FALSE(parse_int("0x10", &error));
  EXPECT_EQ(error, "invalid literal for int() with base 10: '0x10'");
}

TEST(ShowRequests, SlowestFirstWithPathQueryAndBytes) {
  auto board = std::make_unique<workers::Scoreboard>();
  workers::RequestSlot* first = board->claim_slot();
  workers::RequestSlot* second = board->claim_slot();
  board->in_flight = 3;
  workers::begin_request(first, 5'000'000, "GET", "/fast?x=1", "::1", 5000);
  workers::begin_request(second, 1'000'000, "POST", "/slow", "10.0.0.1", 6000);
  second->bytes_read = 12;
  second->bytes_written = 34;
  FakeMaster master;
  master.boards = {board.get()};
  const nlohmann::json data = show_requests(master.workers(), 6'000'000);
  ASSERT_EQ(data["count"], 2);
  EXPECT_EQ(data["in_flight"], 3);
  const nlohmann::json& slow = data["requests"][0];
  EXPECT_EQ(slow["method"], "POST");
  EXPECT_EQ(slow["path"], "/slow");
  EXPECT_EQ(slow["pid"], 201);
  EXPECT_EQ(slow["client"], "10.0.0.1:6000");
  EXPECT_DOUBLE_EQ(slow["elapsed"].get<double>(), 5.0);
  EXPECT_EQ(slow["bytes_read"], 12);
  EXPECT_EQ(slow["bytes_written"], 34);
  EXPECT_EQ(data["requests"][1]["query"], "x=1");
  EXPECT_EQ(data["requests"][1]["client"], "[::1]:5000");
  workers::end_request(second);
  EXPECT_EQ(show_requests(master.workers(), 6'000'000)["count"], 1);
}

}  // namespace
}  // namespace narwhal::control
