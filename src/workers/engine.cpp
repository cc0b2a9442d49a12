#include "workers/engine.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "workers/heartbeat.h"
#include "workers/http2_bridge.h"
#include "base/io.h"
#include "log/logger.h"
#include "net/socket_ops.h"
#include "workers/worker_signals.h"

namespace narwhal::workers {
namespace {

// epoll user data: listeners are (index << 1) | 1; connections are (even) pointers.
constexpr uint64_t kListenerTag = 1;
constexpr uint64_t kWatcherTag = 0;  // the --reload inotify descriptor
constexpr uint64_t kWakeTag = 2;     // the policy's wake descriptor
constexpr uint64_t kHandlerTag = 2;  // | an EventHandler's address (aligned: bit 1 is free)

ServerAddress server_address_of(const net::Listener& listener) {
  ServerAddress server;
  struct sockaddr_storage storage;
  socklen_t length = sizeof storage;
  if (getsockname(listener.fd.get(), reinterpret_cast<sockaddr*>(&storage), &length) == 0) {
    net::PeerAddress address;
    net::peer_from_sockaddr(reinterpret_cast<sockaddr*>(&storage), length, &address);
    server.host = address.host;
    server.port = address.port < 0 ? 0 : address.port;
    server.is_unix = address.family == AF_UNIX;
  }
  return server;
}

bool has_pending_bytes(const Connection& connection) {
  char byte;
  return connection.has_buffered_input() ||
         ::recv(connection.fd.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

}  // namespace

Connection::Connection(UniqueFd socket, const http::ParserOptions& options) : fd(std::move(socket)), parser(options) {}
Connection::~Connection() = default;

Engine::Engine(WorkerContext& context, const WorkerOptions& options, wsgi::Application& app)
    : context_(context), options_(options), app_(app), input_(64 * 1024) {
  underscore_parser_ = options.parser;
  underscore_parser_.header_map = http::HeaderMap::Dangerous;
  proxy_peers_.assign(options.proxy_allow_ips);
  uwsgi_peers_.assign(options.uwsgi_allow_ips);
}

Engine::~Engine() = default;

int Engine::run(Policy& policy) {
  if (!begin(policy)) return 1;
  while (step()) {
  }
  return finish();
}

bool Engine::begin(Policy& policy) {
  policy_ = &policy;
  install_worker_signals(options_.hooks.quit_in_python);
  if (!loop_.valid()) {
    log::logger().error("epoll_create1 failed");
    return false;
  }
  for (const net::Listener& listener : *context_.listeners) {
    servers_.push_back(server_address_of(listener));
    // Accepted sockets inherit SO_TIMESTAMP: each read says when its bytes arrived.
    if (options_.arrival_stamps && listener.family != AF_UNIX) io::enable_receive_stamps(listener.fd.get());
  }
  set_listening(true);
  start_watching();
  if (policy.wake_fd() >= 0 && loop_.add(policy.wake_fd(), net::EventLoop::kReadable, kWakeTag) != 0) {
    log::logger().error("epoll_ctl failed for the worker's wake descriptor");
    return false;
  }
  now_ms_ = heartbeat_now_ms();
  return true;
}

// One turn of the loop: signals and deadlines, one epoll wait (through the policy's wait), the
// events. False when the worker must leave (then finish()).
bool Engine::step() {
  Policy& policy = *policy_;
  WorkerSignals& signals = worker_signals();
  const int64_t now = now_ms_;
  // A policy whose request hangs reports an old value: the master's timeout then fires.
  beat(context_.heartbeat, policy.heartbeat_value(now));
  if (signals.reopen_logs) {
    signals.reopen_logs = 0;
    log::logger().reopen();
  }
  if (getppid() != context_.ppid) {
    log::logger().info("Parent changed, shutting down: " + std::to_string(getpid()));
    return false;
  }
  if (signals.stop_graceful && !stopping_) {
    // [graceful drain] The master's TERM (stop, HUP, USR2 handover): first serve what the
    // kernel already queued on the listeners, or it is reset when the last copy is closed.
    for (size_t i = 0; i < context_.listeners->size(); ++i) accept_from(i);
    begin_graceful_stop();
  }
  if (stopping_ && ((connections_.empty() && !policy.busy()) || now >= stop_deadline_ms_)) return false;
  if (accept_paused_until_ms_ != 0 && now >= accept_paused_until_ms_) {
    accept_paused_until_ms_ = 0;
    update_listening();
  }
  if (now >= next_expiry_scan_ms_) {
    expire(now);
    graveyard_.clear();
    handler_graveyard_.clear();
    next_expiry_scan_ms_ = now + 1000;
  }
  const int timeout_ms = policy.wait_cooperatively(loop_.fd(), ready_list_.empty() ? 1000 : 0);
  policy.before_wait();
  const int ready = loop_.wait(timeout_ms);
  policy.after_wait();
  now_ms_ = heartbeat_now_ms();
  policy.turn(now_ms_, ready == 0);
  if (ready < 0) {
    log::logger().error("epoll_wait failed: " + std::string(strerror(-ready)));
    exit_status_ = 1;
    return false;
  }
  for (const net::EventLoop::Event& event : loop_.ready()) {
    if (event.data == kWatcherTag) {
      reload_if_changed();
    } else if (event.data == kWakeTag) {
      policy.on_wake();
    } else if (event.data & kListenerTag) {
      if (accepting_) accept_from(static_cast<size_t>(event.data >> 1));
    } else if (event.data & kHandlerTag) {
      reinterpret_cast<EventHandler*>(event.data & ~kHandlerTag)->on_event(event.events);
    } else {
      auto* connection = static_cast<Connection*>(event.pointer());
      if (connection->closed) continue;  // closed earlier in this batch
      if (connection->phase == Phase::Http2) {
        connection->http2->on_client_event(event.events);
      } else if (connection->phase == Phase::Running) {
        // A thread runs its request and the client sent more (or hung up): not read until
        // the request is done (level-triggered, it would wake the loop again and again) —
        // unless the policy serves the connection while its app runs.
        if (!policy.running_event(*connection, event.events)) unwatch(connection);
      } else if (connection->phase == Phase::Sending || connection->phase == Phase::Closing) {
        continue_sending(connection);
      } else {
        process(connection);
      }
    }
  }
  serve_ready_list();
  graveyard_.clear();
  handler_graveyard_.clear();
  log::logger().statsd().flush();  // this turn's request metrics, one datagram
  return true;
}

int Engine::finish() {
  // Connections a pool thread still runs stay as they are: the process exits under them.
  for (auto it = connections_.begin(); it != connections_.end();) {
    Connection* connection = (it++)->get();
    if (connection->phase != Phase::Running) close_connection(connection);
  }
  graveyard_.clear();
  handler_graveyard_.clear();
  return exit_status_;
}

void Engine::start_watching() {
  if (options_.watch_files.empty()) return;
  std::string error;
  if (!watcher_.start(options_.watch_files, &error)) {
    log::logger().error("--reload: " + error);
    return;
  }
  if (loop_.add(watcher_.fd(), net::EventLoop::kReadable, kWatcherTag) != 0) {
    log::logger().error("--reload: epoll_ctl failed for the inotify descriptor");
  }
}

// --reload: like gunicorn's reloader, the worker leaves gracefully and the master starts a new
// one, which imports the changed code.
void Engine::reload_if_changed() {
  std::string changed;
  if (!watcher_.read_changes(&changed) || stopping_) return;
  log::logger().info("Worker reloading: " + changed + " modified");
  begin_graceful_stop();
}

void Engine::begin_graceful_stop() {
  stopping_ = true;
  accepting_ = false;
  stop_deadline_ms_ = heartbeat_now_ms() + options_.graceful_timeout_s * 1000;
  update_listening();
  // [graceful drain] Idle keep-alive connections are not closed now: that would race with a
  // request the client may be sending (it would get a reset, not an answer). They get at most
  // `keepalive` more seconds; a request arriving meanwhile is answered with Connection: close.
  // Connections with a partly received request are served until graceful_timeout.
  const int64_t idle_deadline = heartbeat_now_ms() + std::max(options_.keepalive_s, 1) * 1000;
  std::vector<Connection*> http2;
  for (auto& connection : connections_) {
    if (connection->phase == Phase::Idle) connection->deadline_ms = std::min(connection->deadline_ms, idle_deadline);
    if (connection->phase == Phase::Http2) http2.push_back(connection.get());
  }
  // HTTP/2: GOAWAY with the last stream taken; the streams in flight finish (RFC 9113 §6.8).
  for (Connection* connection : http2) connection->http2->shutdown();
}

bool Engine::count_request() {
  int64_t handled = ++handled_;
  if (options_.max_requests > 0 && handled >= options_.max_requests) {
    retiring_ = true;
    // The master counts this worker's exit as a max_requests restart (docs/metrics.md).
    if (context_.scoreboard) context_.scoreboard->retiring.store(1, std::memory_order_relaxed);
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// listeners

void Engine::set_listening(bool on) {
  if (on == listening_) return;
  const auto& listeners = *context_.listeners;
  for (size_t i = 0; i < listeners.size(); ++i) {
    if (on) {
      // EPOLLEXCLUSIVE: one worker is woken per new connection instead of all of them.
      if (loop_.add(listeners[i].fd.get(), net::EventLoop::kReadable | net::EventLoop::kExclusive,
                    (static_cast<uint64_t>(i) << 1) | kListenerTag) != 0) {
        log::logger().error("epoll_ctl failed to watch a listener");
      }
    } else if (loop_.remove(listeners[i].fd.get()) != 0) {
      log::logger().error("epoll_ctl failed to unwatch a listener");
    }
  }
  listening_ = on;
}

// The listeners are watched only while the worker can accept: not when stopping, nor while
// accept() is paused for lack of descriptors, nor at worker_connections (a level-triggered
// listener would otherwise wake the loop at once, again and again: issue 10, item 4). New
// connections then wait in the listen backlog (or go to another worker).
void Engine::update_listening() {
  set_listening(accepting_ && accept_paused_until_ms_ == 0 &&
                connections_.size() < static_cast<size_t>(options_.worker_connections));
}

// Out of descriptors (EMFILE/ENFILE) or memory: stop listening until a connection of ours
// closes or the back-off ends.
void Engine::pause_accepting(int64_t until_ms) {
  if (accept_paused_until_ms_ == 0) {
    log::logger().warning("Out of file descriptors or memory: pausing accept() (worker_connections=" +
                          std::to_string(options_.worker_connections) + ", open=" +
                          std::to_string(connections_.size()) + ")");
  }
  accept_paused_until_ms_ = until_ms;
  update_listening();
}

void Engine::accept_from(size_t listener_index) {
  const net::Listener& listener = (*context_.listeners)[listener_index];
  while (accepting_ && connections_.size() < static_cast<size_t>(options_.worker_connections)) {
    UniqueFd socket;
    net::PeerAddress peer;
    int rc = net::accept_connection(listener.fd.get(), &socket, &peer);
    if (rc == io::kWouldBlock) break;
    if (rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM) {
      pause_accepting(heartbeat_now_ms() + 1000);
      return;
    }
    if (rc < 0) {
      log::logger().error("accept failed: " + std::string(strerror(-rc)));
      break;
    }
    const bool peer_is_unix = peer.family == AF_UNIX;
    const bool underscore = app_.environ.parses_underscore_names(peer.host, peer_is_unix);
    auto owned = std::make_unique<Connection>(std::move(socket), underscore ? underscore_parser_ : options_.parser);
    Connection* connection = owned.get();
    connection->address = std::move(peer);
    connection->server = &servers_[listener_index];
    connection->underscore_parser = underscore;
    connection->h2c_allowed = options_.http2.cleartext && app_.environ.trusts(connection->address.host, peer_is_unix);
    if (options_.proxy_protocol != net::ProxyMode::Off) connection->preamble |= Connection::kPreambleProxyHeader;
    if (options_.parser.uwsgi) connection->preamble |= Connection::kPreambleUwsgiPeer;
    connection->deadline_ms = now_ms_ + options_.header_timeout_ms;  // counted from the accept
    if (options_.tls) {
      // The handshake runs in this loop, never in an app slot; header_timeout bounds it.
      connection->tls = std::make_unique<tls::Session>(*options_.tls, connection->fd.get(), options_.suppress_ragged_eofs);
      connection->secure = true;
      connection->phase = Phase::Handshake;
      if (!connection->tls->valid()) {
        log::logger().error("TLS: can't create a session: " + tls::openssl_errors());
        connection->position = connections_.insert(connections_.end(), std::move(owned));
        close_connection(connection);
        continue;
      }
    }
    connection->position = connections_.insert(connections_.end(), std::move(owned));
    // The request usually arrived with the connection: serve it now; the connection is
    // registered with epoll only if it must wait (a Connection: close request costs no epoll_ctl).
    process(connection);
    if (stopping_) break;
  }
  update_listening();
}

// ---------------------------------------------------------------------------------------------
// registry

void Engine::watch(Connection* connection, uint32_t events) {
  if (connection->closed) return;
  if (connection->registered && connection->watching == events) return;
  int rc = connection->registered ? loop_.modify(connection->fd.get(), events, connection)
                                  : loop_.add(connection->fd.get(), events, connection);
  if (rc != 0) {
    log::logger().error("epoll_ctl failed for a connection: " + std::string(strerror(-rc)));
    close_connection(connection);
    return;
  }
  connection->registered = true;
  connection->watching = events;
}

// An HTTP/2 stream's internal connection counts toward worker_connections like a client; the
// HTTP/2 client itself is one of them already, hence the +1 (it may fill the last place).
bool Engine::can_open_internal() const {
  return connections_.size() < static_cast<size_t>(options_.worker_connections) + 1;
}

bool Engine::open_internal(UniqueFd fd, const Connection& like) {
  auto owned = std::make_unique<Connection>(std::move(fd), like.underscore_parser ? underscore_parser_ : options_.parser);
  Connection* connection = owned.get();
  connection->address = like.address;
  connection->server = like.server;
  connection->underscore_parser = like.underscore_parser;
  connection->served = true;  // never a prior-knowledge HTTP/2 connection itself
  connection->secure = like.secure;
  connection->via_http2 = true;
  connection->proxied = like.proxied;  // REMOTE_ADDR and PROXY_* as the client's
  if (like.tls) connection->tls_peer = std::make_shared<const tls::PeerInfo>(like.tls->peer_info());
  connection->deadline_ms = now_ms_ + options_.header_timeout_ms;
  connection->position = connections_.insert(connections_.end(), std::move(owned));
  process(connection);
  return !connection->closed;
}

int Engine::watch_handler(int fd, uint32_t events, EventHandler* handler, bool registered) {
  void* tagged = reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(handler) | kHandlerTag);
  return registered ? loop_.modify(fd, events, tagged) : loop_.add(fd, events, tagged);
}

void Engine::unwatch_handler(int fd) { (void)loop_.remove(fd); }

void Engine::defer_delete(std::unique_ptr<EventHandler> handler) { handler_graveyard_.push_back(std::move(handler)); }

void Engine::unwatch(Connection* connection) {
  if (!connection->registered) return;
  if (int rc = loop_.remove(connection->fd.get()); rc != 0) {
    log::logger().error("epoll_ctl failed to unwatch a connection: " + std::string(strerror(-rc)));
  }
  connection->registered = false;
  connection->watching = 0;
}

void Engine::close_connection(Connection* connection) {
  if (connection->closed) return;
  connection->closed = true;
  head_bytes_ -= connection->head_bytes;
  connection->head_bytes = 0;
  if (connection->http2) connection->http2->abandon();  // its streams' pairs close
  policy_->release(*connection);
  connection->output.clear();
  if (connection->tls && connection->phase != Phase::Handshake) connection->tls->shutdown();  // close_notify
  // No epoll_ctl(DEL): the descriptor is ours alone, and closing it leaves the epoll set.
  connection->fd.reset();
  if (connection->in_ready_list) {
    ready_list_.erase(std::find(ready_list_.begin(), ready_list_.end(), connection));
    connection->in_ready_list = false;
  }
  // Destroyed after the event batch: a later event of the batch may still name it.
  graveyard_.push_back(std::move(*connection->position));
  connections_.erase(connection->position);
  // A descriptor was freed: if accepting was paused for lack of them, try again now.
  if (accept_paused_until_ms_ != 0) accept_paused_until_ms_ = 1;
  update_listening();
}

void Engine::expire(int64_t now) {
  for (auto it = connections_.begin(); it != connections_.end();) {
    Connection* connection = (it++)->get();
    if (now < connection->deadline_ms) continue;
    switch (connection->phase) {
      case Phase::Handshake:
        log::logger().debug("TLS handshake timed out: " + connection->address.host);
        close_connection(connection);
        break;
      case Phase::Head:
      case Phase::Body:
        // RFC 9110 §15.5.9: tell a client that stalled mid-request why it is disconnected.
        answer_error(connection, 408, "");
        break;
      case Phase::Running:
        break;  // the app's: the policy's watchdog
      case Phase::Http2:
        connection->http2->expire(now);  // keepalive, SETTINGS timeout, streams the client starves
        break;
      case Phase::Idle:
        if (has_pending_bytes(*connection)) {
          // The next request arrived while the loop was busy (the sync worker's app ran
          // longer than keepalive): it is served, not dropped.
          connection->deadline_ms = now + options_.header_timeout_ms;
          break;
        }
        close_connection(connection);
        break;
      default:
        close_connection(connection);
        break;
    }
  }
}

}  // namespace narwhal::workers
