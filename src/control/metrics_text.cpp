#include "control/metrics_text.h"

#include <iterator>

namespace narwhal::control {
namespace {

const char* const kStatusLabels[workers::kStatusClasses] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};

const char* method_label(size_t index) {
  return index < std::size(workers::kCountedMethods) ? workers::kCountedMethods[index] : "other";
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void sample(std::string& out, const char* name, const std::string& labels, const std::string& value) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += ' ';
  out += value;
  out += '\n';
}

// A histogram from per-bucket counts: cumulative _bucket lines, +Inf, _sum, _count. The count
// is the +Inf bucket, so the two always agree even while workers keep counting.
template <size_t Bounds>
void histogram(std::string& out, const char* name, const char* help, const int64_t (&bounds_us)[Bounds],
               const uint64_t* buckets, uint64_t sum_us) {
  header(out, name, "histogram", help);
  const std::string base = name;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < Bounds; ++i) {
    cumulative += buckets[i];
    sample(out, (base + "_bucket").c_str(), "le=\"" + seconds_text(static_cast<uint64_t>(bounds_us[i])) + "\"",
           std::to_string(cumulative));
  }
  cumulative += buckets[Bounds];
  sample(out, (base + "_bucket").c_str(), "le=\"+Inf\"", std::to_string(cumulative));
  sample(out, (base + "_sum").c_str(), "", seconds_text(sum_us));
  sample(out, (base + "_count").c_str(), "", std::to_string(cumulative));
}

}  // namespace

std::string seconds_text(uint64_t microseconds) {
  std::string text = std::to_string(microseconds / 1000000);
  uint64_t fraction = microseconds % 1000000;
  if (fraction == 0) return text;
  std::string digits = std::to_string(fraction);
  digits.insert(0, 6 - digits.size(), '0');
  while (!digits.empty() && digits.back() == '0') digits.pop_back();
  return text + "." + digits;
}

MetricsSnapshot collect_metrics(const Master& master) {
  MetricsSnapshot snapshot;
  const MasterStats stats = master.stats();
  snapshot.requests = stats.retired;
  snapshot.restarts = stats.restarts;
  const std::vector<WorkerView> workers = master.workers();
  snapshot.workers = static_cast<int>(workers.size());
  for (const WorkerView& worker : workers) {
    if (!worker.scoreboard) continue;
    snapshot.requests.add(worker.scoreboard->counters);
    snapshot.in_flight += worker.scoreboard->in_flight.load(std::memory_order_relaxed);
  }
  snapshot.listen_backlog = master.listen_backlog();
  return snapshot;
}

std::string render_metrics(const MetricsSnapshot& snapshot) {
  std::string out;
  out.reserve(6 * 1024);
  const workers::RequestTotals& requests = snapshot.requests;

  header(out, "narwhal_requests_total", "counter", "Requests served, by status class and method.");
  for (size_t status = 0; status < workers::kStatusClasses; ++status) {
    for (size_t method = 0; method < workers::kMethodCount; ++method) {
      const uint64_t count = requests.by_status_method[status][method];
      if (count == 0) continue;  // a series appears with its first request
      sample(out, "narwhal_requests_total",
             std::string("status=\"") + kStatusLabels[status] + "\",method=\"" + method_label(method) + "\"",
             std::to_string(count));
    }
  }
  histogram(out, "narwhal_request_duration_seconds",
            "Time from the app being called to the end of its response.", workers::kDurationBoundsUs,
            requests.duration_buckets, requests.duration_sum_us);
  histogram(out, "narwhal_request_queue_seconds",
            "Time from the request's arrival (or a trusted proxy's X-Request-Start) to the app being called.",
            workers::kQueueBoundsUs, requests.queue_buckets, requests.queue_sum_us);

  header(out, "narwhal_workers", "gauge", "Worker processes alive.");
  sample(out, "narwhal_workers", "", std::to_string(snapshot.workers));
  header(out, "narwhal_requests_in_flight", "gauge", "Requests the workers' apps are running now.");
  sample(out, "narwhal_requests_in_flight", "", std::to_string(snapshot.in_flight));

  header(out, "narwhal_worker_restarts_total", "counter",
         "Workers replaced, by cause: killed by the timeout watchdog, crashed, or left after max_requests.");
  sample(out, "narwhal_worker_restarts_total", "cause=\"timeout\"", std::to_string(snapshot.restarts.timeout));
  sample(out, "narwhal_worker_restarts_total", "cause=\"crash\"", std::to_string(snapshot.restarts.crash));
  sample(out, "narwhal_worker_restarts_total", "cause=\"max_requests\"", std::to_string(snapshot.restarts.max_requests));

  if (snapshot.listen_backlog) {
    header(out, "narwhal_listen_backlog", "gauge", "Connections waiting in the TCP listen queues to be accepted.");
    sample(out, "narwhal_listen_backlog", "", std::to_string(*snapshot.listen_backlog));
  }
  return out;
}

}  // namespace narwhal::control
