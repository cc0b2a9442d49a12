// The asgi worker's policy (`-k asgi`): the engine's loop accepts, reads and parses in C++; the
// application's coroutines run on an asyncio (or uvloop) event loop that the engine runs between
// its own turns (Policy::wait_cooperatively: until the engine's epoll descriptor is readable).
// While a request's task runs, its connection stays with the engine: body bytes are read as
// they arrive and handed to receive(), responses are written at once and what the socket does
// not take is finished from the loop, with send() waiting past a high-water mark
// (backpressure), and a client that leaves is seen at once (http.disconnect). The protocol
// objects are src/asgi; this file holds only the policy: who runs what, and when.
#include <Python.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "asgi/channel.h"
#include "asgi/http_exchange.h"
#include "asgi/scope.h"
#include "asgi/websocket_exchange.h"
#include "http/websocket.h"
#include "base/clock.h"
#include "base/io.h"
#include "log/logger.h"
#include "python/pyref.h"
#include "workers/heartbeat.h"
#include "workers/request.h"
#include "workers/queue_time.h"
#include "workers/scoreboard.h"
#include "workers/worker.h"
#include "workers/worker_signals.h"

namespace narwhal::workers {
namespace {

constexpr size_t kOutputHighWater = 64 * 1024;  // send() waits while more than this is queued
constexpr size_t kMaxPendingMessages = 64;      // WebSocket messages buffered ahead of the app

class AsgiPolicy;

// One connection of the asgi worker (Connection::protocol) and the request running on it.
class AsgiConnection final : public ProtocolState, public asgi::HttpStream {
 public:
  AsgiConnection(AsgiPolicy& policy, Connection& connection) : policy_(policy), connection_(connection) {}

  bool start(const http::RequestHead& head);
  void on_event(uint32_t events);
  // The task ended (the turn after): logs, hooks; true when the connection may be reused.
  bool finish_request();
  // finish_request, then the connection goes back to the engine (may destroy this).
  void hand_back();

  // ---- asgi::HttpStream ----
  Body take_body(std::string* out) override;
  bool client_gone() const override { return gone_; }
  bool write(std::string_view first, std::string_view second) override;
  bool backlogged() const override { return connection_.output.bytes() > kOutputHighWater; }
  void send_continue() override;
  void request_finished() override;
  void websocket_opened() override;
  void websocket_consumed() override { update_watch(); }

  // Once a second for an open WebSocket: pings an idle peer, closes one that stopped answering
  // (1011) and, at a graceful stop, closes with 1001 after the grace period.
  void websocket_tick(int64_t now_ms, bool closing_time);
  bool is_websocket() const { return ws_ != nullptr; }

  py::Ref client, server;  // scope address tuples, per connection

 private:
  void read_socket();
  void flush();
  void lost();
  void update_watch();

  AsgiPolicy& policy_;
  Connection& connection_;
  asgi::Endpoint* endpoint() { return exchange_ ? static_cast<asgi::Endpoint*>(&*exchange_) : ws_.get(); }

  std::optional<asgi::HttpExchange> exchange_;
  std::unique_ptr<asgi::WebSocketExchange> ws_;
  int refused_status_ = 0;  // a refused WebSocket handshake (answered without the app)
  int64_t last_input_ms_ = 0;
  int64_t ping_sent_ms_ = 0;
  bool server_closed_ = false;
  asgi::Channel channel_;
  py::Ref task_;
  py::Ref hook_request_;
  http::RequestHead head_copy_;          // a forwarder_headers-filtered head, when there is one
  const http::RequestHead* head_ = nullptr;
  std::string response_head_;            // the response head being built
  int64_t started_us_ = 0;
  RequestSlot* slot_ = nullptr;  // on the scoreboard (show requests), while the request runs
  bool gone_ = false;
};

class AsgiPolicy final : public Policy {
 public:
  explicit AsgiPolicy(Engine& engine) : engine_(engine), runner_(engine.options(), engine.app()) {}

  bool start();
  int lifespan_startup();  // 0, or the worker's exit status
  void lifespan_shutdown();

