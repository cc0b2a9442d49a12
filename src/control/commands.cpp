// Command routing and replies, keeping gunicorn's command names, reply keys and error texts
// (gunicornc formats these replies), plus narwhal's `show requests` and `dump PID`.
#include "control/commands.h"

#include <signal.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <limits>
#include <optional>

#include "base/clock.h"

namespace narwhal::control {
namespace {

using nlohmann::json;

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// gunicorn raises ValueError for bad arguments; its server replies "Invalid argument: ...".
struct InvalidArgument {
  std::string message;
};

long long int_argument(const std::string& text) {
  std::string error;
  std::optional<long long> value = parse_int(text, &error);
  if (!value) throw InvalidArgument{error};
  return *value;
}

double round2(double value) { return std::round(value * 100.0) / 100.0; }

json worker_json(const WorkerView& worker) {
  json item = {{"pid", worker.pid},
               {"age", worker.age},
               {"booted", worker.booted},
               {"aborted", worker.aborted},
               {"last_heartbeat", round2(worker.last_heartbeat)}};
  if (worker.scoreboard) {  // narwhal's: requests served and running now
    workers::RequestTotals totals;
    totals.add(worker.scoreboard->counters);
    item["requests"] = totals.requests();
    item["in_flight"] = worker.scoreboard->in_flight.load(std::memory_order_relaxed);
  }
  return item;
}

json show_workers(Master& master) {
  json list = json::array();
  for (const WorkerView& worker : master.workers()) list.push_back(worker_json(worker));
  const size_t count = list.size();
  return {{"workers", std::move(list)}, {"count", count}};
}

json show_all(Master& master) {
  json web = json::array();
  for (const WorkerView& worker : master.workers()) {
    web.push_back({{"pid", worker.pid},
                   {"type", "web"},
                   {"age", worker.age},
                   {"booted", worker.booted},
                   {"last_heartbeat", round2(worker.last_heartbeat)}});
  }
  const size_t count = web.size();
  return {{"arbiter", {{"pid", master.pid()}, {"type", "arbiter"}, {"role", "master"}}},
          {"web_workers", std::move(web)},
          {"web_worker_count", count},
          {"dirty_arbiter", nullptr},
          {"dirty_workers", json::array()},
          {"dirty_worker_count", 0}};
}

json show_stats(Master& master) {
  const MasterStats stats = master.stats();
  workers::RequestTotals totals = stats.retired;
  uint64_t in_flight = 0;
  for (const WorkerView& worker : master.workers()) {
    if (!worker.scoreboard) continue;
    totals.add(worker.scoreboard->counters);
    in_flight += worker.scoreboard->in_flight.load(std::memory_order_relaxed);
  }
  json by_status = json::object();
  for (size_t i = 1; i < workers::kStatusClasses; ++i) by_status[std::to_string(i) + "xx"] = totals.status_class(i);
  return {{"uptime", round2(stats.uptime)},
          {"pid", master.pid()},
          {"workers_current", stats.workers_current},
          {"workers_target", stats.workers_target},
          {"workers_spawned", stats.workers_spawned},
          {"workers_killed", stats.workers_killed},
          {"reloads", stats.reloads},
          {"dirty_arbiter_pid", nullptr},
          // narwhal's: every request served since start-up (workers gone included), and now.
          {"requests_total", totals.requests()},
          {"requests_in_flight", in_flight},
          {"requests_by_status", std::move(by_status)}};
}

json show_listeners(Master& master) {
  json list = json::array();
  for (const ListenerView& listener : master.listeners()) {
    list.push_back({{"address", listener.address}, {"fd", listener.fd}, {"type", listener.type}});
  }
  const size_t count = list.size();
  return {{"listeners", std::move(list)}, {"count", count}};
}

json help() {
  return {{"commands",
           {{"show all", "Show all processes (arbiter, web workers)"},
            {"show workers", "List HTTP workers with their status"},
            {"show config", "Show current effective configuration"},
            {"show stats", "Show server statistics"},
            {"show listeners", "Show bound sockets"},
            {"show requests", "List in-flight requests, slowest first (narwhal)"},
            {"worker add [N]", "Spawn N workers (default 1)"},
            {"worker remove [N]", "Remove N workers (default 1)"},
            {"worker kill <PID>", "Gracefully terminate specific worker"},
            {"dump <PID>", "Python stacks of every thread of a worker (narwhal)"},
            {"reload", "Graceful reload (HUP)"},
            {"reopen", "Reopen log files (USR1)"},
            {"shutdown [graceful|quick]", "Shutdown server (TERM/INT)"},
            {"help", "Show this help message"}}}};
}

Outcome show(Master& master, const std::vector<std::string>& args) {
  if (args.empty()) throw InvalidArgument{"Missing show target (all|workers|dirty|config|stats|listeners|requests)"};
  const std::string target = lower(args[0]);
  Outcome outcome;
  if (target == "all") outcome.data = show_all(master);
  else if (target == "workers") outcome.data = show_workers(master);
  else if (target == "dirty") outcome.data = {{"enabled", false}, {"pid", nullptr}, {"workers", json::array()}, {"apps", json::array()}};
  else if (target == "config") outcome.data = master.config();
  else if (target == "stats") outcome.data = show_stats(master);
  else if (target == "listeners") outcome.data = show_listeners(master);
  else if (target == "requests") outcome.data = show_requests(master.workers(), clock::monotonic_us());
  else throw InvalidArgument{"Unknown show target: " + target};
  return outcome;
}

Outcome worker(Master& master, const std::vector<std::string>& args) {
  if (args.empty()) throw InvalidArgument{"Missing worker action (add|remove|kill)"};
  const std::string action = lower(args[0]);
  Outcome outcome;
  if (action == "add" || action == "remove") {
    const long long count = std::max<long long>(1, args.size() > 1 ? int_argument(args[1]) : 1);
    const int previous = master.worker_target();
    const long long wanted = action == "add" ? previous + count : std::max<long long>(1, previous - count);
    const int total = static_cast<int>(std::min<long long>(wanted, 1 << 20));
    master.set_worker_target(total);
    if (action == "add") outcome.data = {{"added", total - previous}, {"previous", previous}, {"total", total}};
    else outcome.data = {{"removed", previous - total}, {"previous", previous}, {"total", total}};
    return outcome;
  }
  if (action == "kill") {
    if (args.size() < 2) throw InvalidArgument{"Missing PID for worker kill"};
    const long long pid = int_argument(args[1]);
    const std::vector<WorkerView> workers = master.workers();
    if (std::none_of(workers.begin(), workers.end(), [&](const WorkerView& w) { return w.pid == pid; })) {
      outcome.data = {{"success", false}, {"error", "Worker " + std::to_string(pid) + " not found"}};
      return outcome;
    }
    master.stop_worker(static_cast<pid_t>(pid));
    outcome.data = {{"success", true}, {"killed", pid}};
    return outcome;
  }
  throw InvalidArgument{"Unknown worker action: " + action};
}

Outcome dispatch(Master& master, const std::vector<std::string>& words) {
  const std::string command = lower(words[0]);
  const std::vector<std::string> rest(words.begin() + 1, words.end());
  Outcome outcome;
  if (command == "show") return show(master, rest);
  if (command == "worker") return worker(master, rest);
  if (command == "dirty") {
    if (rest.empty()) throw InvalidArgument{"Missing dirty action (add|remove)"};
    const std::string action = lower(rest[0]);
    if (action != "add" && action != "remove") throw InvalidArgument{"Unknown dirty action: " + action};
    outcome.data = {{"success", false}, {"error", "Dirty arbiter not running"}};
  } else if (command == "reload") {
    master.queue_signal(SIGHUP);
    outcome.data = {{"status", "reloading"}};
  } else if (command == "reopen") {
    master.queue_signal(SIGUSR1);
    outcome.data = {{"status", "reopening"}};
  } else if (command == "shutdown") {
    const std::string mode = rest.empty() ? "graceful" : rest[0];
    master.queue_signal(mode == "quick" ? SIGINT : SIGTERM);
    outcome.data = {{"status", "shutting_down"}, {"mode", mode}};
  } else if (command == "help") {
    outcome.data = help();
  } else if (command == "dump") {
    if (rest.empty()) throw InvalidArgument{"Missing PID for dump"};
    const long long pid = int_argument(rest[0]);
    const std::vector<WorkerView> workers = master.workers();
    if (pid <= 0 || std::none_of(workers.begin(), workers.end(), [&](const WorkerView& w) { return w.pid == pid; })) {
      outcome.ok = false;
      outcome.error = "Worker " + std::to_string(pid) + " not found";
      return outcome;
    }
    outcome.dump_pid = static_cast<pid_t>(pid);
  } else {
    throw InvalidArgument{"Unknown command: " + command};
  }
  return outcome;
}

}  // namespace

std::optional<long long> parse_int(const std::string& text, std::string* error) {
  *error = "invalid literal for int() with base 10: '" + text + "'";
  size_t begin = 0, end = text.size();
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (begin < end && space(text[begin])) ++begin;
  while (end > begin && space(text[end - 1])) --end;
  bool negative = false;
  if (begin < end && (text[begin] == '+' || text[begin] == '-')) negative = text[begin++] == '-';
  if (begin == end) return std::nullopt;
  long long value = 0;
  bool previous_digit = false;
  for (size_t i = begin; i < end; ++i) {
    const char c = text[i];
    if (c == '_' && previous_digit && i + 1 < end && std::isdigit(static_cast<unsigned char>(text[i + 1]))) {
      previous_digit = false;
      continue;
    }
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    if (value > (std::numeric_limits<long long>::max() - (c - '0')) / 10) return std::nullopt;  // out of our range
    value = value * 10 + (c - '0');
    previous_digit = true;
  }
  error->clear();
  return negative ? -value : value;
}

json show_requests(const std::vector<WorkerView>& workers, int64_t now_us) {
  struct Row {
    pid_t pid;
    workers::RequestSnapshot request;
  };
  std::vector<Row> rows;
  uint64_t in_flight = 0;
  for (const WorkerView& worker : workers) {
    if (!worker.scoreboard) continue;
    in_flight += worker.scoreboard->in_flight.load(std::memory_order_relaxed);
    for (workers::RequestSnapshot& request : worker.scoreboard->requests()) rows.push_back({worker.pid, std::move(request)});
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.request.started_us < b.request.started_us; });
  json list = json::array();
  for (const Row& row : rows) {
    const workers::RequestSnapshot& request = row.request;
    const std::string_view target = request.target;
    const size_t query = target.find('?');
    list.push_back({{"pid", row.pid},
                    {"method", request.method},
                    {"path", std::string(target.substr(0, query))},
                    {"query", query == std::string_view::npos ? "" : std::string(target.substr(query + 1))},
                    {"client", request.client},
                    {"elapsed", std::max(0.0, static_cast<double>(now_us - request.started_us) / 1e6)},
                    {"bytes_read", request.bytes_read},
                    {"bytes_written", request.bytes_written}});
  }
  const size_t count = list.size();
  // Requests beyond a worker's published slots still run: `count` < `in_flight` then.
  return {{"requests", std::move(list)}, {"count", count}, {"in_flight", std::max<uint64_t>(in_flight, count)}};
}

Outcome execute(Master& master, const std::vector<std::string>& words) {
  try {
    if (words.empty()) throw InvalidArgument{"Empty command"};
    return dispatch(master, words);
  } catch (const InvalidArgument& invalid) {
    Outcome outcome;
    outcome.ok = false;
    outcome.error = "Invalid argument: " + invalid.message;
    return outcome;
  } catch (const std::exception& failure) {
    Outcome outcome;
    outcome.ok = false;
    outcome.error = std::string("Command failed: ") + failure.what();
    return outcome;
  }
}

}  // namespace narwhal::control
