#include "control/server.h"

#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace narwhal::control {
namespace {

constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kMaxOutputBytes = 8u << 20;  // a client that reads no replies is dropped beyond this

void emit(const std::function<void(const std::string&)>& sink, const std::string& message) {
  if (sink) sink(message);
}

// mkdir -p of the socket's directory; new directories get 0700 (gunicorn).
bool make_parent_directories(const std::string& path, std::string* error) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return true;
  const std::string directory = path.substr(0, slash);
  for (size_t at = 1; at <= directory.size(); ++at) {
    if (at != directory.size() && directory[at] != '/') continue;
    const std::string prefix = directory.substr(0, at);
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      *error = "can't create " + prefix + ": " + std::strerror(errno);
      return false;
    }
  }
  return true;
}

}  // namespace

Server::Server(Master& master, ServerOptions options, ServerLog log)
    : master_(master), options_(std::move(options)), log_(std::move(log)) {}

Server::~Server() { close(); }

bool Server::open(std::string* error) {
  const std::string& path = options_.path;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path) {
    *error = "control socket path is empty or too long: " + path;
    return false;
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  if (!make_parent_directories(path, error)) return false;
  struct stat existing;
  if (::lstat(path.c_str(), &existing) == 0) {
    // gunicorn removes whatever is there; a file that is not a socket is a mistake in the
    // settings, not something to delete.
    if (!S_ISSOCK(existing.st_mode)) {
      *error = path + " exists and is not a socket";
      return false;
    }
    ::unlink(path.c_str());
  }
  UniqueFd socket_fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!socket_fd) {
    *error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  // The file is created with control_socket_mode already (the master is single-threaded):
  // no moment where a wider mode lets someone connect.
  const mode_t previous_umask = ::umask(static_cast<mode_t>(~options_.mode & 0777));
  const int bound = ::bind(socket_fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address);
  const int bind_errno = errno;
  ::umask(previous_umask);
  if (bound != 0) {
    *error = "bind " + path + ": " + std::strerror(bind_errno);
    return false;
  }
  struct stat created;
  if (::chmod(path.c_str(), options_.mode & 07777) != 0 || ::stat(path.c_str(), &created) != 0 ||
      ::listen(socket_fd.get(), 16) != 0) {
    *error = path + ": " + std::strerror(errno);
    ::unlink(path.c_str());
    return false;
  }
  device_ = created.st_dev;
  inode_ = created.st_ino;
  listener_ = std::move(socket_fd);
  emit(log_.info, "Control socket listening at " + path);
  return true;
}

void Server::close() {
  for (Client& client : clients_) flush(client);  // a reply to `shutdown` still goes out
  clients_.clear();
  dumps_.clear();
  if (!listener_) return;
  listener_.reset();
  struct stat current;
  if (::stat(options_.path.c_str(), &current) == 0 && current.st_dev == device_ && current.st_ino == inode_) {
    ::unlink(options_.path.c_str());
  }
}

void Server::close_in_child() {
  for (Client& client : clients_) client.fd.reset();
  clients_.clear();
  dumps_.clear();
  listener_.reset();
}

void Server::add_poll_fds(std::vector<pollfd>* fds) const {
  if (listener_) fds->push_back({listener_.get(), POLLIN, 0});
  for (const Client& client : clients_) {
    short events = 0;
    if (!client.awaiting && client.output.empty() && !client.eof) events |= POLLIN;  // one request at a time
    if (!client.output.empty()) events |= POLLOUT;
    fds->push_back({client.fd.get(), events, 0});
  }
}