  void dispatch(Connection& connection) override;
  bool buffers_whole_bodies() const override { return false; }  // bodies stream into receive()
  bool busy() const override { return running_ > 0; }
  int wait_cooperatively(int, int) override { return 0; }  // the event loop waited already
  void turn(int64_t, bool) override;
  int serve();  // runs the event loop until the engine stops; the exit status
  void release(Connection& connection) override { connection.protocol.reset(); }  // GIL held
  bool running_event(Connection& connection, uint32_t events) override {
    if (auto* state = static_cast<AsgiConnection*>(connection.protocol.get())) state->on_event(events);
    return connection.protocol != nullptr;
  }

  // ---- for connections ----
  void finished(AsgiConnection& connection) {
    if (in_step_) {
      done_.push_back(&connection);  // taken back once the engine's turn is over
      return;
    }
    --running_;
    connection.hand_back();
  }
  void cancel_later(PyObject* task);
  void websocket_started(AsgiConnection* connection) { websockets_.push_back(connection); }
  void websocket_ended(AsgiConnection* connection) {
    websockets_.erase(std::remove(websockets_.begin(), websockets_.end(), connection), websockets_.end());
  }
  Engine& engine() { return engine_; }
  RequestRunner& runner() { return runner_; }
  asgi::ScopeBuilder& scopes() { return scopes_; }
  PyObject* loop() const { return loop_.get(); }
  PyObject* create_task() const { return create_task_.get(); }  // the loop's bound create_task
  PyObject* state() const { return state_.get(); }
  std::string& read_buffer() { return read_buffer_; }
  // Scoreboard slots, one per running request, reused (none when the scoreboard is full).
  RequestSlot* acquire_slot() {
    if (!free_slots_.empty()) {
      RequestSlot* slot = free_slots_.back();
      free_slots_.pop_back();
      return slot;
    }
    Scoreboard* board = engine_.options().scoreboard;
    return board ? board->claim_slot() : nullptr;
  }
  void release_slot(RequestSlot* slot) {
    if (slot) free_slots_.push_back(slot);
  }

 private:
  static PyObject* step_entry(PyObject* capsule, PyObject*);
  void step();

