// The engine every worker type shares: the listeners and accept (EMFILE back-off, the
// worker_connections bound), the registry of connections, their deadlines, reading request
// heads (and bodies up to the buffer) in C++, error answers, draining unread bodies, finishing
// responses the client is slow to take, fairness between pipelining clients, the bound on
// memory held by incomplete heads, graceful stop, heartbeat and --reload. A worker type is a
// Policy: it decides only who runs the app for a request that is ready.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "workers/context.h"
#include "base/read_buffer.h"
#include "net/allow_list.h"
#include "net/event_loop.h"
#include "net/proxy_protocol.h"
#include "workers/connection.h"
#include "http/http2_session.h"
#include "tls/context.h"
#include "workers/file_watcher.h"
#include "workers/worker_hooks.h"
#include "wsgi/handler.h"

namespace narwhal::workers {

struct WorkerOptions {
  http::ParserOptions parser;
  int keepalive_s = 2;           // idle keep-alive connections are closed after this; 0 = no keep-alive
  int timeout_s = 30;
  int64_t header_timeout_ms = 10000;  // a whole request head must arrive within this
  int body_timeout_ms = 30000;        // longest stall reading a body
  int write_timeout_ms = 30000;       // longest stall writing the response
  int graceful_timeout_s = 30;
  int64_t max_requests = 0;      // 0 = never recycle; jitter already added by the caller
  int worker_connections = 1000; // open connections per worker
  int threads = 1;               // gthread: the pool's threads
  size_t body_buffer_size = 64 * 1024;  // bodies up to this are read before the app is called
  size_t head_buffer_limit = 32u << 20; // bytes all incomplete request heads may hold together
  // Requests served from one connection's pipelined bytes before the loop turns to the others.
  int requests_per_turn = 16;
  struct Asgi {
    std::string loop = "auto";      // asgi_loop
    std::string lifespan = "auto";  // asgi_lifespan
    int disconnect_grace_s = 3;     // asgi_disconnect_grace_period
    std::string root_path;
    size_t websocket_max_message = 16u << 20;
    int websocket_ping_interval_s = 20;
  } asgi;
  WorkerHooks hooks;
  Scoreboard* scoreboard = nullptr;  // the context's: request runners publish into it
  // Queue times from the kernel's receive stamps (SO_TIMESTAMP on the listeners): a request
  // that waited in the listen queue or the socket while every worker was busy is measured
  // from its real arrival. Off: from when the worker read it. On with metrics_bind or the
  // access log's Q atom (docs/metrics.md).
  bool arrival_stamps = false;
  std::vector<std::string> watch_files;  // --reload with inotify: leave when one changes
  // TLS on every listener (certfile): the master's context, inherited through fork.
  std::shared_ptr<tls::Context> tls;
  bool suppress_ragged_eofs = true;
  // HTTP/2 (http_protocols lists h2): after TLS when ALPN chose "h2", or — http2_cleartext — a
  // plain connection that opens with the prior-knowledge preface (docs/http2.md).
  struct Http2 {
    bool enabled = false;
    bool cleartext = false;
    http::h2::SessionOptions session;
  } http2;
  // The connection preamble (engine_preamble.cpp, docs/proxies.md): a PROXY protocol header
  // read before the first request head, from the peers proxy_allow_ips lists.
  net::ProxyMode proxy_protocol = net::ProxyMode::Off;
  std::vector<std::string> proxy_allow_ips;
  // protocol = uwsgi (parser.uwsgi): only the peers uwsgi_allow_ips lists may connect.
  std::vector<std::string> uwsgi_allow_ips;
};

class EventHandler;

class Engine;

// Who runs the app. Everything runs on the loop thread except what a policy hands elsewhere.
class Policy {
 public:
  virtual ~Policy() = default;
  // A request is ready on `connection` (head parsed; body buffered as far as the engine does).
  // The policy runs it and reports back with Engine::request_done — at once (sync) or later
  // from the loop thread (gthread).
  virtual void dispatch(Connection& connection) = 0;
  // True: every body is read completely before dispatch (spooled to a file beyond
  // body_buffer_size); false: only bodies up to body_buffer_size, larger ones stream.
  virtual bool buffers_whole_bodies() const = 0;
  virtual bool busy() const = 0;  // requests in flight (a graceful stop waits for them)
  // Before the loop's epoll_wait: a policy whose thread must never block there (gevent: the
  // hub runs the requests' greenlets meanwhile) waits here cooperatively until `epoll_fd` is
  // readable or timeout_ms passed, and returns the timeout epoll_wait then gets (0).
  virtual int wait_cooperatively(int /*epoll_fd*/, int timeout_ms) { return timeout_ms; }
  // Around the loop's epoll_wait (the sync worker releases the GIL there).
  virtual void before_wait() {}
  virtual void after_wait() {}
  // Once per loop turn, on the loop thread: Python signal handlers. `interrupted`: the wait
  // ended without events (a signal, or its timeout) — a Python handler may be pending.
  virtual void turn(int64_t now_ms, bool interrupted) = 0;
  // The connection is being destroyed on the loop thread: the policy drops what it holds in
  // Python (its Peer) the right way for its threads.
  virtual void release(Connection& connection) = 0;
  // An event on a connection whose request is running (Phase::Running). A policy that keeps
  // reading and writing while its app runs (asgi: the body streams into receive(), responses
  // leave with backpressure) handles it and returns true; otherwise the socket is not read until
  // the request is done (false: unwatched).
  virtual bool running_event(Connection& /*connection*/, uint32_t /*events*/) { return false; }
  // What the heartbeat slot gets: now, or — when a request has hung past `timeout` — that
  // request's start, so the master's timeout fires (tracebacks, worker replaced).
  virtual int64_t heartbeat_value(int64_t now_ms) { return now_ms; }
  // An extra descriptor the loop must watch (gthread: completions); -1 = none.
  virtual int wake_fd() const { return -1; }
  virtual void on_wake() {}
};

class Engine {
 public:
  Engine(WorkerContext& context, const WorkerOptions& options, wsgi::Application& app);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  int run(Policy& policy);  // until stopped; returns the worker's exit status
  // run() in parts, for a policy whose own event loop drives the engine (asgi): begin() once
  // (false: can't start, exit status 1), step() for each turn until it returns false, finish()
  // for the exit status.
  bool begin(Policy& policy);
  bool step();
  int finish();

