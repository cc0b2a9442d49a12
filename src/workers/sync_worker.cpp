#include "workers/sync_worker.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <list>
#include <memory>

#include "arbiter/heartbeat.h"
#include "base/io.h"
#include "base/read_buffer.h"
#include "log/logger.h"
#include "net/event_loop.h"
#include "net/socket_ops.h"
#include "workers/file_watcher.h"

namespace narwhal::workers {
namespace {

// Set by signal handlers, read by the loop (the handlers only set flags).
volatile sig_atomic_t g_stop_graceful = 0;
volatile sig_atomic_t g_reopen_logs = 0;

void on_term(int) { g_stop_graceful = 1; }
void on_quit(int) { _exit(0); }  // quick shutdown: nothing in flight is worth waiting for
void on_usr1(int) { g_reopen_logs = 1; }

void install_signal_handlers(bool quit_in_python) {
  struct sigaction action = {};
  sigemptyset(&action.sa_mask);
  action.sa_handler = on_term;
  sigaction(SIGTERM, &action, nullptr);
  if (!quit_in_python) {  // else the Python handlers run worker_int/worker_exit, then exit
    action.sa_handler = on_quit;
    sigaction(SIGQUIT, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);
  }
  action.sa_handler = on_usr1;
  sigaction(SIGUSR1, &action, nullptr);
  action.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &action, nullptr);
  sigaction(SIGHUP, &action, nullptr);  // the master handles reloads
  sigaction(SIGWINCH, &action, nullptr);
}

constexpr uint64_t kListenerTag = 1;  // listener user data is (index << 1) | 1; connections are pointers
constexpr uint64_t kWatcherTag = 0;   // the --reload inotify descriptor

struct Connection {
  Connection(UniqueFd socket, const http::ParserOptions& options) : fd(std::move(socket)), parser(options) {}
  UniqueFd fd;
  http::RequestParser parser;
  wsgi::Peer peer;
  // When the connection is closed unless something happens: keepalive after a response,
  // header_timeout while a request head is (or may be) arriving.
  int64_t deadline_ms = 0;
  std::list<Connection*>::iterator position;  // in Worker::connections_
  bool registered = false;  // in the epoll set
  // A file response finished from the loop (wsgi::PendingFile): while it is sent, the worker
  // serves other connections; pipelined bytes read before it wait in `stash`.
  wsgi::PendingFile sending;
  bool keep_after_sending = false;
  std::string stash;
};

struct ServerAddress {
  std::string host;
  int port = 0;
  bool is_unix = false;
};

class Worker {
 public:
  Worker(arbiter::WorkerContext& context, const SyncWorkerOptions& options, wsgi::Application& app)
      : context_(context), options_(options), app_(app), input_(64 * 1024) {
    underscore_parser_ = options.parser;
    underscore_parser_.header_map = http::HeaderMap::Dangerous;
  }

  int run();

 private:
  void accept_from(size_t listener_index);
  bool serve(Connection* connection);  // false: the connection was closed
  bool serve_request(Connection* connection);  // false = close the connection
  const http::RequestHead* request_head(Connection* connection);
  void close_connection(Connection* connection);
  void expire(int64_t now);
  void pause_accepting(int64_t until_ms);
  void set_listening(bool on);
  void begin_graceful_stop();
  void watch(Connection* connection, uint32_t events);
  void continue_sending(Connection* connection);
  void start_watching();
  void reload_if_changed();
  void access_log(const Connection& connection, const http::RequestHead& head,
                  const wsgi::RequestResult& result, int64_t duration_us);