  Engine& engine_;
  RequestRunner runner_;  // the access log and forwarder_headers filtering
  asgi::ScopeBuilder scopes_;
  py::Ref runner_py_;  // narwhal._asgi.Runner
  py::Ref loop_;
  py::Ref create_task_;
  py::Ref lifespan_;
  py::Ref state_;
  std::vector<AsgiConnection*> done_;
  std::vector<RequestSlot*> free_slots_;
  std::vector<AsgiConnection*> websockets_;  // open WebSockets (pings, close at a graceful stop)
  int64_t next_websocket_tick_ms_ = 0;
  int64_t stop_seen_ms_ = 0;
  std::string read_buffer_ = std::string(64 * 1024, '\0');
  bool in_step_ = false;
  bool stopped_ = false;
  int running_ = 0;
};

// ---------------------------------------------------------------------------------------------
// the connection

bool AsgiConnection::start(const http::RequestHead& head) {
  started_us_ = clock::monotonic_us();
  if (&head != &connection_.parser.head()) {
    head_copy_ = head;
    head_ = &head_copy_;
  } else {
    head_ = &head;
  }
  const WorkerHooks& hooks = policy_.engine().options().hooks;
  note_queue_time(connection_, *head_, policy_.engine().options().scoreboard);  // docs/metrics.md
  if (Scoreboard* board = policy_.engine().options().scoreboard) {
    board->in_flight.fetch_add(1, std::memory_order_relaxed);
    slot_ = policy_.acquire_slot();
    if (slot_) begin_request(slot_, started_us_, head_->method, head_->target, connection_.address.host, connection_.address.port);
  }
  if (hooks.pre_request) hook_request_ = hooks.pre_request(*head_);
  py::Ref scope;
  if (head_->upgrade) {
    http::ws::Handshake handshake = http::ws::check_handshake(*head_);
    if (handshake.is_websocket) {
      if (handshake.status != 0) {
        // RFC 6455 §4.2.2 / §4.4: a bad handshake never reaches the app.
        log::logger().debug("WebSocket handshake refused (" + std::string(handshake.reason) + ") from " + connection_.address.host);
        refused_status_ = handshake.status;
        write(handshake.status == 426 ? std::string_view("HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n"
                                                         "Connection: close\r\nContent-Length: 0\r\n\r\n")
                                      : std::string_view(http::error_response(400, handshake.reason)),
              {});
        request_finished();
        return false;
      }
      ws_ = std::make_unique<asgi::WebSocketExchange>(*this, handshake, policy_.engine().options().asgi.websocket_max_message,
                                                      response_head_);
      last_input_ms_ = policy_.engine().now_ms();
      ping_sent_ms_ = 0;
      server_closed_ = false;
      policy_.websocket_started(this);
      scope = policy_.scopes().websocket(*head_, client.get(), server.get(), policy_.state(), connection_.secure, handshake.subprotocols);
    }
  }
  if (!ws_) {
    asgi::HttpRequestInfo info;
    info.head_method = head_->method == "HEAD";
    info.version_major = head_->version_major;
    info.version_minor = head_->version_minor;
    info.keep_alive = head_->keep_alive && connection_.keep_alive_allowed;
    info.expect_continue = head_->expect_continue && !connection_.parser.message_complete();
    exchange_.emplace(*this, info, response_head_);
    // A uwsgi packet names its scheme (HTTPS / wsgi.url_scheme); over TLS (or an HTTP/2 stream
    // whose client came over TLS) it is https.
    scope = policy_.scopes().http(*head_, client.get(), server.get(), policy_.state(),
                                  connection_.secure || head_->scheme == "https", connection_.via_http2);
  }
  py::Ref coroutine;
  if (scope && asgi::make_channel(endpoint(), policy_.loop(), &channel_)) {
    coroutine = py::Ref::steal(PyObject_CallFunctionObjArgs(policy_.engine().app().callable.get(), scope.get(),
                                                            channel_.receive.get(), channel_.send.get(), nullptr));
  }
  py::Ref wrapped = coroutine ? asgi::wrap_app_coroutine(coroutine.get(), channel_) : py::Ref();
  if (wrapped) task_ = py::Ref::steal(PyObject_CallOneArg(policy_.create_task(), wrapped.get()));
  const bool added = static_cast<bool>(task_);
  if (!added) {
    // The app could not even be called (not an ASGI 3 callable, or it raised at once).
    log::logger().error("Exception in ASGI application\n" + py::format_exception());
    task_.reset();
    request_finished();
    return false;
  }
  update_watch();
  return true;
}

void AsgiConnection::request_finished() { policy_.finished(*this); }

bool AsgiConnection::finish_request() {
  bool keep = false;
  int status = refused_status_;
  uint64_t body_bytes = 0;
  PyObject* response_headers_object = nullptr;
  if (exchange_) {
    keep = exchange_->finish() && !gone_;
    status = exchange_->status();
    body_bytes = exchange_->body_bytes();
    response_headers_object = exchange_->response_headers();
  } else if (ws_) {
    ws_->finish();  // the connection ends with the WebSocket
    status = ws_->status();
    body_bytes = ws_->body_bytes();
    policy_.websocket_ended(this);
  }
  const int64_t duration_us = clock::monotonic_us() - started_us_;
  log::logger().request_metrics(status, duration_us);
  if (Scoreboard* board = policy_.engine().options().scoreboard) {
    if (slot_) end_request(slot_);
    policy_.release_slot(slot_);
    slot_ = nullptr;
    count_request(board->counters, head_->method, status, duration_us);
    board->in_flight.fetch_sub(1, std::memory_order_relaxed);
  }
  const WorkerHooks& hooks = policy_.engine().options().hooks;
  if (hooks.post_request) hooks.post_request(*head_, hook_request_, nullptr, status);
  if (hooks.access) {
    AccessEntry entry;
    entry.head = head_;
    entry.remote_addr = connection_.peer ? std::string_view(connection_.peer->remote_text)
                                         : std::string_view(connection_.address.host);
    entry.status = status;
    entry.body_bytes = body_bytes;
    entry.duration_us = duration_us;
    entry.queue_us = connection_.queue_us;
    entry.response_headers = response_headers_object;
    hooks.access(entry);
  } else if (log::logger().access_enabled()) {
    log::HeaderList response_headers;  // {name}o: views into the app's bytes (kept by `list`)
    py::Ref list;
    if (log::logger().access_format().uses_response_headers() && response_headers_object) {
      list = py::Ref::steal(PySequence_List(response_headers_object));
      for (Py_ssize_t i = 0, n = list ? PyList_GET_SIZE(list.get()) : 0; i < n; ++i) {
        PyObject* pair = PyList_GET_ITEM(list.get(), i);
        if (!PyTuple_Check(pair) && !PyList_Check(pair)) continue;
        if (PySequence_Size(pair) != 2) continue;
        PyObject* name = PySequence_Fast_GET_ITEM(pair, 0);
        PyObject* value = PySequence_Fast_GET_ITEM(pair, 1);
        if (!PyBytes_Check(name) || !PyBytes_Check(value)) continue;
        response_headers.emplace_back(std::string_view(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name)),
                                      std::string_view(PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value)));
      }
      PyErr_Clear();
    }
    policy_.runner().write_access_log(connection_, *head_, status, body_bytes, duration_us, response_headers);
  }
  if (ws_) {
    py::Ref gone = py::Ref::steal(Py_BuildValue("{s:s,s:i}", "type", "websocket.disconnect", "code", 1006));
    asgi::detach(channel_, gone.get());
  } else {
    asgi::detach(channel_);
  }
  exchange_.reset();
  ws_.reset();
  refused_status_ = 0;
  task_.reset();
  hook_request_.reset();
  head_ = nullptr;
  return keep;
}

