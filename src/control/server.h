// The master's control socket server: a Unix socket and its clients, driven by the arbiter's
// poll loop. Nothing here blocks: reads and writes are non-blocking and buffered per client,
// a request is bounded (kMaxRequestBytes), clients are bounded (the one idle longest makes
// room for a new one), and idle clients are closed. A `dump PID` reply is completed on later
// loop turns, when the worker has answered (or not, within dump_timeout_ms).
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <list>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "control/commands.h"
#include "control/protocol.h"

namespace narwhal::control {

struct ServerOptions {
  std::string path;    // control_socket
  mode_t mode = 0600;  // control_socket_mode
  size_t max_clients = 16;
  int64_t idle_timeout_ms = 300000;  // gunicorn closes a client idle for 5 minutes
  int64_t dump_timeout_ms = 5000;    // how long a worker gets to answer `dump PID`
};

struct ServerLog {
  std::function<void(const std::string&)> info, error, debug;  // any may be empty
};

class Server {
 public:
  Server(Master& master, ServerOptions options, ServerLog log);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Creates the socket (and its missing parent directories, mode 0700). false + error.
  bool open(std::string* error);
  // Closes the socket and every client; the socket file is removed only if it is still the
  // one this server created (a new master of a USR2 upgrade may have replaced it).
  void close();
  // In a forked worker: the descriptors are closed, nothing is removed.
  void close_in_child();
  const ServerOptions& options() const { return options_; }

  // Poll integration: append our descriptors, then hand back what poll(2) said about them
  // (the same entries, in the same order). `now_ms`: CLOCK_MONOTONIC.
  void add_poll_fds(std::vector<pollfd>* fds) const;
  void handle(const pollfd* fds, size_t count, int64_t now_ms);
  // Idle clients and pending dumps; call once per loop turn.
  void tick(int64_t now_ms);
  // How long the loop may sleep: shorter while a dump is awaited.
  int timeout_ms(int default_ms) const;

 private:
  struct Client {
    uint64_t id = 0;
    UniqueFd fd;
    FrameReader reader;
    std::string output;
    size_t output_sent = 0;
    int64_t last_active_ms = 0;
    bool close_after_output = false;
    bool awaiting = false;  // a dump reply is pending: no further request is read meanwhile
    bool eof = false;       // the client shut its sending side: answer what came, then close
    bool closed = false;
  };
  struct PendingDump {
    uint64_t client_id;
    nlohmann::json request_id;
    pid_t pid;
    uint32_t generation;
    int64_t deadline_ms;
  };

  void accept_clients(int64_t now_ms);
  void read_client(Client& client, int64_t now_ms);
  void serve_requests(Client& client, int64_t now_ms);
  static void close_client(Client& client);
  void handle_payload(Client& client, const std::string& payload, int64_t now_ms);
  void start_dump(Client& client, const nlohmann::json& id, pid_t pid, int64_t now_ms);
  void check_dumps(int64_t now_ms);
  void send(Client& client, const nlohmann::json& message);
  void flush(Client& client);
  Client* find(uint64_t id);
  void remove_closed();

  Master& master_;
  ServerOptions options_;
  ServerLog log_;
  UniqueFd listener_;
  dev_t device_ = 0;  // the socket file we created, to remove only our own
  ino_t inode_ = 0;
  std::list<Client> clients_;
  std::vector<PendingDump> dumps_;
  uint64_t next_id_ = 1;
};

}  // namespace narwhal::control
