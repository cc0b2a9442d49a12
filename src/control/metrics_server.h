// The master's Prometheus endpoint (--metrics-bind): a tiny HTTP/1.x server driven by the
// arbiter's poll loop, like the control socket (server.h), and as careful: non-blocking reads
// and writes, a bounded request head, bounded clients (the oldest makes room for a new one),
// one deadline per client for the whole exchange. Each connection gets one response, then the
// server shuts its sending side and waits briefly for the client to close (so unread request
// bytes never turn the close into a reset that would eat the response). docs/metrics.md.
#pragma once

#include <poll.h>

#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/unique_fd.h"
#include "control/server.h"
#include "net/listener.h"

namespace narwhal::control {

struct MetricsServerOptions {
  std::string bind;                   // metrics_bind: HOST:PORT, [V6]:PORT or unix:PATH
  size_t max_clients = 16;            // more: the oldest client is closed
  size_t max_request_bytes = 8192;    // a longer request head is answered 431
  int64_t request_timeout_ms = 10000;  // the whole exchange: request in, response out
  int64_t linger_ms = 1000;           // after the response, for the client to close first
  size_t max_accepts_per_turn = 64;   // a flood of connections cannot hold the loop
};

// The answer to a buffered request head, or nullopt while the head is incomplete (and within
// max_request_bytes). GET/HEAD /metrics (any query) -> 200 with render()'s text; another
// method on /metrics -> 405; any other path -> 404; not HTTP/1.x -> 400; too long -> 431.
std::optional<std::string> answer_metrics_request(std::string_view buffered, size_t max_request_bytes,
                                                  const std::function<std::string()>& render);

class MetricsServer {
 public:
  MetricsServer(MetricsServerOptions options, std::function<std::string()> render, ServerLog log);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Binds and listens (SO_REUSEPORT: the new master of a USR2 upgrade binds the same port while
  // the old one still serves). false + error.
  bool open(std::string* error);
  // `unlink_unix`: remove a unix socket file (not while another master of a USR2 upgrade
  // serves it: it has replaced the file with its own).
  void close(bool unlink_unix);
  void close_in_child();  // in a forked worker: descriptors closed
  const MetricsServerOptions& options() const { return options_; }
  std::string address() const;  // as logged: "http://127.0.0.1:9100"

  // Poll integration, as control::Server.
  void add_poll_fds(std::vector<pollfd>* fds) const;
  void handle(const pollfd* fds, size_t count, int64_t now_ms);
  void tick(int64_t now_ms);  // deadlines; once per loop turn

 private:
  enum class State { Reading, Writing, Lingering };
  struct Client {
    UniqueFd fd;
    State state = State::Reading;
    std::string input;
    std::string output;
    size_t sent = 0;
    int64_t deadline_ms = 0;
    bool closed = false;
  };

  void accept_clients(int64_t now_ms);
  void read_request(Client& client, int64_t now_ms);
  void flush(Client& client, int64_t now_ms);
  void discard_input(Client& client);
  static void close_client(Client& client);

  MetricsServerOptions options_;
  std::function<std::string()> render_;
  ServerLog log_;
  std::vector<net::Listener> listeners_;  // one (open_listeners' shape)
  std::list<Client> clients_;
};

}  // namespace narwhal::control