void AsgiConnection::hand_back() {
  Connection& connection = connection_;  // `this` may be destroyed by request_done
  Engine& engine = policy_.engine();
  const bool keep = finish_request();
  engine.request_done(connection, keep);
  engine.resume(connection);
}

asgi::HttpStream::Body AsgiConnection::take_body(std::string* out) {
  if (!connection_.body.empty()) {
    out->append(connection_.body);
    connection_.body.clear();
  }
  http::RequestParser& parser = connection_.parser;
  if (!parser.message_complete() && !connection_.stash.empty()) {
    size_t consumed = 0;
    http::ParseResult result = parser.feed(connection_.stash.data(), connection_.stash.size(), &consumed, out);
    connection_.stash.erase(0, consumed);
    if (result == http::ParseResult::Error) {
      log::logger().info("Invalid request body from " + connection_.address.host + ": " +
                         std::string(parser.error_reason()));
      return Body::Failed;  // the exchange answers 400 if nothing was sent, and closes
    }
  }
  if (parser.message_complete()) return Body::End;
  if (gone_) return Body::Failed;
  update_watch();
  return Body::Pending;
}

bool AsgiConnection::write(std::string_view first, std::string_view second) {
  if (gone_) return false;
  net::OutputQueue& output = connection_.output;
  if (output.empty()) {
    struct iovec parts[2] = {{const_cast<char*>(first.data()), first.size()},
                             {const_cast<char*>(second.data()), second.size()}};
    ssize_t n = connection_.transport().writev(parts, second.empty() ? 1 : 2);
    if (n < 0 && n != io::kWouldBlock) {
      lost();
      return false;
    }
    size_t written = n < 0 ? 0 : static_cast<size_t>(n);
    if (slot_) slot_->bytes_written.fetch_add(written, std::memory_order_relaxed);
    const size_t from_first = std::min(written, first.size());
    first.remove_prefix(from_first);
    second.remove_prefix(std::min(written - from_first, second.size()));
  }
  if (!first.empty()) output.push_copy(first);
  if (!second.empty()) output.push_copy(second);
  if (!output.empty()) update_watch();
  return true;
}

void AsgiConnection::send_continue() {
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  write(kContinue, {});
}

void AsgiConnection::on_event(uint32_t events) {
  if (events & (net::EventLoop::kWritable | net::EventLoop::kError)) flush();
  if (!gone_ && (events & (net::EventLoop::kReadable | net::EventLoop::kHangup | net::EventLoop::kError))) read_socket();
  update_watch();
}