  arbiter::WorkerContext& context_;
  const SyncWorkerOptions& options_;
  // For trusted peers whose '_' field names forwarder_headers may let through (wsgi::Peer).
  http::ParserOptions underscore_parser_;
  http::RequestHead forwarded_head_;  // reused by serve_request()
  wsgi::Application& app_;
  net::EventLoop loop_;
  FileWatcher watcher_;
  ReadBuffer input_;
  std::vector<ServerAddress> servers_;
  std::list<Connection*> connections_;
  bool accepting_ = true;
  bool listening_ = false;          // listeners registered in the epoll set
  int64_t accept_paused_until_ms_ = 0;  // EMFILE back-off; 0 = not paused
  int64_t next_expiry_scan_ms_ = 0;
  // heartbeat_now_ms() as of the last epoll_wait return or finished request: the base of
  // connection deadlines, so a keep-alive request costs one clock read, not four.
  int64_t now_ms_ = 0;
  bool stopping_ = false;
  int64_t handled_ = 0;
  int64_t stop_deadline_ms_ = 0;
  std::string head_buffer_;  // every exchange's response head (one exchange at a time)
  log::HeaderList access_headers_;  // reused by access_log()
  std::string access_path_;
};

int64_t now_us() {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000000 + now.tv_nsec / 1000;
}

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

int Worker::run() {
  install_signal_handlers(options_.hooks.quit_in_python);
  if (!loop_.valid()) {
    log::logger().error("epoll_create1 failed");
    return 1;
  }
  const auto& listeners = *context_.listeners;
  for (const net::Listener& listener : listeners) servers_.push_back(server_address_of(listener));
  set_listening(true);
  start_watching();
  now_ms_ = arbiter::heartbeat_now_ms();
  for (;;) {
    const int64_t now = now_ms_;
    arbiter::beat(context_.heartbeat, now);
    if (g_reopen_logs) {
      g_reopen_logs = 0;
      log::logger().reopen();
    }
    if (getppid() != context_.ppid) {
      log::logger().info("Parent changed, shutting down: " + std::to_string(getpid()));
      break;
    }
    if (g_stop_graceful && !stopping_) {
      // [graceful drain] The master's TERM (stop, HUP, USR2 handover): first serve what the
      // kernel already queued on the listeners, or it is reset when the last copy is closed.
      for (size_t i = 0; i < context_.listeners->size(); ++i) accept_from(i);
      begin_graceful_stop();
    }
    if (stopping_ && (connections_.empty() || now >= stop_deadline_ms_)) break;
    if (accept_paused_until_ms_ != 0 && now >= accept_paused_until_ms_ && accepting_) {
      accept_paused_until_ms_ = 0;
      set_listening(true);
    }
    if (now >= next_expiry_scan_ms_) {
      expire(now);
      next_expiry_scan_ms_ = now + 1000;
    }
    int ready;
    {
      py::GilRelease nogil;
      ready = loop_.wait(1000);
    }
    now_ms_ = arbiter::heartbeat_now_ms();
    // Python-level signal handlers (SIGABRT's timeout tracebacks, the app's own) run only when
    // the main thread runs Python: give them their turn while the worker is idle.
    if (PyErr_CheckSignals() < 0) log::logger().error("Exception in a signal handler\n" + py::format_exception());
    if (ready < 0) {
      log::logger().error("epoll_wait failed: " + std::to_string(-ready));
      return 1;
    }
    const bool was_stopping = stopping_;
    for (const net::EventLoop::Event& event : loop_.ready()) {
      // A graceful stop begun in this batch closed idle connections: their events are stale.
      if (stopping_ != was_stopping) break;
      if (event.data == kWatcherTag) {
        reload_if_changed();
      } else if (event.data & kListenerTag) {
        if (accepting_) accept_from(static_cast<size_t>(event.data >> 1));
      } else {
        auto* connection = static_cast<Connection*>(event.pointer());
        if (connection->sending.file) {
          continue_sending(connection);
        } else {
          serve(connection);
        }
      }
    }
  }
  while (!connections_.empty()) close_connection(connections_.front());
  if (options_.hooks.worker_exit) options_.hooks.worker_exit();
  return 0;
}

void Worker::start_watching() {
  if (options_.watch_files.empty()) return;
  std::string error;
  if (!watcher_.start(options_.watch_files, &error)) {
    log::logger().error("--reload: " + error);
    return;
  }
  loop_.add(watcher_.fd(), net::EventLoop::kReadable, kWatcherTag);
}

// --reload: like gunicorn's reloader, the worker leaves gracefully and the master starts a new
// one, which imports the changed code.
void Worker::reload_if_changed() {
  std::string changed;
  if (!watcher_.read_changes(&changed) || stopping_) return;
  log::logger().info("Worker reloading: " + changed + " modified");
  begin_graceful_stop();
}

void Worker::begin_graceful_stop() {
  stopping_ = true;
  accepting_ = false;
  stop_deadline_ms_ = arbiter::heartbeat_now_ms() + options_.graceful_timeout_s * 1000;
  set_listening(false);
  // [graceful drain] Idle keep-alive connections are not closed now: that would race with a
  // request the client may be sending (it would get a reset, not an answer). They get at most
  // `keepalive` more seconds; a request arriving meanwhile is answered with Connection: close.
  // Connections with a partly received request are served until graceful_timeout.
  const int64_t idle_deadline = arbiter::heartbeat_now_ms() + std::max(options_.keepalive_s, 1) * 1000;
  for (Connection* connection : connections_) {
    if (!connection->parser.head_started()) connection->deadline_ms = std::min(connection->deadline_ms, idle_deadline);
  }
}

void Worker::set_listening(bool on) {
  if (on == listening_) return;
  const auto& listeners = *context_.listeners;
  for (size_t i = 0; i < listeners.size(); ++i) {
    if (on) {
      // EPOLLEXCLUSIVE: one worker is woken per new connection instead of all of them.
      loop_.add(listeners[i].fd.get(), net::EventLoop::kReadable | net::EventLoop::kExclusive,
                (static_cast<uint64_t>(i) << 1) | kListenerTag);
    } else {
      loop_.remove(listeners[i].fd.get());
    }
  }
  listening_ = on;
}

// Out of descriptors (EMFILE/ENFILE) or memory: a level-triggered listener would wake us again
// at once and spin. Stop listening until a connection of ours closes or the back-off ends.
void Worker::pause_accepting(int64_t until_ms) {
  if (accept_paused_until_ms_ == 0) {
    log::logger().warning("Out of file descriptors or memory: pausing accept() (worker_connections=" +
                          std::to_string(options_.worker_connections) + ", open=" +
                          std::to_string(connections_.size()) + ")");
  }
  accept_paused_until_ms_ = until_ms;
  set_listening(false);
}

void Worker::accept_from(size_t listener_index) {
  const net::Listener& listener = (*context_.listeners)[listener_index];
  const ServerAddress& server = servers_[listener_index];
  while (accepting_ && connections_.size() < static_cast<size_t>(options_.worker_connections)) {
    UniqueFd socket;
    net::PeerAddress peer;
    int rc = net::accept_connection(listener.fd.get(), &socket, &peer);
    if (rc == io::kWouldBlock) return;
    if (rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM) {
      pause_accepting(arbiter::heartbeat_now_ms() + 1000);
      return;
    }
    if (rc < 0) {
      log::logger().error("accept failed: " + std::string(strerror(-rc)));
      return;
    }
    wsgi::Peer connection_peer = app_.environ.make_peer(peer.host, peer.port, server.host, server.port,
                                                        peer.family == AF_UNIX);
    auto* connection = new Connection(
        std::move(socket), connection_peer.parse_underscore_names ? underscore_parser_ : options_.parser);
    connection->peer = std::move(connection_peer);
    connection->deadline_ms = now_ms_ + options_.header_timeout_ms;
    connection->position = connections_.insert(connections_.end(), connection);
    // The request usually arrived with the connection: serve it now, and register with epoll
    // only if the connection is still open (a Connection: close request costs no epoll_ctl).
    if (serve(connection) && !connection->registered) watch(connection, net::EventLoop::kReadable);
    if (stopping_) return;
  }
}

void Worker::close_connection(Connection* connection) {
  // No epoll_ctl(DEL): the descriptor is ours alone, and closing it leaves the epoll set.
  connections_.erase(connection->position);
  delete connection;
  // A descriptor was freed: if accepting was paused for lack of them, try again now.
  if (accept_paused_until_ms_ != 0) accept_paused_until_ms_ = 1;
}

void Worker::expire(int64_t now) {
  for (auto it = connections_.begin(); it != connections_.end();) {
    Connection* connection = *it++;
    if (now < connection->deadline_ms) continue;
    if (connection->parser.head_started() && !connection->sending.file) {
      // RFC 9110 §15.5.9: tell a client that stalled mid-head why it is being disconnected.
      std::string response = wsgi::error_response(408, "");
      struct iovec iov = {response.data(), response.size()};
      io::write_all(connection->fd.get(), &iov, 1, 0);
    }
    close_connection(connection);
  }
}

bool Worker::serve(Connection* connection) {
  for (;;) {
    if (input_.empty()) {
      ssize_t n = io::read_some(connection->fd.get(), input_.write_position(), input_.writable());
      if (n == io::kWouldBlock) return true;
      if (n <= 0) {
        close_connection(connection);  // peer closed (or reset); an unfinished head is dropped
        return false;
      }
      input_.commit(static_cast<size_t>(n));
      if (!connection->parser.head_started()) {
        connection->deadline_ms = now_ms_ + options_.header_timeout_ms;
      }
    }
    size_t consumed = 0;
    http::ParseResult result = connection->parser.feed(input_.data(), input_.size(), &consumed, nullptr);
    input_.consume(consumed);
    if (result == http::ParseResult::NeedMore) continue;
    if (result == http::ParseResult::Error) {
      std::string response = wsgi::error_response(connection->parser.error_status(), connection->parser.error_reason());
      struct iovec iov = {response.data(), response.size()};
      io::write_all(connection->fd.get(), &iov, 1, 1000);
      input_.clear();
      close_connection(connection);
      return false;
    }
    bool keep = serve_request(connection);
    if (!keep) {
      input_.clear();
      close_connection(connection);
      return false;
    }
    if (connection->sending.file) {
      // The rest of a file goes out from the loop; what the client pipelined behind it waits.
      connection->stash.assign(input_.data(), input_.size());
      input_.clear();
      connection->deadline_ms = now_ms_ + options_.write_timeout_ms;
      watch(connection, net::EventLoop::kWritable);
      return true;
    }
    connection->parser.next_request();
    connection->deadline_ms = now_ms_ + options_.keepalive_s * 1000;
    if (input_.empty()) return true;  // wait for the next request in epoll; pipelined bytes go on
  }
}

void Worker::watch(Connection* connection, uint32_t events) {
  if (connection->registered) {
    loop_.modify(connection->fd.get(), events, connection);
  } else {
    loop_.add(connection->fd.get(), events, connection);
    connection->registered = true;
  }
}

// Level-triggered EPOLLOUT: called whenever the socket has room, until the file is sent.
void Worker::continue_sending(Connection* connection) {
  wsgi::PendingFile& file = connection->sending;
  while (file.remaining > 0) {
    ssize_t n = io::sendfile_some(connection->fd.get(), file.file.get(), &file.offset,
                                  static_cast<size_t>(std::min<uint64_t>(file.remaining, 1u << 30)));
    if (n > 0) {
      file.remaining -= static_cast<uint64_t>(n);
      continue;
    }
    if (n == io::kWouldBlock) {
      connection->deadline_ms = now_ms_ + options_.write_timeout_ms;
      return;
    }
    close_connection(connection);  // an error, or the file shrank: the framing is broken
    return;
  }
  file.file.reset();
  wsgi::set_cork(connection->fd.get(), false);
  if (!connection->keep_after_sending) {
    close_connection(connection);
    return;
  }
  connection->parser.next_request();
  connection->deadline_ms = now_ms_ + options_.keepalive_s * 1000;
  watch(connection, net::EventLoop::kReadable);
  if (!connection->stash.empty()) {
    // input_ is empty between events: the stashed pipelined bytes go back in and are served.
    std::memcpy(input_.write_position(), connection->stash.data(), connection->stash.size());
    input_.commit(connection->stash.size());
    connection->stash.clear();
    serve(connection);
  }
}

// The head a request is served with: the parser's, or for forwarder_headers
// (wsgi::Peer::filter_underscore_names) a copy without the '_' names the list does not allow.
// Null when such a name is refused (header_map refuse): the 400 is sent, the connection must close.
const http::RequestHead* Worker::request_head(Connection* connection) {
  const http::RequestHead& parsed = connection->parser.head();
  if (!connection->peer.filter_underscore_names) return &parsed;
  switch (app_.environ.forwarded_head(parsed, connection->peer, &forwarded_head_)) {
    case wsgi::ForwarderVerdict::Unchanged:
      return &parsed;
    case wsgi::ForwarderVerdict::Filtered:
      return &forwarded_head_;
    case wsgi::ForwarderVerdict::Refused:
      break;
  }
  std::string response = wsgi::error_response(400, "'_' in field name");
  struct iovec iov = {response.data(), response.size()};
  io::write_all(connection->fd.get(), &iov, 1, 1000);
  return nullptr;
}

bool Worker::serve_request(Connection* connection) {
  const bool access_logged = log::logger().access_enabled();
  const int64_t started_us = access_logged ? now_us() : 0;
  const http::RequestHead* head = request_head(connection);
  if (!head) return false;
  ++handled_;
  wsgi::ExchangeOptions exchange_options;
  exchange_options.read_timeout_ms = options_.body_timeout_ms;
  exchange_options.write_timeout_ms = options_.write_timeout_ms;
  exchange_options.heartbeat = context_.heartbeat;
  exchange_options.stop_requested = &g_stop_graceful;
  exchange_options.defer_sendfile = true;
  exchange_options.head_storage = &head_buffer_;
  wsgi::Exchange exchange(connection->fd.get(), connection->parser, input_, exchange_options);
  if (head != &connection->parser.head()) exchange.use_head(head);
  bool last = options_.max_requests > 0 && handled_ >= options_.max_requests;
  wsgi::Framing framing;
  framing.keep_alive = options_.keepalive_s > 0 && !stopping_ && !g_stop_graceful && !last;
  exchange.set_framing(framing);

  const WorkerHooks& hooks = options_.hooks;
  if (hooks.pre_request) hooks.pre_request(exchange.head());
  wsgi::RequestResult result =
      wsgi::handle_request(app_, exchange, connection->peer, static_cast<bool>(hooks.post_request));
  if (hooks.post_request) hooks.post_request(exchange.head(), result.environ.get(), result.status);
  const int64_t done_us = now_us();
  now_ms_ = done_us / 1000;  // the same CLOCK_MONOTONIC as heartbeat_now_ms()
  if (access_logged) access_log(*connection, exchange.head(), result, done_us - started_us);
  arbiter::beat(context_.heartbeat, now_ms_);
  if (last && !stopping_) {
    log::logger().info("Autorestarting worker after current request.");
    begin_graceful_stop();
  }
  bool keep = result.keep_alive;
  if (keep && !exchange.body_complete()) {
    py::GilRelease nogil;
    keep = exchange.discard_rest_of_body(64 * 1024);
  }
  if (wsgi::PendingFile* pending = exchange.pending_file()) {
    connection->sending = std::move(*pending);
    connection->keep_after_sending = keep;
    return true;  // serve() hands the connection to the loop until the file is out
  }
  return keep;
}

void Worker::access_log(const Connection& connection, const http::RequestHead& head,
                        const wsgi::RequestResult& result, int64_t duration_us) {
  access_headers_.clear();
  for (const http::Header& header : head.headers) access_headers_.emplace_back(header.name, header.value);
  http::TargetParts target = http::split_target(head.target);
  access_path_.clear();
  http::percent_decode(target.path, access_path_);  // U is PATH_INFO, decoded (gunicorn)
  char status[8];
  snprintf(status, sizeof status, "%d", result.status);
  char protocol[16];
  snprintf(protocol, sizeof protocol, "HTTP/%d.%d", head.version_major, head.version_minor);
  log::AccessRecord record;
  record.remote_addr = connection.peer.remote_text;
  record.method = head.method;
  record.target = head.target;
  record.path = access_path_;
  record.query = target.query;
  record.protocol = protocol;
  record.status = status;
  record.response_length = static_cast<int64_t>(result.body_bytes);
  record.duration_us = duration_us;
  record.request_headers = &access_headers_;
  log::logger().access(record);
}

}  // namespace

int run_sync_worker(arbiter::WorkerContext& context, const SyncWorkerOptions& options,
                    wsgi::Application& app) {
  Worker worker(context, options, app);
  return worker.run();
}

}  // namespace narwhal::workers