void Server::handle(const pollfd* fds, size_t count, int64_t now_ms) {
  for (size_t i = 0; i < count; ++i) {
    if (fds[i].revents == 0) continue;
    if (listener_ && fds[i].fd == listener_.get()) {
      accept_clients(now_ms);
      continue;
    }
    for (Client& client : clients_) {
      if (client.closed || client.fd.get() != fds[i].fd) continue;
      if (client.eof && (fds[i].revents & (POLLHUP | POLLERR))) close_client(client);  // gone entirely
      if (!client.closed && (fds[i].revents & POLLOUT)) flush(client);
      if (!client.closed && !client.eof && (fds[i].revents & (POLLIN | POLLHUP | POLLERR))) read_client(client, now_ms);
      if (!client.closed) serve_requests(client, now_ms);  // also closes a client at EOF with nothing left
      break;
    }
  }
  remove_closed();
}

void Server::accept_clients(int64_t now_ms) {
  for (;;) {
    UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) emit(log_.error, std::string("Control socket accept: ") + std::strerror(errno));
      return;
    }
    if (clients_.size() >= options_.max_clients) {
      // Room for the newcomer: the client idle the longest goes (one that awaits nothing).
      Client* oldest = nullptr;
      for (Client& client : clients_) {
        if (client.awaiting || client.closed) continue;
        if (!oldest || client.last_active_ms < oldest->last_active_ms) oldest = &client;
      }
      if (!oldest) continue;  // every client awaits a dump: the newcomer is closed
      close_client(*oldest);
      remove_closed();
    }
    Client& client = clients_.emplace_back();
    client.id = next_id_++;
    client.fd = std::move(fd);
    client.last_active_ms = now_ms;
  }
}

void Server::read_client(Client& client, int64_t now_ms) {
  char buffer[kReadChunk];
  for (;;) {
    const ssize_t n = ::recv(client.fd.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      client.reader.append(std::string_view(buffer, static_cast<size_t>(n)));
      client.last_active_ms = now_ms;
      // Enough for the request being assembled: the rest waits in the socket.
      if (client.reader.buffered() > kMaxRequestBytes + 4 || static_cast<size_t>(n) < sizeof buffer) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n == 0) {
      // The client has sent all it will (`socat`, `nc -N`): its complete requests are still
      // answered; serve_requests closes once nothing is left.
      client.eof = true;
      return;
    }
    close_client(client);  // an error: the client is gone
    return;
  }
}

void Server::close_client(Client& client) {
  client.closed = true;
  client.fd.reset();
}

void Server::serve_requests(Client& client, int64_t now_ms) {
  while (!client.closed && !client.awaiting && client.output.empty() && !client.close_after_output) {
    std::string payload;
    uint32_t length = 0;
    const FrameReader::Result result = client.reader.next(&payload, &length);
    if (result == FrameReader::Result::NeedMore) {
      if (client.eof) close_client(client);  // a partial request that will never be completed
      return;
    }
    if (result == FrameReader::Result::TooLarge) {
      // The stream cannot be resynced: say why, then close.
      send(client, error_reply(nullptr, "Message too large: " + std::to_string(length)));
      client.close_after_output = true;
      flush(client);
      return;
    }
    handle_payload(client, payload, now_ms);
  }
}

void Server::handle_payload(Client& client, const std::string& payload, int64_t now_ms) {
  nlohmann::json id;
  std::string error;
  std::optional<Request> request = parse_request(payload, &id, &error);
  if (!request) {
    send(client, error_reply(id, error));
    return;
  }
  Outcome outcome = execute(master_, request->words);
  if (outcome.dump_pid != 0) {
    start_dump(client, request->id, outcome.dump_pid, now_ms);
    return;
  }
  send(client, outcome.ok ? ok_reply(request->id, std::move(outcome.data)) : error_reply(request->id, outcome.error));
}