void AsgiConnection::read_socket() {
  if (connection_.stash.size() >= policy_.engine().options().body_buffer_size) return;
  std::string& buffer = policy_.read_buffer();
  ssize_t n = connection_.transport().read(buffer.data(), buffer.size());
  if (n == io::kWouldBlock) return;
  if (n <= 0) {
    lost();
    return;
  }
  connection_.stash.append(buffer.data(), static_cast<size_t>(n));
  if (slot_) slot_->bytes_read.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
  last_input_ms_ = policy_.engine().now_ms();
  ping_sent_ms_ = 0;
  if (ws_) {
    ws_->input(connection_.stash);
  } else if (exchange_ && !connection_.parser.message_complete()) {
    exchange_->body_ready();
  }
}

void AsgiConnection::websocket_opened() {
  if (!connection_.stash.empty()) ws_->input(connection_.stash);
}

void AsgiConnection::websocket_tick(int64_t now_ms, bool closing_time) {
  if (!ws_ || !ws_->open() || gone_) return;
  if (closing_time && !server_closed_) {
    server_closed_ = true;
    ws_->close_from_server(1001, "server shutting down");  // RFC 6455 §7.4.1: going away
  }
  const int64_t interval_ms = int64_t{policy_.engine().options().asgi.websocket_ping_interval_s} * 1000;
  if (interval_ms <= 0) return;
  if (ping_sent_ms_ != 0 && now_ms - ping_sent_ms_ > interval_ms) {
    log::logger().info("WebSocket peer " + connection_.address.host + " stopped answering pings: closed");
    ws_->close_from_server(1011, "keepalive ping timeout");
    lost();
  } else if (ping_sent_ms_ == 0 && now_ms - last_input_ms_ > interval_ms) {
    ws_->ping();
    ping_sent_ms_ = now_ms;
  }
}

void AsgiConnection::flush() {
  switch (connection_.output.flush(connection_.transport())) {
    case net::OutputQueue::Flush::Error:
      lost();
      return;
    case net::OutputQueue::Flush::WouldBlock:
    case net::OutputQueue::Flush::Done:
      break;
  }
  if (backlogged()) return;
  if (exchange_) exchange_->output_drained();
  if (ws_) ws_->output_drained();
}

// The client closed or reset the connection while the request runs: receive() says so at once,
// and a task still running asgi_disconnect_grace_period later is cancelled.
void AsgiConnection::lost() {
  if (gone_) return;
  gone_ = true;
  connection_.output.clear();
  if (exchange_) exchange_->client_left();
  if (ws_) ws_->client_left();
  if ((exchange_ || ws_) && task_) policy_.cancel_later(task_.get());
}

void AsgiConnection::update_watch() {
  if (connection_.closed || connection_.phase != Phase::Running) return;
  uint32_t events = 0;
  // Reading pauses while the app is behind: body_buffer_size bytes unparsed, or (WebSocket)
  // kMaxPendingMessages messages it has not received yet.
  if (!gone_ && connection_.stash.size() < policy_.engine().options().body_buffer_size &&
      (!ws_ || ws_->pending() < kMaxPendingMessages)) {
    events |= net::EventLoop::kReadable;
  }
  if (!gone_ && !connection_.output.empty()) events |= net::EventLoop::kWritable;
  if (events & net::EventLoop::kReadable) {
    const net::Transport transport = connection_.transport();
    if (transport.buffered()) {
      // TLS holds decrypted bytes epoll will not announce: read them now.
      read_socket();
      update_watch();  // again, with the stash (and the TLS buffer) as they are now
      return;
    }
    if (transport.want_write()) events |= net::EventLoop::kWritable;
  }
  if (events == 0) {
    policy_.engine().unwatch(&connection_);
  } else {
    policy_.engine().watch(&connection_, events);
  }
}

// ---------------------------------------------------------------------------------------------
// the policy

