// Runs one request through the WSGI app: what every worker type does once a request is ready,
// on whichever thread its policy chose (GIL held by the caller). One RequestRunner per thread
// that runs requests: it owns that thread's reusable buffers.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "base/read_buffer.h"
#include "log/access_format.h"
#include "workers/connection.h"
#include "workers/engine.h"
#include "wsgi/exchange.h"

namespace narwhal::workers {

struct RunSettings {
  bool keep_alive = true;  // false: the response says Connection: close (stop, max_requests)
  std::atomic<int64_t>* heartbeat = nullptr;  // refreshed while waiting on the client (sync)
  wsgi::Waiter* waiter = nullptr;
  const volatile sig_atomic_t* stop_requested = nullptr;
};

class RequestRunner {
 public:
  RequestRunner(const WorkerOptions& options, wsgi::Application& app)
      : options_(options), app_(app), slot_(options.scoreboard ? options.scoreboard->claim_slot() : nullptr) {}

  // The connection's request (phase Running): builds the peer if needed, calls the app, writes
  // the response (what the socket does not take stays in connection.output), runs the hooks and
  // the access log. `input` holds the connection's unparsed bytes. Returns whether the
  // connection may serve another request.
  bool run(Connection& connection, ReadBuffer& input, const RunSettings& settings);

  // When the request running now started (CLOCK_MONOTONIC ms), 0 between requests: for a
  // watchdog on another thread.
  int64_t running_since() const { return started_ms_.load(std::memory_order_relaxed); }

  // The head a request is served with (forwarder_headers may filter it); null when refused
  // (the 400 is queued in connection.output).
  const http::RequestHead* request_head(Connection& connection);
  // One access-log line for a finished request (any worker type).
  void write_access_log(const Connection& connection, const http::RequestHead& head, int status,
                        uint64_t body_bytes, int64_t duration_us, const log::HeaderList& response_headers);

 private:
  void access_log(const Connection& connection, const http::RequestHead& head, int status,
                  uint64_t body_bytes, int64_t duration_us, PyObject* response_headers);

  const WorkerOptions& options_;
  wsgi::Application& app_;
  std::string head_buffer_;          // response heads (one exchange at a time per runner)
  http::RequestHead forwarded_head_;  // forwarder_headers copies
  log::HeaderList access_headers_;
  log::HeaderList access_response_headers_;
  std::string access_path_;
  std::atomic<int64_t> started_ms_{0};
  // This runner's place on the worker's scoreboard (the control socket's `show requests`);
  // null when there is no scoreboard or every slot is taken.
  RequestSlot* slot_;
  std::optional<wsgi::Exchange> exchange_;  // the request's, while it runs
};

}  // namespace narwhal::workers