// `dump PID`: the worker's Python SIGWINCH handler (narwhal/_server.py) writes the stacks of
// its threads into its scoreboard when it next runs Python — at once even inside a sleeping
// request, as the timeout tracebacks do.
void Server::start_dump(Client& client, const nlohmann::json& id, pid_t pid, int64_t now_ms) {
  for (const WorkerView& worker : master_.workers()) {
    if (worker.pid != pid || !worker.scoreboard) continue;
    const uint32_t generation = worker.scoreboard->dump_requested.fetch_add(1, std::memory_order_acq_rel) + 1;
    if (::kill(pid, SIGWINCH) != 0) break;
    client.awaiting = true;
    dumps_.push_back({client.id, id, pid, generation, now_ms + options_.dump_timeout_ms});
    return;
  }
  send(client, error_reply(id, "Worker " + std::to_string(pid) + " not found"));
}

void Server::check_dumps(int64_t now_ms) {
  if (dumps_.empty()) return;
  const std::vector<WorkerView> workers = master_.workers();
  std::vector<uint64_t> answered;
  for (auto it = dumps_.begin(); it != dumps_.end();) {
    Client* client = find(it->client_id);
    const auto worker = std::find_if(workers.begin(), workers.end(), [&](const WorkerView& w) { return w.pid == it->pid; });
    std::optional<nlohmann::json> reply;
    if (worker == workers.end() || !worker->scoreboard) {
      reply = error_reply(it->request_id, "Worker " + std::to_string(it->pid) + " exited before answering");
    } else if (static_cast<int32_t>(worker->scoreboard->dump_done.load(std::memory_order_acquire) - it->generation) >= 0) {
      const workers::Scoreboard& board = *worker->scoreboard;
      const uint32_t length = std::min<uint32_t>(board.dump_length.load(std::memory_order_relaxed), workers::kDumpBytes);
      reply = ok_reply(it->request_id, {{"pid", it->pid},
                                        {"stacks", std::string(board.dump_text, length)},
                                        {"truncated", length == workers::kDumpBytes}});
    } else if (now_ms >= it->deadline_ms) {
      reply = error_reply(it->request_id, "Worker " + std::to_string(it->pid) + " did not answer within " +
                                              std::to_string(options_.dump_timeout_ms / 1000) +
                                              " s (it has not run Python code since: stuck in a C call?)");
    }
    if (!reply) {
      ++it;
      continue;
    }
    if (client && !client->closed) {
      client->awaiting = false;
      send(*client, *reply);
      answered.push_back(client->id);
    }
    it = dumps_.erase(it);
  }
  // Requests that arrived meanwhile are already read: serve them now (no POLLIN will come).
  for (uint64_t id : answered) {
    if (Client* client = find(id); client && !client->closed) serve_requests(*client, now_ms);
  }
}

void Server::tick(int64_t now_ms) {
  check_dumps(now_ms);
  for (Client& client : clients_) {
    if (!client.closed && !client.awaiting && now_ms - client.last_active_ms > options_.idle_timeout_ms) {
      close_client(client);
    }
  }
  remove_closed();
}

int Server::timeout_ms(int default_ms) const { return dumps_.empty() ? default_ms : std::min(default_ms, 20); }

void Server::send(Client& client, const nlohmann::json& message) {
  client.output += encode_frame(message);
  if (client.output.size() - client.output_sent > kMaxOutputBytes) {
    emit(log_.debug, "Control client dropped: it reads no replies");
    close_client(client);
    return;
  }
  flush(client);
}

void Server::flush(Client& client) {
  while (!client.closed && client.output_sent < client.output.size()) {
    const ssize_t n = ::send(client.fd.get(), client.output.data() + client.output_sent,
                             client.output.size() - client.output_sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      client.output_sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // POLLOUT brings us back
    close_client(client);  // the client is gone
    return;
  }
  if (client.closed) return;
  client.output.clear();
  client.output_sent = 0;
  if (client.close_after_output) close_client(client);
}

Server::Client* Server::find(uint64_t id) {
  for (Client& client : clients_) {
    if (client.id == id) return &client;
  }
  return nullptr;
}

void Server::remove_closed() {
  clients_.remove_if([](const Client& client) { return client.closed; });
}

}  // namespace narwhal::control