bool AsgiPolicy::start() {
  const WorkerOptions::Asgi& settings = engine_.options().asgi;
  asgi::ScopeSettings scope_settings;
  scope_settings.root_path = settings.root_path;
  py::Ref module = py::Ref::steal(PyImport_ImportModule("narwhal._asgi"));
  if (module) {
    runner_py_ = py::Ref::steal(PyObject_CallMethod(module.get(), "Runner", "is", engine_.loop_fd(), settings.loop.c_str()));
  }
  if (runner_py_) loop_ = py::Ref::steal(PyObject_GetAttrString(runner_py_.get(), "loop"));
  if (loop_) create_task_ = py::Ref::steal(PyObject_GetAttrString(loop_.get(), "create_task"));
  if (!loop_ || !create_task_ || !scopes_.init(scope_settings)) {
    log::logger().error("Exception in worker process: can't start the asgi worker's event loop (asgi_loop " +
                        settings.loop + ")\n" + py::format_exception());
    return false;
  }
  py::Ref kind = py::Ref::steal(PyObject_GetAttrString(runner_py_.get(), "kind"));
  const char* kind_text = kind ? PyUnicode_AsUTF8(kind.get()) : nullptr;
  PyErr_Clear();
  log::logger().debug(std::string("ASGI worker event loop: ") + (kind_text ? kind_text : "?"));
  if (settings.lifespan != "off") {
    lifespan_ = py::Ref::steal(PyObject_CallMethod(module.get(), "Lifespan", "OO", engine_.app().callable.get(), loop_.get()));
    if (lifespan_) state_ = py::Ref::steal(PyObject_GetAttrString(lifespan_.get(), "state"));
  } else {
    state_ = py::Ref::steal(PyDict_New());
  }
  if (!state_) {
    log::logger().error("Exception in worker process\n" + py::format_exception());
    return false;
  }
  return true;
}

namespace {
// (level, text) from the lifespan glue, logged; true when level is "error".
bool log_outcome(PyObject* outcome) {
  if (!outcome || outcome == Py_None) return false;
  const char* level = nullptr;
  const char* text = nullptr;
  if (!PyArg_ParseTuple(outcome, "ss", &level, &text)) {
    PyErr_Clear();
    return true;
  }
  std::string_view kind(level);
  if (kind == "info") log::logger().info(text);
  else if (kind == "warning") log::logger().warning(text);
  else log::logger().error(text);
  return kind == "error";
}
}  // namespace

int AsgiPolicy::lifespan_startup() {
  if (!lifespan_) return 0;
  py::Ref outcome = py::Ref::steal(PyObject_CallMethod(lifespan_.get(), "startup", "s", engine_.options().asgi.lifespan.c_str()));
  if (!outcome) {
    log::logger().error("Exception in 'lifespan' protocol\n" + py::format_exception());
    return kAppLoadError;
  }
  return log_outcome(outcome.get()) ? kAppLoadError : 0;
}

void AsgiPolicy::lifespan_shutdown() {
  if (!lifespan_) return;
  py::Ref outcome = py::Ref::steal(PyObject_CallMethod(lifespan_.get(), "shutdown", "d",
                                                       static_cast<double>(engine_.options().graceful_timeout_s)));
  if (!outcome) {
    log::logger().error("Exception in 'lifespan' protocol\n" + py::format_exception());
    return;
  }
  log_outcome(outcome.get());
}

void AsgiPolicy::dispatch(Connection& connection) {
  WorkerSignals& signals = worker_signals();
  const bool last = engine_.count_request();
  connection.keep_alive_allowed = engine_.options().keepalive_s > 0 && !engine_.stopping() && !signals.stop_graceful && !last;
  engine_.stash_input(connection);
  if (!connection.protocol) {
    auto state = std::make_unique<AsgiConnection>(*this, connection);
    state->client = connection.address.family == AF_UNIX
                        ? py::Ref::borrow(Py_None)
                        : asgi::ScopeBuilder::address_tuple(connection.address.host, connection.address.port, false);
    state->server = asgi::ScopeBuilder::address_tuple(connection.server->host, connection.server->port, connection.server->is_unix);
    if (!connection.peer) {
      connection.peer = engine_.app().environ.make_peer(connection.address.host, connection.address.port, connection.server->host,
                           connection.server->port, is_unix_socket(connection),
                           connection.proxied ? &*connection.proxied : nullptr);
    }
    connection.protocol = std::move(state);
  }
  const http::RequestHead* head = runner_.request_head(connection);
  if (!head) {  // a refused '_' name: the 400 is queued
    engine_.request_done(connection, false);
    return;
  }
  auto& state = static_cast<AsgiConnection&>(*connection.protocol);
  ++running_;
  state.start(*head);
}

