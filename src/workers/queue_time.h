// Queue time (docs/metrics.md): how long a request waited before its app was called — from
// its arrival (Connection::arrived_us: the kernel's receive stamp, or when the worker read it)
// or, when the peer is trusted (forwarded_allow_ips) and sent X-Request-Start, from the time
// the proxy received it. Every worker type calls note_queue_time as it calls the app.
#pragma once

#include <cstdint>

#include "http/request_parser.h"
#include "workers/connection.h"
#include "workers/scoreboard.h"

namespace narwhal::workers {

// Measures the queue time of the request about to be handed to the app, keeps it on the
// connection (the access log's Q atom) and counts it on the scoreboard (may be null).
int64_t note_queue_time(Connection& connection, const http::RequestHead& head, Scoreboard* scoreboard);

}  // namespace narwhal::workers
