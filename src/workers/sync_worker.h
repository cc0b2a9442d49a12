// The sync worker: one request at a time through the app (like gunicorn's sync worker), but
// its I/O is an epoll loop, so it keeps HTTP/1.1 connections alive, serves pipelined requests,
// and idle keep-alive connections cost no app time. Request heads are read completely in C++
// before the app is called.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arbiter/arbiter.h"
#include "http/request_parser.h"
#include "workers/worker_hooks.h"
#include "wsgi/handler.h"

namespace narwhal::workers {

struct SyncWorkerOptions {
  http::ParserOptions parser;
  int keepalive_s = 2;           // idle keep-alive connections are closed after this; 0 = no keep-alive
  int timeout_s = 30;
  int64_t header_timeout_ms = 10000;  // a whole request head must arrive within this
  int body_timeout_ms = 30000;        // longest stall reading wsgi.input
  int write_timeout_ms = 30000;       // longest stall writing the response
  int graceful_timeout_s = 30;
  int64_t max_requests = 0;      // 0 = never recycle; jitter already added by the caller
  int worker_connections = 1000; // open connections per worker
  WorkerHooks hooks;
  std::vector<std::string> watch_files;  // --reload with inotify: leave when one changes
};

// Serves until told to stop (TERM: graceful; INT/QUIT: at once). Returns the exit status.
int run_sync_worker(arbiter::WorkerContext& context, const SyncWorkerOptions& options,
                    wsgi::Application& app);

}  // namespace narwhal::workers
