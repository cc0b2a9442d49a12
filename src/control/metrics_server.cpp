#include "control/metrics_server.h"

#include <errno.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "control/metrics_text.h"

namespace narwhal::control {
namespace {

constexpr size_t kReadChunk = 4096;
constexpr size_t kDiscardPerEvent = 64 * 1024;  // a client flooding bytes after its request

std::string response(int status, std::string_view reason, std::string_view content_type, const std::string& body,
                     bool head_only, std::string_view extra_headers = {}) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
  out += "Content-Type: ";
  out += content_type;
  out += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  out += extra_headers;
  out += "Connection: close\r\n\r\n";
  if (!head_only) out += body;
  return out;
}

std::string plain(int status, std::string_view reason, bool head_only = false, std::string_view extra = {}) {
  return response(status, reason, "text/plain; charset=utf-8", std::string(reason) + "\n", head_only, extra);
}

}  // namespace

std::optional<std::string> answer_metrics_request(std::string_view buffered, size_t max_request_bytes,
                                                  const std::function<std::string()>& render) {
  // The head ends with an empty line; a bare LF is tolerated (RFC 9112 §2.2).
  size_t end = buffered.find("\r\n\r\n");
  if (end == std::string_view::npos) end = buffered.find("\n\n");
  if (end == std::string_view::npos || end > max_request_bytes) {
    if (buffered.size() <= max_request_bytes) {
      // A request line that cannot be HTTP is refused at once, not after the timeout.
      const size_t line_end = buffered.find('\n');
      if (line_end == std::string_view::npos) return std::nullopt;
      const std::string_view line = buffered.substr(0, line_end);
      if (line.find(" HTTP/1.") == std::string_view::npos) return plain(400, "Bad Request");
      return std::nullopt;
    }
    return plain(431, "Request Header Fields Too Large");
  }
  std::string_view line = buffered.substr(0, buffered.find('\n'));
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // request-line = method SP request-target SP HTTP-version (RFC 9112 §3)
  const size_t first = line.find(' ');
  const size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
  if (first == 0 || second == std::string_view::npos || line.find(' ', second + 1) != std::string_view::npos) {
    return plain(400, "Bad Request");
  }
  const std::string_view method = line.substr(0, first);
  const std::string_view target = line.substr(first + 1, second - first - 1);
  const std::string_view version = line.substr(second + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return plain(400, "Bad Request");
  const bool head_only = method == "HEAD";
  const std::string_view path = target.substr(0, target.find('?'));
  if (path != "/metrics") return plain(404, "Not Found", head_only);
  if (method != "GET" && !head_only) return plain(405, "Method Not Allowed", false, "Allow: GET, HEAD\r\n");
  return response(200, "OK", kMetricsContentType, render(), head_only);
}

MetricsServer::MetricsServer(MetricsServerOptions options, std::function<std::string()> render, ServerLog log)
    : options_(std::move(options)), render_(std::move(render)), log_(std::move(log)) {}

MetricsServer::~MetricsServer() { close(false); }

bool MetricsServer::open(std::string* error) {
  net::ListenOptions listen;
  listen.backlog = 64;
  listen.reuse_port = true;
  listen.bind_attempts = 1;
  if (!net::open_listeners({options_.bind}, listen, &listeners_, error)) return false;
  const bool unix_socket = listeners_.front().family == AF_UNIX;
  if (log_.info) log_.info("Metrics listening at: " + address() + (unix_socket ? "" : "/metrics"));
  return true;
}

std::string MetricsServer::address() const { return listeners_.empty() ? "" : listeners_.front().name; }

void MetricsServer::close(bool unlink_unix) {
  clients_.clear();
  net::close_listeners(listeners_, unlink_unix);
}

void MetricsServer::close_in_child() {
  clients_.clear();
  listeners_.clear();  // closes the descriptors, removes nothing
}

void MetricsServer::add_poll_fds(std::vector<pollfd>* fds) const {
  for (const net::Listener& listener : listeners_) fds->push_back({listener.fd.get(), POLLIN, 0});
  for (const Client& client : clients_) {
    fds->push_back({client.fd.get(), static_cast<short>(client.state == State::Writing ? POLLOUT : POLLIN), 0});
  }
}

void MetricsServer::handle(const pollfd* fds, size_t count, int64_t now_ms) {
  for (size_t i = 0; i < count; ++i) {
    if (fds[i].revents == 0) continue;
    if (!listeners_.empty() && fds[i].fd == listeners_.front().fd.get()) {
      accept_clients(now_ms);
      continue;
    }
    for (Client& client : clients_) {
      if (client.closed || client.fd.get() != fds[i].fd) continue;
      switch (client.state) {
        case State::Reading: read_request(client, now_ms); break;
        case State::Writing: flush(client, now_ms); break;
        case State::Lingering: discard_input(client); break;
      }
      break;
    }
  }
  clients_.remove_if([](const Client& client) { return client.closed; });
}

void MetricsServer::tick(int64_t now_ms) {
  for (Client& client : clients_) {
    if (!client.closed && now_ms >= client.deadline_ms) close_client(client);
  }
  clients_.remove_if([](const Client& client) { return client.closed; });
}

void MetricsServer::accept_clients(int64_t now_ms) {
  for (size_t accepted = 0; accepted < options_.max_accepts_per_turn; ++accepted) {
    UniqueFd fd(::accept4(listeners_.front().fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK && log_.error) {
        log_.error(std::string("Metrics accept: ") + std::strerror(errno));
      }
      return;
    }
    while (clients_.size() >= std::max<size_t>(options_.max_clients, 1)) clients_.pop_front();  // the oldest
    Client& client = clients_.emplace_back();
    client.fd = std::move(fd);
    client.deadline_ms = now_ms + options_.request_timeout_ms;
  }
}

void MetricsServer::read_request(Client& client, int64_t now_ms) {
  char buffer[kReadChunk];
  bool eof = false;
  for (;;) {
    const ssize_t n = ::recv(client.fd.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      client.input.append(buffer, static_cast<size_t>(n));
      if (client.input.size() > options_.max_request_bytes) break;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0) return close_client(client);  // an error: the client is gone
    eof = true;  // a client that shut its sending side after its request (nc -N) still gets the answer
    break;
  }
  std::optional<std::string> answer = answer_metrics_request(client.input, options_.max_request_bytes, render_);
  if (!answer) {
    if (eof) close_client(client);  // a head that will never be completed
    return;                         // the rest of the head may still come (until the deadline)
  }
  client.input.clear();
  client.input.shrink_to_fit();
  client.output = std::move(*answer);
  client.state = State::Writing;
  flush(client, now_ms);
}

void MetricsServer::flush(Client& client, int64_t now_ms) {
  while (client.sent < client.output.size()) {
    const ssize_t n = ::send(client.fd.get(), client.output.data() + client.sent, client.output.size() - client.sent,
                             MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      client.sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // POLLOUT brings us back
    return close_client(client);
  }
  // All sent: FIN, then wait (briefly) for the client's, discarding what else it sends.
  client.output.clear();
  client.output.shrink_to_fit();
  ::shutdown(client.fd.get(), SHUT_WR);
  client.state = State::Lingering;
  client.deadline_ms = std::min(client.deadline_ms, now_ms + options_.linger_ms);
}

void MetricsServer::discard_input(Client& client) {
  char buffer[kReadChunk];
  for (size_t discarded = 0; discarded < kDiscardPerEvent;) {
    const ssize_t n = ::recv(client.fd.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      discarded += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    return close_client(client);  // the client closed: done
  }
}

void MetricsServer::close_client(Client& client) {
  client.closed = true;
  client.fd.reset();
}

}  // namespace narwhal::control
