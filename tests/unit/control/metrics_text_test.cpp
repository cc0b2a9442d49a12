// The Prometheus text rendering (no sockets): every line valid exposition syntax, HELP/TYPE
// per metric, cumulative buckets ending with +Inf == _count, what the master's interface says.
#include "control/metrics_text.h"

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <sstream>

#include "fake_master.h"

namespace narwhal::control {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) lines.push_back(line);
  return lines;
}

// name{labels} value -> value, for the samples of `text`.
std::map<std::string, std::string> samples_of(const std::string& text) {
  std::map<std::string, std::string> samples;
  for (const std::string& line : lines_of(text)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    samples[line.substr(0, space)] = line.substr(space + 1);
  }
  return samples;
}

MetricsSnapshot example() {
  MetricsSnapshot snapshot;
  auto board = std::make_unique<workers::Scoreboard>();
  workers::count_request(board->counters, "GET", 200, 3000);
  workers::count_request(board->counters, "GET", 204, 30000);
  workers::count_request(board->counters, "POST", 500, 2'000'000);
  workers::count_request(board->counters, "BREW", 418, 20'000'000);
  workers::count_queue_time(board->counters, 200);
  workers::count_queue_time(board->counters, 1'500'000);
  snapshot.requests.add(board->counters);
  snapshot.in_flight = 3;
  snapshot.workers = 2;
  snapshot.restarts = {1, 2, 3};
  snapshot.listen_backlog = 7;
  return snapshot;
}

TEST(MetricsText, SecondsText) {
  EXPECT_EQ(seconds_text(0), "0");
  EXPECT_EQ(seconds_text(5000), "0.005");
  EXPECT_EQ(seconds_text(1'000'000), "1");
  EXPECT_EQ(seconds_text(2'500'000), "2.5");
  EXPECT_EQ(seconds_text(123), "0.000123");
  EXPECT_EQ(seconds_text(20'033'000), "20.033");
}

TEST(MetricsText, EveryLineIsExpositionSyntax) {
  const std::string text = render_metrics(example());
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  const std::regex comment(R"(# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram)))");
  const std::regex sample(
      R"([a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")*\})? (\+Inf|[0-9]+(\.[0-9]+)?))");
  std::map<std::string, int> help, type;
  for (const std::string& line : lines_of(text)) {
    if (line.rfind("# ", 0) == 0) {
      EXPECT_TRUE(std::regex_match(line, comment)) << line;
      std::istringstream words(line.substr(2));
      std::string kind, name;
      words >> kind >> name;
      (kind == "HELP" ? help : type)[name]++;
    } else {
      EXPECT_TRUE(std::regex_match(line, sample)) << line;
    }
  }
  for (const char* name : {"narwhal_requests_total", "narwhal_request_duration_seconds", "narwhal_request_queue_seconds",
                           "narwhal_workers", "narwhal_requests_in_flight", "narwhal_worker_restarts_total",
                           "narwhal_listen_backlog"}) {
    EXPECT_EQ(help[name], 1) << name;
    EXPECT_EQ(type[name], 1) << name;
  }
}

TEST(MetricsText, CountersGaugesAndHistograms) {
  const auto samples = samples_of(render_metrics(example()));
  EXPECT_EQ(samples.at(R"(narwhal_requests_total{status="2xx",method="GET"})"), "2");
  EXPECT_EQ(samples.at(R"(narwhal_requests_total{status="5xx",method="POST"})"), "1");
  EXPECT_EQ(samples.at(R"(narwhal_requests_total{status="4xx",method="other"})"), "1");
  EXPECT_EQ(samples.count(R"(narwhal_requests_total{status="2xx",method="POST"})"), 0u);  // never seen
  EXPECT_EQ(samples.at(R"(narwhal_request_duration_seconds_bucket{le="0.005"})"), "1");
  EXPECT_EQ(samples.at(R"(narwhal_request_duration_seconds_bucket{le="0.05"})"), "2");
  EXPECT_EQ(samples.at(R"(narwhal_request_duration_seconds_bucket{le="2.5"})"), "3");
  EXPECT_EQ(samples.at(R"(narwhal_request_duration_seconds_bucket{le="10"})"), "3");
  EXPECT_EQ(samples.at(R"(narwhal_request_duration_seconds_bucket{le="+Inf"})"), "4");
  EXPECT_EQ(samples.at("narwhal_request_duration_seconds_count"), "4");
  EXPECT_EQ(samples.at("narwhal_request_duration_seconds_sum"), "22.033");
  EXPECT_EQ(samples.at(R"(narwhal_request_queue_seconds_bucket{le="0.0005"})"), "1");
  EXPECT_EQ(samples.at(R"(narwhal_request_queue_seconds_bucket{le="1"})"), "1");
  EXPECT_EQ(samples.at(R"(narwhal_request_queue_seconds_bucket{le="2.5"})"), "2");
  EXPECT_EQ(samples.at("narwhal_request_queue_seconds_count"), "2");
  EXPECT_EQ(samples.at("narwhal_request_queue_seconds_sum"), "1.5002");
  EXPECT_EQ(samples.at("narwhal_workers"), "2");
  EXPECT_EQ(samples.at("narwhal_requests_in_flight"), "3");
  EXPECT_EQ(samples.at(R"(narwhal_worker_restarts_total{cause="timeout"})"), "1");
  EXPECT_EQ(samples.at(R"(narwhal_worker_restarts_total{cause="crash"})"), "2");
  EXPECT_EQ(samples.at(R"(narwhal_worker_restarts_total{cause="max_requests"})"), "3");
  EXPECT_EQ(samples.at("narwhal_listen_backlog"), "7");
}

TEST(MetricsText, BucketsAreCumulative) {
  const std::string text = render_metrics(example());
  for (const char* name : {"narwhal_request_duration_seconds_bucket", "narwhal_request_queue_seconds_bucket"}) {
    long previous = -1;
    int buckets = 0;
    for (const std::string& line : lines_of(text)) {
      if (line.rfind(name, 0) != 0) continue;
      const long value = std::stol(line.substr(line.rfind(' ') + 1));
      EXPECT_GE(value, previous) << line;
      previous = value;
      ++buckets;
    }
    EXPECT_GT(buckets, 10) << name;
  }
}

TEST(MetricsText, NoBacklogWithoutTcpListeners) {
  MetricsSnapshot snapshot;
  const std::string text = render_metrics(snapshot);
  EXPECT_EQ(text.find("narwhal_listen_backlog"), std::string::npos);
  EXPECT_NE(text.find("# TYPE narwhal_requests_total counter\n"), std::string::npos);  // no samples yet
  EXPECT_NE(text.find("narwhal_request_duration_seconds_count 0\n"), std::string::npos);
}

TEST(MetricsText, CollectSumsLiveWorkersAndRetiredOnes) {
  FakeMaster master;
  auto first = std::make_unique<workers::Scoreboard>();
  auto second = std::make_unique<workers::Scoreboard>();
  workers::count_request(first->counters, "GET", 200, 1000);
  workers::count_request(second->counters, "GET", 200, 1000);
  second->in_flight = 2;
  master.boards = {first.get(), second.get()};
  const MetricsSnapshot snapshot = collect_metrics(master);
  EXPECT_EQ(snapshot.workers, 2);
  EXPECT_EQ(snapshot.in_flight, 2u);
  EXPECT_EQ(snapshot.requests.by_status_method[2][0], 12u);  // 10 from the fake's retired workers
  EXPECT_FALSE(snapshot.listen_backlog.has_value());
}

}  // namespace
}  // namespace narwhal::control