  // ---- for policies ----
  // The request on `connection` is finished (on the loop thread). `keep`: the connection may
  // serve another request once the response (possibly still in its output queue) is out.
  void request_done(Connection& connection, bool keep);
  // The request that now starts counts toward max_requests; false when it is the last one
  // (its response closes the connection, then the worker leaves).
  bool count_request();
  bool stopping() const { return stopping_; }
  int64_t now_ms() const { return now_ms_; }
  void set_now_ms(int64_t now) { now_ms_ = now; }
  int loop_fd() const { return loop_.fd(); }  // the epoll descriptor (gevent waits on it)
  ReadBuffer& input() { return input_; }  // the loop's read buffer (sync runs requests on it)
  const WorkerOptions& options() const { return options_; }
  WorkerContext& context() { return context_; }
  wsgi::Application& app() { return app_; }
  // Moves unparsed bytes from the loop's buffer into the connection (before it leaves the loop).
  void stash_input(Connection& connection);
  // After request_done for a request that ran elsewhere (gthread): serve what follows.
  void resume(Connection& connection);
  // The connection's socket is not watched while a thread runs its request.
  void unwatch(Connection* connection);
  // Watches the connection for `events` (level-triggered; closes it if epoll_ctl fails).
  void watch(Connection* connection, uint32_t events);
  void close(Connection& connection) { close_connection(&connection); }

  // ---- for the HTTP/2 bridge (workers/http2_bridge.h) ----
  bool can_open_internal() const;
  // A connection that did not come from a listener (a stream's end of a socketpair), served like
  // a client of `like`'s address and listener. False: it was closed at once.
  bool open_internal(UniqueFd fd, const Connection& like);
  // Other descriptors in the loop's epoll set: `handler` gets their events (0 or -errno).
  int watch_handler(int fd, uint32_t events, EventHandler* handler, bool registered);
  void unwatch_handler(int fd);
  // Destroyed after the current event batch (an event for it may still be in the batch).
  void defer_delete(std::unique_ptr<EventHandler> handler);

 private:
  void accept_from(size_t listener_index);
  void process(Connection* connection);
  bool read_more(Connection* connection);  // false: the connection was closed
  bool step_handshake(Connection* connection);
  bool detect_prior_knowledge(Connection* connection);  // h2c: false = waiting, switched or closed
  void start_http2(Connection* connection);
  bool step_preamble(Connection* connection);  // engine_preamble.cpp
  bool read_proxy_header(Connection* connection);
  bool read_proxy_header_before_tls(Connection* connection);
  enum class ProxyVerdict { NeedMore, Done, Closed };
  ProxyVerdict judge_proxy_header(Connection* connection, std::string_view data, size_t* length);
  bool step_head(Connection* connection);
  bool step_body(Connection* connection);
  bool step_drain(Connection* connection);
  void ready_for_app(Connection* connection);
  void send_continue(Connection* connection);
  void next_request(Connection* connection);
  void continue_sending(Connection* connection);
  void answer_error(Connection* connection, int status, std::string_view detail);
  void close_connection(Connection* connection);
  void expire(int64_t now);
  void account_head(Connection* connection, bool complete);
  void shed_heads();
  void pause_accepting(int64_t until_ms);
  void set_listening(bool on);
  void update_listening();
  void begin_graceful_stop();
  void start_watching();
  void reload_if_changed();
  void serve_ready_list();

  WorkerContext& context_;
  const WorkerOptions& options_;
  http::ParserOptions underscore_parser_;  // for trusted peers with forwarder_headers
  net::AllowList proxy_peers_;             // proxy_allow_ips
  net::AllowList uwsgi_peers_;             // uwsgi_allow_ips
  wsgi::Application& app_;
  Policy* policy_ = nullptr;
  net::EventLoop loop_;
  FileWatcher watcher_;
  ReadBuffer input_;
  std::vector<ServerAddress> servers_;  // one per listener, by index
  std::list<std::unique_ptr<Connection>> connections_;
  std::vector<Connection*> ready_list_;  // pipelined bytes left for the next turn
  size_t head_bytes_ = 0;                // all incomplete heads' parser memory
  bool accepting_ = true;
  bool listening_ = false;
  int64_t accept_paused_until_ms_ = 0;  // EMFILE back-off; 0 = not paused
  int64_t next_expiry_scan_ms_ = 0;
  int64_t now_ms_ = 0;
  bool stopping_ = false;
  int64_t stop_deadline_ms_ = 0;
  int64_t handled_ = 0;
  int exit_status_ = 0;
  bool retiring_ = false;  // max_requests reached: stop after the current request
  int turn_requests_ = 0;  // requests served in this process() call (fairness)
  std::vector<std::unique_ptr<Connection>> graveyard_;  // closed during the current event batch
  std::vector<std::unique_ptr<EventHandler>> handler_graveyard_;
  std::string discard_;  // body bytes drained after a response
};

}  // namespace narwhal::workers