PyObject* AsgiPolicy::step_entry(PyObject* capsule, PyObject*) {
  auto* policy = static_cast<AsgiPolicy*>(PyCapsule_GetPointer(capsule, "narwhal.asgi_policy"));
  if (!policy) return nullptr;
  policy->step();
  Py_RETURN_NONE;
}

// A turn of the engine, from the event loop (its epoll descriptor is readable, or the tick).
void AsgiPolicy::step() {
  if (stopped_) return;
  engine_.set_now_ms(heartbeat_now_ms());
  in_step_ = true;
  const bool more = engine_.step();
  in_step_ = false;
  std::vector<AsgiConnection*> done;
  done.swap(done_);
  for (AsgiConnection* state : done) {
    --running_;
    state->hand_back();
  }
  const int64_t now = engine_.now_ms();
  if (engine_.stopping() && stop_seen_ms_ == 0) stop_seen_ms_ = now;
  if (!websockets_.empty() && now >= next_websocket_tick_ms_) {
    next_websocket_tick_ms_ = now + 1000;
    const bool closing_time =
        stop_seen_ms_ != 0 && now - stop_seen_ms_ >= int64_t{engine_.options().asgi.disconnect_grace_s} * 1000;
    std::vector<AsgiConnection*> open = websockets_;
    for (AsgiConnection* connection : open) connection->websocket_tick(now, closing_time);
  }
  if (!more) {
    stopped_ = true;
    py::Ref stopped = py::Ref::steal(PyObject_CallMethod(loop_.get(), "stop", nullptr));
    if (!stopped) PyErr_Clear();
  }
}

int AsgiPolicy::serve() {
  if (!engine_.begin(*this)) return 1;
  py::Ref capsule = py::Ref::steal(PyCapsule_New(this, "narwhal.asgi_policy", nullptr));
  static PyMethodDef step_def = {"step", step_entry, METH_NOARGS, "One turn of the worker's engine."};
  py::Ref step = capsule ? py::Ref::steal(PyCFunction_New(&step_def, capsule.get())) : py::Ref();
  py::Ref ran = step ? py::Ref::steal(PyObject_CallMethod(runner_py_.get(), "run", "O", step.get())) : py::Ref();
  if (!ran) {
    // Out of the event loop: a Python signal handler's exception (INT/QUIT run the hooks and
    // exit in Python), or a loop failure.
    if (!PyErr_ExceptionMatches(PyExc_KeyboardInterrupt) && !PyErr_ExceptionMatches(PyExc_SystemExit)) {
      log::logger().error("Exception in the asgi worker's event loop\n" + py::format_exception());
    }
    PyErr_Clear();
  }
  return engine_.finish();
}

void AsgiPolicy::turn(int64_t, bool) {
  if (PyErr_CheckSignals() < 0) log::logger().error("Exception in a signal handler\n" + py::format_exception());
}

void AsgiPolicy::cancel_later(PyObject* task) {
  const int grace = engine_.options().asgi.disconnect_grace_s;
  py::Ref cancel = py::Ref::steal(PyObject_GetAttrString(task, "cancel"));
  py::Ref handle;
  if (cancel) {
    handle = grace > 0 ? py::Ref::steal(PyObject_CallMethod(loop_.get(), "call_later", "dO", static_cast<double>(grace), cancel.get()))
                       : py::Ref::steal(PyObject_CallMethod(loop_.get(), "call_soon", "O", cancel.get()));
  }
  if (!handle) PyErr_Clear();
}

}  // namespace

int run_asgi(Engine& engine) {
  auto policy = std::make_unique<AsgiPolicy>(engine);
  if (!policy->start()) return kWorkerBootError;
  if (int status = policy->lifespan_startup(); status != 0) return status;
  const int status = policy->serve();
  policy->lifespan_shutdown();
  // Never destroyed (as the other policies): tasks still running past graceful_timeout may
  // reach it until the process ends.
  policy.release();
  return status;
}

}  // namespace narwhal::workers
